#pragma once
// The contract of src/queue/queue.h as a typed test suite that every Queue backend passes. A
// backend's test instantiates it with a factory whose make(options, clock) returns a fresh,
// empty queue on every call:
//
//   struct EmbeddedFactory {
//     // true: the queue reads `clock` (the suite's ManualClock) for ack_wait, nak delays and
//     // heartbeats. false: the engine keeps its own clock (NATS) and ignores it.
//     static constexpr bool kUsesClock = true;
//     static std::unique_ptr<ztm::queue::Queue> make(ztm::queue::QueueOptions, const ztm::Clock&
//     clock);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Embedded, QueueConformance, ::testing::Types<EmbeddedFactory>);
//
// Calls run on one io_context driven by two threads and are awaited from the test thread with a
// bound (a hung call fails the test). Redelivery timing (ack_wait of 500 ms to 1 s): on the
// ManualClock the suite advances it, to a millisecond before a message may come back and then
// onto it; on an engine's own clock real time passes, waited for by fetch() with a bound, never
// by sleeping. fetch()'s own `wait` is real time for every backend.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/manual_clock.h"
#include "queue/queue.h"
#include "tests/sessions/event_loops.h"
#include "tests/support/eventually.h"

namespace ztm::test {

using namespace std::chrono_literals;
using QueueClock = std::chrono::steady_clock;

inline queue::QueueOptions queue_options(std::chrono::milliseconds ack_wait,
                                         int max_deliveries = 5) {
  queue::QueueOptions o;
  o.ack_wait = ack_wait;
  o.max_deliveries = max_deliveries;
  o.max_payload_bytes = 4096;
  return o;
}

template <class Factory>
class QueueConformance : public ::testing::Test {
 protected:
  // Whether the queue's time is clock_ (moved only by the test) rather than real time.
  static constexpr bool kManualTime = Factory::kUsesClock;
  using TimePoint = std::chrono::steady_clock::time_point;

  void TearDown() override {
    loops_.reset();  // no call in flight before the queue goes
    queue_.reset();
  }

  void open(queue::QueueOptions options) {
    queue_ = Factory::make(options, clock_);
    ASSERT_NE(queue_, nullptr);
  }

  // Now on the queue's clock.
  TimePoint now() const {
    if constexpr (kManualTime) return clock_.steady_now();
    return QueueClock::now();
  }
  // Moves clock_ on to `t`. On real time nothing to do: it gets there by itself, and what
  // follows must poll for it.
  void advance_to(TimePoint t) {
    if constexpr (kManualTime) {
      if (const auto now = clock_.steady_now(); t > now) clock_.advance(t - now);
    }
  }

  Result<void> publish(const std::string& dedup_id, const std::string& payload) {
    return loops_->run(queue_->publish(dedup_id, payload));
  }
  Result<std::vector<queue::QueueMessage>> fetch(int max, std::chrono::milliseconds wait) {
    return loops_->run(queue_->fetch(max, wait));
  }
  Result<void> ack(const queue::QueueMessage& m) { return loops_->run(queue_->ack(m)); }
  Result<void> nak(const queue::QueueMessage& m, std::chrono::milliseconds delay) {
    return loops_->run(queue_->nak(m, delay));
  }
  Result<void> in_progress(const queue::QueueMessage& m) {
    return loops_->run(queue_->in_progress(m));
  }
  Result<void> dead_letter(const queue::QueueMessage& m, const std::string& reason) {
    return loops_->run(queue_->dead_letter(m, reason));
  }
  std::int64_t pending() {
    auto r = loops_->run(queue_->pending());
    EXPECT_EQ(outcome(r), "ok");
    return r.ok() ? *r : -1;
  }
  // oldest(), in milliseconds since the epoch; -1 for none, -2 on failure.
  std::int64_t oldest_ms() {
    auto r = loops_->run(queue_->oldest());
    EXPECT_EQ(outcome(r), "ok");
    return !r.ok() ? -2 : *r ? unix_ms(**r) : -1;
  }
  // The wall time the queue stamps messages with, in milliseconds since the epoch.
  std::int64_t wall_ms() const {
    if constexpr (kManualTime) return unix_ms(clock_.now());
    return unix_ms(std::chrono::system_clock::now());
  }
  std::vector<queue::Queue::DeadLetter> dead_letters(int max) {
    auto r = loops_->run(queue_->dead_letters(max));
    EXPECT_EQ(outcome(r), "ok");
    return r.ok() ? std::move(r).value() : std::vector<queue::Queue::DeadLetter>{};
  }

