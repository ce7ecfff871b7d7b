// Purge on write, in-process (docs/cdn.md): the keys of each change, the relay's fan-out to the
// edges' purge queues with its syncs, and the purger's retry-until-confirmed. Real embedded
// queues (SQLite in a temporary directory), the in-memory store, a fake edge. The same path
// against real Varnish, NATS and PostgreSQL: tests/lab/lab_cdn_test.sh, check 4b.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>

#include "app/edge_purger.h"
#include "app/outbox_relay.h"
#include "app/purge_keys.h"
#include "cdn/varnish/varnish_edge.h"
#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "queue/embedded/embedded_queue.h"
#include "tests/support/memory_store.h"

namespace ztm {
namespace {

using Keys = std::vector<std::string>;

storage::User user(UserId id, const std::string& city) {
  return storage::User{id, "Ada", "Lovelace", storage::Address{"1 Square", city, "LDN", 10021}, {}};
}
namespace json = boost::json;

TEST(PurgeKeys, EveryChangePurgesTheKeysItsReadsCarry) {
  auto keys = [](std::string_view payload) {
    auto r = app::keys_for_change(payload);
    EXPECT_TRUE(r.ok()) << payload;
    return r.ok() ? *r : Keys{};
  };
  EXPECT_EQ(keys(R"({"op":"insert","user":12})"), (Keys{"users-list", "user-12"}));
  EXPECT_EQ(keys(R"({"op":"update","user":12})"), (Keys{"user-12"}));
  EXPECT_EQ(keys(R"({"op": "delete", "user": 12})"), (Keys{"user-12", "users-list", "owner-12"}));
  EXPECT_EQ(keys(R"({"op":"insert","photo":9,"owner":12})"), (Keys{"owner-12"}));
  EXPECT_EQ(keys(R"({"op":"delete","photo":9,"owner":12,"blob":null})"),
            (Keys{"photo-9", "owner-12"}));
  EXPECT_EQ(keys(R"({"op":"delete","photo":9,"owner":12,"blob":"ab.jpg"})"),
            (Keys{"photo-9", "owner-12", "url:/media/ab.jpg"}));
  for (const char* bad : {"", "[]", "{}", R"({"op":"update"})", R"({"op":"drop","user":1})",
                          R"({"op":"insert","photo":9})", R"({"op":1,"user":1})"})
    EXPECT_FALSE(app::keys_for_change(bad).ok()) << bad;
}

TEST(PurgeKeys, APassesKeysFitInAsFewMessagesAsTheLimitAllows) {
  Keys keys;
  for (int i = 0; i < 3000; ++i) keys.push_back("user-" + std::to_string(1'000'000 + i));
  const auto messages = app::purge_messages(keys, 32 * 1024);
  ASSERT_EQ(messages.size(), 2u) << "~45 KB of keys";
  Keys back;
  for (const auto& m : messages) {
    EXPECT_LE(m.size(), 32u * 1024);
    const auto v = json::parse(m);
    for (const auto& k : v.at("keys").as_array()) back.emplace_back(k.as_string());
  }
  EXPECT_EQ(back, keys) << "every key once, in order";
  EXPECT_TRUE(app::purge_messages({}, 1024).empty());
  const std::string huge(2000, 'k');
  EXPECT_EQ(app::purge_messages({"a", huge, "b"}, 1024).size(), 3u) << "an oversized key alone";
}

TEST(VarnishEdge, KeyLinesStayUnderVarnishsHeaderLimit) {
  Keys keys;
  for (int i = 0; i < 1000; ++i) keys.push_back("user-" + std::to_string(1'000'000 + i));
  const auto lines = cdn::VarnishEdge::key_lines(keys);
  ASSERT_GT(lines.size(), 1u);
  std::string joined;
  for (const auto& l : lines) {
    EXPECT_LE(l.size(), cdn::VarnishEdge::kMaxKeyBytes);
    joined += (joined.empty() ? "" : " ") + l;
  }
  std::string want;
  for (const auto& k : keys) want += (want.empty() ? "" : " ") + k;
  EXPECT_EQ(joined, want) << "every key, once, in order";
  EXPECT_EQ(cdn::VarnishEdge::key_lines({}), (Keys{""}));
  const std::string huge(7000, 'k');
  EXPECT_EQ(cdn::VarnishEdge::key_lines({"a", huge, "b"}), (Keys{"a", huge, "b"}));
}

class PurgeTest : public ::testing::Test {
 protected:
  PurgeTest() {
    char tmpl[] = "/tmp/ztm-purge-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~PurgeTest() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<queue::Queue> open(const std::string& name, queue::QueueOptions options = {},
                                     const Clock& clock = Clock::system()) {
    return std::make_unique<queue::EmbeddedQueue>(queue::EmbeddedQueueOptions{
        .path = dir_ + "/" + name + ".db", .queue = options, .clock = &clock});
  }
  // Every message's payload on `q` (acked).
  std::vector<std::string> drain(queue::Queue& q) {
    std::vector<std::string> out;
    auto batch = run_sync(q.fetch(256, std::chrono::milliseconds(50)));
    EXPECT_TRUE(batch.ok());
    if (!batch.ok()) return out;
    for (const auto& m : *batch) {
      out.push_back(m.payload);
      EXPECT_TRUE(run_sync(q.ack(m)).ok());
    }
    return out;
  }
  std::string dir_;
  test::MemoryStore store_;
};

TEST_F(PurgeTest, TheRelayPutsAPasssKeysOnEveryEdgeQueueInOneMessageThenASync) {
  auto jobs = open("jobs"), edge1 = open("edge1"), edge2 = open("edge2");
  app::OutboxRelay relay(store_, store_, *jobs,
                         {.edges = {{"edge1", edge1.get()}, {"edge2", edge2.get()}}});
  ASSERT_TRUE(run_sync(store_.create_user(user(7, "London"), std::nullopt)).ok());
  ASSERT_TRUE(run_sync(store_.update_user(user(7, "Paris"), std::nullopt)).ok());
  ASSERT_TRUE(run_sync(store_.create_job({.id = 1, .photo_id = 2, .owner_id = 7}, "job-1")).ok());
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto relayed = run_sync(relay.relay_once());
  ASSERT_TRUE(relayed.ok()) << relayed.error().message;
  EXPECT_EQ(*relayed, 3);
  for (auto* q : {edge1.get(), edge2.get()}) {
    std::vector<json::value> got;
    for (const auto& payload : drain(*q)) got.push_back(json::parse(payload));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], json::parse(R"({"keys":["user-7","users-list"]})")) << "both changes, once";
    // The pass drained the outbox: a sync with the time the pass began, after the changes.
    ASSERT_TRUE(got[1].as_object().contains("sync_at"));
    EXPECT_GE(got[1].at("sync_at").as_int64(), before);
  }
  EXPECT_EQ(drain(*jobs), (Keys{"job-1"})) << "changes never go to the job queue";
  EXPECT_TRUE(run_sync(store_.outbox_batch(10))->empty());
}

