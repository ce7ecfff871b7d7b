#pragma once
// The contract of src/media/blob_store.h as a typed test suite that every BlobStore backend
// passes (removal candidates included). A backend's test instantiates it with a factory of three
// functions:
//
//   struct LocalFactory {
//     static std::string fresh();  // new, empty backing storage (a directory, a database)
//     static std::unique_ptr<ztm::media::BlobStore> open(const std::string& where);
//     // Makes the blob's "put at" time `by` earlier, as if it had been put that long ago.
//     static void backdate(const std::string& where, const std::string& key,
//                          std::chrono::seconds by);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Local, BlobStoreConformance, ::testing::Types<LocalFactory>);
//
// open() on the same storage again is what a restarted server (or another host) sees.
// Calls go through run_sync (a private io_context per call), from one thread or several at once.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/run_sync.h"
#include "media/blob_store.h"

namespace ztm::test {

// "ok" or "not_found (blob ... not found)", so failures read well.
template <class R>
std::string blob_outcome(const R& r) {
  return r.ok() ? "ok" : std::string(to_string(r.error().code)) + " (" + r.error().message + ")";
}
template <class R>
std::string blob_errc(const R& r) {
  return r.ok() ? "ok" : std::string(to_string(r.error().code));
}

// Every byte value, NULs included, in an order that depends on `seed`.
inline std::string blob_bytes(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  unsigned x = seed * 2654435761u + 1;
  for (auto& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

template <class Factory>
class BlobStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    where_ = Factory::fresh();
    store_ = Factory::open(where_);
    ASSERT_NE(store_, nullptr);
  }

  Result<void> put(const std::string& key, const std::string& bytes) {
    return run_sync(store_->put(key, bytes));
  }
  Result<std::string> get(const std::string& key) { return run_sync(store_->get(key)); }
  // True when the blob is gone; a grace time of 0 removes whatever its put time.
  Result<bool> remove(const std::string& key,
                      std::chrono::seconds unless_put_within = std::chrono::seconds(0)) {
    return run_sync(store_->remove(key, unless_put_within));
  }
  Result<std::uint64_t> size(const std::string& key) { return run_sync(store_->size(key)); }
  // The removal candidates put at least `put_before` ago (all of them by default).
  Result<std::vector<std::string>> candidates(
      std::chrono::seconds put_before = std::chrono::seconds(0),
      int limit = media::kMaxCandidates) {
    return run_sync(store_->removal_candidates(put_before, limit));
  }
  Result<void> forget(const std::string& key, std::chrono::seconds unless_put_within) {
    return run_sync(store_->forget_candidate(key, unless_put_within));
  }
  // A blob put now and kept by a removal with a grace time of ten minutes: a candidate.
  void put_and_keep(const std::string& key, const std::string& bytes) {
    ASSERT_EQ(blob_outcome(put(key, bytes)), "ok");
    const auto gone = remove(key, std::chrono::minutes(10));
    ASSERT_EQ(blob_outcome(gone), "ok");
    ASSERT_FALSE(*gone);
  }
  Result<std::string> read(const std::string& key, std::uint64_t offset, std::size_t max_bytes) {
    return run_sync(store_->read(key, offset, max_bytes));
  }
  // The whole blob through a BlobReader, checking each chunk's size on the way.
  Result<std::string> read_in_chunks(const std::string& key) {
    auto reader = run_sync(media::BlobReader::open(*store_, key));
    if (!reader) return std::move(reader).error();
    std::string all;
    while (!reader->done()) {
      auto chunk = run_sync(reader->next());
      if (!chunk) return std::move(chunk).error();
      const auto left = reader->size() - all.size();
      EXPECT_EQ(chunk->size(), std::min<std::uint64_t>(media::kBlobChunk, left));
      all += *chunk;
    }
    return all;
  }

  std::string where_;
  std::unique_ptr<media::BlobStore> store_;
};

TYPED_TEST_SUITE_P(BlobStoreConformance);

TYPED_TEST_P(BlobStoreConformance, PutThenGetRoundTripsEveryByte) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{256 * 1024}}) {
    const std::string bytes = blob_bytes(size, static_cast<unsigned>(size));
    const std::string key = media::blob_key(bytes, "png");
    ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok") << size;
    const auto got = this->get(key);
    ASSERT_EQ(blob_outcome(got), "ok") << size;
    EXPECT_EQ(*got, bytes) << size;
  }
}

