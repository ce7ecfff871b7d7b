// PhotoService: a photo deleted while the same bytes are uploaded (security issue 13, low). Blobs
// are content-addressed, so the upload's put is a no-op for bytes that exist, and the deletion's
// blob_in_use cannot see a photo that is not created yet. The steps of both are interleaved
// deterministically by wrappers of the store and the blob store (the in-memory store, a real
// LocalBlobStore, real libvips): whatever the order, the photo that survives has its bytes.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>

#include "app/photos.h"
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
};

// Runs `before_remove` (once) before the next remove reaches the store.
class HookedBlobs final : public media::BlobStoreWrapper {
 public:
  using media::BlobStoreWrapper::BlobStoreWrapper;
  std::function<awaitable<void>()> before_remove;

  awaitable<Result<bool>> remove(std::string key, std::chrono::seconds within) override {
    if (auto hook = std::exchange(before_remove, nullptr)) {
      auto step = hook();
      co_await std::move(step);
    }
    co_return co_await target().remove(std::move(key), within);
  }
};

class DeleteWhileUploadingTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  test::MemoryStore memory;
  HookedStore store{memory};
  media::LocalBlobStore local{{.dir = dir.file("media")}};
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

// The order: upload put (a no-op: the blob exists) -> delete: row deleted, blob_in_use
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
