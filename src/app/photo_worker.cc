#include "app/photo_worker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "app/photo_edits.h"
#include "app/photos.h"
#include "core/log.h"
#include "core/run_on.h"

namespace ztm::app {

using queue::Queue;
using queue::QueueMessage;
using storage::JobStatus;
using storage::Photo;
using storage::PhotoStore;

namespace {

namespace asio = boost::asio;
using asio::awaitable;

// Retries back off with the delivery count: 1 s, 2 s, 4 s ... at most 30 s.
std::chrono::milliseconds backoff(int deliveries) {
  return std::chrono::milliseconds(std::min(30'000, 1000 << std::min(deliveries - 1, 5)));
}

}  // namespace

PhotoWorker::PhotoWorker(Queue& queue, PhotoStore& photos, media::BlobStore& blobs,
                         IdGenerator& ids, MetricsRegistry* metrics, PhotoWorkerOptions options)
    : queue_(queue),
      photos_(photos),
      blobs_(blobs),
      ids_(ids),
      metrics_(metrics),
      options_(options),
      pool_(options.concurrency, options.concurrency * 4) {
  if (metrics_)
    duration_ = &metrics_->histogram("ztm_worker_job_seconds",
                                     "Time from a job's delivery to its ack, done or failed.");
}

namespace {
constexpr const char* kOutcomes[] = {"done", "failed", "retried", "skipped"};
}  // namespace

void PhotoWorker::count(Outcome outcome, double seconds) {
  if (!metrics_) return;
  metrics_
      ->counter("ztm_worker_jobs_total", "Job deliveries by outcome.",
                {{"outcome", kOutcomes[static_cast<int>(outcome)]}})
      .inc();
  if (outcome == Outcome::done || outcome == Outcome::failed) duration_->observe(seconds);
}

awaitable<void> PhotoWorker::run() {
  auto executor = co_await asio::this_coro::executor;
  // Before the group exists, a cancellation is only recorded: the group would not receive it.
  if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
    co_return;
  using Consumer = decltype(asio::co_spawn(executor, consume(), asio::deferred));
  std::vector<Consumer> consumers;
  for (int i = 0; i < options_.concurrency; ++i)
    consumers.push_back(asio::co_spawn(executor, consume(), asio::deferred));
  // The group forwards run()'s cancellation to every consumer and completes when all returned.
  auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(consumers))
                             .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      log::error("photo consumer failed", {{"error", error.what()}});
    }
  }
}