// GET /users/{id}/followers and /following are tagged with these keys (api/follows_api.cc): a
// follow and an unfollow purge the followee's followers pages and the follower's following pages,
// with both users' documents (their counts).
TEST_F(PurgeTest, AFollowAndAnUnfollowPurgeBothSidesPagesAtEveryEdge) {
  auto jobs = open("jobs"), edge1 = open("edge1"), edge2 = open("edge2");
  app::OutboxRelay relay(store_, store_, *jobs,
                         {.edges = {{"edge1", edge1.get()}, {"edge2", edge2.get()}}});
  for (UserId id : {7, 8})
    ASSERT_TRUE(run_sync(store_.create_user(user(id, "London"), std::nullopt)).ok());
  ASSERT_EQ(*run_sync(relay.relay_once()), 2);  // the creates: out of the way
  for (auto* q : {edge1.get(), edge2.get()}) drain(*q);
  const json::value want =
      json::parse(R"({"keys":["followers-8","following-7","user-7","user-8"]})");
  for (bool follow : {true, false}) {
    SCOPED_TRACE(follow ? "follow" : "unfollow");
    if (follow) {
      ASSERT_TRUE(*run_sync(store_.follow(7, 8, "Ada", "Bea")));
    } else {
      ASSERT_TRUE(*run_sync(store_.unfollow(7, 8)));
    }
    ASSERT_EQ(*run_sync(relay.relay_once()), 1);
    for (auto* q : {edge1.get(), edge2.get()}) {
      const auto got = drain(*q);
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(json::parse(got.front()), want);
    }
  }
  EXPECT_EQ(app::followers_key(8), "followers-8");
  EXPECT_EQ(app::following_key(7), "following-7");
  EXPECT_EQ(app::keys_for_follow(7, 8), (Keys{"user-7", "user-8", "followers-8", "following-7"}));
}