TYPED_TEST_P(BlobStoreConformance, ALargeBlobRoundTrips) {
  const std::string bytes = blob_bytes(12 << 20, 3);  // a large photo
  const std::string key = media::blob_key(bytes, "jpg");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  const auto got = this->get(key);
  ASSERT_EQ(blob_outcome(got), "ok");
  EXPECT_TRUE(*got == bytes);  // not EXPECT_EQ: a failure would print 12 MB
}

TYPED_TEST_P(BlobStoreConformance, GetOfAnAbsentKeyIsNotFound) {
  EXPECT_EQ(blob_errc(this->get(media::blob_key("never stored", "jpg"))), "not_found");
}

TYPED_TEST_P(BlobStoreConformance, PuttingTheSameBlobTwiceIsANoOp) {
  const std::string bytes = blob_bytes(1000, 1);
  const std::string key = media::blob_key(bytes, "webp");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  EXPECT_EQ(blob_outcome(this->get(key)), "ok");
}

TYPED_TEST_P(BlobStoreConformance, TheSameBytesUnderAnotherExtensionAreAnotherBlob) {
  const std::string bytes = blob_bytes(100, 2);
  ASSERT_EQ(blob_outcome(this->put(media::blob_key(bytes, "jpg"), bytes)), "ok");
  EXPECT_EQ(blob_errc(this->get(media::blob_key(bytes, "png"))), "not_found");
}

TYPED_TEST_P(BlobStoreConformance, RemoveDeletesAndIsOkWhenAbsent) {
  const std::string bytes = blob_bytes(500, 4);
  const std::string key = media::blob_key(bytes, "jpg");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  auto gone = this->remove(key);
  ASSERT_EQ(blob_outcome(gone), "ok");
  EXPECT_TRUE(*gone);
  EXPECT_EQ(blob_errc(this->get(key)), "not_found");
  gone = this->remove(key, std::chrono::hours(1));  // absent: gone, whatever the grace time
  ASSERT_EQ(blob_outcome(gone), "ok");
  EXPECT_TRUE(*gone);
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");  // and it can come back
  EXPECT_EQ(blob_outcome(this->get(key)), "ok");
}

// Deleting a photo while the same bytes are uploaded (docs/media.md): an upload's put is a no-op
// for a blob that exists, so a removal must spare a blob put recently, or the upload's photo
// would be created without its bytes.
TYPED_TEST_P(BlobStoreConformance, ABlobPutWithinTheGraceTimeIsKeptAndStillReadable) {
  const std::string bytes = blob_bytes(3 * media::kBlobChunk + 7, 10);
  const std::string key = media::blob_key(bytes, "png");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  auto gone = this->remove(key, std::chrono::minutes(10));
  ASSERT_EQ(blob_outcome(gone), "ok");
  EXPECT_FALSE(*gone) << "put a moment ago: kept";
  const auto got = this->get(key);
  ASSERT_EQ(blob_outcome(got), "ok");
  EXPECT_TRUE(*got == bytes);
  const auto chunks = this->read_in_chunks(key);
  ASSERT_EQ(blob_outcome(chunks), "ok");
  EXPECT_TRUE(*chunks == bytes);
  // Put an hour ago, it goes with a grace time of ten minutes.
  TypeParam::backdate(this->where_, key, std::chrono::hours(1));
  gone = this->remove(key, std::chrono::minutes(10));
  ASSERT_EQ(blob_outcome(gone), "ok");
  EXPECT_TRUE(*gone);
  EXPECT_EQ(blob_errc(this->get(key)), "not_found");
  EXPECT_EQ(blob_errc(this->size(key)), "not_found");
}

