// NatsQueue against a real nats-server -js: the conformance suite. Each queue gets a stream,
// subjects and consumer of its own on the binary's one server, so each starts empty.

#include <gtest/gtest.h>

#include <atomic>

#include "queue/nats/nats_queue.h"
#include "tests/queue/queue_conformance.h"
#include "tests/support/nats_instance.h"

namespace ztm::test {

using queue::NatsQueue;
using queue::NatsQueueOptions;
using queue::Queue;
using queue::QueueOptions;

namespace {

// Ack wait, redelivery and the dedup window are the server's (JetStream's timers): the suite
// waits for them in real time.
struct NatsFactory {
  static constexpr bool kUsesClock = false;
  static std::unique_ptr<Queue> make(QueueOptions options, const Clock& /*ignored*/) {
    static std::atomic<int> streams{0};
    const std::string n = std::to_string(++streams);
    NatsQueueOptions o;
    o.url = NatsInstance::shared().url();
    o.queue = options;
    o.stream = "T" + n;
    o.subject = "t" + n + ".jobs";
    o.dead_subject = "t" + n + ".jobs.dead";
    o.timeout_ms = 2000;
    auto queue = std::make_unique<NatsQueue>(o);
    // The connection is made in the background: wait (bounded) until it answers.
    EventLoops loops(1);
    EXPECT_TRUE(eventually([&] { return loops.run(queue->pending()).ok(); }, 5s, 10ms));
    return queue;
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Nats, QueueConformance, ::testing::Types<NatsFactory>);

}  // namespace
}  // namespace ztm::test
