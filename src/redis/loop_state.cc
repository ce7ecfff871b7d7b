#include "redis/loop_state.h"

#include <boost/asio/execution_context.hpp>
#include <map>
#include <mutex>

namespace ztm::redis {
namespace {

class LoopStates final : public boost::asio::execution_context::service {
 public:
  static inline boost::asio::execution_context::id id;
  explicit LoopStates(boost::asio::execution_context& context) : service(context) {}

  std::shared_ptr<LoopState> find_or_create(
      const void* owner, const std::function<std::shared_ptr<LoopState>()>& make) {
    std::lock_guard lock(mu_);
    auto& state = states_[owner];
    if (!state) state = make();
    return state;
  }

 private:
  void shutdown() override {
    std::map<const void*, std::shared_ptr<LoopState>> states;
    {
      std::lock_guard lock(mu_);
      states.swap(states_);
    }
    for (auto& entry : states) entry.second->close();
  }

  std::mutex mu_;
  std::map<const void*, std::shared_ptr<LoopState>> states_;
};

}  // namespace

std::shared_ptr<LoopState> loop_state(const boost::asio::any_io_executor& loop, const void* owner,
                                      const std::function<std::shared_ptr<LoopState>()>& make) {
  auto& context = boost::asio::query(loop, boost::asio::execution::context);
  return boost::asio::use_service<LoopStates>(context).find_or_create(owner, make);
}

}  // namespace ztm::redis
