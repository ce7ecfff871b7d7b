#include "app/photo_worker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "app/photo_edits.h"
#include "app/photos.h"
#include "core/log.h"

namespace ztm {
namespace {

namespace asio = boost::asio;
using asio::awaitable;

awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

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

void PhotoWorker::count(Outcome outcome, double seconds) {
  if (!metrics_) return;
  static constexpr const char* kNames[] = {"done", "failed", "retried", "skipped"};
  metrics_->counter("ztm_worker_jobs_total", "Job deliveries by outcome.",
                    {{"outcome", kNames[static_cast<int>(outcome)]}})
      .inc();
  if (outcome == Outcome::done || outcome == Outcome::failed) duration_->observe(seconds);
}

awaitable<void> PhotoWorker::run() {
  auto executor = co_await asio::this_coro::executor;
  std::atomic<int> running{options_.concurrency};
  for (int i = 0; i < options_.concurrency; ++i)
    asio::co_spawn(executor, consume(), [&running](std::exception_ptr) { --running; });
  while (running.load() > 0) co_await pause(std::chrono::milliseconds(20));
}

awaitable<void> PhotoWorker::consume() {
  while (!stopping_) {
    auto batch = co_await queue_.fetch(1, options_.fetch_wait);
    if (!batch) {
      log::warn("queue fetch failed", {{"error", batch.error().message}});
      co_await pause(std::chrono::milliseconds(500));
      continue;
    }
    for (auto& message : *batch) co_await handle(std::move(message));
  }
}

awaitable<void> PhotoWorker::handle(QueueMessage message) {
  const auto start = std::chrono::steady_clock::now();
  const Outcome outcome = co_await work(message);
  count(outcome, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

awaitable<Result<media::EditedImage>> PhotoWorker::edit_with_heartbeat(
    const QueueMessage& message, std::string source, const std::string& steps) {
  auto executor = co_await asio::this_coro::executor;
  // Heartbeats keep a long job from being redelivered to another worker meanwhile. The
  // heartbeat coroutine uses this frame's locals: it is joined (`exited`) before they go.
  std::atomic<bool> finished{false}, exited{false};
  asio::steady_timer beat(executor);
  asio::co_spawn(executor, [&]() -> awaitable<void> {
    while (!finished) {
      beat.expires_after(options_.heartbeat);
      boost::system::error_code ec;
      co_await beat.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (finished) break;
      if (auto r = co_await queue_.in_progress(message); !r)
        log::warn("job heartbeat failed", {{"message", message.id}, {"error", r.error().message}});
    }
    exited = true;
  }, asio::detached);
  const auto limits = options_.limits;
  auto edited = co_await pool_.run([&source, &steps, &limits]() -> Result<media::EditedImage> {
    boost::system::error_code ec;
    auto doc = boost::json::parse(steps, ec);
    if (ec) return Error{Errc::invalid_argument, "the job's steps are not JSON"};
    auto ops = operations_from_json(doc);
    if (!ops) return std::move(ops).error();
    return media::apply_operations(source, *ops, limits);
  });
  finished = true;
  beat.cancel();
  while (!exited) co_await pause(std::chrono::milliseconds(1));  // bounded by in_progress's timeout
  co_return edited;
}

awaitable<PhotoWorker::Outcome> PhotoWorker::work(const QueueMessage& message) {
  auto retry = [&](const Error& e) -> awaitable<Outcome> {
    log::warn("job retried", {{"message", message.id}, {"deliveries", message.deliveries},
                              {"error", e.message}});
    (void)co_await queue_.nak(message, backoff(message.deliveries));
    co_return Outcome::retried;
  };
  auto id = parse_job_message(message.payload);
  if (!id) {
    (void)co_await queue_.dead_letter(message, id.error().message);
    co_return Outcome::failed;
  }
  auto job = co_await photos_.start_job(*id);
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
    if (auto f = co_await photos_.fail_job(*id, reason); !f) co_return co_await retry(f.error());
    log::warn("job failed", {{"job", *id}, {"error", reason}});
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
  Photo result{ids_.next(), job->owner_id,
               media::blob_key(edited->bytes, media::extension(info.format)),
               std::string(media::content_type(info.format)), info.width, info.height,
               static_cast<std::int64_t>(edited->bytes.size()), job->photo_id};
  std::string result_key = result.blob_key;
  if (auto put = co_await blobs_.put(std::move(result_key), std::move(edited->bytes)); !put)
    co_return co_await retry(put.error());
  auto done = co_await photos_.complete_job(*id, std::move(result));
  if (!done) co_return co_await retry(done.error());
  (void)co_await queue_.ack(message);
  co_return Outcome::done;
}

}  // namespace ztm
