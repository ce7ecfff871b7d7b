#include "storage/sharding/load_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <optional>

#include "storage/bucket.h"

namespace ztm::storage {

namespace json = boost::json;

namespace {

// The report is an object of arrays of pairs: three levels; one more is not a report.
constexpr std::size_t kMaxDepth = 3;
constexpr std::int64_t kMaxNode = 127;
constexpr std::size_t kMaxHostBytes = 64;
constexpr std::int64_t kMaxIntervalMs = 3'600'000;
constexpr std::int64_t kMaxUserId = (std::int64_t{1} << 53) - 1;  // a Snowflake id (core/ids.h)
constexpr std::int64_t kMaxUnixMs = std::int64_t{1} << 50;        // far past any real clock

Error bad(std::string_view problem) {
  return Error{Errc::invalid_argument, fmt::format("load report: {}", problem)};
}

bool valid_host(std::string_view host) {
  return !host.empty() && host.size() <= kMaxHostBytes &&
         std::all_of(host.begin(), host.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-';
         });
}

// An integer in [min, max] (Boost.JSON reads a non-negative one as int64 or, past it, uint64).
std::optional<std::int64_t> integer(const json::value* v, std::int64_t min, std::int64_t max) {
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(max)) {
    n = static_cast<std::int64_t>(v->as_uint64());
  } else {
    return std::nullopt;
  }
  if (n < min || n > max) return std::nullopt;
  return n;
}

// A count of calls: any non-negative integer.
std::optional<std::uint64_t> count(const json::value* v) {
  if (v && v->is_uint64()) return v->as_uint64();
  if (v && v->is_int64() && v->as_int64() >= 0) return static_cast<std::uint64_t>(v->as_int64());
  return std::nullopt;
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> parse_shards(const json::value* v) {
  const json::object* o = v ? v->if_object() : nullptr;
  if (!o) return bad("\"shards\" is not an object");
  if (o->size() > static_cast<std::size_t>(kMaxShards))
    return bad(fmt::format("\"shards\" names more than {} shards", kMaxShards));
  std::vector<std::pair<std::string, std::uint64_t>> shards;
  for (const auto& entry : *o) {
    const auto n = count(&entry.value());
    if (!valid_shard_name(entry.key()) || !n) return bad("\"shards\" holds a bad name or count");
    shards.emplace_back(std::string(entry.key()), *n);
  }
  return shards;
}

Result<std::vector<BucketLoad>> parse_buckets(const json::value* v) {
  const json::array* a = v ? v->if_array() : nullptr;
  if (!a) return bad("\"buckets\" is not an array");
  if (a->size() > kReportedBuckets)
    return bad(fmt::format("more than {} buckets", kReportedBuckets));
  std::vector<BucketLoad> buckets;
  for (const auto& item : *a) {
    const json::array* t = item.if_array();
    const auto b = t && t->size() == 3 ? integer(&(*t)[0], 0, kBuckets - 1) : std::nullopt;
    const auto requests = t && t->size() == 3 ? count(&(*t)[1]) : std::nullopt;
    const auto writes = t && t->size() == 3 ? count(&(*t)[2]) : std::nullopt;
    if (!b || !requests || !writes || *writes > *requests)
      return bad("a bucket is not [bucket 0..1023, requests, writes <= requests]");
    if (std::any_of(buckets.begin(), buckets.end(),
                    [&](const BucketLoad& l) { return l.bucket == *b; }))
      return bad(fmt::format("bucket {} listed twice", *b));
    buckets.push_back({static_cast<int>(*b), *requests, *writes});
  }
  return buckets;
}

Result<std::vector<UserLoad>> parse_users(const json::value* v) {
  const json::array* a = v ? v->if_array() : nullptr;
  if (!a) return bad("\"users\" is not an array");
  if (a->size() > kMaxReportedUsers)
    return bad(fmt::format("more than {} users", kMaxReportedUsers));
  std::vector<UserLoad> users;
  for (const auto& item : *a) {
    const json::array* t = item.if_array();
    const auto id = t && t->size() == 2 ? integer(&(*t)[0], 1, kMaxUserId) : std::nullopt;
    const json::value* share = t && t->size() == 2 ? &(*t)[1] : nullptr;
    const double s = share && share->is_number() ? share->to_number<double>() : -1;
    if (!id || !(s > 0 && s <= 1)) return bad("a user is not [user id, share in (0, 1]]");
    users.push_back({*id, s});
  }
  return users;
}

}  // namespace

