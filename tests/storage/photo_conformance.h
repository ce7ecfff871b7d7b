#pragma once
// The contract of src/storage/photo_store.h as a typed suite beside StoreConformance; every
// backend that implements PhotoStore instantiates it with its store factory:
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, PhotoConformance, ::testing::Types<SqliteFactory>);

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "storage/photo_store.h"
#include "tests/storage/store_conformance.h"

namespace ztm::test {

template <class Factory>
class PhotoConformance : public StoreConformance<Factory> {
 protected:
  void SetUp() override {
    StoreConformance<Factory>::SetUp();
    photos_ = dynamic_cast<storage::PhotoStore*>(this->store_.get());
    ASSERT_NE(photos_, nullptr) << "the store does not implement PhotoStore";
    ASSERT_EQ(outcome(this->create(sample_user(1))), "ok");
  }
  static storage::Photo photo(storage::PhotoId id, std::string key = std::string(64, 'a') + ".jpg",
                              storage::PhotoId source = 0) {
    return storage::Photo{id, 1, std::move(key), "image/jpeg", 4000, 3000, 5'800'000, source};
  }
  static storage::Job job(storage::JobId id, storage::PhotoId photo_id = 10) {
    return storage::Job{id, photo_id, 1, R"([{"op":"blur","sigma":2}])", storage::JobStatus::queued,
                        0,  "",       0};
  }
  storage::PhotoStore& p() { return *photos_; }
  Result<storage::Job> get_job(storage::JobId id) { return run_sync(photos_->get_job(id)); }
  std::vector<storage::OutboxMessage> outbox(int limit = 1000) {
    auto r = run_sync(photos_->outbox_batch(limit));
    EXPECT_EQ(outcome(r), "ok");
    return r.ok() ? *r : std::vector<storage::OutboxMessage>{};
  }
  // The outbox's messages of one topic, in order.
  std::vector<storage::OutboxMessage> outbox_of(const std::string& topic) {
    auto all = outbox();
    std::erase_if(all, [&topic](const auto& m) { return m.topic != topic; });
    return all;
  }
  // The "change" messages as JSON, each user's in the order they committed (photo_store.h: a
  // sharded store keeps no order between users), and the outbox emptied.
  std::vector<boost::json::value> take_changes() {
    std::vector<boost::json::value> out;
    std::vector<std::int64_t> ids;
    for (const auto& m : outbox()) {
      ids.push_back(m.id);
      if (m.topic == "change") out.push_back(boost::json::parse(m.payload));
    }
    EXPECT_EQ(outcome(run_sync(photos_->outbox_delete(std::move(ids)))), "ok");
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return owner_of(a) < owner_of(b); });
    return out;
  }
  static std::int64_t owner_of(const boost::json::value& change) {
    const auto& o = change.as_object();
    const auto* owner = o.if_contains("owner");
    return (owner ? *owner : o.at("user")).to_number<std::int64_t>();
  }
  storage::PhotoStore* photos_ = nullptr;
};

TYPED_TEST_SUITE_P(PhotoConformance);

TYPED_TEST_P(PhotoConformance, PhotosRoundTripAndDeleteReportsSharedBlobs) {
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(this->photo(10)))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(this->photo(11)))), "ok");  // same bytes
  auto other = this->photo(12, std::string(64, 'b') + ".png", 10);
  other.content_type = "image/png";
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(other))), "ok");
  EXPECT_EQ(errc(run_sync(this->p().create_photo(this->photo(10)))), "conflict");
  auto got = run_sync(this->p().get_photo(12));
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(*got, other);
  auto first = run_sync(this->p().delete_photo(10));
  ASSERT_EQ(outcome(first), "ok");
  EXPECT_EQ(first->blob_key, std::string(64, 'a') + ".jpg");
  EXPECT_TRUE(first->blob_in_use) << "photo 11 still uses the blob";
  EXPECT_TRUE(*run_sync(this->p().blob_in_use(first->blob_key)));
  auto second = run_sync(this->p().delete_photo(11));
  ASSERT_EQ(outcome(second), "ok");
  EXPECT_FALSE(second->blob_in_use);
  EXPECT_FALSE(*run_sync(this->p().blob_in_use(first->blob_key)));
  EXPECT_TRUE(*run_sync(this->p().blob_in_use(other.blob_key)));
  EXPECT_EQ(errc(run_sync(this->p().get_photo(10))), "not_found");
  EXPECT_EQ(errc(run_sync(this->p().delete_photo(10))), "not_found");
}