  // Fetches until `n` messages came or `bound` passed (each fetch waits at most 200 ms).
  std::vector<queue::QueueMessage> fetch_n(std::size_t n, std::chrono::milliseconds bound = 10s) {
    std::vector<queue::QueueMessage> out;
    const auto until = QueueClock::now() + bound;
    while (out.size() < n && QueueClock::now() < until) {
      auto got = fetch(static_cast<int>(n - out.size()), 200ms);
      EXPECT_EQ(outcome(got), "ok");
      if (!got.ok()) break;
      for (auto& m : *got) out.push_back(std::move(m));
    }
    return out;
  }
  // Exactly one message within `bound`, or a failure.
  queue::QueueMessage fetch_one(std::chrono::milliseconds bound = 10s) {
    auto got = fetch_n(1, bound);
    EXPECT_EQ(got.size(), 1u);
    return got.empty() ? queue::QueueMessage{} : std::move(got.front());
  }
  // Whether a fetch waiting `wait` (real time) comes back empty.
  bool nothing_within(std::chrono::milliseconds wait) {
    auto got = fetch(10, wait);
    EXPECT_EQ(outcome(got), "ok");
    return got.ok() && got->empty();
  }
  // Whether nothing is delivered while `d` passes on the queue's clock. On clock_: advances it
  // by d, then a fetch looks without waiting (what became visible meanwhile is visible still).
  // On the engine's clock: a fetch waits d.
  bool nothing_for(std::chrono::milliseconds d) {
    if constexpr (kManualTime) {
      clock_.advance(d);
      return nothing_within(0ms);
    }
    return nothing_within(d);
  }
  // The next delivery, which must not come before `d` has passed since `since` on the queue's
  // clock. On clock_: nothing at since + d - 1 ms, then it comes at since + d. On the engine's
  // clock: fetched within 10 s, and no sooner than d - 100 ms after `since` (timer slack).
  queue::QueueMessage fetch_after(TimePoint since, std::chrono::milliseconds d) {
    if constexpr (kManualTime) {
      advance_to(since + d - 1ms);
      EXPECT_TRUE(nothing_within(0ms)) << "delivered before " << d.count() << " ms";
      clock_.advance(1ms);
      return fetch_one();
    }
    queue::QueueMessage m = fetch_one(10s);
    EXPECT_GE(QueueClock::now() - since, d - 100ms) << "delivered before " << d.count() << " ms";
    return m;
  }

