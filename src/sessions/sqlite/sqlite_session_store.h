#pragma once
// Sessions and rate counters in their own SQLite file, for the single-server stages.
//
// Every call runs on a bounded BlockingPool, never on the caller's event loop. One connection,
// behind a mutex: nearly every call writes (create, revoke, hit, and touch once a minute), and
// SQLite admits one writer at a time anyway. WAL with synchronous=NORMAL: a commit survives a
// crash of the process; on power loss the last commits may be lost, which for sessions means
// logging in again (see docs/sessions.md).
//
// Expired rows are invisible at once (every statement compares with the clock's wall time) and
// deleted lazily: every 256th write deletes at most 500 expired sessions and 500 expired
// counters. Expiry times and rate windows are stored as wall time (Unix ms, options.clock->now())
// because they outlive the process; a wall clock stepping back lengthens them by the step.

#include <memory>
#include <string>

#include "core/clock.h"
#include "sessions/session_store.h"

namespace ztm::sessions {

struct SqliteSessionOptions {
  std::string path;            // the database file; created (with its directory) if missing
  int threads = 2;             // pool threads
  int max_pending = 10000;     // calls queued or running beyond which calls fail `overloaded`
  int busy_timeout_ms = 5000;  // how long to wait for another process's write lock
  const Clock* clock = &Clock::system();  // session expiry and rate windows; must outlive this
};

class SqliteSessionStore final : public SessionStore {
 public:
  // Opens (creating) the database and its tables. Throws std::runtime_error naming the path and
  // the reason when it cannot, std::invalid_argument without a clock (start-up errors).
  explicit SqliteSessionStore(SqliteSessionOptions options);
  // REQUIRES: no call in flight (stop the event loops that await this store first).
  ~SqliteSessionStore() override;
  SqliteSessionStore(const SqliteSessionStore&) = delete;
  SqliteSessionStore& operator=(const SqliteSessionStore&) = delete;

  boost::asio::awaitable<Result<void>> create(std::string key, SessionData data,
                                              std::chrono::milliseconds ttl) override;
  boost::asio::awaitable<Result<SessionData>> touch(std::string key,
                                                    std::chrono::milliseconds ttl) override;
  boost::asio::awaitable<Result<void>> revoke(std::string key) override;
  boost::asio::awaitable<Result<void>> revoke_user(UserId user) override;
  boost::asio::awaitable<Result<RateCount>> hit(std::string key,
                                                std::chrono::milliseconds window) override;
  boost::asio::awaitable<Result<void>> ping() override;

 private:
  // The sessions file: its connection, prepared statements and the pool that runs them; keeps
  // sqlite3.h out of this header.
  struct SessionDatabase;
  std::unique_ptr<SessionDatabase> db_;
};

}  // namespace ztm::sessions