TYPED_TEST_P(PhotoConformance, EachJobCommitsWithOneOutboxMessage) {
  ASSERT_EQ(outcome(run_sync(this->p().create_job(this->job(100), "payload-100"))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().create_job(this->job(101), "payload-101"))), "ok");
  EXPECT_EQ(errc(run_sync(this->p().create_job(this->job(100), "again"))), "conflict");
  auto all = this->outbox_of("jobs");
  ASSERT_EQ(all.size(), 2u) << "a refused job leaves no message";
  EXPECT_EQ(all[0].payload, "payload-100");
  EXPECT_EQ(all[1].payload, "payload-101");
  EXPECT_LT(all[0].id, all[1].id);
  EXPECT_EQ(this->outbox(1).size(), 1u);
  ASSERT_EQ(outcome(run_sync(this->p().outbox_delete({all[0].id, 999'999}))), "ok");
  auto rest = this->outbox_of("jobs");
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].payload, "payload-101");
  auto j = this->get_job(100);
  ASSERT_EQ(outcome(j), "ok");
  EXPECT_EQ(*j, this->job(100));
  EXPECT_EQ(errc(this->get_job(7)), "not_found");
}

TYPED_TEST_P(PhotoConformance, AJobRunsToOneResultAndStaysDone) {
  ASSERT_EQ(outcome(run_sync(this->p().create_job(this->job(100), "p"))), "ok");
  auto started = run_sync(this->p().start_job(100));
  ASSERT_EQ(outcome(started), "ok");
  EXPECT_EQ(started->status, storage::JobStatus::running);
  EXPECT_EQ(started->attempts, 1);
  EXPECT_EQ(run_sync(this->p().start_job(100))->attempts, 2);  // a redelivery
  auto done =
      run_sync(this->p().complete_job(100, this->photo(20, std::string(64, 'c') + ".jpg", 10)));
  ASSERT_EQ(outcome(done), "ok");
  EXPECT_EQ(done->status, storage::JobStatus::done);
  EXPECT_EQ(done->result_photo_id, 20);
  EXPECT_EQ(run_sync(this->p().get_photo(20))->source_id, 10);
  // Final: a second completion (a redelivered message) makes no second photo.
  auto again = run_sync(this->p().complete_job(100, this->photo(21)));
  ASSERT_EQ(outcome(again), "ok");
  EXPECT_EQ(again->result_photo_id, 20);
  EXPECT_EQ(errc(run_sync(this->p().get_photo(21))), "not_found");
  EXPECT_EQ(run_sync(this->p().start_job(100))->status, storage::JobStatus::done);
  EXPECT_EQ(run_sync(this->p().fail_job(100, "late"))->status, storage::JobStatus::done);
  EXPECT_EQ(this->get_job(100)->attempts, 2);
  EXPECT_EQ(errc(run_sync(this->p().start_job(7))), "not_found");
  EXPECT_EQ(errc(run_sync(this->p().complete_job(7, this->photo(22)))), "not_found");
}

TYPED_TEST_P(PhotoConformance, AFailedJobKeepsItsReasonAndTakesNoResult) {
  ASSERT_EQ(outcome(run_sync(this->p().create_job(this->job(100), "p"))), "ok");
  auto failed = run_sync(this->p().fail_job(100, "source does not decode"));
  ASSERT_EQ(outcome(failed), "ok");
  EXPECT_EQ(failed->status, storage::JobStatus::failed);
  EXPECT_EQ(failed->error, "source does not decode");
  EXPECT_EQ(run_sync(this->p().complete_job(100, this->photo(20)))->status,
            storage::JobStatus::failed);
  EXPECT_EQ(errc(run_sync(this->p().get_photo(20))), "not_found");
}

TYPED_TEST_P(PhotoConformance, ConcurrentCompletionsMakeOneResult) {
  ASSERT_EQ(outcome(run_sync(this->p().create_job(this->job(100), "p"))), "ok");
  constexpr int kRacers = 8;
  auto results = this->template race<Result<storage::Job>>(kRacers, [this](int i) {
    return run_sync(this->p().complete_job(100, this->photo(200 + i)));
  });
  storage::PhotoId winner = 0;
  for (const auto& r : results) {
    ASSERT_EQ(outcome(*r), "ok");
    EXPECT_EQ((*r)->status, storage::JobStatus::done);
    if (winner == 0) winner = (*r)->result_photo_id;
    EXPECT_EQ((*r)->result_photo_id, winner);
  }
  int stored = 0;
  for (int i = 0; i < kRacers; ++i) stored += run_sync(this->p().get_photo(200 + i)).ok();
  EXPECT_EQ(stored, 1);
}

// The basis of the per-user quotas: every photo a user owns (uploads and edit results, a shared
// blob counted per photo), and their jobs that are queued or running, not done or failed.
TYPED_TEST_P(PhotoConformance, UsageCountsAUsersPhotosBytesAndJobsInFlight) {
  auto usage = [this](UserId owner) {
    auto r = run_sync(this->p().photo_usage(owner));
    EXPECT_EQ(outcome(r), "ok");
    return r.ok() ? *r : storage::PhotoUsage{-1, -1, -1};
  };
  EXPECT_EQ(usage(1), (storage::PhotoUsage{0, 0, 0}));
  ASSERT_EQ(outcome(this->create(sample_user(2, "b"))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(this->photo(10)))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(this->photo(11)))), "ok");  // same blob
  auto theirs = this->photo(12, std::string(64, 'b') + ".png");
  theirs.owner_id = 2;
  theirs.bytes = 1234;
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(theirs))), "ok");
  for (storage::JobId id : {100, 101, 102, 103})
    ASSERT_EQ(outcome(run_sync(this->p().create_job(this->job(id), "p"))), "ok");
  auto their_job = this->job(104, 12);
  their_job.owner_id = 2;
  ASSERT_EQ(outcome(run_sync(this->p().create_job(their_job, "p"))), "ok");
  EXPECT_EQ(usage(1), (storage::PhotoUsage{2, 2 * 5'800'000, 4}));
  ASSERT_EQ(outcome(run_sync(this->p().start_job(101))), "ok");  // running: still in flight
  auto result = this->photo(20, std::string(64, 'c') + ".jpg", 10);
  result.bytes = 1'000'000;
  ASSERT_EQ(outcome(run_sync(this->p().complete_job(102, result))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().fail_job(103, "bad"))), "ok");
  EXPECT_EQ(usage(1), (storage::PhotoUsage{3, 2 * 5'800'000 + 1'000'000, 2}));
  EXPECT_EQ(usage(2), (storage::PhotoUsage{1, 1234, 1}));
  EXPECT_EQ(usage(424242), (storage::PhotoUsage{0, 0, 0}));
  ASSERT_EQ(outcome(run_sync(this->p().delete_photo(10))), "ok");
  EXPECT_EQ(usage(1), (storage::PhotoUsage{2, 5'800'000 + 1'000'000, 2}));
}

