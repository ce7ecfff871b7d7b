#pragma once
// Chooses and opens the storage backend named by the configuration; turns the accounts and auth
// options into what their tiers take.

#include <memory>

#include "api/auth.h"
#include "app/passwords.h"
#include "core/config.h"
#include "core/metrics.h"
#include "storage/store.h"

namespace ztm::cli {

class Storage {
 public:
  Storage(std::unique_ptr<Store> backend, std::unique_ptr<Store> metered)
      : backend_(std::move(backend)), metered_(std::move(metered)) {}
  Store& store() { return *metered_; }

 private:
  std::unique_ptr<Store> backend_;
  std::unique_ptr<Store> metered_;  // wraps *backend_
};

// Opens the configured backend; with `migrate`, applies pending migrations first, otherwise
// refuses a database whose schema is not current. Throws std::runtime_error with a clear message.
Storage open_storage(const Config& config, MetricsRegistry& metrics, bool migrate);

// config.sessions with its defaults resolved (the SQLite file beside the users database).
SessionsConfig sessions_config(const Config& config);

PasswordHasherOptions password_hasher_options(const AccountsConfig& accounts);

// Throws ConfigError for an http.trusted_proxies entry that is not an IP address.
api::AuthOptions auth_options(const Config& config);

}  // namespace ztm::cli
