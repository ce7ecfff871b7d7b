#include "storage/metered_store.h"

#include <string>

namespace ztm {
namespace {

constexpr std::array<const char*, 9> kOpNames = {
    "get_user",       "list_users",   "create_user", "update_user", "delete_user",
    "count_users",    "create_account", "find_account", "ping"};

}  // namespace

MeteredStore::MeteredStore(Store& inner, MetricsRegistry& registry)
    : inner_(inner), registry_(registry) {
  static_assert(kOpNames.size() == kOps);
  for (int op = 0; op < kOps; ++op)
    latency_[op] = &registry_.histogram("ztm_storage_seconds", "Latency of storage calls",
                                        {{"op", kOpNames[op]}});
}

void MeteredStore::record(Op op, std::chrono::steady_clock::time_point start, const Error* error) {
  latency_[op]->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
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
  const auto start = std::chrono::steady_clock::now();
  Result<T> result = co_await std::move(call);
  record(op, start, result.ok() ? nullptr : &result.error());
  co_return result;
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::get_user(UserId id, Consistency consistency) {
  return measure(kGetUser, inner_.get_user(id, std::move(consistency)));
}

boost::asio::awaitable<Result<UserPage>> MeteredStore::list_users(UserId after, int limit,
                                                                  Consistency consistency) {
  return measure(kListUsers, inner_.list_users(after, limit, std::move(consistency)));
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::create_user(
    User user, std::optional<std::string> idempotency_key) {
  return measure(kCreateUser, inner_.create_user(std::move(user), std::move(idempotency_key)));
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::update_user(
    User user, std::optional<std::int64_t> expected_version) {
  return measure(kUpdateUser, inner_.update_user(std::move(user), expected_version));
}

boost::asio::awaitable<Result<Committed>> MeteredStore::delete_user(
    UserId id, std::optional<std::int64_t> expected_version) {
  return measure(kDeleteUser, inner_.delete_user(id, expected_version));
}

boost::asio::awaitable<Result<std::int64_t>> MeteredStore::count_users() {
  return measure(kCountUsers, inner_.count_users());
}

boost::asio::awaitable<Result<StoredUser>> MeteredStore::create_account(User user, Account account) {
  return measure(kCreateAccount, inner_.create_account(std::move(user), std::move(account)));
}

boost::asio::awaitable<Result<Account>> MeteredStore::find_account(std::string email) {
  return measure(kFindAccount, inner_.find_account(std::move(email)));
}

boost::asio::awaitable<Result<void>> MeteredStore::ping() {
  return measure(kPing, inner_.ping());
}

}  // namespace ztm