// A gallery's pages: one owner's photos by id, after a cursor, with `more` exact at the edge.
TYPED_TEST_P(PhotoConformance, PhotoPagesListOneOwnersPhotosInIdOrder) {
  ASSERT_EQ(outcome(this->create(sample_user(2, "b"))), "ok");
  for (storage::PhotoId id : {15, 11, 13, 12, 14}) {
    auto p = this->photo(id);
    p.owner_id = id == 12 ? 2 : 1;  // 12 is someone else's
    ASSERT_EQ(outcome(run_sync(this->p().create_photo(p))), "ok");
  }
  auto ids = [this](UserId owner, storage::PhotoId after, int limit, bool more) {
    auto r = run_sync(this->p().list_photos(owner, after, limit));
    EXPECT_EQ(outcome(r), "ok");
    std::vector<storage::PhotoId> out;
    if (!r.ok()) return out;
    EXPECT_EQ(r->more, more) << "after " << after << " limit " << limit;
    for (const auto& p : r->photos) out.push_back(p.id);
    return out;
  };
  using Ids = std::vector<storage::PhotoId>;
  EXPECT_EQ(ids(1, 0, 2, true), (Ids{11, 13}));
  EXPECT_EQ(ids(1, 13, 2, false), (Ids{14, 15}));  // exactly the rest: no more
  EXPECT_EQ(ids(1, 15, 2, false), (Ids{}));
  EXPECT_EQ(ids(2, 0, 10, false), (Ids{12}));
  EXPECT_EQ(ids(424242, 0, 10, false), (Ids{}));
  EXPECT_EQ(errc(run_sync(this->p().list_photos(1, 0, 0))), "invalid_argument");
}