TYPED_TEST_P(BlobStoreConformance, PuttingABlobAgainRefreshesItsPutTime) {
  const std::string bytes = blob_bytes(2000, 11);
  const std::string key = media::blob_key(bytes, "jpg");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  TypeParam::backdate(this->where_, key, std::chrono::hours(1));
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");  // the same bytes, uploaded again
  auto gone = this->remove(key, std::chrono::minutes(10));
  ASSERT_EQ(blob_outcome(gone), "ok");
  EXPECT_FALSE(*gone) << "put again a moment ago: kept";
  const auto got = this->get(key);
  ASSERT_EQ(blob_outcome(got), "ok");
  EXPECT_TRUE(*got == bytes);
  // With no grace time it goes, however recently it was put.
  gone = this->remove(key, std::chrono::seconds(0));
  ASSERT_EQ(blob_outcome(gone), "ok");
  EXPECT_TRUE(*gone);
  EXPECT_EQ(blob_errc(this->get(key)), "not_found");
}

// Removals and a put of one old blob at once: whatever the order, the put returned ok, so the
// blob is readable once every removal (each sparing blobs put within the last minute) is done.
TYPED_TEST_P(BlobStoreConformance, ABlobPutWhileItIsRemovedIsReadableAfterwards) {
  constexpr int kRounds = 20;
  const std::string bytes = blob_bytes(100 * 1024, 12);
  const std::string key = media::blob_key(bytes, "webp");
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
    TypeParam::backdate(this->where_, key, std::chrono::hours(1));  // an old blob
    std::optional<Result<void>> put;
    std::optional<Result<bool>> removed[2];
    std::latch start(3);
    std::vector<std::thread> threads;
    threads.emplace_back([&] {
      start.arrive_and_wait();
      put.emplace(this->put(key, bytes));
    });
    for (auto& r : removed)
      threads.emplace_back([&] {
        start.arrive_and_wait();
        r.emplace(this->remove(key, std::chrono::minutes(1)));
      });
    for (auto& t : threads) t.join();
    ASSERT_EQ(blob_outcome(*put), "ok") << round;
    for (const auto& r : removed) EXPECT_EQ(blob_outcome(*r), "ok") << round;
    const auto got = this->get(key);
    ASSERT_EQ(blob_outcome(got), "ok") << round;
    EXPECT_TRUE(*got == bytes) << round;
  }
}

// Removal candidates (docs/media.md, "Collecting the blobs kept by the grace rule"): a blob that
// remove() keeps is recorded, so that the collector can remove it once the grace time is over.
TYPED_TEST_P(BlobStoreConformance, ABlobKeptByRemoveBecomesARemovalCandidate) {
  using Keys = std::vector<std::string>;
  const std::string bytes = blob_bytes(700, 20);
  const std::string key = media::blob_key(bytes, "jpg");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  EXPECT_EQ(this->candidates().value(), Keys{}) << "a put alone makes no candidate";
  this->put_and_keep(key, bytes);
  EXPECT_EQ(this->candidates().value(), Keys{key});
  EXPECT_EQ(this->candidates(std::chrono::minutes(10)).value(), Keys{})
      << "put within the grace time: not yet";
  this->put_and_keep(key, bytes);  // kept twice: still one candidate
  EXPECT_EQ(this->candidates().value(), Keys{key});
  // A blob removed at once (put long ago) is no candidate.
  const std::string old_bytes = blob_bytes(800, 21);
  const std::string old_key = media::blob_key(old_bytes, "png");
  ASSERT_EQ(blob_outcome(this->put(old_key, old_bytes)), "ok");
  TypeParam::backdate(this->where_, old_key, std::chrono::hours(1));
  EXPECT_EQ(this->remove(old_key, std::chrono::minutes(10)).value(), true);
  EXPECT_EQ(this->candidates().value(), Keys{key});
}

