// LocalBlobStore: the shared conformance suite, and what only a directory shows (the layout, no
// temporary file left behind, a start-up error for a path that cannot be a directory).
#include "media/local/local_blob_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "tests/media/blob_store_conformance.h"

namespace ztm::media {
namespace {

namespace fs = std::filesystem;

// One directory per test binary under /tmp, removed when the binary exits.
class TempRoot {
 public:
  TempRoot() {
    std::string templ = (fs::temp_directory_path() / "ztm-blobs-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempRoot(const TempRoot&) = delete;
  TempRoot& operator=(const TempRoot&) = delete;

  // A new sub-directory name (not created: the store creates it).
  std::string fresh() { return (path_ / std::to_string(next_++)).string(); }

 private:
  fs::path path_;
  int next_ = 0;
};

TempRoot& temp_root() {
  static TempRoot root;
  return root;
}

struct LocalFactory {
  static std::string fresh() { return temp_root().fresh(); }
  static std::unique_ptr<BlobStore> open(const std::string& dir) {
    return std::make_unique<LocalBlobStore>(LocalBlobStoreOptions{.dir = dir});
  }
  // The "put at" time of a file is its mtime.
  static void backdate(const std::string& dir, const std::string& key, std::chrono::seconds by) {
    const fs::path file = fs::path(dir) / key.substr(0, 2) / key;
    fs::last_write_time(file, fs::last_write_time(file) - by);
  }
};

}  // namespace
}  // namespace ztm::media

namespace ztm::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Local, BlobStoreConformance, ::testing::Types<media::LocalFactory>);
}  // namespace ztm::test

namespace ztm::media {
namespace {

TEST(LocalBlobStore, StoresABlobAsOneFileUnderItsPrefixAndNothingElse) {
  const std::string dir = LocalFactory::fresh();
  LocalBlobStore store({.dir = dir});
  const std::string key = blob_key("photo bytes", "jpg");
  ASSERT_TRUE(run_sync(store.put(key, "photo bytes")).ok());
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), dir).string());
  EXPECT_EQ(files, (std::vector<std::string>{key.substr(0, 2) + "/" + key}));
  EXPECT_EQ(fs::file_size(fs::path(dir) / key.substr(0, 2) / key), 11u);
}

// A removal leaves nothing but the blob or nothing (no file set aside that a crash could
// strand), and a put of an existing blob touches it without writing another file.
TEST(LocalBlobStore, PutAgainAndRemoveLeaveNoOtherFile) {
  const std::string dir = LocalFactory::fresh();
  LocalBlobStore store({.dir = dir});
  const std::string key = blob_key("photo bytes", "jpg");
  const fs::path file = fs::path(dir) / key.substr(0, 2) / key;
  ASSERT_TRUE(run_sync(store.put(key, "photo bytes")).ok());
  LocalFactory::backdate(dir, key, std::chrono::hours(1));
  const auto old_time = fs::last_write_time(file);
  ASSERT_TRUE(run_sync(store.put(key, "photo bytes")).ok());
  EXPECT_GT(fs::last_write_time(file), old_time) << "put again: the put time is now";
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::minutes(10))).value(), false);
  auto files = [&] {
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) found.push_back(e.path().filename().string());
    return found;
  };
  // Kept: the blob, and its removal candidate's empty marker.
  EXPECT_EQ(files(), (std::vector<std::string>{key, key}));
  EXPECT_EQ(fs::file_size(fs::path(dir) / ".pending" / key), 0u);
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::seconds(0))).value(), true);
  EXPECT_EQ(files(), std::vector<std::string>{});
}

// A removal cut short by a crash after the blob's unlink leaves the marker: listed (as old as
// can be), and dropped by the next removal, which finds the blob absent.
TEST(LocalBlobStore, AMarkerWhoseBlobIsGoneIsListedAndDroppedByTheNextRemoval) {
  const std::string dir = LocalFactory::fresh();
  LocalBlobStore store({.dir = dir});
  const std::string key = blob_key("photo bytes", "jpg");
  ASSERT_TRUE(run_sync(store.put(key, "photo bytes")).ok());
  ASSERT_EQ(run_sync(store.remove(key, std::chrono::minutes(10))).value(), false);
  fs::remove(fs::path(dir) / key.substr(0, 2) / key);  // the crash: blob gone, marker left
  EXPECT_EQ(run_sync(store.removal_candidates(std::chrono::hours(24), 10)).value(),
            std::vector<std::string>{key});
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::minutes(10))).value(), true);
  EXPECT_EQ(run_sync(store.removal_candidates(std::chrono::seconds(0), 10)).value(),
            std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(fs::path(dir) / ".pending" / key));
}

// The put time is the store's clock (a test's manual clock), written as the file's mtime.
TEST(LocalBlobStore, PutTimesComeFromTheStoresClock) {
  ManualClock clock;
  const std::string dir = LocalFactory::fresh();
  LocalBlobStore store({.dir = dir, .clock = &clock});
  const std::string key = blob_key("photo bytes", "jpg");
  ASSERT_TRUE(run_sync(store.put(key, "photo bytes")).ok());
  EXPECT_EQ(fs::last_write_time(fs::path(dir) / key.substr(0, 2) / key).time_since_epoch(),
            std::chrono::file_clock::from_sys(clock.now()).time_since_epoch());
  clock.advance(std::chrono::minutes(9));
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::minutes(10))).value(), false);
  EXPECT_EQ(run_sync(store.removal_candidates(std::chrono::minutes(10), 10)).value(),
            std::vector<std::string>{});
  clock.advance(std::chrono::minutes(1));
  EXPECT_EQ(run_sync(store.removal_candidates(std::chrono::minutes(10), 10)).value(),
            std::vector<std::string>{key});
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::minutes(10))).value(), true);
}

TEST(LocalBlobStore, APathThatCannotBeADirectoryIsAStartUpError) {
  const std::string file = LocalFactory::fresh();
  { std::ofstream(file) << "not a directory"; }
  EXPECT_THROW(LocalBlobStore({.dir = file}), std::runtime_error);
  EXPECT_THROW(LocalBlobStore({.dir = file + "/below"}), std::runtime_error);
}

}  // namespace
}  // namespace ztm::media