// At most one sync per sync_interval of the clock, each with the wall time its pass began.
TEST_F(PurgeTest, TheRelaySyncsAtMostOncePerIntervalOfTheClock) {
  using std::chrono::milliseconds;
  ManualClock clock;
  auto jobs = open("jobs"), edge1 = open("edge1");
  app::OutboxRelay relay(
      store_, store_, *jobs,
      {.edges = {{"edge1", edge1.get()}}, .sync_interval = milliseconds(250), .clock = &clock});
  auto syncs = [&] {
    std::vector<std::int64_t> at;
    for (const auto& payload : drain(*edge1))
      if (const auto v = json::parse(payload); v.as_object().contains("sync_at"))
        at.push_back(v.at("sync_at").as_int64());
    return at;
  };
  const std::int64_t start = unix_ms(clock.now());
  ASSERT_TRUE(run_sync(relay.relay_once()).ok());
  EXPECT_EQ(syncs(), std::vector<std::int64_t>{start}) << "the first drained pass syncs";
  clock.advance(milliseconds(249));
  ASSERT_TRUE(run_sync(relay.relay_once()).ok());
  EXPECT_TRUE(syncs().empty()) << "a millisecond before the interval's end";
  clock.advance(milliseconds(1));
  ASSERT_TRUE(run_sync(relay.relay_once()).ok());
  EXPECT_EQ(syncs(), std::vector<std::int64_t>{start + 250}) << "on its end";
}

TEST_F(PurgeTest, WithoutEdgesChangesAreOnlyDeleted) {
  auto jobs = open("jobs");
  app::OutboxRelay relay(store_, store_, *jobs, {});
  ASSERT_TRUE(run_sync(store_.create_user(user(7, "London"), std::nullopt)).ok());
  EXPECT_EQ(*run_sync(relay.relay_once()), 1);
  EXPECT_TRUE(drain(*jobs).empty());
  EXPECT_TRUE(run_sync(store_.outbox_batch(10))->empty());
}

// An edge that refuses `failures` purges, then confirms; records what it was sent.
class FakeEdge : public cdn::Edge {
 public:
  explicit FakeEdge(int failures) : failures_(failures) {}
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<void>> purge(Keys keys,
                                             std::optional<std::int64_t> synced) override {
    calls.push_back({std::move(keys), synced});
    if (failures_-- > 0) co_return Error{Errc::unavailable, "edge down"};
    co_return Result<void>{};
  }
  std::vector<std::pair<Keys, std::optional<std::int64_t>>> calls;

 private:
  std::string name_ = "edge1";
  int failures_;
};

