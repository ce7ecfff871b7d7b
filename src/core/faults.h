#pragma once
// What makes this process unready although its data tier answers: faults of its own
// configuration, which waiting does not heal — a Redis that refuses this server's credentials.
// The client that sees one raises it, keyed by what failed ("redis 10.77.1.40:6379 as ztm"), and
// clears it when the same thing works again; GET /readyz reads them (app/readiness.h).
// Thread-safe.

#include <map>
#include <mutex>
#include <string>

namespace ztm {

class Faults {
 public:
  // Returns whether `key` is new (was not raised): the caller logs it once, not per retry.
  bool raise(const std::string& key, const std::string& message) {
    std::lock_guard lock(mu_);
    return faults_.insert_or_assign(key, message).second;
  }
  // Returns whether `key` was raised.
  bool clear(const std::string& key) {
    std::lock_guard lock(mu_);
    return faults_.erase(key) > 0;
  }
  // The message of the first fault (in key order); "" when there is none.
  std::string first() const {
    std::lock_guard lock(mu_);
    return faults_.empty() ? std::string() : faults_.begin()->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> faults_;
};

}  // namespace ztm
