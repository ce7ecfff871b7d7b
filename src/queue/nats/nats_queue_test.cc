// NatsQueue failure behaviour against a real nats-server -js that the tests stop, kill and start
// again on the same store: what a broker restart, a broker outage and a dying worker do.

#include "queue/nats/nats_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "queue/nats/nats_connection.h"
#include "tests/queue/queue_conformance.h"
#include "tests/support/nats_instance.h"

namespace ztm::test {

using queue::NatsConnection;
using queue::NatsQueue;
using queue::NatsQueueOptions;
using queue::Queue;
using queue::QueueMessage;
using queue::QueueOptions;

namespace {

NatsQueueOptions options_for(const NatsInstance& nats, QueueOptions queue) {
  NatsQueueOptions o;
  o.url = nats.url();
  o.queue = queue;
  o.timeout_ms = 1000;
  return o;
}

// A queue on its own server, with helpers that wait (bounded) for NATS to answer.
class NatsQueueTest : public ::testing::Test {
 protected:
  void open(QueueOptions queue) { queue_ = std::make_unique<NatsQueue>(options_for(nats_, queue)); }
  bool answers(Queue& q) {
    return eventually([&] { return loops_.run(q.pending()).ok(); }, 20s, 20ms);
  }
  // Fetches and acks until n distinct payloads came (at most 20 s; a failed fetch, while the
  // client reconnects, is retried after 20 ms).
  std::set<std::string> drain_payloads(Queue& q, std::size_t n) {
    std::set<std::string> out;
    eventually(
        [&] {
          const int max = static_cast<int>(std::min<std::size_t>(n - out.size(), 256));
          auto got = loops_.run(q.fetch(max, 200ms));
          if (got.ok())
            for (const auto& m : *got) {
              EXPECT_EQ(outcome(loops_.run(q.ack(m))), "ok");
              out.insert(m.payload);
            }
          return out.size() >= n;
        },
        20s, 20ms);
    return out;
  }

