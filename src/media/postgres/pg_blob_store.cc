#include "media/postgres/pg_blob_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <span>
#include <utility>

namespace ztm::media {
namespace {

using boost::asio::awaitable;

// Statements are prepared once per connection, on first use (postgres::Connection).
// The table is created only when missing, so servers starting later take no lock on it (an
// ALTER TABLE would). STORAGE EXTERNAL: out of line without compression, since JPEG, PNG and WebP
// do not compress and pglz would try on every insert. put_at is when the blob was last put
// (remove() keeps a blob put recently); remove_pending marks a removal candidate (a blob that
// remove() kept), found by the collector through a partial index that holds only candidates. A
// table made before a column existed gains it, under the same rule: the catalog is read first
// and the ALTER runs only when it is missing, once. Both defaults are stable, so the columns are
// added without rewriting the table (the rows that were there get the time of the upgrade, which
// only keeps them a little longer, and are no candidates). The index on a table that exists is
// built once, at the start that adds it (it reads the table's small main rows, not the bytes).
constexpr postgres::Statement kCreate{
    "ztm_blobs_create",
    "DO $$ BEGIN "
    "PERFORM pg_advisory_xact_lock(7358241906); "
    "IF to_regclass('blobs') IS NULL THEN "
    "CREATE TABLE blobs (key text PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}[.](jpg|png|webp)$'), "
    "bytes bytea NOT NULL, put_at timestamptz NOT NULL DEFAULT now(), "
    "remove_pending boolean NOT NULL DEFAULT false); "
    "ALTER TABLE blobs ALTER COLUMN bytes SET STORAGE EXTERNAL; "
    "END IF; "
    "IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('blobs') "
    "AND attname = 'put_at' AND NOT attisdropped) THEN "
    "ALTER TABLE blobs ADD COLUMN put_at timestamptz NOT NULL DEFAULT now(); "
    "END IF; "
    "IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('blobs') "
    "AND attname = 'remove_pending' AND NOT attisdropped) THEN "
    "ALTER TABLE blobs ADD COLUMN remove_pending boolean NOT NULL DEFAULT false; "
    "END IF; "
    "IF to_regclass('blobs_remove_pending') IS NULL THEN "
    "CREATE INDEX blobs_remove_pending ON blobs (put_at) WHERE remove_pending; "
    "END IF; END $$"};
// The server checks that the key is the bytes' SHA-256, then inserts, or refreshes put_at when
// the key exists (the row lock of that update orders it against a concurrent kRemove); the one
// row says whether the key matched.
// The bytes travel in binary, both ways: as text, bytea is hex, which doubles what is sent and
// costs encoding and decoding on the event loop (about 2 ms per MB).
constexpr std::size_t kMaxBytea = std::size_t{1} << 30;  // a bytea value is at most 1 GB
constexpr int kPutFormats[] = {0, 1};                    // the key as text, the bytes in binary
constexpr postgres::Statement kPut{
    "ztm_blobs_put",
    "WITH v AS (SELECT encode(sha256($2::bytea), 'hex') = left($1, 64) AS matches), "
    "ins AS (INSERT INTO blobs(key, bytes) SELECT $1, $2::bytea FROM v WHERE v.matches "
    "ON CONFLICT (key) DO UPDATE SET put_at = now()) "
    "SELECT matches FROM v",
    kPutFormats};
constexpr postgres::Statement kGet{"ztm_blobs_get", "SELECT bytes FROM blobs WHERE key = $1",
                                   nullptr,
                                   /*result_format=*/1};
// A streamed blob: its length without reading it (octet_length of an out-of-line bytea reads
// only its TOAST pointer), then each chunk by substring, which on EXTERNAL (uncompressed)
// storage fetches only the TOAST pieces the range covers, not the whole value.
constexpr postgres::Statement kSize{"ztm_blobs_size",
                                    "SELECT octet_length(bytes) FROM blobs WHERE key = $1"};
constexpr postgres::Statement kRead{
    "ztm_blobs_read",
    "SELECT substring(bytes FROM $2::int + 1 FOR $3::int) FROM blobs "
    "WHERE key = $1",
    nullptr, /*result_format=*/1};
// Deletes the row unless it was put within $2 seconds, and marks it a removal candidate when it
// keeps it: one statement, so the decision and the mark commit together. `l` locks the row's
// newest version first (FOR UPDATE waits for a concurrent put's upsert and then reads the row it
// committed), and the decision is made on that version's put_at: a put either committed first
// (kept, and marked) or waits and then inserts anew. The DELETE and the UPDATE, which scan the
// statement's older snapshot, follow the row to that locked version. The one row says whether
// the blob is gone: deleted now, or absent (no row to lock).
constexpr postgres::Statement kRemove{
    "ztm_blobs_remove",
    "WITH l AS (SELECT key, put_at > now() - $2::bigint * interval '1 second' AS recent "
    "FROM blobs WHERE key = $1 FOR UPDATE), "
    "d AS (DELETE FROM blobs b USING l WHERE b.key = l.key AND NOT l.recent RETURNING 1), "
    "m AS (UPDATE blobs b SET remove_pending = true FROM l "
    "WHERE b.key = l.key AND l.recent AND NOT b.remove_pending RETURNING 1) "
    "SELECT NOT EXISTS (SELECT 1 FROM l WHERE l.recent)"};
// Candidates put long enough ago, oldest first (the partial index blobs_remove_pending).
constexpr postgres::Statement kCandidates{
    "ztm_blobs_candidates",
    "SELECT key FROM blobs WHERE remove_pending AND put_at <= now() - $1::bigint * interval '1 "
    "second' ORDER BY put_at, key LIMIT $2::int"};
// A put since the caller looked (a fresh put_at, seen after waiting for the put's row lock)
// keeps the mark: a removal may have kept the blob meanwhile.
constexpr postgres::Statement kForget{
    "ztm_blobs_forget",
    "UPDATE blobs SET remove_pending = false WHERE key = $1 AND remove_pending "
    "AND put_at <= now() - $2::bigint * interval '1 second'"};

Result<void> check_key(const std::string& key) {
  if (!valid_blob_key(key))
    return Error{Errc::invalid_argument, fmt::format("malformed blob key \"{}\"", key)};
  return {};
}

// The one row of a statement about one blob; not_found when there is none.
awaitable<Result<postgres::QueryResult>> blob_row(postgres::Host& host,
                                                  const postgres::Statement& statement,
                                                  const std::string& key, postgres::Params params) {
  auto r = co_await host.execute(statement, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, fmt::format("blob {} not found", key)};
  co_return r;
}

}  // namespace

PgBlobStore::PgBlobStore(postgres::HostOptions options) : host_(std::move(options)) {}

PgBlobStore::~PgBlobStore() = default;

awaitable<Result<void>> PgBlobStore::migrate() {
  const std::span<const char* const> no_params;  // named: no temporary inside co_await
  auto r = co_await host_.execute(kCreate, no_params);
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

awaitable<Result<void>> PgBlobStore::put(std::string key, std::string bytes) {
  if (auto k = check_key(key); !k.ok()) co_return k;
  if (bytes.size() > kMaxBytea)
    co_return Error{
        Errc::invalid_argument,
        fmt::format("blob of {} bytes: PostgreSQL keeps at most {}", bytes.size(), kMaxBytea)};
  const std::array<const char*, 2> values{key.c_str(), bytes.data()};
  const std::array<int, 2> lengths{0, static_cast<int>(bytes.size())};
  const postgres::Params params(values, lengths);  // named: no temporary inside co_await
  auto r = co_await host_.execute(kPut, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() != 1 || r->text(0, 0) != "t")
    co_return Error{Errc::invalid_argument, fmt::format("blob key {} is not the bytes' hash", key)};
  co_return Result<void>{};
}

awaitable<Result<std::string>> PgBlobStore::get(std::string key) {
  if (auto k = check_key(key); !k.ok()) co_return std::move(k).error();
  const std::array<const char*, 1> params{key.c_str()};
  auto r = co_await blob_row(host_, kGet, key, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return std::string(r->text(0, 0));  // binary: the raw bytes
}

awaitable<Result<std::uint64_t>> PgBlobStore::size(std::string key) {
  if (auto k = check_key(key); !k.ok()) co_return std::move(k).error();
  const std::array<const char*, 1> params{key.c_str()};
  auto r = co_await blob_row(host_, kSize, key, params);
  if (!r.ok()) co_return std::move(r).error();
  const auto length = r->int64(0, 0);
  if (!length || *length < 0)
    co_return Error{Errc::internal, fmt::format("blob {}: size \"{}\"", key, r->text(0, 0))};
  co_return static_cast<std::uint64_t>(*length);
}

awaitable<Result<std::string>> PgBlobStore::read(std::string key, std::uint64_t offset,
                                                 std::size_t max_bytes) {
  if (auto k = check_key(key); !k.ok()) co_return std::move(k).error();
  // A bytea is at most 1 GB, so every offset within one fits an int; beyond it nothing is left.
  if (offset >= kMaxBytea || max_bytes == 0) {
    auto exists = co_await size(std::move(key));
    if (!exists) co_return std::move(exists).error();
    co_return std::string();
  }
  const std::string from = std::to_string(offset);
  const std::string length = std::to_string(std::min<std::size_t>(max_bytes, kMaxBytea));
  const std::array<const char*, 3> params{key.c_str(), from.c_str(), length.c_str()};
  auto r = co_await blob_row(host_, kRead, key, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return std::string(r->text(0, 0));  // binary: the raw bytes
}

awaitable<Result<bool>> PgBlobStore::remove(std::string key,
                                            std::chrono::seconds unless_put_within) {
  if (auto k = check_key(key); !k.ok()) co_return std::move(k).error();
  const std::string within = std::to_string(unless_put_within.count());
  const std::array<const char*, 2> params{key.c_str(), within.c_str()};
  auto r = co_await host_.execute(kRemove, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() != 1)
    co_return Error{Errc::internal, fmt::format("blob {}: remove returned no row", key)};
  co_return r->text(0, 0) == "t";
}

awaitable<Result<std::vector<std::string>>> PgBlobStore::removal_candidates(
    std::chrono::seconds put_before, int limit) {
  if (auto l = check_candidate_limit(limit); !l.ok()) co_return std::move(l).error();
  const std::string before = std::to_string(put_before.count());
  const std::string most = std::to_string(limit);
  const std::array<const char*, 2> params{before.c_str(), most.c_str()};
  auto r = co_await host_.execute(kCandidates, params);
  if (!r.ok()) co_return std::move(r).error();
  std::vector<std::string> keys;
  for (int i = 0; i < r->rows(); ++i) keys.emplace_back(r->text(i, 0));
  co_return keys;
}

awaitable<Result<void>> PgBlobStore::forget_candidate(std::string key,
                                                      std::chrono::seconds unless_put_within) {
  if (auto k = check_key(key); !k.ok()) co_return k;
  const std::string within = std::to_string(unless_put_within.count());
  const std::array<const char*, 2> params{key.c_str(), within.c_str()};
  auto r = co_await host_.execute(kForget, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

}  // namespace ztm::media