TYPED_TEST_P(BlobStoreConformance, CandidatesOlderThanTheGraceTimeAreListedOldestFirstAndBounded) {
  using Keys = std::vector<std::string>;
  std::vector<std::string> keys;
  for (unsigned i = 0; i < 4; ++i) {
    const std::string bytes = blob_bytes(600 + i, 30 + i);
    keys.push_back(media::blob_key(bytes, "webp"));
    this->put_and_keep(keys.back(), bytes);
  }
  TypeParam::backdate(this->where_, keys[0], std::chrono::hours(3));
  TypeParam::backdate(this->where_, keys[1], std::chrono::hours(1));
  TypeParam::backdate(this->where_, keys[2], std::chrono::hours(2));  // keys[3]: put now
  EXPECT_EQ(this->candidates(std::chrono::minutes(10)).value(), (Keys{keys[0], keys[2], keys[1]}));
  EXPECT_EQ(this->candidates(std::chrono::minutes(10), 2).value(), (Keys{keys[0], keys[2]}));
  EXPECT_EQ(this->candidates(std::chrono::minutes(150)).value(), Keys{keys[0]});
  EXPECT_EQ(this->candidates().value().size(), 4u);
  EXPECT_EQ(blob_errc(this->candidates(std::chrono::seconds(0), 0)), "invalid_argument");
  EXPECT_EQ(blob_errc(this->candidates(std::chrono::seconds(0), media::kMaxCandidates + 1)),
            "invalid_argument");
}

TYPED_TEST_P(BlobStoreConformance, RemoveAfterTheGraceTimeRemovesACandidateAndItsRecord) {
  using Keys = std::vector<std::string>;
  const std::string bytes = blob_bytes(3 * media::kBlobChunk, 22);
  const std::string key = media::blob_key(bytes, "png");
  this->put_and_keep(key, bytes);
  TypeParam::backdate(this->where_, key, std::chrono::hours(1));
  const auto gone = this->remove(key, std::chrono::minutes(10));
  ASSERT_EQ(blob_outcome(gone), "ok");
  EXPECT_TRUE(*gone);
  EXPECT_EQ(blob_errc(this->get(key)), "not_found");
  EXPECT_EQ(this->candidates().value(), Keys{});
  // The same bytes put anew are a new blob, no candidate.
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  EXPECT_EQ(this->candidates().value(), Keys{});
}

// An upload of the same bytes after the listing: the pass's removal keeps the blob, which stays
// a candidate for a later pass.
TYPED_TEST_P(BlobStoreConformance, ACandidatePutAgainIsKeptByTheNextPassAndStaysACandidate) {
  using Keys = std::vector<std::string>;
  const std::string bytes = blob_bytes(900, 23);
  const std::string key = media::blob_key(bytes, "jpg");
  this->put_and_keep(key, bytes);
  TypeParam::backdate(this->where_, key, std::chrono::hours(1));
  EXPECT_EQ(this->candidates(std::chrono::minutes(10)).value(), Keys{key});  // a pass lists it
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");                      // put again
  EXPECT_EQ(this->candidates(std::chrono::minutes(10)).value(), Keys{});
  EXPECT_EQ(this->remove(key, std::chrono::minutes(10)).value(), false);
  EXPECT_EQ(this->get(key).value(), bytes);
  EXPECT_EQ(this->candidates().value(), Keys{key});
  TypeParam::backdate(this->where_, key, std::chrono::hours(1));
  EXPECT_EQ(this->remove(key, std::chrono::minutes(10)).value(), true);
  EXPECT_EQ(this->candidates().value(), Keys{});
}

