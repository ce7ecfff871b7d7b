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
// (remove() keeps a blob put recently). A table made before put_at existed gains the column,
// under the same rule: the catalog is read first and the ALTER runs only when it is missing, once.
// The default now() is stable, so the column is added without rewriting the table (the rows
// that were there get the time of the upgrade, which only keeps them a little longer).
constexpr postgres::Statement kCreate{
    "ztm_blobs_create",
    "DO $$ BEGIN "
    "PERFORM pg_advisory_xact_lock(7358241906); "
    "IF to_regclass('blobs') IS NULL THEN "
    "CREATE TABLE blobs (key text PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}[.](jpg|png|webp)$'), "
    "bytes bytea NOT NULL, put_at timestamptz NOT NULL DEFAULT now()); "
    "ALTER TABLE blobs ALTER COLUMN bytes SET STORAGE EXTERNAL; "
    "ELSIF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('blobs') "
    "AND attname = 'put_at' AND NOT attisdropped) THEN "
    "ALTER TABLE blobs ADD COLUMN put_at timestamptz NOT NULL DEFAULT now(); "
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
// Deletes the row unless it was put within $2 seconds: one statement, so a concurrent put's
// upsert either committed first (the DELETE re-reads the locked row and finds put_at fresh) or
// waits and then inserts anew. The one row says whether the blob is gone: deleted now, or
// absent (the CTE's SELECT sees the table as it was before the DELETE).
constexpr postgres::Statement kRemove{
    "ztm_blobs_remove",
    "WITH d AS (DELETE FROM blobs WHERE key = $1 AND put_at <= now() - $2::bigint * interval '1 "
    "second' RETURNING 1) "
    "SELECT EXISTS (SELECT 1 FROM d) OR NOT EXISTS (SELECT 1 FROM blobs WHERE key = $1)"};

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

}  // namespace ztm::media
