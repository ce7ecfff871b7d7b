#include "queue/nats/nats_connection.h"

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

namespace ztm::queue {
namespace {

// libnats keeps process-wide state (its timers and threads): initialised once, on first use,
// and never closed, since connections may outlive any one owner.
void init_library() {
  static const natsStatus status = nats_Open(-1);
  if (status != NATS_OK)
    throw std::runtime_error(
        fmt::format("libnats: cannot initialise: {}", natsStatus_GetText(status)));
}

// The async connect needs a callback to stay asynchronous; there is nothing to do in it.
void on_connected(natsConnection*, void*) {}

std::vector<std::string> split(const std::string& urls) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= urls.size()) {
    const std::size_t comma = std::min(urls.find(',', start), urls.size());
    if (comma > start) out.push_back(urls.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

Error nats_error(natsStatus status, jsErrCode code, std::string_view what) {
  Errc errc = Errc::internal;
  switch (status) {
    case NATS_TIMEOUT:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_RESPONDERS:  // JetStream not (yet) up after a restart
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_SLOW_CONSUMER:
    case NATS_DRAINING:
      errc = Errc::unavailable;
      break;
    case NATS_MAX_PAYLOAD:
      errc = Errc::invalid_argument;
      break;
    default:
      break;
  }
  const char* detail = nats_GetLastError(nullptr);
  return Error{errc,
               fmt::format("nats {}: {}{} ({})", what, natsStatus_GetText(status),
                           code ? fmt::format(" [jetstream error {}]", static_cast<int>(code)) : "",
                           detail ? detail : "")};
}

NatsConnection::NatsConnection(const std::string& urls, std::chrono::milliseconds timeout)
    : urls_(urls), timeout_(timeout) {
  init_library();
  const std::vector<std::string> servers = split(urls);
  if (servers.empty()) throw std::runtime_error("nats: no server URL in '" + urls + "'");
  std::vector<const char*> list;
  for (const auto& s : servers) list.push_back(s.c_str());
  natsOptions* raw = nullptr;
  if (natsOptions_Create(&raw) != NATS_OK) throw std::runtime_error("nats: out of memory");
  std::unique_ptr<natsOptions, decltype(&natsOptions_Destroy)> opts(raw, natsOptions_Destroy);
  natsStatus s = natsOptions_SetServers(raw, list.data(), static_cast<int>(list.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(raw, timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(raw, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(raw, -1);  // forever: a broker restarts
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(raw, 250);
  // Bounded, and unused by our calls (they refuse while disconnected); acks sent just before a
  // disconnect wait here.
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(raw, 1 << 20);
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(raw, true);
  if (s == NATS_OK) s = natsOptions_SetPingInterval(raw, 2000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(raw, 2);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(raw, true, on_connected, nullptr);
  if (s != NATS_OK)
    throw std::runtime_error(fmt::format("nats {}: {}", urls, nats_error(s, "options").message));
  s = natsConnection_Connect(&nc_, raw);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED)
    throw std::runtime_error(fmt::format("nats {}: {}", urls, nats_error(s, "connect").message));
  jsOptions o = options();
  s = natsConnection_JetStream(&js_, nc_, &o);
  if (s != NATS_OK) {
    natsConnection_Destroy(nc_);
    throw std::runtime_error(fmt::format("nats {}: {}", urls, nats_error(s, "jetstream").message));
  }
}

NatsConnection::~NatsConnection() {
  jsCtx_Destroy(js_);
  natsConnection_Destroy(nc_);  // closes first
}

Result<void> NatsConnection::connected() const {
  if (natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED) return {};
  return Error{Errc::unavailable, fmt::format("nats {}: not connected", urls_)};
}

jsOptions NatsConnection::options() const {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = timeout_.count();
  return o;
}

}  // namespace ztm::queue