// A photo holds the blob: the candidate goes, the blob stays. Not when the blob was put since:
// a removal may have kept it after the caller looked at the photos.
TYPED_TEST_P(BlobStoreConformance, ForgetDropsACandidateUnlessPutWithinTheGraceTime) {
  using Keys = std::vector<std::string>;
  const std::string bytes = blob_bytes(1000, 24);
  const std::string key = media::blob_key(bytes, "webp");
  this->put_and_keep(key, bytes);
  ASSERT_EQ(blob_outcome(this->forget(key, std::chrono::minutes(10))), "ok");
  EXPECT_EQ(this->candidates().value(), Keys{key}) << "put within the grace time: kept";
  TypeParam::backdate(this->where_, key, std::chrono::hours(1));
  ASSERT_EQ(blob_outcome(this->forget(key, std::chrono::minutes(10))), "ok");
  EXPECT_EQ(this->candidates().value(), Keys{});
  EXPECT_EQ(this->get(key).value(), bytes);
  // Forgetting what is no candidate, or absent, is ok and changes nothing.
  EXPECT_EQ(blob_outcome(this->forget(key, std::chrono::minutes(10))), "ok");
  EXPECT_EQ(blob_outcome(this->forget(media::blob_key("absent", "jpg"), std::chrono::minutes(10))),
            "ok");
  EXPECT_EQ(blob_errc(this->forget("../x", std::chrono::minutes(10))), "invalid_argument");
  EXPECT_EQ(this->get(key).value(), bytes);
}

TYPED_TEST_P(BlobStoreConformance, RemovalCandidatesSurviveReopening) {
  using Keys = std::vector<std::string>;
  const std::string bytes = blob_bytes(1100, 25);
  const std::string key = media::blob_key(bytes, "png");
  this->put_and_keep(key, bytes);
  TypeParam::backdate(this->where_, key, std::chrono::hours(1));
  this->store_.reset();  // a restarted server, or another host on the same storage
  this->store_ = TypeParam::open(this->where_);
  EXPECT_EQ(this->candidates(std::chrono::minutes(10)).value(), Keys{key});
  EXPECT_EQ(this->remove(key, std::chrono::minutes(10)).value(), true);
  EXPECT_EQ(this->candidates().value(), Keys{});
}

// A put, a removal and a forget of one old candidate at once: whatever the order, a removal that
// kept the blob left it a candidate, and the put's blob is readable.
TYPED_TEST_P(BlobStoreConformance, ABlobKeptWhileItIsPutAndForgottenIsACandidate) {
  constexpr int kRounds = 20;
  const std::string bytes = blob_bytes(50 * 1024, 26);
  const std::string key = media::blob_key(bytes, "jpg");
  int kept = 0;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
    TypeParam::backdate(this->where_, key, std::chrono::hours(1));              // an old blob
    ASSERT_EQ(blob_outcome(this->forget(key, std::chrono::seconds(0))), "ok");  // no candidate
    std::optional<Result<void>> put, forgotten;
    std::optional<Result<bool>> removed;
    std::latch start(3);
    std::thread putter([&] {
      start.arrive_and_wait();
      put.emplace(this->put(key, bytes));
    });
    std::thread remover([&] {
      start.arrive_and_wait();
      removed.emplace(this->remove(key, std::chrono::minutes(1)));
    });
    std::thread forgetter([&] {
      start.arrive_and_wait();
      forgotten.emplace(this->forget(key, std::chrono::minutes(1)));
    });
    putter.join(), remover.join(), forgetter.join();
    ASSERT_EQ(blob_outcome(*put), "ok") << round;
    ASSERT_EQ(blob_outcome(*removed), "ok") << round;
    ASSERT_EQ(blob_outcome(*forgotten), "ok") << round;
    EXPECT_EQ(this->get(key).value(), bytes) << round;
    if (!**removed) {
      ++kept;
      const auto listed = this->candidates();
      ASSERT_EQ(blob_outcome(listed), "ok");
      EXPECT_EQ(std::count(listed->begin(), listed->end(), key), 1) << round << ": kept, unlisted";
    }
  }
  // Which order each round took is up to the scheduler; the rounds only check the invariant.
  this->RecordProperty("rounds_kept", kept);
}

