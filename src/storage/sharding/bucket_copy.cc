#include "storage/sharding/bucket_copy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ztm::storage {
namespace {

// `conninfo` (a URI or key=value) as key=value, with `set`'s keywords in place of its own.
Result<std::string> rewrite(const std::string& conninfo,
                            const std::vector<std::pair<std::string_view, std::string>>& set) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (!options) {
    std::string why = err ? err : "out of memory";
    PQfreemem(err);
    return Error{Errc::invalid_argument, "conninfo: " + why};
  }
  const auto quoted = [](std::string_view keyword, std::string_view val) {
    std::string value;
    for (const char c : val) {
      if (c == '\\' || c == '\'') value += '\\';
      value += c;
    }
    return fmt::format("{}='{}' ", keyword, value);
  };
  std::string out;
  for (PQconninfoOption* o = options; o->keyword; ++o) {
    const bool replaced =
        std::any_of(set.begin(), set.end(), [&](const auto& kv) { return kv.first == o->keyword; });
    if (o->val && !replaced) out += quoted(o->keyword, o->val);
  }
  PQconninfoFree(options);
  for (const auto& [keyword, value] : set) out += quoted(keyword, value);
  out.pop_back();
  return out;
}

// `conninfo` as key=value, always reaching the primary: a multi-host conninfo without
// target_session_attrs could land on a standby, where the fence fails and the digest reads
// lagging rows. Used for the mover's sessions and for the subscriptions' CONNECTION.
Result<std::string> primary_conninfo(const std::string& conninfo) {
  return rewrite(conninfo, {{"target_session_attrs", "read-write"}});
}

}  // namespace

Result<std::string> with_login(const std::string& conninfo, const std::string& user,
                               const std::string& password) {
  return rewrite(conninfo, {{"user", user}, {"password", password}});
}

std::string forward_name(int bucket) {
  return fmt::format("ztm_fwd_{}", bucket);
}
std::string reverse_name(int bucket) {
  return fmt::format("ztm_back_{}", bucket);
}

Result<postgres::Session> open_shard(const std::string& conninfo,
                                     std::chrono::milliseconds timeout) {
  auto primary = primary_conninfo(conninfo);
  if (!primary.ok()) return std::move(primary).error();
  auto s = postgres::Session::open(*primary, timeout, timeout);
  if (!s.ok()) return s;
  // The digest renders rows as text: the same settings on both shards, whatever theirs are.
  auto set = s->exec("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3",
                     "session settings");
  if (!set.ok()) return std::move(set).error();
  return s;
}