  NatsInstance nats_;
  EventLoops loops_{2};
  std::unique_ptr<NatsQueue> queue_;
};

TEST_F(NatsQueueTest, PublishedMessagesSurviveACrashOfNats) {
  open(queue_options(30s));
  ASSERT_TRUE(answers(*queue_));
  for (const char* p : {"one", "two", "three"})
    ASSERT_EQ(outcome(loops_.run(queue_->publish(p, p))), "ok");
  nats_.kill();  // SIGKILL: no clean shutdown
  nats_.start();
  ASSERT_TRUE(answers(*queue_)) << "the connection came back by itself";
  EXPECT_EQ(loops_.run(queue_->pending()).value(), 3);
  // JetStream rebuilds its dedup window from the stored messages: ids of messages still queued
  // survive the restart (those of acked, hence deleted, messages do not; docs/queue.md).
  EXPECT_EQ(outcome(loops_.run(queue_->publish("one", "one"))), "ok");
  EXPECT_EQ(loops_.run(queue_->pending()).value(), 3);
  EXPECT_EQ(drain_payloads(*queue_, 3), (std::set<std::string>{"one", "two", "three"}));
}

TEST_F(NatsQueueTest, PublishingWhileNatsIsDownFailsPromptlyThenWorksAgain) {
  open(queue_options(30s));
  ASSERT_TRUE(answers(*queue_));
  ASSERT_EQ(outcome(loops_.run(queue_->publish("before", "before"))), "ok");
  nats_.kill();
  const auto start = QueueClock::now();
  EXPECT_EQ(errc(loops_.run(queue_->publish("during", "during"))), "unavailable");
  EXPECT_EQ(errc(loops_.run(queue_->fetch(1, 500ms))), "unavailable");
  EXPECT_EQ(errc(loops_.run(queue_->pending())), "unavailable");
  EXPECT_LT(QueueClock::now() - start, 5s) << "bounded, no hang";
  nats_.start();
  // The outbox relay retries until NATS takes it.
  EXPECT_TRUE(
      eventually([&] { return loops_.run(queue_->publish("during", "during")).ok(); }, 20s, 50ms));
  EXPECT_EQ(drain_payloads(*queue_, 2), (std::set<std::string>{"before", "during"}))
      << "nothing published before the outage was lost";
}

// A publisher that retries each message until NATS takes it (as the outbox relay does) while
// NATS crashes and comes back: every message is there once.
TEST_F(NatsQueueTest, APublisherRetryingThroughACrashLosesAndDuplicatesNothing) {
  open(queue_options(30s));
  ASSERT_TRUE(answers(*queue_));
  constexpr int kMessages = 300;
  std::atomic<int> published{0};
  std::atomic<int> refused{0};
  std::thread publisher([&] {
    const auto until = QueueClock::now() + 60s;
    for (int i = 0; i < kMessages && QueueClock::now() < until; ++i) {
      const std::string id = "m" + std::to_string(i);
      // Retried every 10 ms (as the relay does) until NATS takes it, within the 60 s.
      const bool taken = eventually(
          [&] {
            if (loops_.run(queue_->publish(id, id)).ok()) return true;
            ++refused;
            return false;
          },
          std::chrono::duration_cast<std::chrono::milliseconds>(until - QueueClock::now()), 10ms);
      if (taken) ++published;
    }
  });
  EXPECT_TRUE(eventually([&] { return published.load() >= 50; }, 20s));
  nats_.kill();
  EXPECT_TRUE(eventually([&] { return refused.load() > 0; }, 20s)) << "the crash was seen";
  nats_.start();
  publisher.join();
  ASSERT_EQ(published.load(), kMessages);
  EXPECT_EQ(loops_.run(queue_->pending()).value(), kMessages) << "no message twice";
  EXPECT_EQ(drain_payloads(*queue_, kMessages).size(), static_cast<std::size_t>(kMessages));
}

TEST_F(NatsQueueTest, AHungNatsMakesCallsUnavailableWithinTheTimeout) {
  open(queue_options(30s));
  ASSERT_TRUE(answers(*queue_));
  nats_.pause();  // SIGSTOP: connected, but nothing answers
  const auto start = QueueClock::now();
  EXPECT_EQ(errc(loops_.run(queue_->publish("hung", "hung"))), "unavailable");
  EXPECT_EQ(errc(loops_.run(queue_->pending())), "unavailable");
  EXPECT_LT(QueueClock::now() - start, 5s) << "each call bounded by timeout_ms (1 s)";
  nats_.resume();
  EXPECT_TRUE(
      eventually([&] { return loops_.run(queue_->publish("hung", "hung")).ok(); }, 20s, 50ms));
  EXPECT_EQ(drain_payloads(*queue_, 1), (std::set<std::string>{"hung"}));
}

TEST_F(NatsQueueTest, AMessageOfAWorkerThatDiedGoesToAnotherWorker) {
  open(queue_options(800ms));
  ASSERT_TRUE(answers(*queue_));
  ASSERT_EQ(outcome(loops_.run(queue_->publish("job", "resize 42"))), "ok");
  {
    // Worker A: its own connection, fetches, then dies without an ack.
    NatsQueue a(options_for(nats_, queue_options(800ms)));
    ASSERT_TRUE(answers(a));
    auto got = loops_.run(a.fetch(1, 5s));
    ASSERT_EQ(outcome(got), "ok");
    ASSERT_EQ(got->size(), 1u);
  }
  auto again = loops_.run(queue_->fetch(1, 10s));  // worker B
  ASSERT_EQ(outcome(again), "ok");
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().payload, "resize 42");
  EXPECT_EQ(again->front().deliveries, 2);
  EXPECT_EQ(outcome(loops_.run(queue_->ack(again->front()))), "ok");
}

// max_ack_pending = 1 (the CDN's purge queues): across two processes, one message at a time,
// in order — the one whose AckWait passed comes again before any later one.
TEST_F(NatsQueueTest, OneMessageInFlightKeepsTheOrderAcrossConsumers) {
  auto sequential = options_for(nats_, queue_options(800ms));
  sequential.max_ack_pending = 1;
  queue_ = std::make_unique<NatsQueue>(sequential);
  NatsQueue other(sequential);
  ASSERT_TRUE(answers(*queue_));
  ASSERT_TRUE(answers(other));
  for (const char* p : {"first", "second"})
    ASSERT_EQ(outcome(loops_.run(queue_->publish(p, p))), "ok");
  auto held = loops_.run(queue_->fetch(256, 5s));
  ASSERT_EQ(outcome(held), "ok");
  ASSERT_EQ(held->size(), 1u) << "one message in flight, though 256 were asked for";
  EXPECT_EQ(held->front().payload, "first");
  // Held and never acked (its process stalls): the other consumer gets "first" again, after
  // the AckWait, and not "second" before it.
  auto next = loops_.run(other.fetch(256, 5s));
  ASSERT_EQ(outcome(next), "ok");
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ(next->front().payload, "first");
  EXPECT_EQ(next->front().deliveries, 2);
  EXPECT_EQ(outcome(loops_.run(other.ack(next->front()))), "ok");
  auto last = loops_.run(queue_->fetch(256, 5s));
  ASSERT_EQ(outcome(last), "ok");
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(last->front().payload, "second");
  EXPECT_EQ(outcome(loops_.run(queue_->ack(last->front()))), "ok");
}

// A worker that fails on every attempt: nak until the last delivery, then dead_letter. The
// message ends on the dead-letter subject (read here with libnats directly), with its reason.
TEST_F(NatsQueueTest, APoisonMessageEndsOnTheDeadLetterSubject) {
  open(queue_options(30s, 3));
  ASSERT_TRUE(answers(*queue_));
  ASSERT_EQ(outcome(loops_.run(queue_->publish("p", "poison"))), "ok");
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto got = loops_.run(queue_->fetch(1, 5s));
    ASSERT_EQ(outcome(got), "ok");
    ASSERT_EQ(got->size(), 1u) << "attempt " << attempt;
    const QueueMessage& m = got->front();
    EXPECT_EQ(m.deliveries, attempt);
    auto done = attempt < 3 ? loops_.run(queue_->nak(m, 0ms))
                            : loops_.run(queue_->dead_letter(m, "cannot decode"));
    ASSERT_EQ(outcome(done), "ok");
  }
  EXPECT_EQ(loops_.run(queue_->pending()).value(), 0);
  NatsConnection raw(nats_.url(), 2s);
  ASSERT_TRUE(eventually([&] { return raw.connected().ok(); }, 5s, 10ms));
  jsOptions o = raw.options();
  natsMsg* dead = nullptr;
  ASSERT_EQ(js_GetLastMsg(&dead, raw.js(), "ZTM_JOBS_DEAD", "ztm.jobs.dead", &o, nullptr), NATS_OK);
  std::unique_ptr<natsMsg, decltype(&natsMsg_Destroy)> owned(dead, natsMsg_Destroy);
  EXPECT_EQ(std::string(natsMsg_GetData(dead), natsMsg_GetDataLength(dead)), "poison");
  const char* reason = nullptr;
  ASSERT_EQ(natsMsgHeader_Get(dead, "Ztm-Reason", &reason), NATS_OK);
  EXPECT_STREQ(reason, "cannot decode");
}

