#include "queue/embedded/embedded_queue.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <list>
#include <mutex>
#include <stdexcept>

#include "queue/queue_checks.h"
#include "sqlite/database.h"

namespace ztm::queue {
namespace {

using boost::asio::awaitable;
using std::chrono::milliseconds;
// fetch()'s wait is real time, measured on the clock of the timer that waits it out.
using WaitClock = boost::asio::steady_timer::clock_type;
using sqlite::Connection;
using sqlite::Statement;

constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, dedup_id TEXT NOT NULL UNIQUE, payload BLOB NOT NULL,
  deliveries INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (visible_at_ms, id);
CREATE TABLE IF NOT EXISTS dedup_ids (
  dedup_id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_ids_by_expiry ON dedup_ids (expires_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL, payload BLOB NOT NULL,
  reason TEXT NOT NULL, deliveries INTEGER NOT NULL, created_ms INTEGER NOT NULL);
)sql";

// No row changed: the id was published within the window (a duplicate).
constexpr const char* kRemember =
    "INSERT INTO dedup_ids (dedup_id, expires_ms) VALUES (?1, ?2) ON CONFLICT (dedup_id) "
    "DO UPDATE SET expires_ms = excluded.expires_ms WHERE dedup_ids.expires_ms <= ?3";
// A conflict here: an id whose window passed while its message still waits; a duplicate too.
constexpr const char* kInsert =
    "INSERT INTO messages (dedup_id, payload, deliveries, visible_at_ms, created_ms) "
    "VALUES (?1, ?2, 0, ?3, ?3) ON CONFLICT (dedup_id) DO NOTHING";
constexpr const char* kClaim =
    "UPDATE messages SET visible_at_ms = ?1 + ?2, deliveries = deliveries + 1 WHERE id IN "
    "(SELECT id FROM messages WHERE visible_at_ms <= ?1 ORDER BY visible_at_ms, id LIMIT ?3) "
    "RETURNING id, payload, deliveries";
constexpr const char* kNextVisible = "SELECT min(visible_at_ms) FROM messages";
constexpr const char* kCopyDead =
    "INSERT INTO dead_letters (message_id, payload, reason, deliveries, created_ms) "
    "SELECT id, payload, ?2, deliveries, ?3 FROM messages WHERE id = ?1";
constexpr const char* kRemove = "DELETE FROM messages WHERE id = ?1";
// Only the current claim (same delivery) moves the deadline: a consumer whose ack_wait passed no
// longer holds the message.
constexpr const char* kSetVisible =
    "UPDATE messages SET visible_at_ms = ?2 WHERE id = ?1 AND deliveries = ?3";
constexpr const char* kCount = "SELECT count(*) FROM messages";
constexpr const char* kOldest = "SELECT min(created_ms) FROM messages";
constexpr const char* kDeadList =
    "SELECT payload, reason FROM dead_letters ORDER BY id DESC LIMIT ?1";
constexpr const char* kPurgeDedup =
    "DELETE FROM dedup_ids WHERE dedup_id IN "
    "(SELECT dedup_id FROM dedup_ids WHERE expires_ms <= ?1 LIMIT 500)";

// What a fetch holds: the row and the delivery it claimed.
struct Claim {
  std::int64_t id;
  int deliveries;
};

struct ClaimResult {
  std::vector<QueueMessage> messages;
  std::int64_t next_visible_ms = 0;  // 0: the queue is empty
};

const Claim& claim_of(const QueueMessage& m) {
  return *std::static_pointer_cast<Claim>(m.handle);
}

// Runs one statement that returns no rows, bound by bind(statement).
template <class Bind>
Result<void> run(Connection& c, const char* sql, const char* what, Bind bind) {
  auto st = c.prepare(sql);
  if (!st.ok()) return std::move(st).error();
  bind(*st);
  if (const int rc = st->step(); rc != SQLITE_DONE) return c.error(rc, what);
  return {};
}

// Moves message `id` to the dead letters with `reason`, at wall time `now_ms`. Inside a
// transaction.
Result<void> bury(Connection& c, std::int64_t id, const std::string& reason, std::int64_t now_ms) {
  auto copied = run(c, kCopyDead, "dead_letter", [&](Statement& st) {
    st.bind(1, id);
    st.bind(2, reason);
    st.bind(3, now_ms);
  });
  if (!copied.ok()) return copied;
  return run(c, kRemove, "remove", [&](Statement& st) { st.bind(1, id); });
}

Result<void> set_visible(Connection& c, const Claim& claim, std::int64_t visible_at_ms) {
  return run(c, kSetVisible, "set_visible", [&](Statement& st) {
    st.bind(1, claim.id);
    st.bind(2, visible_at_ms);
    st.bind(3, std::int64_t{claim.deliveries});
  });
}

// Claims up to `max` messages visible at wall time `now_ms`; over-delivered ones go to the dead
// letters instead.
Result<ClaimResult> claim(Connection& c, const QueueOptions& options, int max,
                          std::int64_t now_ms) {
  std::vector<std::pair<Claim, std::string>> rows;
  {
    auto st = c.prepare(kClaim);
    if (!st.ok()) return std::move(st).error();
    st->bind(1, now_ms);
    st->bind(2, options.ack_wait.count());
    st->bind(3, std::int64_t{max});
    int rc = SQLITE_ROW;
    for (int i = 0; i <= max && (rc = st->step()) == SQLITE_ROW; ++i)
      rows.emplace_back(Claim{st->column_int64(0), static_cast<int>(st->column_int64(2))},
                        st->column_text(1));
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return c.error(rc, "fetch");
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  ClaimResult out;
  for (auto& [claimed, payload] : rows) {
    if (claimed.deliveries > options.max_deliveries) {
      // Every earlier delivery ended without an ack or a dead letter: do not process it again.
      const std::string why = queue::over_delivered_reason(claimed.deliveries);
      if (auto r = bury(c, claimed.id, why, now_ms); !r.ok()) return std::move(r).error();
      continue;
    }
    out.messages.push_back(QueueMessage{std::to_string(claimed.id), std::move(payload),
                                        claimed.deliveries, std::make_shared<Claim>(claimed)});
  }
  if (out.messages.empty()) {
    auto st = c.prepare(kNextVisible);
    if (!st.ok()) return std::move(st).error();
    if (st->step() == SQLITE_ROW) out.next_visible_ms = st->column_int64(0);
  }
  return out;
}

// The database's options, after checking the queue's (std::invalid_argument: start-up errors).
sqlite::Options database_options(const EmbeddedQueueOptions& o) {
  if (auto c = queue::check_options(o.queue); !c.ok())
    throw std::invalid_argument(c.error().message);
  if (o.poll_interval_ms < 1)
    throw std::invalid_argument("embedded queue: poll_interval_ms must be positive");
  if (!o.clock) throw std::invalid_argument("embedded queue: the clock must be set");
  // durable_commits: synchronous=FULL, a commit is fsynced before publish() says ok.
  return sqlite::Options{.path = o.path,
                         .threads = o.threads,
                         .max_pending = o.max_pending,
                         .busy_timeout_ms = o.busy_timeout_ms,
                         .durable_commits = true};
}

}  // namespace

struct EmbeddedQueue::QueueDatabase {
  explicit QueueDatabase(EmbeddedQueueOptions o)
      : options(std::move(o)), db(database_options(options)) {
    const int rc = db.with_writer(
        [](sqlite3* h) { return sqlite3_exec(h, kSchema, nullptr, nullptr, nullptr); });
    if (rc != SQLITE_OK)
      throw std::runtime_error(fmt::format("embedded queue {}: cannot create the tables: {}",
                                           options.path, sqlite3_errstr(rc)));
  }

