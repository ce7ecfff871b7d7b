#pragma once
// The libnats pieces NatsQueue stands on: one connection with its JetStream context, the
// library's one-time initialisation, and natsStatus -> Error. Everything here blocks: callers run
// it on a BlockingPool.

#include <nats/nats.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ztm::queue {

// natsStatus (and the JetStream error code, 0 if none) as an Error: the connection being down,
// reconnecting or a call timing out are `unavailable` (a retry may succeed); a payload over the
// server's limit is `invalid_argument`; the rest `internal`. The message has libnats' text.
Error nats_error(natsStatus status, jsErrCode code, std::string_view what);
inline constexpr jsErrCode kNoNatsCode = static_cast<jsErrCode>(0);
inline Error nats_error(natsStatus status, std::string_view what) {
  return nats_error(status, kNoNatsCode, what);
}

// A connection that reconnects by itself, forever, every 250 ms: a restarted NATS is found
// again with no action here. Constructing it does not need the server up (the first connect
// is retried in the background). While it is not connected, calls fail at once with
// unavailable (connected() false) instead of waiting in libnats' reconnect buffer.
class NatsConnection {
 public:
  // `urls`: "nats://h:p" or several, comma-separated. Throws std::runtime_error on a malformed
  // URL list or when libnats cannot be initialised (start-up errors).
  NatsConnection(const std::string& urls, std::chrono::milliseconds timeout);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  // ok when connected; else unavailable naming the URLs.
  Result<void> connected() const;
  natsConnection* nc() const { return nc_; }
  jsCtx* js() const { return js_; }
  // JetStream options with the call timeout (pass to every js_* call).
  jsOptions options() const;
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  std::string urls_;
  std::chrono::milliseconds timeout_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace ztm::queue
