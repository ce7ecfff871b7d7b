#include "sessions/sqlite/sqlite_session_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <array>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "core/blocking_pool.h"
#include "sessions/session_key.h"

namespace ztm::sessions {
namespace {

using boost::asio::awaitable;
using std::chrono::milliseconds;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
  key TEXT PRIMARY KEY, user_id INTEGER NOT NULL, role TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at_ms);
DROP TABLE IF EXISTS rate_counters;
CREATE TABLE IF NOT EXISTS rate_windows (
  key TEXT PRIMARY KEY, hits INTEGER NOT NULL, prev_hits INTEGER NOT NULL,
  window_ends_ms INTEGER NOT NULL, forget_at_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rate_windows_by_forget ON rate_windows (forget_at_ms);
)sql";

enum Sql { kCreate, kFind, kSlide, kRevoke, kRevokeUser, kHit, kPing, kPurgeSessions, kPurgeHits };
constexpr std::array<const char*, 9> kSql = {
    // An expired row with the same key does not exist for the contract: replace it.
    "INSERT INTO sessions (key, user_id, role, expires_at_ms) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (key) DO UPDATE SET user_id = excluded.user_id, role = excluded.role, "
    "expires_at_ms = excluded.expires_at_ms WHERE sessions.expires_at_ms <= ?5",
    "SELECT user_id, role, expires_at_ms FROM sessions WHERE key = ?1 AND expires_at_ms > ?2",
    "UPDATE sessions SET expires_at_ms = ?2 WHERE key = ?1",
    "DELETE FROM sessions WHERE key = ?1",
    "DELETE FROM sessions WHERE user_id = ?1",
    // The sliding-window counter of session_store.h (?2 now, ?3 the window). SET reads the
    // row as it was: the window after it (now within one window of its end) keeps its hits as
    // the previous window's; later than that, both start again.
    "INSERT INTO rate_windows (key, hits, prev_hits, window_ends_ms, forget_at_ms) "
    "VALUES (?1, 1, 0, ?2 + ?3, ?2 + 2 * ?3) "
    "ON CONFLICT (key) DO UPDATE SET "
    "prev_hits = CASE WHEN window_ends_ms + ?3 <= ?2 THEN 0 "
    "  WHEN window_ends_ms <= ?2 THEN hits ELSE prev_hits END, "
    "hits = CASE WHEN window_ends_ms <= ?2 THEN 1 ELSE hits + 1 END, "
    "window_ends_ms = CASE WHEN window_ends_ms + ?3 <= ?2 THEN ?2 + ?3 "
    "  WHEN window_ends_ms <= ?2 THEN window_ends_ms + ?3 ELSE window_ends_ms END, "
    "forget_at_ms = CASE WHEN window_ends_ms + ?3 <= ?2 THEN ?2 + 2 * ?3 "
    "  WHEN window_ends_ms <= ?2 THEN window_ends_ms + 2 * ?3 ELSE window_ends_ms + ?3 END "
    "RETURNING hits + prev_hits * (window_ends_ms - ?2) / ?3, window_ends_ms",
    "SELECT 1",
    "DELETE FROM sessions WHERE key IN "
    "(SELECT key FROM sessions WHERE expires_at_ms <= ?1 LIMIT 500)",
    "DELETE FROM rate_windows WHERE key IN "
    "(SELECT key FROM rate_windows WHERE forget_at_ms <= ?1 LIMIT 500)",
};

// SQLITE_BUSY/LOCKED (another process holds the lock past busy_timeout), I/O and full disks are
// worth a retry; anything else is a bug or a broken file.
Error sqlite_error(sqlite3* db, int rc, const char* what) {
  const int primary = rc & 0xff;
  const bool transient = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ||
                         primary == SQLITE_IOERR || primary == SQLITE_FULL;
  return Error{transient ? Errc::unavailable : Errc::internal,
               fmt::format("sqlite sessions {}: {}", what, sqlite3_errmsg(db))};
}

}  // namespace

