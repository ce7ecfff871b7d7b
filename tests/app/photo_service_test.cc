// PhotoService: a photo deleted while the same bytes are uploaded (security issue 13, low). Blobs
// are content-addressed, so the upload's put is a no-op for bytes that exist, and the deletion's
// blob_in_use cannot see a photo that is not created yet. The steps of both are interleaved
// deterministically by wrappers of the store and the blob store (the in-memory store, a real
// LocalBlobStore, real libvips): whatever the order, the photo that survives has its bytes. The
// blob collector's passes (collect_blobs) interleave with both the same way, and remove what the
// grace rule kept once a manual clock has moved past the grace time.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>

#include "app/blob_collector.h"
#include "app/photos.h"
#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "media/local/local_blob_store.h"
#include "tests/support/memory_store.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_images.h"

namespace ztm::app {
namespace {

using boost::asio::awaitable;
using storage::Photo;

// A small JPEG (libvips started first, through the code under test).
std::string test_jpeg() {
  test::start_vips();
  return test::encode(test::noise(64, 48), media::Format::jpeg);
}

template <class R>
std::string errc(const R& r) {
  return r.ok() ? "ok" : std::string(to_string(r.error().code)) + " (" + r.error().message + ")";
}

// Runs `before_create` (once) in place of the next create_photo's start: the step of another
// request that falls between an upload's put and its photo.
class HookedStore final : public storage::DatabaseWrapper {
 public:
  using storage::DatabaseWrapper::DatabaseWrapper;
  std::function<awaitable<void>(Photo)> before_create;

  awaitable<Result<Photo>> create_photo(Photo photo) override {
    if (auto hook = std::exchange(before_create, nullptr)) {
      auto step = hook(photo);
      co_await std::move(step);
      if (created) co_return *std::exchange(created, std::nullopt);  // the hook created it
    }
    co_return co_await target().create_photo(std::move(photo));
  }
  std::optional<Result<Photo>> created;

  // The next blob_in_use fails with this (once).
  std::optional<Error> blob_in_use_fails;
  awaitable<Result<bool>> blob_in_use(std::string blob_key) override {
    if (auto error = std::exchange(blob_in_use_fails, std::nullopt)) co_return *error;
    co_return co_await target().blob_in_use(std::move(blob_key));
  }
};

// Runs `before_remove` (once) before the next remove reaches the store, and `before_forget`
// (once) before the next forget_candidate does.
class HookedBlobs final : public media::BlobStoreWrapper {
 public:
  using media::BlobStoreWrapper::BlobStoreWrapper;
  std::function<awaitable<void>()> before_remove;
  std::function<awaitable<void>()> before_forget;

  awaitable<Result<bool>> remove(std::string key, std::chrono::seconds within) override {
    if (auto hook = std::exchange(before_remove, nullptr)) {
      auto step = hook();
      co_await std::move(step);
    }
    co_return co_await target().remove(std::move(key), within);
  }
  awaitable<Result<void>> forget_candidate(std::string key, std::chrono::seconds within) override {
    if (auto hook = std::exchange(before_forget, nullptr)) {
      auto step = hook();
      co_await std::move(step);
    }
    co_return co_await target().forget_candidate(std::move(key), within);
  }
};

class DeleteWhileUploadingTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  test::MemoryStore memory;
  HookedStore store{memory};
  ManualClock clock;  // the blobs' put times
  media::LocalBlobStore local{{.dir = dir.file("media"), .clock = &clock}};
  HookedBlobs blobs{local};
  IdGenerator ids{1};
  PhotoService photos{store, blobs, ids, PhotoOptions{}};  // the default grace time
  const Principal owner{12, "user"};
  const std::string image = test_jpeg();

