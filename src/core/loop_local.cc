#include "core/loop_local.h"

#include <boost/asio/execution_context.hpp>
#include <map>
#include <mutex>

namespace ztm {
namespace {

class LoopLocals final : public boost::asio::execution_context::service {
 public:
  static inline boost::asio::execution_context::id id;
  explicit LoopLocals(boost::asio::execution_context& context) : service(context) {}

  std::shared_ptr<LoopLocal> find_or_create(const void* owner,
                                            const std::function<std::shared_ptr<LoopLocal>()>& make,
                                            bool* created) {
    std::lock_guard lock(mu_);
    auto& state = states_[owner];
    if (created) *created = !state;
    if (!state) state = make();
    return state;
  }

 private:
  void shutdown() override {
    std::map<const void*, std::shared_ptr<LoopLocal>> states;
    {
      std::lock_guard lock(mu_);
      states.swap(states_);
    }
    for (auto& entry : states) entry.second->close();
  }

  std::mutex mu_;
  std::map<const void*, std::shared_ptr<LoopLocal>> states_;
};

}  // namespace

std::shared_ptr<LoopLocal> loop_local(const boost::asio::any_io_executor& loop, const void* owner,
                                      const std::function<std::shared_ptr<LoopLocal>()>& make,
                                      bool* created) {
  auto& context = boost::asio::query(loop, boost::asio::execution::context);
  return boost::asio::use_service<LoopLocals>(context).find_or_create(owner, make, created);
}

}  // namespace ztm