struct SqliteSessionStore::SessionDatabase {
  explicit SessionDatabase(const SqliteSessionOptions& o)
      : clock(o.clock), pool(o.threads, o.max_pending) {
    namespace fs = std::filesystem;
    if (!clock) throw std::invalid_argument("sqlite sessions: the clock must be set");
    if (o.path.empty()) throw std::runtime_error("sessions.sqlite_path is empty");
    if (const fs::path dir = fs::path(o.path).parent_path(); !dir.empty()) {
      std::error_code ec;
      fs::create_directories(dir, ec);
    }
    int rc =
        sqlite3_open_v2(o.path.c_str(), &conn,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(conn, o.busy_timeout_ms);
      rc = sqlite3_exec(conn, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", nullptr,
                        nullptr, nullptr);
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(conn, kSchema, nullptr, nullptr, nullptr);
    for (std::size_t i = 0; rc == SQLITE_OK && i < kSql.size(); ++i)
      rc = sqlite3_prepare_v3(conn, kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts[i], nullptr);
    if (rc != SQLITE_OK) {
      const std::string why = conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc);
      close();
      throw std::runtime_error(
          fmt::format("cannot open the sessions database {}: {}", o.path, why));
    }
  }
  ~SessionDatabase() {
    pool.join();
    close();
  }
  void close() {
    for (auto*& s : stmts) sqlite3_finalize(std::exchange(s, nullptr));
    sqlite3_close_v2(std::exchange(conn, nullptr));
  }

  // Runs body(statement) -> Result<T> with `sql` reset and bound by bind(statement), on the pool,
  // holding the connection. Every 256th writing call also purges a bounded batch of expired rows.
  template <class T, class Bind, class Body>
  awaitable<Result<T>> run(Sql sql, bool writes, Bind bind, Body body) {
    auto call = pool.run([this, sql, writes, &bind, &body]() -> Result<T> {
      std::lock_guard lock(mu);
      sqlite3_stmt* s = stmts[sql];
      sqlite3_reset(s);
      sqlite3_clear_bindings(s);
      bind(s);
      Result<T> r = body(s);
      sqlite3_reset(s);
      if (writes && ++writes_since_purge >= 256) {
        writes_since_purge = 0;
        purge();
      }
      return r;
    });
    co_return co_await std::move(call);
  }

  void purge() {
    for (Sql sql : {kPurgeSessions, kPurgeHits}) {
      sqlite3_stmt* s = stmts[sql];
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, now_ms());
      sqlite3_step(s);  // best effort: a failure leaves rows for the next purge
      sqlite3_reset(s);
    }
  }

  // SQLITE_DONE -> ok; else the error.
  Result<void> done(sqlite3_stmt* s, const char* what) {
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) return sqlite_error(conn, rc, what);
    return {};
  }

  // Wall time in Unix ms: what the tables store.
  std::int64_t now_ms() const { return unix_ms(clock->now()); }

  const Clock* clock;
  BlockingPool pool;
  std::mutex mu;
  sqlite3* conn = nullptr;
  std::array<sqlite3_stmt*, kSql.size()> stmts{};
  int writes_since_purge = 0;
};

namespace {

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text64(s, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
}

}  // namespace

SqliteSessionStore::SqliteSessionStore(SqliteSessionOptions options)
    : db_(std::make_unique<SessionDatabase>(options)) {}

SqliteSessionStore::~SqliteSessionStore() = default;

awaitable<Result<void>> SqliteSessionStore::create(std::string key, SessionData data,
                                                   milliseconds ttl) {
  if (auto k = check_session_key(key); !k.ok()) co_return k;
  if (auto t = check_duration(ttl, "session ttl"); !t.ok()) co_return t;
  SessionDatabase& db = *db_;
  const std::int64_t now = db.now_ms();
  auto call = db.run<void>(
      kCreate, true,
      [&](sqlite3_stmt* s) {
        bind_text(s, 1, key);
        sqlite3_bind_int64(s, 2, data.user_id);
        bind_text(s, 3, data.role);
        sqlite3_bind_int64(s, 4, now + ttl.count());
        sqlite3_bind_int64(s, 5, now);
      },
      [&](sqlite3_stmt* s) -> Result<void> {
        if (auto r = db.done(s, "create"); !r.ok()) return r;
        if (sqlite3_changes(db.conn) == 0) return Error{Errc::conflict, "session: the key exists"};
        return {};
      });
  co_return co_await std::move(call);
}