TYPED_TEST_P(BlobStoreConformance, MalformedKeysAreInvalidArgument) {
  const std::string good = media::blob_key("x", "jpg");
  std::string upper = good;
  upper[0] = 'A';
  for (const std::string& key :
       {std::string(""), std::string("../../etc/passwd"), good.substr(0, 64), good + "x",
        good.substr(0, 65) + "gif", upper, "/" + good.substr(1), good.substr(0, 64) + "/jpg"}) {
    EXPECT_EQ(blob_errc(this->put(key, "x")), "invalid_argument") << key;
    EXPECT_EQ(blob_errc(this->get(key)), "invalid_argument") << key;
    EXPECT_EQ(blob_errc(this->remove(key)), "invalid_argument") << key;
  }
}

TYPED_TEST_P(BlobStoreConformance, AKeyThatIsNotTheBytesHashIsRefused) {
  const std::string key = media::blob_key("the real bytes", "jpg");
  EXPECT_EQ(blob_errc(this->put(key, "other bytes")), "invalid_argument");
  EXPECT_EQ(blob_errc(this->get(key)), "not_found");
}

TYPED_TEST_P(BlobStoreConformance, ABlobSurvivesReopening) {
  const std::string bytes = blob_bytes(4096, 5);
  const std::string key = media::blob_key(bytes, "png");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  this->store_.reset();  // a restarted server, or another host on the same storage
  auto other = TypeParam::open(this->where_);
  const auto got = run_sync(other->get(key));
  ASSERT_EQ(blob_outcome(got), "ok");
  EXPECT_EQ(*got, bytes);
}