TEST_F(PurgeTest, ThePurgerRetriesTheSameBatchUntilTheEdgeConfirmsThenAcksIt) {
  auto q = open("edge1");
  for (const char* m : {R"({"keys":["user-7","users-list"]})", R"({"keys":["user-7"]})",
                        R"({"sync_at":1700000000123})", R"({"sync_at":1700000000001})"})
    ASSERT_TRUE(run_sync(q->publish(m, m)).ok());
  FakeEdge edge(2);
  MetricsRegistry metrics;
  app::EdgePurger purger(*q, edge, &metrics, {.first_retry = std::chrono::milliseconds(5)});
  auto n = run_sync(purger.purge_once());
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 4);
  ASSERT_EQ(edge.calls.size(), 3u) << "two refusals, then the same purge confirmed";
  for (const auto& [keys, synced] : edge.calls) {
    EXPECT_EQ(keys, (Keys{"user-7", "users-list"})) << "the batch's keys, once each";
    EXPECT_EQ(synced, 1700000000123) << "the newest sync of the batch";
  }
  EXPECT_EQ(*run_sync(q->pending()), 0) << "acked after the edge confirmed";
  EXPECT_NE(metrics.render().find("ztm_cdn_purge_failures_total{edge=\"edge1\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics.render().find("ztm_cdn_edge_synced_at_seconds{edge=\"edge1\"} 1700000000.123"),
            std::string::npos)
      << metrics.render();
  EXPECT_EQ(*run_sync(purger.purge_once()), 0) << "nothing left";
}

// An edge down for `failures` purges, each taking `step` of a manual clock; at each one it looks
// whether another purger could take the batch (a fetch on the same queue), as a second web server
// would once the batch's ack_wait ran out.
class SlowDownEdge : public cdn::Edge {
 public:
  SlowDownEdge(int failures, std::chrono::milliseconds step, ManualClock& clock, queue::Queue& q)
      : failures_(failures), step_(step), clock_(clock), queue_(q) {}
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<void>> purge(Keys, std::optional<std::int64_t>) override {
    auto other = co_await queue_.fetch(256, std::chrono::milliseconds(0));
    if (other.ok()) taken_by_another += static_cast<int>(other->size());
    clock_.advance(step_);
    if (failures_-- > 0) co_return Error{Errc::unavailable, "edge down"};
    co_return Result<void>{};
  }
  int taken_by_another = 0;

 private:
  std::string name_ = "edge1";
  int failures_;
  std::chrono::milliseconds step_;
  ManualClock& clock_;
  queue::Queue& queue_;
};

// The heartbeat keeps a batch in progress while the edge is down: ten failed purges, 500 ms of
// the queue's clock each, outlast the 2 s ack_wait; the retries' own waits are real (1 ms).
TEST_F(PurgeTest, WhileTheEdgeIsDownTheHeartbeatKeepsTheBatchFromOtherPurgers) {
  using std::chrono::milliseconds;
  auto held_against_others = [this](milliseconds heartbeat, const std::string& name) {
    ManualClock clock;
    auto q = open(name, {.ack_wait = milliseconds(2000)}, clock);
    EXPECT_TRUE(run_sync(q->publish("k", R"({"keys":["user-7"]})")).ok());
    SlowDownEdge edge(10, milliseconds(500), clock, *q);
    app::EdgePurger purger(*q, edge, nullptr,
                           {.first_retry = milliseconds(1),
                            .max_retry = milliseconds(1),
                            .heartbeat = heartbeat,
                            .clock = &clock});
    auto n = run_sync(purger.purge_once());
    EXPECT_TRUE(n.ok());
    return edge.taken_by_another;
  };
  EXPECT_EQ(held_against_others(milliseconds(1000), "beating"), 0)
      << "in progress every second of the clock: never visible to another purger";
  EXPECT_EQ(held_against_others(std::chrono::hours(1), "silent"), 2)
      << "the control: without a heartbeat the batch is delivered again at each ack_wait (2 s, "
         "4 s)";
}

}  // namespace
}  // namespace ztm
