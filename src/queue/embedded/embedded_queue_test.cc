// EmbeddedQueue: the conformance suite, plus what only the file backend has.

#include "queue/embedded/embedded_queue.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "core/manual_clock.h"
#include "queue/queue_checks.h"
#include "tests/queue/queue_conformance.h"
#include "tests/support/eventually.h"

namespace ztm::test {

using queue::EmbeddedQueue;
using queue::EmbeddedQueueOptions;
using queue::Queue;
using queue::QueueMessage;
using queue::QueueOptions;

namespace {

// A fresh directory for one queue file, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/ztm-queue-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path() const { return dir_ + "/q/queue.db"; }

 private:
  std::string dir_;
};

// An EmbeddedQueue that owns its directory (removed after the queue is closed).
class QueueInTempDir final : public Queue {
 public:
  QueueInTempDir(QueueOptions options, const Clock& clock)
      : queue_(EmbeddedQueueOptions{.path = dir_.path(), .queue = options, .clock = &clock}) {}

  boost::asio::awaitable<Result<void>> publish(std::string d, std::string p) override {
    return queue_.publish(std::move(d), std::move(p));
  }
  boost::asio::awaitable<Result<std::vector<QueueMessage>>> fetch(
      int max, std::chrono::milliseconds wait) override {
    return queue_.fetch(max, wait);
  }
  boost::asio::awaitable<Result<void>> ack(const QueueMessage& m) override { return queue_.ack(m); }
  boost::asio::awaitable<Result<void>> nak(const QueueMessage& m,
                                           std::chrono::milliseconds d) override {
    return queue_.nak(m, d);
  }
  boost::asio::awaitable<Result<void>> in_progress(const QueueMessage& m) override {
    return queue_.in_progress(m);
  }
  boost::asio::awaitable<Result<void>> dead_letter(const QueueMessage& m,
                                                   std::string reason) override {
    return queue_.dead_letter(m, std::move(reason));
  }
  boost::asio::awaitable<Result<std::int64_t>> pending() override { return queue_.pending(); }
  boost::asio::awaitable<Result<std::optional<std::chrono::system_clock::time_point>>> oldest()
      override {
    return queue_.oldest();
  }
  boost::asio::awaitable<Result<std::vector<DeadLetter>>> dead_letters(int max) override {
    return queue_.dead_letters(max);
  }

 private:
  TempDir dir_;  // declared first: removed after the queue closes the file
  EmbeddedQueue queue_;
};

struct EmbeddedFactory {
  static constexpr bool kUsesClock = true;
  static std::unique_ptr<Queue> make(QueueOptions options, const Clock& clock) {
    return std::make_unique<QueueInTempDir>(options, clock);
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Embedded, QueueConformance, ::testing::Types<EmbeddedFactory>);

// Published and not acked survives closing the file: a restarted server finds its jobs.
TEST(EmbeddedQueue, MessagesSurviveReopeningTheFile) {
  TempDir dir;
  EventLoops loops(1);
  const EmbeddedQueueOptions options{.path = dir.path(), .queue = queue_options(30s)};
  {
    EmbeddedQueue q(options);
    ASSERT_EQ(outcome(loops.run(q.publish("b", "acked"))), "ok");
    auto got = loops.run(q.fetch(1, 1s));
    ASSERT_EQ(outcome(got), "ok");
    ASSERT_EQ(got->size(), 1u);
    ASSERT_EQ(outcome(loops.run(q.ack(got->front()))), "ok");
    ASSERT_EQ(outcome(loops.run(q.publish("a", "kept"))), "ok");
  }
  EmbeddedQueue reopened(options);
  EXPECT_EQ(loops.run(reopened.pending()).value(), 1);
  auto got = loops.run(reopened.fetch(5, 1s));
  ASSERT_EQ(outcome(got), "ok");
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().payload, "kept");
  EXPECT_EQ(outcome(loops.run(reopened.publish("b", "acked"))), "ok");
  EXPECT_EQ(loops.run(reopened.pending()).value(), 1) << "dedup ids survive too";
}

// A waiting fetch is woken by a publish of this process, long before it would re-read the file.
TEST(EmbeddedQueue, APublishWakesAWaitingFetch) {
  TempDir dir;
  EmbeddedQueue q(EmbeddedQueueOptions{
      .path = dir.path(), .queue = queue_options(30s), .poll_interval_ms = 30'000});
  EventLoops loops(2);
  std::optional<Result<std::vector<QueueMessage>>> got;
  const auto start = QueueClock::now();
  std::thread waiter([&] { got.emplace(loops.run(q.fetch(1, 20s))); });
  // The fetch has found the queue empty and waits: the publish has to wake it.
  ASSERT_TRUE(eventually([&] { return q.waiting_fetches() == 1; }, 10s));
  ASSERT_EQ(outcome(loops.run(q.publish("w", "wake"))), "ok");
  waiter.join();
  ASSERT_EQ(outcome(*got), "ok");
  ASSERT_EQ((*got)->size(), 1u);
  EXPECT_LT(QueueClock::now() - start, 5s);
}

// The contract promises at least a window; this backend forgets an id exactly kDedupWindow
// after its publish (NATS's window is the stream's, on the server's clock).
TEST(EmbeddedQueue, ADedupIdIsForgottenAfterTheWindow) {
  TempDir dir;
  ManualClock clock;
  EmbeddedQueue q(
      EmbeddedQueueOptions{.path = dir.path(), .queue = queue_options(30s), .clock = &clock});
  EventLoops loops(1);
  ASSERT_EQ(outcome(loops.run(q.publish("job-1", "first"))), "ok");
  auto got = loops.run(q.fetch(1, 0ms));
  ASSERT_EQ(outcome(got), "ok");
  ASSERT_EQ(got->size(), 1u);
  ASSERT_EQ(outcome(loops.run(q.ack(got->front()))), "ok");
  clock.advance(queue::kDedupWindow - 1ms);
  ASSERT_EQ(outcome(loops.run(q.publish("job-1", "again"))), "ok");
  EXPECT_EQ(loops.run(q.pending()).value(), 0) << "a millisecond before the window ends";
  clock.advance(1ms);
  ASSERT_EQ(outcome(loops.run(q.publish("job-1", "again"))), "ok");
  EXPECT_EQ(loops.run(q.pending()).value(), 1) << "a new message once the window passed";
}

TEST(EmbeddedQueue, AnUnopenablePathIsAStartUpError) {
  EXPECT_THROW(EmbeddedQueue(EmbeddedQueueOptions{.path = "/proc/no/such/dir/q.db"}),
               std::runtime_error);
}

}  // namespace
}  // namespace ztm::test