std::string load_report_key(std::string_view host, int node) {
  return fmt::format("{}{}-{}", kLoadReportPrefix, host, node);
}

std::string to_json(const LoadReport& r) {
  json::object shards;
  for (const auto& [name, n] : r.shards) shards[name] = n;
  json::array buckets;
  for (const auto& b : r.buckets) buckets.push_back(json::array{b.bucket, b.requests, b.writes});
  json::array users;
  for (const auto& u : r.users) users.push_back(json::array{u.user, u.share});
  return json::serialize(json::object{{"node", r.node},
                                      {"host", r.host},
                                      {"map_version", r.map_version},
                                      {"at_ms", r.at_ms},
                                      {"interval_ms", r.interval_ms},
                                      {"requests", r.requests},
                                      {"shards", std::move(shards)},
                                      {"buckets", std::move(buckets)},
                                      {"users", std::move(users)}});
}

Result<LoadReport> parse_load_report(std::string_view text) {
  if (text.size() > kMaxLoadReportBytes)
    return bad(fmt::format("{} bytes; at most {}", text.size(), kMaxLoadReportBytes));
  json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::system::error_code ec;
  const json::value doc = json::parse(text, ec, {}, options);
  if (ec) return Error{Errc::invalid_json, fmt::format("load report: not JSON: {}", ec.message())};
  const json::object* o = doc.if_object();
  if (!o) return bad("not an object");
  LoadReport r;
  const auto node = integer(o->if_contains("node"), 0, kMaxNode);
  const json::value* host = o->if_contains("host");
  const auto version = integer(o->if_contains("map_version"), 1, INT64_MAX);
  const auto at = integer(o->if_contains("at_ms"), 0, kMaxUnixMs);
  const auto interval = integer(o->if_contains("interval_ms"), 1, kMaxIntervalMs);
  const auto requests = count(o->if_contains("requests"));
  if (!node) return bad("\"node\" is not 0..127");
  if (!host || !host->is_string() || !valid_host(host->as_string()))
    return bad("\"host\" is not [A-Za-z0-9.-]{1,64}");
  if (!version || !at || !interval || !requests)
    return bad(
        "\"map_version\", \"at_ms\", \"interval_ms\" or \"requests\" is missing or out of "
        "range");
  r.node = static_cast<int>(*node);
  r.host = std::string(host->as_string());
  r.map_version = *version;
  r.at_ms = *at;
  r.interval_ms = *interval;
  r.requests = *requests;
  auto shards = parse_shards(o->if_contains("shards"));
  if (!shards) return std::move(shards).error();
  auto buckets = parse_buckets(o->if_contains("buckets"));
  if (!buckets) return std::move(buckets).error();
  auto users = parse_users(o->if_contains("users"));
  if (!users) return std::move(users).error();
  r.shards = std::move(*shards);
  r.buckets = std::move(*buckets);
  r.users = std::move(*users);
  return r;
}