TYPED_TEST_P(BlobStoreConformance, ConcurrentPutsOfOneBlobAllSucceed) {
  // Two uploads of the same photo at once: both are ok and the blob is whole.
  constexpr int kThreads = 6;
  const std::string bytes = blob_bytes(300 * 1024, 6);
  const std::string key = media::blob_key(bytes, "jpg");
  std::vector<std::optional<Result<void>>> results(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[static_cast<std::size_t>(i)].emplace(this->put(key, bytes));
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(blob_outcome(*r), "ok");
  const auto got = this->get(key);
  ASSERT_EQ(blob_outcome(got), "ok");
  EXPECT_TRUE(*got == bytes);
}

// Streaming (GET /media): the size without the bytes, then any range of them.
TYPED_TEST_P(BlobStoreConformance, SizeAndReadAtAnOffsetReturnJustThatRange) {
  const std::string bytes = blob_bytes(200'000, 7);
  const std::string key = media::blob_key(bytes, "png");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  const auto size = this->size(key);
  ASSERT_EQ(blob_outcome(size), "ok");
  EXPECT_EQ(*size, bytes.size());
  struct Case {
    std::uint64_t offset;
    std::size_t max_bytes;
  };
  for (const Case c : {Case{0, 1}, Case{0, 65'536}, Case{65'536, 65'536}, Case{123'457, 1000},
                       Case{199'999, 10}, Case{150'000, 65'536}, Case{0, 200'000}}) {
    const auto got = this->read(key, c.offset, c.max_bytes);
    ASSERT_EQ(blob_outcome(got), "ok") << c.offset;
    EXPECT_TRUE(*got == bytes.substr(c.offset, c.max_bytes))
        << c.offset << "+" << c.max_bytes << ": " << got->size() << " bytes";
  }
  // From its end on, nothing (not an error: the blob is there).
  for (const std::uint64_t offset : {std::uint64_t{200'000}, std::uint64_t{1} << 40}) {
    const auto got = this->read(key, offset, 100);
    ASSERT_EQ(blob_outcome(got), "ok") << offset;
    EXPECT_EQ(got->size(), 0u) << offset;
  }
  const std::string empty;
  const std::string empty_key = media::blob_key(empty, "jpg");
  ASSERT_EQ(blob_outcome(this->put(empty_key, empty)), "ok");
  EXPECT_EQ(this->size(empty_key).value(), 0u);
}

TYPED_TEST_P(BlobStoreConformance, SizeAndReadOfAnAbsentOrMalformedKeyFail) {
  const std::string absent = media::blob_key("never stored", "jpg");
  EXPECT_EQ(blob_errc(this->size(absent)), "not_found");
  EXPECT_EQ(blob_errc(this->read(absent, 0, 100)), "not_found");
  EXPECT_EQ(blob_errc(this->read(absent, std::uint64_t{1} << 40, 100)), "not_found");
  EXPECT_EQ(blob_errc(this->size("../../etc/passwd")), "invalid_argument");
  EXPECT_EQ(blob_errc(this->read("../../etc/passwd", 0, 100)), "invalid_argument");
}

TYPED_TEST_P(BlobStoreConformance, ALargeBlobReadsBackInChunks) {
  const std::string bytes = blob_bytes((12 << 20) + 12'345, 8);  // not a multiple of a chunk
  const std::string key = media::blob_key(bytes, "jpg");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  const auto got = this->read_in_chunks(key);
  ASSERT_EQ(blob_outcome(got), "ok");
  EXPECT_TRUE(*got == bytes);
  EXPECT_EQ(blob_errc(this->read_in_chunks(media::blob_key("absent", "jpg"))), "not_found");
}

// A blob removed while it is streamed: the next chunk is an error, never a short or empty chunk
// a caller would loop on (the server then closes the connection).
TYPED_TEST_P(BlobStoreConformance, AChunkOfABlobRemovedMidStreamIsNotFound) {
  const std::string bytes = blob_bytes(3 * media::kBlobChunk, 9);
  const std::string key = media::blob_key(bytes, "webp");
  ASSERT_EQ(blob_outcome(this->put(key, bytes)), "ok");
  auto reader = run_sync(media::BlobReader::open(*this->store_, key));
  ASSERT_EQ(blob_outcome(reader), "ok");
  const auto first = run_sync(reader->next());
  ASSERT_EQ(blob_outcome(first), "ok");
  EXPECT_TRUE(*first == bytes.substr(0, media::kBlobChunk));
  ASSERT_EQ(blob_outcome(this->remove(key)), "ok");
  EXPECT_EQ(blob_errc(run_sync(reader->next())), "not_found");
}

REGISTER_TYPED_TEST_SUITE_P(
    BlobStoreConformance, PutThenGetRoundTripsEveryByte, ALargeBlobRoundTrips,
    GetOfAnAbsentKeyIsNotFound, PuttingTheSameBlobTwiceIsANoOp,
    TheSameBytesUnderAnotherExtensionAreAnotherBlob, RemoveDeletesAndIsOkWhenAbsent,
    ABlobPutWithinTheGraceTimeIsKeptAndStillReadable, PuttingABlobAgainRefreshesItsPutTime,
    ABlobPutWhileItIsRemovedIsReadableAfterwards, ABlobKeptByRemoveBecomesARemovalCandidate,
    CandidatesOlderThanTheGraceTimeAreListedOldestFirstAndBounded,
    RemoveAfterTheGraceTimeRemovesACandidateAndItsRecord,
    ACandidatePutAgainIsKeptByTheNextPassAndStaysACandidate,
    ForgetDropsACandidateUnlessPutWithinTheGraceTime, RemovalCandidatesSurviveReopening,
    ABlobKeptWhileItIsPutAndForgottenIsACandidate, MalformedKeysAreInvalidArgument,
    AKeyThatIsNotTheBytesHashIsRefused, ABlobSurvivesReopening, ConcurrentPutsOfOneBlobAllSucceed,
    SizeAndReadAtAnOffsetReturnJustThatRange, SizeAndReadOfAnAbsentOrMalformedKeyFail,
    ALargeBlobReadsBackInChunks, AChunkOfABlobRemovedMidStreamIsNotFound);

}  // namespace ztm::test
