#include "queue/nats/nats_queue.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "core/blocking_pool.h"
#include "queue/nats/nats_connection.h"
#include "queue/queue_checks.h"

namespace ztm::queue {
namespace {

using boost::asio::awaitable;
using std::chrono::milliseconds;

constexpr const char* kReasonHeader = "Ztm-Reason";
constexpr std::int64_t kNsPerMs = 1'000'000;

// One pull subscription bound to the durable consumer. libnats refuses two fetches at once on
// one subscription, so each running fetch takes its own from JetStream::idle.
struct Subscription {
  std::shared_ptr<NatsConnection> conn;
  natsSubscription* sub = nullptr;
  ~Subscription() { natsSubscription_Destroy(sub); }
};

// A fetched message (the QueueMessage's handle). It keeps its subscription alive: libnats acks
// through it.
struct HeldMessage {
  std::shared_ptr<Subscription> sub;
  natsMsg* msg = nullptr;
  std::uint64_t seq = 0;
  ~HeldMessage() { natsMsg_Destroy(msg); }
};

std::string payload_of(natsMsg* m) {
  const char* data = natsMsg_GetData(m);
  return std::string(data ? data : "", static_cast<std::size_t>(natsMsg_GetDataLength(m)));
}

// Header values cannot hold line breaks.
std::string header_safe(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return s;
}

}  // namespace

struct NatsQueue::JetStream {
  explicit JetStream(NatsQueueOptions o)
      : options(checked(std::move(o))),
        dead_stream(options.stream + "_DEAD"),
        conn(std::make_shared<NatsConnection>(options.url, milliseconds(options.timeout_ms))),
        pool(options.threads, options.max_pending),
        fetch_pool(options.fetch_threads, options.max_pending) {}

  static NatsQueueOptions checked(NatsQueueOptions o) {
    if (auto c = queue::check_options(o.queue); !c.ok())
      throw std::invalid_argument(c.error().message);
    if (o.timeout_ms < 1 || o.threads < 1 || o.fetch_threads < 1 || o.max_pending < 1 ||
        o.max_ack_pending < 1 || o.stream.empty() || o.subject.empty() || o.consumer.empty() ||
        o.dead_subject.empty())
      throw std::invalid_argument(
          "nats queue: timeout_ms, threads, fetch_threads, max_pending and max_ack_pending must "
          "be positive and the stream, subject, consumer and dead subject names set");
    return o;
  }

  // Runs fn() -> Result<T> on `on` once NATS is connected and the stream and consumer exist.
  // An exception (bad_alloc) becomes Errc::internal.
  template <class T, class F>
  awaitable<Result<T>> run(BlockingPool& on, F fn) {
    auto call = on.run([this, &fn]() -> Result<T> {
      try {
        if (auto c = conn->connected(); !c.ok()) return std::move(c).error();
        if (auto r = ensure_ready(); !r.ok()) return std::move(r).error();
        return fn();
      } catch (const std::exception& e) {
        return Error{Errc::internal, fmt::format("nats queue: {}", e.what())};
      }
    });
    co_return co_await std::move(call);
  }

  // The error of a failed call; one that says the stream or consumer is gone (NATS restarted
  // with an empty store) makes the next call create them again.
  Error failed(natsStatus s, jsErrCode code, std::string_view what) {
    if (code == JSStreamNotFoundErr || code == JSConsumerNotFoundErr || s == NATS_NO_RESPONDERS) {
      std::lock_guard lock(mu);
      ready = false;
      idle.clear();
    }
    return nats_error(s, code, what);
  }

  Result<void> ensure_ready() {
    std::lock_guard lock(mu);
    if (ready) return {};
    jsOptions o = conn->options();
    const char* work_subjects[] = {options.subject.c_str()};
    jsStreamConfig work;
    jsStreamConfig_Init(&work);
    work.Name = options.stream.c_str();
    work.Subjects = work_subjects;
    work.SubjectsLen = 1;
    work.Retention = js_WorkQueuePolicy;  // removed once acked
    work.Storage = js_FileStorage;
    work.Duplicates = milliseconds(queue::kDedupWindow).count() * kNsPerMs;
    if (auto r = add_stream(work, o); !r.ok()) return r;
    const char* dead_subjects[] = {options.dead_subject.c_str()};
    jsStreamConfig dead;
    jsStreamConfig_Init(&dead);
    dead.Name = dead_stream.c_str();
    dead.Subjects = dead_subjects;
    dead.SubjectsLen = 1;
    dead.Retention = js_LimitsPolicy;  // kept for inspection, bounded
    dead.Storage = js_FileStorage;
    dead.MaxMsgs = 100'000;
    dead.MaxAge = std::int64_t{30} * 86'400'000 * kNsPerMs;
    dead.Duplicates = work.Duplicates;
    if (auto r = add_stream(dead, o); !r.ok()) return r;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = options.consumer.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = options.queue.ack_wait.count() * kNsPerMs;
    cc.MaxDeliver = -1;  // see nats_queue.h: fetch() enforces max_deliveries
    cc.MaxAckPending = options.max_ack_pending;
    cc.FilterSubject = options.subject.c_str();
    jsConsumerInfo* ci = nullptr;
    jsErrCode code = kNoNatsCode;
    natsStatus s = js_AddConsumer(&ci, conn->js(), options.stream.c_str(), &cc, &o, &code);
    if (s != NATS_OK && code != 0)  // exists with another configuration (ack_wait changed)
      s = js_UpdateConsumer(&ci, conn->js(), options.stream.c_str(), &cc, &o, &code);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK) return nats_error(s, code, "consumer " + options.consumer);
    ready = true;
    return {};
  }