  ManualClock clock_;  // outlives the queue
  std::unique_ptr<EventLoops> loops_ = std::make_unique<EventLoops>(2);
  std::unique_ptr<queue::Queue> queue_;
};

TYPED_TEST_SUITE_P(QueueConformance);

TYPED_TEST_P(QueueConformance, PublishedMessagesAreFetchedOnceEach) {
  this->open(queue_options(30s));
  for (const char* p : {"a", "b", "c"})
    ASSERT_EQ(outcome(this->publish(std::string("d-") + p, p)), "ok");
  const auto got = this->fetch_n(3);
  ASSERT_EQ(got.size(), 3u);
  std::set<std::string> payloads, ids;
  for (const auto& m : got) {
    payloads.insert(m.payload);
    ids.insert(m.id);
    EXPECT_EQ(m.deliveries, 1);
    EXPECT_EQ(outcome(this->ack(m)), "ok");
  }
  EXPECT_EQ(payloads, (std::set<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ids.size(), 3u);
}

TYPED_TEST_P(QueueConformance, AnEmptyQueueAnswersWithinTheWait) {
  this->open(queue_options(30s));
  const auto start = QueueClock::now();
  EXPECT_TRUE(this->nothing_within(300ms));
  EXPECT_LT(QueueClock::now() - start, 3s);
  EXPECT_TRUE(this->nothing_within(0ms));
}

TYPED_TEST_P(QueueConformance, AckedMessagesAreNeverDeliveredAgain) {
  this->open(queue_options(500ms));
  ASSERT_EQ(outcome(this->publish("once", "payload")), "ok");
  const queue::QueueMessage m = this->fetch_one();
  ASSERT_EQ(m.payload, "payload");
  ASSERT_EQ(outcome(this->ack(m)), "ok");
  EXPECT_TRUE(this->nothing_for(1500ms));  // three times ack_wait
  EXPECT_EQ(this->pending(), 0);
}

TYPED_TEST_P(QueueConformance, OldestIsWhenTheOldestMessageNotDoneWasPublished) {
  this->open(queue_options(30s));
  EXPECT_EQ(this->oldest_ms(), -1) << "empty";
  const auto before_a = this->wall_ms();
  ASSERT_EQ(outcome(this->publish("a", "a")), "ok");
  const auto after_a = this->wall_ms();
  this->advance_to(this->now() + 20ms);
  const auto before_b = this->wall_ms();
  ASSERT_EQ(outcome(this->publish("b", "b")), "ok");
  const auto after_b = this->wall_ms();
  const auto a_at = this->oldest_ms();
  EXPECT_GE(a_at, before_a);
  EXPECT_LE(a_at, after_a) << "a's time, not b's";
  auto both = this->fetch_n(2);
  ASSERT_EQ(both.size(), 2u);
  if (both[0].payload != "a") std::swap(both[0], both[1]);
  EXPECT_EQ(this->oldest_ms(), a_at) << "a is delivered, not done";
  ASSERT_EQ(outcome(this->ack(both[0])), "ok");
  const auto b_at = this->oldest_ms();
  EXPECT_GE(b_at, before_b);
  EXPECT_LE(b_at, after_b);
  ASSERT_EQ(outcome(this->dead_letter(both[1], "gone")), "ok");
  EXPECT_EQ(this->oldest_ms(), -1) << "dead letters are not waiting";
}

TYPED_TEST_P(QueueConformance, AnUnackedMessageIsRedeliveredAfterAckWait) {
  this->open(queue_options(500ms));
  ASSERT_EQ(outcome(this->publish("r", "job")), "ok");
  const queue::QueueMessage first = this->fetch_one();
  const auto fetched_at = this->now();
  ASSERT_EQ(first.deliveries, 1);
  EXPECT_TRUE(this->nothing_within(0ms)) << "invisible to others while its ack_wait runs";
  const queue::QueueMessage again = this->fetch_after(fetched_at, 500ms);  // the consumer "died"
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.payload, "job");
  EXPECT_EQ(again.deliveries, 2);
  EXPECT_EQ(outcome(this->ack(again)), "ok");
  EXPECT_EQ(this->pending(), 0);
}

TYPED_TEST_P(QueueConformance, NakRedeliversAfterTheDelay) {
  this->open(queue_options(30s));
  ASSERT_EQ(outcome(this->publish("n", "job")), "ok");
  const queue::QueueMessage first = this->fetch_one();
  const auto nak_at = this->now();
  ASSERT_EQ(outcome(this->nak(first, 600ms)), "ok");
  const queue::QueueMessage again = this->fetch_after(nak_at, 600ms);
  EXPECT_LT(this->now() - nak_at, 10s) << "long before ack_wait (30 s)";
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.deliveries, 2);
  ASSERT_EQ(outcome(this->nak(again, 0ms)), "ok");
  const queue::QueueMessage third = this->fetch_one(5s);
  EXPECT_EQ(third.deliveries, 3);
  EXPECT_EQ(outcome(this->ack(third)), "ok");
}

