#include "media/postgres/pg_blob_store.h"

#include <fmt/format.h>

#include <array>
#include <span>
#include <utility>

namespace ztm::media {
namespace {

using boost::asio::awaitable;

// Statements are prepared once per connection, on first use (pg::Connection).
// The table is created only when missing, so servers starting later take no lock on it (an
// ALTER TABLE would). STORAGE EXTERNAL: out of line without compression, since JPEG, PNG and WebP
// do not compress and pglz would try on every insert.
constexpr pg::Statement kCreate{
    "ztm_blobs_create",
    "DO $$ BEGIN "
    "PERFORM pg_advisory_xact_lock(7358241906); "
    "IF to_regclass('blobs') IS NULL THEN "
    "CREATE TABLE blobs (key text PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}[.](jpg|png|webp)$'), "
    "bytes bytea NOT NULL); "
    "ALTER TABLE blobs ALTER COLUMN bytes SET STORAGE EXTERNAL; "
    "END IF; END $$"};
// The server checks that the key is the bytes' SHA-256, then inserts unless the key exists; the
// one row says whether the key matched.
constexpr pg::Statement kPut{
    "ztm_blobs_put",
    "WITH v AS (SELECT encode(sha256($2::bytea), 'hex') = left($1, 64) AS matches), "
    "ins AS (INSERT INTO blobs(key, bytes) SELECT $1, $2::bytea FROM v WHERE v.matches "
    "ON CONFLICT (key) DO NOTHING) "
    "SELECT matches FROM v"};
constexpr pg::Statement kGet{"ztm_blobs_get", "SELECT bytes FROM blobs WHERE key = $1"};
constexpr pg::Statement kRemove{"ztm_blobs_remove", "DELETE FROM blobs WHERE key = $1"};

Result<void> check_key(const std::string& key) {
  if (!valid_blob_key(key))
    return Error{Errc::invalid_argument, fmt::format("malformed blob key \"{}\"", key)};
  return {};
}

// bytea's text input: "\x" and two hex digits a byte.
std::string to_bytea_hex(std::string_view bytes) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out(2 + 2 * bytes.size(), '\0');
  out[0] = '\\';
  out[1] = 'x';
  char* p = out.data() + 2;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    *p++ = kHex[b >> 4];
    *p++ = kHex[b & 0xF];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea's text output (bytea_output = hex, the default since PostgreSQL 9.0).
Result<std::string> from_bytea_hex(std::string_view text) {
  if (text.size() < 2 || text.substr(0, 2) != "\\x" || text.size() % 2 != 0)
    return Error{Errc::internal, "postgres: bytea is not in hex output format"};
  text.remove_prefix(2);
  std::string out(text.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return Error{Errc::internal, "postgres: malformed bytea hex"};
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace

PgBlobStore::PgBlobStore(pg::HostOptions options) : host_(std::move(options)) {}

PgBlobStore::~PgBlobStore() = default;

awaitable<Result<void>> PgBlobStore::migrate() {
  const std::span<const char* const> no_params;  // named: no temporary inside co_await
  auto r = co_await host_.execute(kCreate, no_params);
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

awaitable<Result<void>> PgBlobStore::put(std::string key, std::string bytes) {
  if (auto k = check_key(key); !k.ok()) co_return k;
  const std::string hex = to_bytea_hex(bytes);
  const std::array<const char*, 2> params{key.c_str(), hex.c_str()};
  auto r = co_await host_.execute(kPut, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() != 1 || r->text(0, 0) != "t")
    co_return Error{Errc::invalid_argument, fmt::format("blob key {} is not the bytes' hash", key)};
  co_return Result<void>{};
}

awaitable<Result<std::string>> PgBlobStore::get(std::string key) {
  if (auto k = check_key(key); !k.ok()) co_return std::move(k).error();
  const std::array<const char*, 1> params{key.c_str()};
  auto r = co_await host_.execute(kGet, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, fmt::format("blob {} not found", key)};
  co_return from_bytea_hex(r->text(0, 0));
}

awaitable<Result<void>> PgBlobStore::remove(std::string key) {
  if (auto k = check_key(key); !k.ok()) co_return k;
  const std::array<const char*, 1> params{key.c_str()};
  auto r = co_await host_.execute(kRemove, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

}  // namespace ztm::media