  // The work-queue stream's messages and its first one's time (ns since the epoch). Blocks: on
  // a pool.
  struct StreamState {
    std::uint64_t messages = 0;
    std::int64_t first_ns = 0;
  };
  Result<StreamState> stream_state() {
    jsOptions o = conn->options();
    jsStreamInfo* si = nullptr;
    jsErrCode code = kNoNatsCode;
    const natsStatus s = js_GetStreamInfo(&si, conn->js(), options.stream.c_str(), &o, &code);
    if (s != NATS_OK) return failed(s, code, "stream info");
    const StreamState state{si->State.Msgs, si->State.FirstTime};
    jsStreamInfo_Destroy(si);
    return state;
  }

  Result<void> add_stream(jsStreamConfig& config, jsOptions& o) {
    jsStreamInfo* si = nullptr;
    jsErrCode code = kNoNatsCode;
    natsStatus s = js_AddStream(&si, conn->js(), &config, &o, &code);
    if (s != NATS_OK && code == JSStreamNameExistErr)  // exists with another configuration
      s = js_UpdateStream(&si, conn->js(), &config, &o, &code);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) return nats_error(s, code, fmt::format("stream {}", config.Name));
    return {};
  }

  // An idle subscription, or a new one bound to the consumer.
  Result<std::shared_ptr<Subscription>> take() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        auto s = std::move(idle.back());
        idle.pop_back();
        return s;
      }
    }
    auto sub = std::make_shared<Subscription>();
    sub->conn = conn;
    jsOptions o = conn->options();
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options.stream.c_str();
    so.Consumer = options.consumer.c_str();  // bind: never create here
    jsErrCode code = kNoNatsCode;
    const natsStatus s = js_PullSubscribe(&sub->sub, conn->js(), options.subject.c_str(),
                                          options.consumer.c_str(), &o, &so, &code);
    if (s != NATS_OK) return failed(s, code, "pull subscribe");
    return sub;
  }
  void give_back(std::shared_ptr<Subscription> sub) {
    std::lock_guard lock(mu);
    if (ready && idle.size() < static_cast<std::size_t>(options.fetch_threads))
      idle.push_back(std::move(sub));
  }

  Result<std::vector<QueueMessage>> fetch(int max, milliseconds wait) {
    auto sub = take();
    if (!sub.ok()) return std::move(sub).error();
    natsMsgList list{nullptr, 0};
    jsErrCode code = kNoNatsCode;
    // libnats returns a partial batch when the server says there is no more; a consumer at its
    // MaxAckPending says nothing, and the fetch would wait out its timeout (collecting
    // redeliveries): never ask for more than may be in flight. libnats needs a positive
    // timeout; 1 ms is "what is there now".
    const natsStatus s =
        natsSubscription_Fetch(&list, (*sub)->sub, std::min(max, options.max_ack_pending),
                               std::max<std::int64_t>(1, wait.count()), &code);
    std::vector<std::shared_ptr<HeldMessage>> got;
    for (int i = 0; i < list.Count; ++i) {
      auto& held = got.emplace_back(std::make_shared<HeldMessage>());
      held->sub = *sub;
      held->msg = std::exchange(list.Msgs[i], nullptr);
    }
    natsMsgList_Destroy(&list);
    give_back(std::move(sub).value());
    if (got.empty()) {
      if (s == NATS_TIMEOUT) {  // nothing came, or the connection went meanwhile
        if (auto c = conn->connected(); !c.ok()) return std::move(c).error();
        return std::vector<QueueMessage>{};
      }
      if (s != NATS_OK) return failed(s, code, "fetch");
    }
    std::vector<QueueMessage> out;
    for (auto& held : got) {
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, held->msg) != NATS_OK) continue;  // not a JetStream message
      held->seq = meta->Sequence.Stream;
      const int deliveries = static_cast<int>(meta->NumDelivered);
      jsMsgMetaData_Destroy(meta);
      if (deliveries > options.queue.max_deliveries) {
        // Every earlier delivery ended without an ack or a dead letter: do not process it again.
        // On failure it comes back after ack_wait and this is tried again.
        (void)bury(*held, queue::over_delivered_reason(deliveries));
        continue;
      }
      out.push_back(
          QueueMessage{std::to_string(held->seq), payload_of(held->msg), deliveries, held});
    }
    return out;
  }

  // Publishes `held` to the dead-letter subject with `reason`, then acks it. The dead letter's
  // dedup id is its stream sequence, so a retry after a failed ack stores it once.
  Result<void> bury(HeldMessage& held, const std::string& reason) {
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, options.dead_subject.c_str(), nullptr,
                                  natsMsg_GetData(held.msg), natsMsg_GetDataLength(held.msg));
    if (s != NATS_OK) return nats_error(s, "dead letter");
    std::unique_ptr<natsMsg, decltype(&natsMsg_Destroy)> dead(raw, natsMsg_Destroy);
    s = natsMsgHeader_Set(raw, kReasonHeader, header_safe(reason).c_str());
    if (s != NATS_OK) return nats_error(s, "dead letter header");
    const std::string dedup_id = fmt::format("dead-{}-{}", options.stream, held.seq);
    if (auto r = publish_msg(raw, dedup_id, dead_stream); !r.ok()) return r;
    return ack(held);
  }

  Result<void> publish_msg(natsMsg* msg, const std::string& dedup_id, const std::string& stream) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = dedup_id.c_str();
    po.MaxWait = options.timeout_ms;
    po.ExpectStream = stream.c_str();
    jsPubAck* ack = nullptr;  // Duplicate set or not, the message is stored once
    jsErrCode code = kNoNatsCode;
    const natsStatus s = js_PublishMsg(&ack, conn->js(), msg, &po, &code);
    jsPubAck_Destroy(ack);
    if (s != NATS_OK) return failed(s, code, "publish to " + stream);
    return {};
  }

  Result<void> ack(HeldMessage& held) {
    jsOptions o = conn->options();
    jsErrCode code = kNoNatsCode;
    const natsStatus s = natsMsg_AckSync(held.msg, &o, &code);
    if (s != NATS_OK) return failed(s, code, "ack");
    return {};
  }

  // Sends what natsMsg_Nak/InProgress queued and waits until the server has it.
  Result<void> flush(natsStatus sent, std::string_view what) {
    if (sent == NATS_OK) sent = natsConnection_FlushTimeout(conn->nc(), options.timeout_ms);
    if (sent != NATS_OK) return nats_error(sent, what);
    return {};
  }

  const NatsQueueOptions options;
  const std::string dead_stream;
  const std::shared_ptr<NatsConnection> conn;
  std::mutex mu;
  bool ready = false;                               // under mu: the streams and the consumer exist
  std::vector<std::shared_ptr<Subscription>> idle;  // under mu
  // Declared last: destroyed (joined) first, while everything their calls use still exists.
  BlockingPool pool;
  BlockingPool fetch_pool;
};