namespace {

using Clock = std::chrono::steady_clock;

// Each table whose rows a user owns (each has a `bucket` column: pg_migrations.cc, 11).
constexpr const char* kTables[] = {
    "users",   "idempotency_keys", "accounts",  "photos",          "jobs", "purchases", "activity",
    "lookups", "following",        "followers", "follower_counts",
};

// How often the catch-up polls the digests.
constexpr auto kCatchUpPoll = std::chrono::milliseconds(5);

// Runs `sql` in one session on `conninfo`.
Result<void> run(const std::string& conninfo, std::chrono::milliseconds timeout,
                 const std::string& sql, std::string_view what) {
  auto s = open_shard(conninfo, timeout);
  if (!s.ok()) return std::move(s).error();
  auto r = s->exec(sql, what);
  if (!r.ok()) return std::move(r).error();
  return {};
}

Result<bool> exists(postgres::Session& s, const std::string& sql, const std::string& name) {
  auto r = s.scalar(sql, "catalog", {name.c_str()});
  if (!r.ok()) return std::move(r).error();
  return *r == "t";
}

Result<bool> has_subscription(postgres::Session& s, const std::string& name) {
  return exists(s, "SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1)", name);
}
Result<bool> has_publication(postgres::Session& s, const std::string& name) {
  return exists(s, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", name);
}

// "(3,7,11)": a set of buckets as an SQL list.
std::string sql_list(const std::vector<int>& buckets) {
  return fmt::format("({})", fmt::join(buckets, ","));
}

// A publication of the rows of the buckets in `in_list` ("(3,7)") on the session's database
// (unless there is one). PostgreSQL 15 takes `bucket IN (...)` as a row filter (a
// ScalarArrayOpExpr of a built-in operator on a replica-identity column).
Result<void> publish(postgres::Session& s, const std::string& name, const std::string& in_list) {
  auto there = has_publication(s, name);
  if (!there.ok() || *there) return there.ok() ? Result<void>{} : std::move(there).error();
  std::string sql = "CREATE PUBLICATION " + name + " FOR TABLE ";
  for (const char* t : kTables)
    sql += fmt::format("{}{} WHERE (bucket IN {})", t == kTables[0] ? "" : ", ", t, in_list);
  // Row filters do not apply to TRUNCATE: one on the source would empty the whole table on the
  // target. Nothing truncates these tables; the publication refuses to carry it anyway.
  sql += " WITH (publish = 'insert, update, delete')";
  auto r = s.exec(sql, "create publication");
  if (!r.ok()) return std::move(r).error();
  return {};
}

// A subscription on the session's database to the publication of the same name on
// `publisher` (unless there is one). A slot of that name left by a create that failed half-way
// (the slot made on the publisher, the subscription not) is dropped first.
Result<void> subscribe(postgres::Session& s, const std::string& name, const std::string& publisher,
                       std::chrono::milliseconds timeout, bool copy) {
  auto there = has_subscription(s, name);
  if (!there.ok() || *there) return there.ok() ? Result<void>{} : std::move(there).error();
  if (auto p = open_shard(publisher, timeout); p.ok()) {
    auto dropped = p->exec(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        "WHERE slot_name = $1 AND NOT active",
        "drop a stale slot", {name.c_str()});
    if (!dropped.ok()) return std::move(dropped).error();
  } else {
    return std::move(p).error();
  }
  auto primary = primary_conninfo(publisher);
  if (!primary.ok()) return std::move(primary).error();
  char* quoted = PQescapeLiteral(s.get(), primary->c_str(), primary->size());
  if (!quoted) return Error{Errc::invalid_argument, "conninfo: cannot quote it"};
  const std::string literal(quoted);
  PQfreemem(quoted);
  auto r = s.exec(fmt::format("CREATE SUBSCRIPTION {0} CONNECTION {1} PUBLICATION {0} "
                              "WITH (copy_data = {2})",
                              name, literal, copy ? "true" : "false"),
                  "create subscription");
  if (!r.ok()) return std::move(r).error();
  return {};
}

// Drops the subscription `name` on `subscriber`, the publication `name` on `publisher`, and a
// slot of that name a create that failed half-way left there (it would hold WAL forever).
Result<void> unsubscribe(const std::string& subscriber, const std::string& publisher,
                         const std::string& name, std::chrono::milliseconds timeout) {
  if (auto r = run(subscriber, timeout, "DROP SUBSCRIPTION IF EXISTS " + name, "drop subscription");
      !r.ok())
    return r;
  auto p = open_shard(publisher, timeout);
  if (!p.ok()) return std::move(p).error();
  if (auto r = p->exec("DROP PUBLICATION IF EXISTS " + name, "drop publication"); !r.ok())
    return std::move(r).error();
  auto dropped = p->exec(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
      "WHERE slot_name = $1 AND NOT active",
      "drop a stale slot", {name.c_str()});
  if (!dropped.ok()) return std::move(dropped).error();
  return {};
}

// Adds (fence) or removes `buckets` (ascending) in `disowned_buckets`, in one transaction. The
// fence takes each bucket's advisory lock exclusively (the write trigger takes it shared), so
// when it commits every write that checked the fence before it has ended, and every later one
// is refused. The locks are taken in ascending order, one statement each (a set-returning
// query has no defined order of evaluation), so two fences cannot deadlock each other.
Result<void> set_fence(const std::string& conninfo, std::chrono::milliseconds timeout,
                       const std::vector<int>& buckets, bool fenced) {
  std::string sql;
  if (fenced) {
    sql = "BEGIN; ";
    for (const int b : buckets) sql += fmt::format("SELECT pg_advisory_xact_lock(7501, {}); ", b);
    sql += fmt::format(
        "INSERT INTO disowned_buckets(bucket, move) SELECT b, 'move' FROM "
        "unnest('{{{}}}'::smallint[]) AS b ON CONFLICT DO NOTHING; COMMIT",
        fmt::join(buckets, ","));
  } else {
    sql = "DELETE FROM disowned_buckets WHERE bucket IN " + sql_list(buckets);
  }
  return run(conninfo, timeout, sql, fenced ? "fence" : "unfence");
}

Result<BucketDigest> digest(postgres::Session& s, const std::string& in_list) {
  std::string sql;
  for (const char* t : kTables)
    sql += fmt::format(
        "{}SELECT '{}', count(*), coalesce(sum(('x' || left(md5(t::text), "
        "16))::bit(64)::bigint::numeric)"
        "::text, '') FROM {} t WHERE bucket IN {}",
        sql.empty() ? "" : " UNION ALL ", t, t, in_list);
  auto r = s.exec(sql, "digest");
  if (!r.ok()) return std::move(r).error();
  BucketDigest d;
  for (int i = 0; i < PQntuples(r->get()); ++i)
    d.tables.push_back({PQgetvalue(r->get(), i, 0), std::atoll(PQgetvalue(r->get(), i, 1)),
                        PQgetvalue(r->get(), i, 2)});
  return d;
}

Result<BucketDigest> digest(const std::string& conninfo, std::chrono::milliseconds timeout,
                            const std::string& in_list) {
  auto s = open_shard(conninfo, timeout);
  if (!s.ok()) return std::move(s).error();
  return digest(*s, in_list);
}

Result<std::int64_t> purge(const std::string& conninfo, std::chrono::milliseconds timeout,
                           const std::string& in_list) {
  auto s = open_shard(conninfo, timeout);
  if (!s.ok()) return std::move(s).error();
  // Triggers off: the rows move, no user is deleted (no outbox rows, no blob removed), and the
  // fence does not refuse it.
  std::string sql = "BEGIN; SET LOCAL session_replication_role = replica; ";
  for (const char* t : kTables)
    sql += fmt::format("DELETE FROM {} WHERE bucket IN {}; ", t, in_list);
  auto rows = digest(conninfo, timeout, in_list);
  if (!rows.ok()) return std::move(rows).error();
  auto r = s->exec(sql + "COMMIT", "purge the buckets");
  if (!r.ok()) return std::move(r).error();
  return rows->rows();
}

}  // namespace

std::int64_t BucketDigest::rows() const {
  std::int64_t n = 0;
  for (const Table& t : tables) n += t.rows;
  return n;
}

const std::vector<std::string>& bucket_tables() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const char* t : kTables) v.emplace_back(t);
    return v;
  }();
  return names;
}