awaitable<void> PhotoWorker::consume() {
  co_await asio::this_coro::throw_if_cancelled(false);              // cancellation is checked below
  const auto state = co_await asio::this_coro::cancellation_state;  // sees later cancellation
  auto cancelled = [&state] { return state.cancelled() != asio::cancellation_type::none; };
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!cancelled()) {
    // Not cut short by cancellation: a fetched job is always finished and acked (or nak'ed).
    if (co_await run_to_completion(fetch_and_handle()) || cancelled()) continue;
    timer.expires_after(std::chrono::milliseconds(500));  // the queue failed; cancellation aborts
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

awaitable<bool> PhotoWorker::fetch_and_handle() {
  auto batch = co_await queue_.fetch(1, options_.fetch_wait);
  if (!batch) {
    log::warn("queue fetch failed", {{"error", batch.error().message}});
    co_return false;
  }
  for (auto& message : *batch) co_await handle(std::move(message));
  co_return true;
}

// Every delivery is logged with the request that asked for the job (its id and trace: a
// request is found end to end, HAProxy -> web -> queue -> worker, by `ztm logs --request`), and
// written as a span of that trace when it is sampled.
awaitable<void> PhotoWorker::handle(QueueMessage message) {
  const auto started = options_.clock->now();
  const auto start = options_.clock->steady_now();
  const auto parsed = parse_job_message(message.payload);
  const Outcome outcome = co_await work(message, parsed);
  const double seconds =
      std::chrono::duration<double>(options_.clock->steady_now() - start).count();
  count(outcome, seconds);
  const JobOrigin origin = parsed ? parsed->origin : JobOrigin{};
  const auto trace = Trace::child_of(origin.traceparent);
  boost::json::object fields{{"job", parsed ? parsed->job : 0},
                             {"outcome", kOutcomes[static_cast<int>(outcome)]},
                             {"deliveries", message.deliveries},
                             {"duration_us", static_cast<std::int64_t>(seconds * 1e6)}};
  if (!origin.request_id.empty()) fields.emplace("request_id", origin.request_id);
  if (trace) {
    fields.emplace("trace_id", trace->trace_id());
    fields.emplace("span_id", trace->span_id());
  }
  log::info("job", fields);
  if (trace && trace->sampled())
    log::span(*trace, "job edit", origin.request_id, started, seconds,
              {{"job", parsed->job}, {"outcome", kOutcomes[static_cast<int>(outcome)]}});
}

// Never returns: it ends when cancelled (by throwing operation_aborted).
awaitable<void> PhotoWorker::heartbeats(const QueueMessage& message) {
  asio::steady_timer beat(co_await asio::this_coro::executor);
  for (;;) {
    beat.expires_after(options_.heartbeat);
    co_await beat.async_wait(asio::use_awaitable);
    if (auto r = co_await queue_.in_progress(message); !r)
      log::warn("job heartbeat failed", {{"message", message.id}, {"error", r.error().message}});
  }
}

awaitable<Result<media::EditedImage>> PhotoWorker::edit_with_heartbeat(const QueueMessage& message,
                                                                       std::string source,
                                                                       const std::string& steps) {
  using namespace asio::experimental::awaitable_operators;
  const auto limits = options_.limits;
  auto edit = pool_.run([&source, &steps, &limits]() -> Result<media::EditedImage> {
    boost::system::error_code ec;
    auto doc = boost::json::parse(steps, ec);
    if (ec) return Error{Errc::invalid_argument, "the job's steps are not JSON"};
    auto ops = operations_from_json(doc);
    if (!ops) return std::move(ops).error();
    return media::apply_operations(source, *ops, limits);
  });
  // Heartbeats keep a long job from being redelivered to another worker meanwhile. `||` waits
  // for the edit, then cancels the heartbeats and waits for them to end (they use this frame's
  // locals); a failed heartbeat does not cancel the edit.
  auto edited = co_await (std::move(edit) || heartbeats(message));
  co_return std::get<0>(std::move(edited));
}

awaitable<PhotoWorker::Outcome> PhotoWorker::work(const QueueMessage& message,
                                                  const Result<JobMessage>& parsed) {
  auto retry = [&](const Error& e) -> awaitable<Outcome> {
    log::warn("job retried",
              {{"message", message.id}, {"deliveries", message.deliveries}, {"error", e.message}});
    (void)co_await queue_.nak(message, backoff(message.deliveries));
    co_return Outcome::retried;
  };
  if (!parsed) {
    (void)co_await queue_.dead_letter(message, parsed.error().message);
    co_return Outcome::failed;
  }
  const storage::JobId id = parsed->job;
  auto job = co_await photos_.start_job(id);
  if (!job && job.error().code == Errc::not_found) {
    (void)co_await queue_.dead_letter(message, job.error().message);
    co_return Outcome::failed;
  }
  if (!job) co_return co_await retry(job.error());
  if (job->status == JobStatus::done || job->status == JobStatus::failed) {
    (void)co_await queue_.ack(message);  // a redelivery of finished work
    co_return Outcome::skipped;
  }
  auto fail = [&](std::string reason) -> awaitable<Outcome> {
    if (auto f = co_await photos_.fail_job(id, reason); !f) co_return co_await retry(f.error());
    log::warn("job failed", {{"job", id}, {"error", reason}});
    (void)co_await queue_.dead_letter(message, reason);
    co_return Outcome::failed;
  };
  auto source = co_await photos_.get_photo(job->photo_id);
  if (!source && source.error().code == Errc::not_found) {
    std::string reason = "the source photo was deleted";  // named: see store.h on GCC 12
    co_return co_await fail(std::move(reason));
  }
  if (!source) co_return co_await retry(source.error());
  std::string key = source->blob_key;
  auto bytes = co_await blobs_.get(std::move(key));
  if (!bytes && bytes.error().code == Errc::not_found) {
    std::string reason = "the source photo's bytes are missing";
    co_return co_await fail(std::move(reason));
  }
  if (!bytes) co_return co_await retry(bytes.error());

  auto edited = co_await edit_with_heartbeat(message, std::move(*bytes), job->operations);
  if (!edited && edited.error().code == Errc::invalid_argument) {
    if (message.deliveries >= options_.max_deliveries) {
      std::string reason = edited.error().message;
      co_return co_await fail(std::move(reason));
    }
    co_return co_await retry(edited.error());
  }
  if (!edited) co_return co_await retry(edited.error());

  const auto& info = edited->info;
  Photo result{ids_.next(),
               job->owner_id,
               media::blob_key(edited->bytes, media::extension(info.format)),
               std::string(media::content_type(info.format)),
               info.width,
               info.height,
               static_cast<std::int64_t>(edited->bytes.size()),
               job->photo_id};
  std::string result_key = result.blob_key;
  if (auto put = co_await blobs_.put(std::move(result_key), std::move(edited->bytes)); !put)
    co_return co_await retry(put.error());
  auto done = co_await photos_.complete_job(id, std::move(result));
  if (!done) co_return co_await retry(done.error());
  (void)co_await queue_.ack(message);
  co_return Outcome::done;
}

}  // namespace ztm::app