  // fn(writer) -> Result<T> on the pool inside one write transaction, committed if fn succeeds.
  template <class T, class F>
  awaitable<Result<T>> transaction(F fn) {
    return db.write<T>([fn = std::move(fn)](Connection& w) -> Result<T> {
      sqlite::WriteTransaction txn(w);
      if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
      Result<T> r = fn(w);
      if (!r.ok()) return r;
      if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
      return r;
    });
  }

  // Wall time in Unix ms: what the tables store.
  std::int64_t now_ms() const { return unix_ms(options.clock->now()); }

  const EmbeddedQueueOptions options;
  // A fetch's bell, rung by every publish and nak of this process (from any thread: a
  // concurrent channel is thread-safe; one ring is kept until taken). A fetch that found nothing
  // sleeps until its bell rings or its next poll: an idle worker wakes only to poll (issue 12: a
  // 5 ms tick looking for a wake-up cost an idle single server 2 % of a core).
  using Bell = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;
  void wake() {
    std::lock_guard lock(bells_mutex);
    for (Bell* bell : bells) bell->try_send(boost::system::error_code{});
  }
  // Rings on wake() while alive.
  struct HungBell {
    QueueDatabase& db;
    std::list<Bell*>::iterator it;
    HungBell(QueueDatabase& d, Bell& bell) : db(d) {
      std::lock_guard lock(db.bells_mutex);
      it = db.bells.insert(db.bells.end(), &bell);
    }
    ~HungBell() {
      std::lock_guard lock(db.bells_mutex);
      db.bells.erase(it);
    }
  };
  std::mutex bells_mutex;
  std::list<Bell*> bells;         // of the fetches running now
  std::atomic<int> waiting{0};    // fetches that found nothing and wait for a wake-up or a poll
  int publishes_since_purge = 0;  // touched only holding the writer
  sqlite::Database db;            // declared last: its pool is joined before the rest goes
};

EmbeddedQueue::EmbeddedQueue(EmbeddedQueueOptions options)
    : db_(std::make_unique<QueueDatabase>(std::move(options))) {}

EmbeddedQueue::~EmbeddedQueue() = default;

int EmbeddedQueue::waiting_fetches() const {
  return db_->waiting.load();
}

awaitable<Result<void>> EmbeddedQueue::publish(std::string dedup_id, std::string payload) {
  if (auto c = queue::check_publish(db_->options.queue, dedup_id, payload); !c.ok()) co_return c;
  QueueDatabase& db = *db_;
  auto call = db.transaction<void>([&](Connection& w) -> Result<void> {
    const std::int64_t now = db.now_ms();
    auto remembered = run(w, kRemember, "publish (dedup id)", [&](Statement& st) {
      st.bind(1, dedup_id);
      st.bind(2, now + milliseconds(queue::kDedupWindow).count());
      st.bind(3, now);
    });
    if (!remembered.ok()) return remembered;
    if (sqlite3_changes(w.db()) == 0) return {};  // a duplicate: stored before
    auto inserted = run(w, kInsert, "publish", [&](Statement& st) {
      st.bind(1, dedup_id);
      st.bind(2, payload);
      st.bind(3, now);
    });
    if (!inserted.ok() || ++db.publishes_since_purge < 256) return inserted;
    db.publishes_since_purge = 0;  // forget expired dedup ids, a bounded batch
    return run(w, kPurgeDedup, "purge dedup ids", [&](Statement& st) { st.bind(1, now); });
  });
  auto r = co_await std::move(call);
  if (r.ok()) db.wake();
  co_return r;
}

awaitable<Result<std::vector<QueueMessage>>> EmbeddedQueue::fetch(int max, milliseconds wait) {
  if (auto c = queue::check_fetch(max, wait); !c.ok()) co_return std::move(c).error();
  QueueDatabase& db = *db_;
  const auto deadline = WaitClock::now() + wait;
  const auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer timer(executor);
  QueueDatabase::Bell bell(executor, 1);
  // Hung before the first claim: a publish after it rings, whether this fetch waits yet or not.
  const QueueDatabase::HungBell hung(db, bell);
  // Bounded by the deadline: each round either returns or waits for its bell or a poll.
  while (true) {
    auto call = db.transaction<ClaimResult>(
        [&db, max](Connection& w) { return claim(w, db.options.queue, max, db.now_ms()); });
    auto claimed = co_await std::move(call);
    if (!claimed.ok()) co_return std::move(claimed).error();
    const auto now = WaitClock::now();
    if (!claimed->messages.empty() || now >= deadline) co_return std::move(claimed->messages);
    auto until = std::min(deadline, now + milliseconds(db.options.poll_interval_ms));
    if (claimed->next_visible_ms > 0)  // a claimed or delayed message becomes visible then
      until = std::min(until, now + milliseconds(std::max<std::int64_t>(
                                        1, claimed->next_visible_ms - db.now_ms())));
    db.waiting.fetch_add(1);
    const auto done_waiting = std::unique_ptr<QueueDatabase, void (*)(QueueDatabase*)>(
        &db, [](QueueDatabase* i) { i->waiting.fetch_sub(1); });  // also if the frame is destroyed
    using namespace boost::asio::experimental::awaitable_operators;
    timer.expires_at(until);
    co_await (bell.async_receive(kTuple) || timer.async_wait(kTuple));
  }
}

awaitable<Result<void>> EmbeddedQueue::ack(const QueueMessage& message) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  const std::int64_t id = claim_of(message).id;
  auto call = db_->transaction<void>([id](Connection& w) {
    return run(w, kRemove, "ack", [id](Statement& st) { st.bind(1, id); });
  });
  co_return co_await std::move(call);
}

awaitable<Result<void>> EmbeddedQueue::nak(const QueueMessage& message, milliseconds delay) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  if (auto c = queue::check_delay(delay); !c.ok()) co_return c;
  const Claim claimed = claim_of(message);
  QueueDatabase& db = *db_;
  auto call = db.transaction<void>([&db, claimed, delay](Connection& w) {
    return set_visible(w, claimed, db.now_ms() + delay.count());
  });
  auto r = co_await std::move(call);
  if (r.ok()) db.wake();
  co_return r;
}