TYPED_TEST_P(QueueConformance, InProgressKeepsAMessageBeyondAckWait) {
  this->open(queue_options(1000ms));
  ASSERT_EQ(outcome(this->publish("long", "job")), "ok");
  const queue::QueueMessage m = this->fetch_one();
  // Heartbeats every 300 ms for 3 x ack_wait: nobody else gets the message meanwhile.
  auto last_beat = this->now();
  for (int beat = 0; beat < 10; ++beat) {
    ASSERT_EQ(outcome(this->in_progress(m)), "ok");
    last_beat = this->now();
    ASSERT_TRUE(this->nothing_for(300ms)) << "redelivered despite heartbeats";
  }
  // Heartbeats stopped: redelivered one ack_wait after the last.
  const queue::QueueMessage again = this->fetch_after(last_beat, 1000ms);
  EXPECT_EQ(again.id, m.id);
  EXPECT_EQ(again.deliveries, 2);
  EXPECT_EQ(outcome(this->ack(again)), "ok");
}

TYPED_TEST_P(QueueConformance, DeadLetterRemovesTheMessageAndKeepsTheReason) {
  this->open(queue_options(500ms));
  ASSERT_EQ(outcome(this->publish("bad", "poison")), "ok");
  const queue::QueueMessage m = this->fetch_one();
  ASSERT_EQ(outcome(this->dead_letter(m, "cannot decode the image")), "ok");
  EXPECT_EQ(this->pending(), 0);
  EXPECT_TRUE(this->nothing_for(1500ms)) << "a dead letter is never delivered again";
  const auto dead = this->dead_letters(10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].payload, "poison");
  EXPECT_EQ(dead[0].reason, "cannot decode the image");
  ASSERT_EQ(outcome(this->publish("bad2", "poison2")), "ok");
  ASSERT_EQ(outcome(this->dead_letter(this->fetch_one(), "second")), "ok");
  const auto both = this->dead_letters(10);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1].reason, "second") << "newest last";
  EXPECT_EQ(this->dead_letters(1).size(), 1u);
}

TYPED_TEST_P(QueueConformance, AMessageDeliveredTooOftenIsDeadLetteredByFetch) {
  this->open(queue_options(500ms, 2));
  ASSERT_EQ(outcome(this->publish("crash", "kills the worker")), "ok");
  EXPECT_EQ(this->fetch_one().deliveries, 1);  // the worker crashes: no ack
  const auto first_at = this->now();
  EXPECT_EQ(this->fetch_after(first_at, 500ms).deliveries, 2);  // and again, at max_deliveries
  const auto second_at = this->now();
  // The third delivery would exceed max_deliveries: fetch dead-letters it and returns nothing.
  this->advance_to(second_at + 500ms);
  const auto poll_wait = TestFixture::kManualTime ? 0ms : 200ms;
  ASSERT_TRUE(eventually(
      [&] { return this->nothing_within(poll_wait) && !this->dead_letters(10).empty(); }, 10s));
  const auto dead = this->dead_letters(10);
  EXPECT_EQ(dead[0].payload, "kills the worker");
  EXPECT_NE(dead[0].reason.find("delivered 3 times"), std::string::npos) << dead[0].reason;
  EXPECT_TRUE(this->nothing_for(1500ms));
  EXPECT_EQ(this->pending(), 0);
}

TYPED_TEST_P(QueueConformance, PublishIsIdempotentPerDedupId) {
  this->open(queue_options(30s));
  ASSERT_EQ(outcome(this->publish("job-7", "first")), "ok");
  ASSERT_EQ(outcome(this->publish("job-7", "first")), "ok");
  ASSERT_EQ(outcome(this->publish("job-7", "other payload, same id")), "ok");
  EXPECT_EQ(this->pending(), 1);
  const queue::QueueMessage m = this->fetch_one();
  EXPECT_EQ(m.payload, "first");
  ASSERT_EQ(outcome(this->ack(m)), "ok");
  ASSERT_EQ(outcome(this->publish("job-7", "first")), "ok") << "remembered after the ack too";
  EXPECT_EQ(this->pending(), 0);
  EXPECT_TRUE(this->nothing_within(300ms));
}

