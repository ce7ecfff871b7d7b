#include "storage/metered_store.h"

#include <string>

namespace ztm::storage {
namespace {

constexpr std::array<const char*, 27> kOpNames = {
    "get_user",     "list_users",     "create_user",     "update_user",    "delete_user",
    "count_users",  "create_account", "find_account",    "set_role",       "ping",
    "create_photo", "get_photo",      "delete_photo",    "create_job",     "get_job",
    "start_job",    "complete_job",   "fail_job",        "outbox_batch",   "outbox_delete",
    "photo_usage",  "list_photos",    "create_purchase", "list_purchases", "record_activity",
    "daily_kpis",   "cohorts"};

}  // namespace

MeteredStore::MeteredStore(Database& inner, MetricsRegistry& registry, const Clock& clock)
    : DatabaseWrapper(inner), registry_(registry), clock_(clock) {
  static_assert(kOpNames.size() == kOps);
  for (int op = 0; op < kOps; ++op)
    latency_[op] = &registry_.histogram("ztm_storage_seconds", "Latency of storage calls",
                                        {{"op", kOpNames[op]}});
}

void MeteredStore::record(Op op, std::chrono::steady_clock::time_point start, const Error* error) {
  latency_[op]->observe(std::chrono::duration<double>(clock_.steady_now() - start).count());
  // Errors are the exception, so looking their counter up (under the registry's lock) is fine.
  if (error)
    registry_
        .counter("ztm_storage_errors_total", "Storage calls that failed, by error code",
                 {{"op", kOpNames[op]}, {"code", std::string(to_string(error->code))}})
        .inc();
}

template <class T>
boost::asio::awaitable<Result<T>> MeteredStore::measure(Op op,
                                                        boost::asio::awaitable<Result<T>> call) {
  const auto start = clock_.steady_now();
  Result<T> result = co_await std::move(call);
  record(op, start, result.ok() ? nullptr : &result.error());
  co_return result;
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::get_user(UserId id,
                                                                  Consistency consistency) {
  return measure(kGetUser, target().get_user(id, std::move(consistency)));
}

boost::asio::awaitable<Result<UserPage>> MeteredStore::list_users(UserId after, int limit,
                                                                  Consistency consistency) {
  return measure(kListUsers, target().list_users(after, limit, std::move(consistency)));
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::create_user(
    User user, std::optional<std::string> idempotency_key) {
  return measure(kCreateUser, target().create_user(std::move(user), std::move(idempotency_key)));
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::update_user(
    User user, std::optional<std::int64_t> expected_version) {
  return measure(kUpdateUser, target().update_user(std::move(user), expected_version));
}

boost::asio::awaitable<Result<Committed>> MeteredStore::delete_user(
    UserId id, std::optional<std::int64_t> expected_version) {
  return measure(kDeleteUser, target().delete_user(id, expected_version));
}

boost::asio::awaitable<Result<std::int64_t>> MeteredStore::count_users() {
  return measure(kCountUsers, target().count_users());
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::create_account(User user,
                                                                        Account account) {
  return measure(kCreateAccount, target().create_account(std::move(user), std::move(account)));
}

boost::asio::awaitable<Result<Account>> MeteredStore::find_account(std::string email) {
  return measure(kFindAccount, target().find_account(std::move(email)));
}

boost::asio::awaitable<Result<void>> MeteredStore::set_role(UserId user, std::string role) {
  return measure(kSetRole, target().set_role(user, std::move(role)));
}

boost::asio::awaitable<Result<void>> MeteredStore::ping() {
  return measure(kPing, target().ping());
}

boost::asio::awaitable<Result<Photo>> MeteredStore::create_photo(Photo photo) {
  return measure(kCreatePhoto, target().create_photo(std::move(photo)));
}

boost::asio::awaitable<Result<Photo>> MeteredStore::get_photo(PhotoId id) {
  return measure(kGetPhoto, target().get_photo(id));
}

boost::asio::awaitable<Result<DeletedPhoto>> MeteredStore::delete_photo(PhotoId id) {
  return measure(kDeletePhoto, target().delete_photo(id));
}

boost::asio::awaitable<Result<PhotoPage>> MeteredStore::list_photos(UserId owner, PhotoId after,
                                                                    int limit) {
  return measure(kListPhotos, target().list_photos(owner, after, limit));
}

boost::asio::awaitable<Result<PhotoUsage>> MeteredStore::photo_usage(UserId owner) {
  return measure(kPhotoUsage, target().photo_usage(owner));
}

boost::asio::awaitable<Result<Job>> MeteredStore::create_job(Job job, std::string outbox_payload) {
  return measure(kCreateJob, target().create_job(std::move(job), std::move(outbox_payload)));
}

boost::asio::awaitable<Result<Job>> MeteredStore::get_job(JobId id) {
  return measure(kGetJob, target().get_job(id));
}

boost::asio::awaitable<Result<Job>> MeteredStore::start_job(JobId id) {
  return measure(kStartJob, target().start_job(id));
}

boost::asio::awaitable<Result<Job>> MeteredStore::complete_job(JobId id, Photo result) {
  return measure(kCompleteJob, target().complete_job(id, std::move(result)));
}

boost::asio::awaitable<Result<Job>> MeteredStore::fail_job(JobId id, std::string error) {
  return measure(kFailJob, target().fail_job(id, std::move(error)));
}

boost::asio::awaitable<Result<std::vector<OutboxMessage>>> MeteredStore::outbox_batch(int limit) {
  return measure(kOutboxBatch, target().outbox_batch(limit));
}

boost::asio::awaitable<Result<void>> MeteredStore::outbox_delete(std::vector<std::int64_t> ids) {
  return measure(kOutboxDelete, target().outbox_delete(std::move(ids)));
}

boost::asio::awaitable<Result<Purchase>> MeteredStore::create_purchase(
    Purchase purchase, std::optional<std::string> idempotency_key) {
  return measure(kCreatePurchase,
                 target().create_purchase(std::move(purchase), std::move(idempotency_key)));
}

boost::asio::awaitable<Result<std::vector<Purchase>>> MeteredStore::list_purchases(UserId user,
                                                                                   int limit) {
  return measure(kListPurchases, target().list_purchases(user, limit));
}

boost::asio::awaitable<Result<void>> MeteredStore::record_activity(UtcDay day,
                                                                   std::vector<UserId> users) {
  return measure(kRecordActivity, target().record_activity(day, std::move(users)));
}

boost::asio::awaitable<Result<DailyKpis>> MeteredStore::daily_kpis(UtcDay day) {
  return measure(kDailyKpis, target().daily_kpis(day));
}

boost::asio::awaitable<Result<std::vector<Cohort>>> MeteredStore::cohorts(UtcDay first,
                                                                          UtcDay last) {
  return measure(kCohorts, target().cohorts(first, last));
}

}  // namespace ztm::storage