awaitable<Result<void>> EmbeddedQueue::in_progress(const QueueMessage& message) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  const Claim claimed = claim_of(message);
  QueueDatabase& db = *db_;
  const std::int64_t ack_wait = db.options.queue.ack_wait.count();
  auto call = db.transaction<void>([&db, claimed, ack_wait](Connection& w) {
    return set_visible(w, claimed, db.now_ms() + ack_wait);
  });
  co_return co_await std::move(call);
}

awaitable<Result<void>> EmbeddedQueue::dead_letter(const QueueMessage& message,
                                                   std::string reason) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  const std::int64_t id = claim_of(message).id;
  const std::string why = queue::bounded_reason(std::move(reason));
  QueueDatabase& db = *db_;
  auto call = db.transaction<void>(
      [&db, id, &why](Connection& w) { return bury(w, id, why, db.now_ms()); });
  co_return co_await std::move(call);
}

awaitable<Result<std::int64_t>> EmbeddedQueue::pending() {
  auto call =
      db_->db.read<std::int64_t>(kCount, [](Statement& st, Connection& c) -> Result<std::int64_t> {
        if (const int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "pending");
        return st.column_int64(0);
      });
  co_return co_await std::move(call);
}

awaitable<Result<std::optional<std::chrono::system_clock::time_point>>> EmbeddedQueue::oldest() {
  using Oldest = std::optional<std::chrono::system_clock::time_point>;
  auto call = db_->db.read<Oldest>(kOldest, [](Statement& st, Connection& c) -> Result<Oldest> {
    if (const int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "oldest");
    if (st.column_is_null(0)) return Oldest{};
    return Oldest{std::chrono::system_clock::time_point(milliseconds(st.column_int64(0)))};
  });
  co_return co_await std::move(call);
}

awaitable<Result<std::vector<Queue::DeadLetter>>> EmbeddedQueue::dead_letters(int max) {
  if (auto c = queue::check_dead_letters(max); !c.ok()) co_return std::move(c).error();
  auto call = db_->db.read<std::vector<DeadLetter>>(
      kDeadList, [max](Statement& st, Connection& c) -> Result<std::vector<DeadLetter>> {
        st.bind(1, std::int64_t{max});
        std::vector<DeadLetter> out;
        int rc = SQLITE_ROW;
        for (int i = 0; i < max && (rc = st.step()) == SQLITE_ROW; ++i)
          out.push_back(DeadLetter{st.column_text(0), st.column_text(1)});
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return c.error(rc, "dead_letters");
        std::reverse(out.begin(), out.end());  // newest last
        return out;
      });
  co_return co_await std::move(call);
}

}  // namespace ztm::queue