// Every change to a user or a photo commits a "change" message with it (the CDN purges from
// them), cascades included; a refused write commits none.
TYPED_TEST_P(PhotoConformance, EveryChangeCommitsAChangeMessage) {
  using boost::json::parse;
  using Changes = std::vector<boost::json::value>;
  EXPECT_EQ(this->take_changes(), (Changes{parse(R"({"op":"insert","user":1})")}));
  ASSERT_EQ(outcome(this->create(sample_user(2, "b"))), "ok");
  auto u2 = sample_user(2, "b2");
  ASSERT_EQ(outcome(this->update(u2)), "ok");
  EXPECT_EQ(errc(this->update(u2, 99)), "precondition_failed");
  EXPECT_EQ(this->take_changes(),
            (Changes{parse(R"({"op":"insert","user":2})"), parse(R"({"op":"update","user":2})")}));
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(this->photo(10)))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(this->photo(11)))), "ok");  // same blob
  auto theirs = this->photo(12, std::string(64, 'b') + ".png");
  theirs.owner_id = 2;
  ASSERT_EQ(outcome(run_sync(this->p().create_photo(theirs))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().create_job(this->job(100), "p"))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().complete_job(100, this->photo(13)))), "ok");
  EXPECT_EQ(this->take_changes(), (Changes{parse(R"({"op":"insert","photo":10,"owner":1})"),
                                           parse(R"({"op":"insert","photo":11,"owner":1})"),
                                           parse(R"({"op":"insert","photo":13,"owner":1})"),
                                           parse(R"({"op":"insert","photo":12,"owner":2})")}));
  // The blob's key only once no photo uses it: its URL is gone then.
  ASSERT_EQ(outcome(run_sync(this->p().delete_photo(10))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().delete_photo(11))), "ok");
  ASSERT_EQ(outcome(run_sync(this->p().delete_photo(13))), "ok");
  const std::string blob_a = std::string(64, 'a') + ".jpg";
  EXPECT_EQ(this->take_changes(),
            (Changes{parse(R"({"op":"delete","photo":10,"owner":1,"blob":null})"),
                     parse(R"({"op":"delete","photo":11,"owner":1,"blob":null})"),
                     parse(R"({"op":"delete","photo":13,"owner":1,"blob":")" + blob_a + R"("})")}));
  // A user's photos go with the user, each with its message.
  ASSERT_EQ(outcome(this->remove(2)), "ok");
  auto gone = this->take_changes();
  std::sort(gone.begin(), gone.end(), [](const auto& a, const auto& b) {
    return boost::json::serialize(a) < boost::json::serialize(b);
  });
  const std::string blob_b = std::string(64, 'b') + ".png";
  EXPECT_EQ(gone,
            (Changes{parse(R"({"op":"delete","photo":12,"owner":2,"blob":")" + blob_b + R"("})"),
                     parse(R"({"op":"delete","user":2})")}));
}

REGISTER_TYPED_TEST_SUITE_P(PhotoConformance, PhotosRoundTripAndDeleteReportsSharedBlobs,
                            EachJobCommitsWithOneOutboxMessage, AJobRunsToOneResultAndStaysDone,
                            AFailedJobKeepsItsReasonAndTakesNoResult,
                            ConcurrentCompletionsMakeOneResult,
                            UsageCountsAUsersPhotosBytesAndJobsInFlight,
                            PhotoPagesListOneOwnersPhotosInIdOrder,
                            EveryChangeCommitsAChangeMessage);

}  // namespace ztm::test