  Result<Photo> upload() { return run_sync(photos.upload(owner, 12, image)); }
  // The photo's bytes, streamed as GET /media would.
  Result<std::string> bytes_of(const Photo& photo) {
    auto reader = run_sync(photos.media(photo.blob_key));
    if (!reader) return std::move(reader).error();
    std::string all;
    while (!reader->done()) {
      auto chunk = run_sync(reader->next());
      if (!chunk) return std::move(chunk).error();
      all += *chunk;
    }
    return all;
  }
  void expect_only_survivor(const Photo& gone, const Photo& survivor) {
    EXPECT_EQ(gone.blob_key, survivor.blob_key) << "the same bytes: one blob";
    EXPECT_EQ(errc(run_sync(photos.get(gone.id))), "not_found (no such photo)");
    ASSERT_EQ(errc(run_sync(photos.get(survivor.id))), "ok");
    const auto bytes = bytes_of(survivor);
    ASSERT_EQ(errc(bytes), "ok") << "the surviving photo lost its bytes";
    EXPECT_EQ(static_cast<std::int64_t>(bytes->size()), survivor.bytes);
  }
};

// The issue's order: upload put (a no-op: the blob exists) -> delete: row deleted, blob_in_use
// false -> upload: create_photo -> delete: blob removed.
TEST_F(DeleteWhileUploadingTest, ThePhotoCreatedBetweenTheChecksAndTheRemovalKeepsItsBytes) {
  const auto first = upload();
  ASSERT_EQ(errc(first), "ok");
  std::optional<Photo> pending;  // the second upload's photo, held at create_photo
  store.before_create = [&](Photo photo) -> awaitable<void> {
    pending = photo;
    auto removed = co_await photos.remove(owner, first->id);
    EXPECT_EQ(errc(removed), "ok");
  };
  blobs.before_remove = [&]() -> awaitable<void> {
    // The deletion has checked blob_in_use; now the upload creates its photo.
    EXPECT_TRUE(pending);
    if (!pending) co_return;
    store.created = co_await memory.create_photo(*pending);
  };
  const auto second = upload();
  ASSERT_EQ(errc(second), "ok");
  expect_only_survivor(*first, *second);
}

// The deletion runs whole between the upload's put and its create_photo.
TEST_F(DeleteWhileUploadingTest, APhotoDeletedBetweenThePutAndTheCreateLeavesItsBytes) {
  const auto first = upload();
  ASSERT_EQ(errc(first), "ok");
  store.before_create = [&](Photo) -> awaitable<void> {
    auto removed = co_await photos.remove(owner, first->id);
    EXPECT_EQ(errc(removed), "ok");
  };
  const auto second = upload();
  ASSERT_EQ(errc(second), "ok");
  expect_only_survivor(*first, *second);
}

// The upload runs whole between the deletion's blob_in_use and its removal.
TEST_F(DeleteWhileUploadingTest, AnUploadBetweenTheCheckAndTheRemovalKeepsItsBytes) {
  const auto first = upload();
  ASSERT_EQ(errc(first), "ok");
  std::optional<Result<Photo>> second;
  blobs.before_remove = [&]() -> awaitable<void> {
    second = co_await photos.upload(owner, 12, image);
  };
  ASSERT_EQ(errc(run_sync(photos.remove(owner, first->id))), "ok");
  ASSERT_TRUE(second);
  ASSERT_EQ(errc(*second), "ok");
  expect_only_survivor(*first, **second);
}

// The blob collector (PhotoService::collect_blobs): the bytes a deletion kept by the grace rule
// go at the first pass after the grace time, unless a photo holds them by then. The same
// fixture: the steps of a pass interleave with uploads and deletions through the same wrappers.
class CollectBlobsTest : public DeleteWhileUploadingTest {
 protected:
  static constexpr auto kGrace = PhotoOptions{}.blob_remove_grace;
  // One pass: "removed/kept/in_use/failed".
  std::string pass() {
    const auto done = run_sync(photos.collect_blobs(100));
    if (!done) return errc(done);
    return fmt::format("{}/{}/{}/{}", done->removed, done->kept, done->in_use, done->failed);
  }
  std::string blob(const Photo& photo) { return errc(run_sync(local.size(photo.blob_key))); }
  // A photo uploaded and deleted at once: its bytes kept, a removal candidate.
  Photo uploaded_and_deleted() {
    auto photo = upload();
    EXPECT_EQ(errc(photo), "ok");
    EXPECT_EQ(errc(run_sync(photos.remove(owner, photo->id))), "ok");
    EXPECT_EQ(blob(*photo), "ok") << "put a moment ago: kept";
    return *photo;
  }
};

TEST_F(CollectBlobsTest, TheBytesOfAPhotoDeletedWithinTheGraceTimeGoAtTheFirstPassAfterIt) {
  const Photo photo = uploaded_and_deleted();
  EXPECT_EQ(pass(), "0/0/0/0");
  clock.advance(kGrace - std::chrono::seconds(1));
  EXPECT_EQ(pass(), "0/0/0/0") << "a second before the grace time is over";
  EXPECT_EQ(blob(photo), "ok");
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(pass(), "1/0/0/0");
  EXPECT_EQ(blob(photo).substr(0, 9), "not_found");
  EXPECT_EQ(errc(run_sync(photos.media(photo.blob_key))).substr(0, 9), "not_found");
  EXPECT_EQ(pass(), "0/0/0/0") << "nothing left to collect";
}

// Another photo of the same bytes, uploaded after the deletion: the pass keeps them and forgets
// the candidate; the bytes go with that photo's own deletion.
TEST_F(CollectBlobsTest, APassNeverRemovesABlobAPhotoHolds) {
  const Photo first = uploaded_and_deleted();
  const auto second = upload();
  ASSERT_EQ(errc(second), "ok");
  clock.advance(kGrace + std::chrono::seconds(1));
  EXPECT_EQ(pass(), "0/0/1/0");
  expect_only_survivor(first, *second);
  EXPECT_EQ(pass(), "0/0/0/0") << "no longer a candidate";
  ASSERT_EQ(errc(run_sync(photos.remove(owner, second->id))), "ok");
  EXPECT_EQ(blob(*second).substr(0, 9), "not_found") << "put long ago: removed at once";
}

// An upload of the same bytes runs whole between the pass's blob_in_use and its removal: the
// removal sees the fresh put time and keeps the bytes; a later pass finds the photo.
TEST_F(CollectBlobsTest, AnUploadBetweenThePassesCheckAndItsRemovalKeepsItsBytes) {
  const Photo first = uploaded_and_deleted();
  clock.advance(kGrace + std::chrono::seconds(1));
  std::optional<Result<Photo>> second;
  blobs.before_remove = [&]() -> awaitable<void> {
    second = co_await photos.upload(owner, 12, image);
  };
  EXPECT_EQ(pass(), "0/1/0/0");
  ASSERT_TRUE(second);
  ASSERT_EQ(errc(*second), "ok");
  expect_only_survivor(first, **second);
  clock.advance(kGrace + std::chrono::seconds(1));
  EXPECT_EQ(pass(), "0/0/1/0");
  expect_only_survivor(first, **second);
}

// Between the pass's blob_in_use (a photo holds the bytes) and its forget, that photo is deleted
// right after an upload of the same bytes whose photo is deleted too: that last deletion kept
// the bytes (put a moment ago), and the forget must not take its candidate away.
TEST_F(CollectBlobsTest, ADeletionBetweenThePassesCheckAndItsForgetLeavesACandidate) {
  const Photo first = uploaded_and_deleted();
  const auto holder = upload();
  ASSERT_EQ(errc(holder), "ok");
  clock.advance(kGrace + std::chrono::seconds(1));
  blobs.before_forget = [&]() -> awaitable<void> {
    auto again = co_await photos.upload(owner, 12, image);
    EXPECT_EQ(errc(again), "ok");
    auto removed = co_await photos.remove(owner, holder->id);
    EXPECT_EQ(errc(removed), "ok");
    if (!again) co_return;
    removed = co_await photos.remove(owner, again->id);
    EXPECT_EQ(errc(removed), "ok");
  };
  EXPECT_EQ(pass(), "0/0/1/0");
  EXPECT_EQ(blob(first), "ok") << "kept by the last deletion";
  clock.advance(kGrace + std::chrono::seconds(1));
  EXPECT_EQ(pass(), "1/0/0/0") << "the candidate survived the forget";
  EXPECT_EQ(blob(first).substr(0, 9), "not_found");
}

// Two servers' passes at once (the second runs whole inside the first): both succeed, the bytes
// go, nothing is left.
TEST_F(CollectBlobsTest, TwoPassesAtOnceBothSucceedAndTheBytesGo) {
  const Photo photo = uploaded_and_deleted();
  clock.advance(kGrace + std::chrono::seconds(1));
  std::optional<Result<BlobCollection>> other;
  blobs.before_remove = [&]() -> awaitable<void> { other = co_await photos.collect_blobs(100); };
  EXPECT_EQ(pass(), "1/0/0/0");  // gone: removed by the other pass
  ASSERT_TRUE(other);
  ASSERT_EQ(errc(*other), "ok");
  EXPECT_EQ((*other)->removed, 1);
  EXPECT_EQ(blob(photo).substr(0, 9), "not_found");
  EXPECT_EQ(pass(), "0/0/0/0");
}

// The photo store fails the check: the candidate stays, and the next pass removes it.
TEST_F(CollectBlobsTest, ACandidateWhoseCheckFailsStaysForTheNextPass) {
  const Photo photo = uploaded_and_deleted();
  clock.advance(kGrace + std::chrono::seconds(1));
  store.blob_in_use_fails = Error{Errc::unavailable, "the database is down"};
  EXPECT_EQ(pass(), "0/0/0/1");
  EXPECT_EQ(blob(photo), "ok");
  EXPECT_EQ(pass(), "1/0/0/0");
  EXPECT_EQ(blob(photo).substr(0, 9), "not_found");
}

// The node's background loop counts each pass's outcomes in /metrics.
TEST_F(CollectBlobsTest, TheCollectorCountsOutcomesInTheMetrics) {
  MetricsRegistry metrics;
  BlobCollector collector(photos, &metrics, {});
  (void)uploaded_and_deleted();
  const auto second = upload();  // the same bytes again: a photo holds them
  ASSERT_EQ(errc(second), "ok");
  clock.advance(kGrace + std::chrono::seconds(1));
  ASSERT_EQ(errc(run_sync(collector.collect_once())), "ok");
  const std::string text = metrics.render();
  EXPECT_NE(text.find(R"(ztm_blob_collector_candidates_total{outcome="in_use"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(ztm_blob_collector_candidates_total{outcome="removed"} 0)"),
            std::string::npos)
      << text;
}

// Without a concurrent upload, the bytes of a deleted photo go once the grace time has passed
// (here: none), and stay while another photo uses them.
TEST(PhotoServiceRemove, BytesGoWithTheirLastPhotoWhenNotPutRecently) {
  test::TempDir dir;
  test::MemoryStore store;
  media::LocalBlobStore blobs({.dir = dir.file("media")});
  IdGenerator ids{1};
  PhotoService photos{store, blobs, ids,
                      PhotoOptions{.blob_remove_grace = std::chrono::seconds(0)}};
  const Principal owner{12, "user"};
  const std::string image = test_jpeg();
  const auto a = run_sync(photos.upload(owner, 12, image));
  const auto b = run_sync(photos.upload(owner, 12, image));
  ASSERT_EQ(errc(a), "ok");
  ASSERT_EQ(errc(b), "ok");
  ASSERT_EQ(errc(run_sync(photos.remove(owner, a->id))), "ok");
  EXPECT_EQ(errc(run_sync(blobs.size(b->blob_key))), "ok") << "b still uses them";
  ASSERT_EQ(errc(run_sync(photos.remove(owner, b->id))), "ok");
  EXPECT_EQ(errc(run_sync(blobs.size(b->blob_key))).substr(0, 9), "not_found");
}

}  // namespace
}  // namespace ztm::app