// The stream and consumer as docs/queue.md describes them.
TEST_F(NatsQueueTest, TheStreamAndConsumerAreConfiguredAsDocumented) {
  open(queue_options(1500ms));
  ASSERT_TRUE(answers(*queue_));
  NatsConnection raw(nats_.url(), 2s);
  ASSERT_TRUE(eventually([&] { return raw.connected().ok(); }, 5s, 10ms));
  jsOptions o = raw.options();
  jsStreamInfo* si = nullptr;
  ASSERT_EQ(js_GetStreamInfo(&si, raw.js(), "ZTM_JOBS", &o, nullptr), NATS_OK);
  EXPECT_EQ(si->Config->Retention, js_WorkQueuePolicy);
  EXPECT_EQ(si->Config->Storage, js_FileStorage);
  EXPECT_GE(si->Config->Duplicates, std::int64_t{120} * 1'000'000'000);
  ASSERT_EQ(si->Config->SubjectsLen, 1);
  EXPECT_STREQ(si->Config->Subjects[0], "ztm.jobs");
  jsStreamInfo_Destroy(si);
  ASSERT_EQ(js_GetStreamInfo(&si, raw.js(), "ZTM_JOBS_DEAD", &o, nullptr), NATS_OK);
  EXPECT_EQ(si->Config->Retention, js_LimitsPolicy);
  jsStreamInfo_Destroy(si);
  jsConsumerInfo* ci = nullptr;
  ASSERT_EQ(js_GetConsumerInfo(&ci, raw.js(), "ZTM_JOBS", "ztm-workers", &o, nullptr), NATS_OK);
  EXPECT_EQ(ci->Config->AckPolicy, js_AckExplicit);
  EXPECT_EQ(ci->Config->AckWait, std::int64_t{1500} * 1'000'000);
  jsConsumerInfo_Destroy(ci);
}

TEST(NatsQueue, NoServerAtStartIsNotAStartUpErrorButUnavailable) {
  NatsQueueOptions o;
  o.url = "nats://127.0.0.1:1";  // nothing listens on port 1
  o.timeout_ms = 500;
  NatsQueue queue(o);
  EventLoops loops(1);
  EXPECT_EQ(errc(loops.run(queue.publish("x", "y"))), "unavailable");
  EXPECT_THROW(NatsQueue(NatsQueueOptions{.url = ","}), std::runtime_error);
}

}  // namespace
}  // namespace ztm::test
