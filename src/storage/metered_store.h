#pragma once
// A Database decorator that measures every call of the database it wraps:
//   ztm_storage_seconds{op}             histogram, latency of storage calls
//   ztm_storage_errors_total{op,code}   counter, failed calls by Errc (to_string)
// It changes no result, so it passes the same conformance suites as what it wraps. Latency is
// the clock's monotonic time (steady_now()) across the call.

#include <array>
#include <chrono>

#include "core/clock.h"
#include "core/metrics.h"
#include "storage/database.h"

namespace ztm::storage {

class MeteredStore : public DatabaseWrapper {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  // REQUIRES: inner, registry and clock outlive this.
  MeteredStore(Database& inner, MetricsRegistry& registry, const Clock& clock = Clock::system());

  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency consistency) override;
  boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit,
                                                      Consistency consistency) override;
  boost::asio::awaitable<Result<StoredUser>> create_user(
      User user, std::optional<std::string> idempotency_key) override;
  boost::asio::awaitable<Result<StoredUser>> update_user(
      User user, std::optional<std::int64_t> expected_version) override;
  boost::asio::awaitable<Result<Committed>> delete_user(
      UserId id, std::optional<std::int64_t> expected_version) override;
  boost::asio::awaitable<Result<std::int64_t>> count_users() override;
  boost::asio::awaitable<Result<StoredUser>> create_account(User user, Account account) override;
  boost::asio::awaitable<Result<Account>> find_account(std::string email) override;
  boost::asio::awaitable<Result<void>> set_role(UserId user, std::string role) override;
  boost::asio::awaitable<Result<void>> ping() override;

  boost::asio::awaitable<Result<Photo>> create_photo(Photo photo) override;
  boost::asio::awaitable<Result<Photo>> get_photo(PhotoId id) override;
  boost::asio::awaitable<Result<DeletedPhoto>> delete_photo(PhotoId id) override;
  boost::asio::awaitable<Result<PhotoUsage>> photo_usage(UserId owner) override;
  boost::asio::awaitable<Result<PhotoPage>> list_photos(UserId owner, PhotoId after,
                                                        int limit) override;
  boost::asio::awaitable<Result<Job>> create_job(Job job, std::string outbox_payload) override;
  boost::asio::awaitable<Result<Job>> get_job(JobId id) override;
  boost::asio::awaitable<Result<Job>> start_job(JobId id) override;
  boost::asio::awaitable<Result<Job>> complete_job(JobId id, Photo result) override;
  boost::asio::awaitable<Result<Job>> fail_job(JobId id, std::string error) override;
  boost::asio::awaitable<Result<std::vector<OutboxMessage>>> outbox_batch(int limit) override;
  boost::asio::awaitable<Result<void>> outbox_delete(std::vector<std::int64_t> ids) override;

  boost::asio::awaitable<Result<Purchase>> create_purchase(
      Purchase purchase, std::optional<std::string> idempotency_key) override;
  boost::asio::awaitable<Result<std::vector<Purchase>>> list_purchases(UserId user,
                                                                       int limit) override;
  boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                       std::vector<UserId> users) override;
  boost::asio::awaitable<Result<DailyKpis>> daily_kpis(UtcDay day) override;
  boost::asio::awaitable<Result<std::vector<Cohort>>> cohorts(UtcDay first, UtcDay last) override;

 private:
  enum Op {
    kGetUser,
    kListUsers,
    kCreateUser,
    kUpdateUser,
    kDeleteUser,
    kCountUsers,
    kCreateAccount,
    kFindAccount,
    kSetRole,
    kPing,
    kCreatePhoto,
    kGetPhoto,
    kDeletePhoto,
    kCreateJob,
    kGetJob,
    kStartJob,
    kCompleteJob,
    kFailJob,
    kOutboxBatch,
    kOutboxDelete,
    kPhotoUsage,
    kListPhotos,
    kCreatePurchase,
    kListPurchases,
    kRecordActivity,
    kDailyKpis,
    kCohorts,
    kOps
  };

  // Awaits `call` (Asio awaitables start when awaited, so the clock covers the whole call).
  template <class T>
  boost::asio::awaitable<Result<T>> measure(Op op, boost::asio::awaitable<Result<T>> call);
  void record(Op op, std::chrono::steady_clock::time_point start, const Error* error);

  MetricsRegistry& registry_;
  const Clock& clock_;
  std::array<Histogram*, kOps> latency_{};  // created up front: the hot path takes no lock
};

}  // namespace ztm::storage