BucketCopy::BucketCopy(std::vector<int> buckets, std::string source_conninfo,
                       std::string target_conninfo, std::chrono::milliseconds timeout)
    : buckets_(std::move(buckets)),
      source_(std::move(source_conninfo)),
      target_(std::move(target_conninfo)),
      timeout_(timeout) {
  std::sort(buckets_.begin(), buckets_.end());
  buckets_.erase(std::unique(buckets_.begin(), buckets_.end()), buckets_.end());
  if (buckets_.empty()) throw std::invalid_argument("a bucket copy of no bucket");
  if (buckets_.front() < 0 || buckets_.back() >= kBuckets)
    throw std::invalid_argument(fmt::format("a bucket is not in 0..{}", kBuckets - 1));
  in_list_ = sql_list(buckets_);
}

Result<void> BucketCopy::start_copy() {
  if (auto f = fence_target(); !f.ok()) return f;
  auto target = open_shard(target_, timeout_);
  if (!target.ok()) return std::move(target).error();
  const std::string name = forward_name(buckets_.front());
  auto subscribed = has_subscription(*target, name);
  if (!subscribed.ok()) return std::move(subscribed).error();
  if (*subscribed) return {};
  // Rows of the bucket on the target are a failed move's leftovers: the copy brings them again.
  if (auto p = purge(target_, timeout_, in_list_); !p.ok()) return std::move(p).error();
  auto source = open_shard(source_, timeout_);
  if (!source.ok()) return std::move(source).error();
  if (auto p = publish(*source, name, in_list_); !p.ok()) return p;
  return subscribe(*target, name, source_, timeout_, /*copy=*/true);
}