namespace {

HeldMessage& held_message(const QueueMessage& m) {
  return *std::static_pointer_cast<HeldMessage>(m.handle);
}

}  // namespace

NatsQueue::NatsQueue(NatsQueueOptions options)
    : js_(std::make_unique<JetStream>(std::move(options))) {}

NatsQueue::~NatsQueue() = default;

awaitable<Result<void>> NatsQueue::publish(std::string dedup_id, std::string payload) {
  if (auto c = queue::check_publish(js_->options.queue, dedup_id, payload); !c.ok()) co_return c;
  JetStream& js = *js_;
  auto call = js.run<void>(js.pool, [&]() -> Result<void> {
    natsMsg* raw = nullptr;
    const natsStatus s = natsMsg_Create(&raw, js.options.subject.c_str(), nullptr, payload.data(),
                                        static_cast<int>(payload.size()));
    if (s != NATS_OK) return nats_error(s, "publish");
    std::unique_ptr<natsMsg, decltype(&natsMsg_Destroy)> msg(raw, natsMsg_Destroy);
    return js.publish_msg(raw, dedup_id, js.options.stream);
  });
  co_return co_await std::move(call);
}

awaitable<Result<std::vector<QueueMessage>>> NatsQueue::fetch(int max, milliseconds wait) {
  if (auto c = queue::check_fetch(max, wait); !c.ok()) co_return std::move(c).error();
  JetStream& js = *js_;
  auto call = js.run<std::vector<QueueMessage>>(js.fetch_pool,
                                                [&js, max, wait] { return js.fetch(max, wait); });
  co_return co_await std::move(call);
}

