#pragma once
// Chooses and opens the storage backend named by the configuration; turns the accounts and auth
// options into what their tiers take.

#include <memory>

#include "api/auth.h"
#include "app/photo_worker.h"
#include "app/photos.h"
#include "media/blob_store.h"
#include "app/passwords.h"
#include "cache/redis/redis_cache_tier.h"
#include "core/config.h"
#include "core/metrics.h"
#include "storage/metered_store.h"
#include "storage/photo_store.h"
#include "storage/store.h"

namespace ztm::cli {

class Storage {
 public:
  Storage(std::unique_ptr<Store> backend, std::unique_ptr<MeteredStore> metered)
      : backend_(std::move(backend)), metered_(std::move(metered)) {}
  Store& store() { return *metered_; }
  // Photos, jobs and the outbox: the same database (every backend implements both), measured.
  PhotoStore& photos() { return *metered_; }

 private:
  std::unique_ptr<Store> backend_;
  std::unique_ptr<MeteredStore> metered_;  // wraps *backend_
};

// Opens the configured backend; with `migrate`, applies pending migrations first, otherwise
// refuses a database whose schema is not current. Throws std::runtime_error with a clear message.
Storage open_storage(const Config& config, MetricsRegistry& metrics, bool migrate);

// The L2 cache tier (a ring of cache.l2_nodes), its metrics registered; null when the cache is
// off or cache.l2_nodes is empty. Throws ConfigError on a malformed node list.
std::unique_ptr<cache::RedisCacheTier> open_l2_cache(const Config& config, MetricsRegistry& metrics);

// The photo bytes' store (media.backend); with `migrate`, creates its table first (PostgreSQL).
std::unique_ptr<media::BlobStore> open_blob_store(const Config& config, bool migrate);

// config.queue with its defaults resolved (the embedded queue's file beside the users database).
QueueConfig queue_config(const Config& config);

PhotoOptions photo_options(const Config& config);
PhotoWorkerOptions worker_options(const Config& config);

// config.sessions with its defaults resolved (the SQLite file beside the users database).
SessionsConfig sessions_config(const Config& config);

PasswordHasherOptions password_hasher_options(const AccountsConfig& accounts);

// Throws ConfigError for an http.trusted_proxies entry that is not an IP address.
api::AuthOptions auth_options(const Config& config);

}  // namespace ztm::cli