awaitable<Result<SessionData>> SqliteSessionStore::touch(std::string key, milliseconds ttl) {
  if (auto k = check_session_key(key); !k.ok()) co_return std::move(k).error();
  if (auto t = check_duration(ttl, "session ttl"); !t.ok()) co_return std::move(t).error();
  SessionDatabase& db = *db_;
  const std::int64_t now = db.now_ms();
  const std::int64_t expires = now + ttl.count();
  // Named awaitables below: no class-type temporary inside a co_await (GCC 12, see store.h).
  // Written only when the stored expiry is stale enough (see touch_rewrite_threshold).
  auto call = db.run<SessionData>(
      kFind, false,
      [&](sqlite3_stmt* s) {
        bind_text(s, 1, key);
        sqlite3_bind_int64(s, 2, now);
      },
      [&](sqlite3_stmt* s) -> Result<SessionData> {
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) return Error{Errc::not_found, "session: not found or expired"};
        if (rc != SQLITE_ROW) return sqlite_error(db.conn, rc, "touch");
        SessionData data{sqlite3_column_int64(s, 0),
                         reinterpret_cast<const char*>(sqlite3_column_text(s, 1))};
        const std::int64_t stored = sqlite3_column_int64(s, 2);
        sqlite3_reset(s);
        if (expires - stored < touch_rewrite_threshold(ttl).count()) return data;
        sqlite3_stmt* slide = db.stmts[kSlide];
        sqlite3_reset(slide);
        bind_text(slide, 1, key);
        sqlite3_bind_int64(slide, 2, expires);
        auto r = db.done(slide, "touch");
        sqlite3_reset(slide);
        if (!r.ok()) return std::move(r).error();
        return data;
      });
  co_return co_await std::move(call);
}

awaitable<Result<void>> SqliteSessionStore::revoke(std::string key) {
  if (auto k = check_session_key(key); !k.ok()) co_return k;
  SessionDatabase& db = *db_;
  auto call = db.run<void>(
      kRevoke, true, [&](sqlite3_stmt* s) { bind_text(s, 1, key); },
      [&](sqlite3_stmt* s) { return db.done(s, "revoke"); });
  co_return co_await std::move(call);
}

awaitable<Result<void>> SqliteSessionStore::revoke_user(UserId user) {
  SessionDatabase& db = *db_;
  auto call = db.run<void>(
      kRevokeUser, true, [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 1, user); },
      [&](sqlite3_stmt* s) { return db.done(s, "revoke_user"); });
  co_return co_await std::move(call);
}

awaitable<Result<RateCount>> SqliteSessionStore::hit(std::string key, milliseconds window) {
  if (auto k = check_session_key(key); !k.ok()) co_return std::move(k).error();
  if (auto w = check_duration(window, "rate window"); !w.ok()) co_return std::move(w).error();
  SessionDatabase& db = *db_;
  const std::int64_t now = db.now_ms();
  auto call = db.run<RateCount>(
      kHit, true,
      [&](sqlite3_stmt* s) {
        bind_text(s, 1, key);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int64(s, 3, window.count());
      },
      [&](sqlite3_stmt* s) -> Result<RateCount> {
        const int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) return sqlite_error(db.conn, rc, "hit");
        return RateCount{sqlite3_column_int64(s, 0),
                         milliseconds(sqlite3_column_int64(s, 1) - now)};
      });
  co_return co_await std::move(call);
}

awaitable<Result<void>> SqliteSessionStore::ping() {
  SessionDatabase& db = *db_;
  auto call = db.run<void>(
      kPing, false, [](sqlite3_stmt*) {},
      [&](sqlite3_stmt* s) -> Result<void> {
        const int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) return sqlite_error(db.conn, rc, "ping");
        return {};
      });
  co_return co_await std::move(call);
}

}  // namespace ztm::sessions