awaitable<Result<void>> NatsQueue::ack(const QueueMessage& message) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  JetStream& js = *js_;
  HeldMessage& held = held_message(message);
  auto call = js.run<void>(js.pool, [&js, &held] { return js.ack(held); });
  co_return co_await std::move(call);
}

awaitable<Result<void>> NatsQueue::nak(const QueueMessage& message, milliseconds delay) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  if (auto c = queue::check_delay(delay); !c.ok()) co_return c;
  JetStream& js = *js_;
  HeldMessage& held = held_message(message);
  auto call = js.run<void>(js.pool, [&js, &held, delay] {
    jsOptions o = js.conn->options();
    return js.flush(delay.count() > 0 ? natsMsg_NakWithDelay(held.msg, delay.count(), &o)
                                      : natsMsg_Nak(held.msg, &o),
                    "nak");
  });
  co_return co_await std::move(call);
}

awaitable<Result<void>> NatsQueue::in_progress(const QueueMessage& message) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  JetStream& js = *js_;
  HeldMessage& held = held_message(message);
  auto call = js.run<void>(js.pool, [&js, &held] {
    jsOptions o = js.conn->options();
    return js.flush(natsMsg_InProgress(held.msg, &o), "in_progress");
  });
  co_return co_await std::move(call);
}

awaitable<Result<void>> NatsQueue::dead_letter(const QueueMessage& message, std::string reason) {
  if (auto c = queue::check_handle(message); !c.ok()) co_return c;
  JetStream& js = *js_;
  HeldMessage& held = held_message(message);
  const std::string why = queue::bounded_reason(std::move(reason));
  auto call = js.run<void>(js.pool, [&js, &held, &why] { return js.bury(held, why); });
  co_return co_await std::move(call);
}

awaitable<Result<std::int64_t>> NatsQueue::pending() {
  JetStream& js = *js_;
  auto call = js.run<std::int64_t>(js.pool, [&js]() -> Result<std::int64_t> {
    auto state = js.stream_state();
    if (!state) return std::move(state).error();
    return static_cast<std::int64_t>(state->messages);
  });
  co_return co_await std::move(call);
}

awaitable<Result<std::optional<std::chrono::system_clock::time_point>>> NatsQueue::oldest() {
  using Oldest = std::optional<std::chrono::system_clock::time_point>;
  JetStream& js = *js_;
  auto call = js.run<Oldest>(js.pool, [&js]() -> Result<Oldest> {
    auto state = js.stream_state();
    if (!state) return std::move(state).error();
    if (state->messages == 0) return Oldest{};
    // A work queue deletes what is acked: its first message is the oldest left.
    return Oldest{std::chrono::system_clock::time_point(
        std::chrono::duration_cast<milliseconds>(std::chrono::nanoseconds(state->first_ns)))};
  });
  co_return co_await std::move(call);
}

awaitable<Result<std::vector<Queue::DeadLetter>>> NatsQueue::dead_letters(int max) {
  if (auto c = queue::check_dead_letters(max); !c.ok()) co_return std::move(c).error();
  JetStream& js = *js_;
  auto call =
      js.run<std::vector<DeadLetter>>(js.pool, [&js, max]() -> Result<std::vector<DeadLetter>> {
        jsOptions o = js.conn->options();
        jsStreamInfo* si = nullptr;
        jsErrCode code = kNoNatsCode;
        const char* stream = js.dead_stream.c_str();
        natsStatus s = js_GetStreamInfo(&si, js.conn->js(), stream, &o, &code);
        if (s != NATS_OK) return js.failed(s, code, "dead-letter stream info");
        const std::uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
        jsStreamInfo_Destroy(si);
        std::vector<DeadLetter> out;
        // Newest first, skipping deleted sequences; at most `max` found and a bounded number tried.
        for (std::uint64_t seq = last, tries = 0; seq >= std::max<std::uint64_t>(first, 1) &&
                                                  out.size() < static_cast<std::size_t>(max) &&
                                                  tries < static_cast<std::uint64_t>(max) + 64;
             --seq, ++tries) {
          natsMsg* m = nullptr;
          s = js_GetMsg(&m, js.conn->js(), stream, seq, &o, &code);
          if (s == NATS_NOT_FOUND) continue;
          if (s != NATS_OK) return nats_error(s, code, "dead letter");
          std::unique_ptr<natsMsg, decltype(&natsMsg_Destroy)> owned(m, natsMsg_Destroy);
          const char* reason = nullptr;
          if (natsMsgHeader_Get(m, kReasonHeader, &reason) != NATS_OK) reason = nullptr;
          out.push_back(DeadLetter{payload_of(m), reason ? reason : ""});
        }
        std::reverse(out.begin(), out.end());  // newest last
        return out;
      });
  co_return co_await std::move(call);
}

}  // namespace ztm::queue