LoadSummary summarize_load(const std::vector<etcd::KeyedValue>& values, const ShardMap& map,
                           std::int64_t now_ms, std::chrono::milliseconds max_age,
                           std::size_t top_buckets) {
  LoadSummary out;
  out.bucket_rates.assign(kBuckets, 0.0);
  std::map<std::string, double> shard_rates;
  std::map<int, double> bucket_rates;
  std::map<UserId, LoadSummary::HotUser> users;
  for (const auto& kv : values) {
    auto report = parse_load_report(kv.value);
    if (!report) {
      ++out.invalid;
      continue;
    }
    const std::int64_t age = now_ms - report->at_ms;
    if (age > max_age.count() || -age > max_age.count()) {
      ++out.stale;
      continue;
    }
    const double per_second = 1000.0 / static_cast<double>(report->interval_ms);
    const double rate = static_cast<double>(report->requests) * per_second;
    out.per_second += rate;
    for (const auto& [name, n] : report->shards)
      shard_rates[name] += static_cast<double>(n) * per_second;
    std::uint64_t listed = 0;
    for (const auto& b : report->buckets) {
      bucket_rates[b.bucket] += static_cast<double>(b.requests) * per_second;
      out.bucket_rates[b.bucket] += static_cast<double>(b.requests) * per_second;
      listed += b.requests;
    }
    // A report lists only its busiest buckets: the rest of its requests are spread evenly over
    // the others (a hostile report listing more than it counts adds nothing).
    const double rest = static_cast<double>(report->requests - std::min(report->requests, listed)) *
                        per_second / static_cast<double>(kBuckets - report->buckets.size());
    std::vector<bool> is_listed(kBuckets, false);
    for (const auto& b : report->buckets) is_listed[b.bucket] = true;
    for (int b = 0; b < kBuckets; ++b)
      if (!is_listed[b]) out.bucket_rates[b] += rest;
    for (const auto& u : report->users) {
      auto& hot = users[u.user];
      if (u.share > hot.share) hot = {u.user, u.share, report->host};
    }
    out.servers.push_back({kv.key, report->node, report->host, report->map_version,
                           report->map_version < map.version, std::max<std::int64_t>(age, 0),
                           rate});
  }
  for (const auto& shard : map.shards) {
    auto it = shard_rates.find(shard.name);
    out.shards.push_back({shard.name, it == shard_rates.end() ? 0.0 : it->second});
    if (it != shard_rates.end()) shard_rates.erase(it);
  }
  for (const auto& [name, rate] : shard_rates) out.shards.push_back({name, rate});

  for (const auto& [bucket, rate] : bucket_rates) {
    const bool held = map.mode == ShardMap::Mode::buckets &&
                      static_cast<std::size_t>(bucket) < map.buckets.size();
    out.buckets.push_back(
        {bucket, rate, out.per_second > 0 ? rate / out.per_second : 0,
         held ? map.shards.at(static_cast<std::size_t>(map.buckets[bucket])).name : std::string()});
  }
  std::sort(out.buckets.begin(), out.buckets.end(), [](const auto& a, const auto& b) {
    return a.per_second != b.per_second ? a.per_second > b.per_second : a.bucket < b.bucket;
  });
  if (out.buckets.size() > top_buckets) out.buckets.resize(top_buckets);

  for (auto& [id, hot] : users) out.users.push_back(std::move(hot));
  std::sort(out.users.begin(), out.users.end(), [](const auto& a, const auto& b) {
    return a.share != b.share ? a.share > b.share : a.user < b.user;
  });
  std::sort(out.servers.begin(), out.servers.end(),
            [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

std::string to_json(const LoadSummary& s) {
  json::array shards;
  for (const auto& r : s.shards)
    shards.push_back(json::object{{"shard", r.shard}, {"requests_per_s", r.per_second}});
  json::array buckets;
  for (const auto& b : s.buckets)
    buckets.push_back(json::object{{"bucket", b.bucket},
                                   {"requests_per_s", b.per_second},
                                   {"share", b.share},
                                   {"shard", b.shard}});
  json::array users;
  for (const auto& u : s.users)
    users.push_back(json::object{{"user", u.user}, {"share", u.share}, {"host", u.host}});
  json::array servers;
  for (const auto& v : s.servers)
    servers.push_back(json::object{{"key", v.key},
                                   {"node", v.node},
                                   {"host", v.host},
                                   {"map_version", v.map_version},
                                   {"behind", v.behind},
                                   {"age_ms", v.age_ms},
                                   {"requests_per_s", v.per_second}});
  return json::serialize(json::object{{"requests_per_s", s.per_second},
                                      {"shards", std::move(shards)},
                                      {"hot_buckets", std::move(buckets)},
                                      {"hot_users", std::move(users)},
                                      {"servers", std::move(servers)},
                                      {"stale_reports", s.stale},
                                      {"invalid_reports", s.invalid}});
}

}  // namespace ztm::storage