TYPED_TEST_P(QueueConformance, PendingCountsWhatIsNotAckedOrDeadLettered) {
  this->open(queue_options(30s));
  EXPECT_EQ(this->pending(), 0);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(outcome(this->publish("p" + std::to_string(i), "x")), "ok");
  EXPECT_EQ(this->pending(), 5);
  const auto held = this->fetch_n(3);
  ASSERT_EQ(held.size(), 3u);
  EXPECT_EQ(this->pending(), 5) << "fetched is still pending";
  ASSERT_EQ(outcome(this->ack(held[0])), "ok");
  ASSERT_EQ(outcome(this->dead_letter(held[1], "no")), "ok");
  ASSERT_EQ(outcome(this->nak(held[2], 0ms)), "ok");
  EXPECT_EQ(this->pending(), 3);
}

TYPED_TEST_P(QueueConformance, ConcurrentConsumersAckEachMessageExactlyOnce) {
  this->open(queue_options(30s));
  constexpr int kMessages = 600;
  for (int i = 0; i < kMessages; ++i)
    ASSERT_EQ(outcome(this->publish("c" + std::to_string(i), std::to_string(i))), "ok");
  std::mutex mu;
  std::map<std::string, int> acked;  // payload -> times
  int redelivered = 0;
  std::atomic<int> total{0};
  auto consume = [&] {
    const auto until = QueueClock::now() + 60s;
    while (total.load() < kMessages && QueueClock::now() < until) {
      auto got = this->fetch(16, 100ms);
      if (!got.ok()) return;
      for (const auto& m : *got) {
        if (!this->ack(m).ok()) continue;
        std::lock_guard lock(mu);
        ++acked[m.payload];
        redelivered += m.deliveries > 1;
        ++total;
      }
    }
  };
  std::thread a(consume), b(consume);
  a.join();
  b.join();
  EXPECT_EQ(static_cast<int>(acked.size()), kMessages);
  for (const auto& [payload, times] : acked) EXPECT_EQ(times, 1) << "message " << payload;
  EXPECT_EQ(redelivered, 0) << "no message was held by two consumers";
  EXPECT_EQ(this->pending(), 0);
}

TYPED_TEST_P(QueueConformance, BadArgumentsAreInvalid) {
  this->open(queue_options(30s));
  EXPECT_EQ(errc(this->publish("big", std::string(4097, 'x'))), "invalid_argument");
  EXPECT_EQ(errc(this->publish("", "x")), "invalid_argument");
  EXPECT_EQ(errc(this->publish(std::string(129, 'k'), "x")), "invalid_argument");
  EXPECT_EQ(errc(this->publish("line\r\nbreak", "x")), "invalid_argument");
  EXPECT_EQ(errc(this->fetch(0, 0ms)), "invalid_argument");
  EXPECT_EQ(errc(this->fetch(257, 0ms)), "invalid_argument");
  EXPECT_EQ(errc(this->ack(queue::QueueMessage{})), "invalid_argument");
  EXPECT_EQ(errc(this->loops_->run(this->queue_->dead_letters(0))), "invalid_argument");
  EXPECT_EQ(this->pending(), 0);
  ASSERT_EQ(outcome(this->publish(std::string(128, 'k'), std::string(4096, 'x'))), "ok");
  ASSERT_EQ(outcome(this->publish("empty", "")), "ok");
  const auto got = this->fetch_n(2);
  ASSERT_EQ(got.size(), 2u);
  std::set<std::size_t> sizes{got[0].payload.size(), got[1].payload.size()};
  EXPECT_EQ(sizes, (std::set<std::size_t>{0, 4096}));
}

REGISTER_TYPED_TEST_SUITE_P(QueueConformance, PublishedMessagesAreFetchedOnceEach,
                            AnEmptyQueueAnswersWithinTheWait, AckedMessagesAreNeverDeliveredAgain,
                            OldestIsWhenTheOldestMessageNotDoneWasPublished,
                            AnUnackedMessageIsRedeliveredAfterAckWait, NakRedeliversAfterTheDelay,
                            InProgressKeepsAMessageBeyondAckWait,
                            DeadLetterRemovesTheMessageAndKeepsTheReason,
                            AMessageDeliveredTooOftenIsDeadLetteredByFetch,
                            PublishIsIdempotentPerDedupId,
                            PendingCountsWhatIsNotAckedOrDeadLettered,
                            ConcurrentConsumersAckEachMessageExactlyOnce, BadArgumentsAreInvalid);

}  // namespace ztm::test