Result<bool> BucketCopy::copied() {
  auto target = open_shard(target_, timeout_);
  if (!target.ok()) return std::move(target).error();
  const std::string name = forward_name(buckets_.front());
  auto r = target->scalar(
      "SELECT count(*) FILTER (WHERE r.srsubstate = 'r') FROM pg_subscription_rel r "
      "JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1",
      "copy state", {name.c_str()});
  if (!r.ok()) return std::move(r).error();
  return std::atoll(r->c_str()) == static_cast<long long>(std::size(kTables));
}

Result<BucketDigest> BucketCopy::digest_source() {
  return digest(source_, timeout_, in_list_);
}
Result<BucketDigest> BucketCopy::digest_target() {
  return digest(target_, timeout_, in_list_);
}
Result<void> BucketCopy::fence_source() {
  return set_fence(source_, timeout_, buckets_, true);
}
Result<void> BucketCopy::unfence_source() {
  return set_fence(source_, timeout_, buckets_, false);
}
Result<void> BucketCopy::fence_target() {
  return set_fence(target_, timeout_, buckets_, true);
}
Result<void> BucketCopy::unfence_target() {
  return set_fence(target_, timeout_, buckets_, false);
}

Result<bool> BucketCopy::wait_equal(std::chrono::milliseconds bound) {
  const auto until = Clock::now() + bound;
  // One session on each side for the whole wait: the writes are held meanwhile, and a connection
  // (TCP, authentication, settings) costs more than a digest of a few buckets.
  auto source = open_shard(source_, timeout_);
  if (!source.ok()) return std::move(source).error();
  auto target = open_shard(target_, timeout_);
  if (!target.ok()) return std::move(target).error();
  while (true) {
    auto a = digest(*source, in_list_);
    if (!a.ok()) return std::move(a).error();
    auto b = digest(*target, in_list_);
    if (!b.ok()) return std::move(b).error();
    if (*a == *b) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(kCatchUpPoll);  // a bounded poll of the replica's progress
  }
}

Result<void> BucketCopy::reverse() {
  if (auto d = drop_forward(); !d.ok()) return d;
  const std::string name = reverse_name(buckets_.front());
  auto target = open_shard(target_, timeout_);
  if (!target.ok()) return std::move(target).error();
  if (auto p = publish(*target, name, in_list_); !p.ok()) return p;
  auto source = open_shard(source_, timeout_);
  if (!source.ok()) return std::move(source).error();
  return subscribe(*source, name, target_, timeout_, /*copy=*/false);
}

Result<bool> BucketCopy::reversed() {
  auto source = open_shard(source_, timeout_);
  if (!source.ok()) return std::move(source).error();
  return has_subscription(*source, reverse_name(buckets_.front()));
}

Result<void> BucketCopy::drop_reverse() {
  return unsubscribe(source_, target_, reverse_name(buckets_.front()), timeout_);
}
Result<void> BucketCopy::drop_forward() {
  return unsubscribe(target_, source_, forward_name(buckets_.front()), timeout_);
}
Result<std::int64_t> BucketCopy::purge_source() {
  return purge(source_, timeout_, in_list_);
}
Result<std::int64_t> BucketCopy::purge_target() {
  return purge(target_, timeout_, in_list_);
}

}  // namespace ztm::storage
