#pragma once
// The PostgreSQL half of a bucket move (docs/sharding.md, "Moving a bucket"): the steps a
// Mover (mover.h) takes on the two shards of a move, each idempotent, over a set of buckets.
// Internal to storage/sharding: blocking libpq sessions, for the operator's tool (ztm shard).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "postgres/session.h"
#include "storage/bucket.h"

namespace ztm::storage {

// What a set of buckets holds on one shard: per table its rows and the sum of each row's md5 (its
// first 64 bits; rows rendered with the same TimeZone and DateStyle on both shards), free of order
// and collation.
struct BucketDigest {
  struct Table {
    std::string name;
    std::int64_t rows = 0;
    std::string md5_sum;  // "" when no rows
    bool operator==(const Table&) const = default;
  };
  std::vector<Table> tables;
  std::int64_t rows() const;
  bool operator==(const BucketDigest&) const = default;
};

// The tables whose rows a user owns (each has a `bucket` column: pg_migrations.cc, 11).
const std::vector<std::string>& bucket_tables();

// The PostgreSQL half of a move of a set of buckets: each call one idempotent step on the two
// shards over the whole set. Its publications and subscriptions are named after the set's
// lowest bucket (a bucket is in at most one move). Throws std::invalid_argument (a bug) if
// `buckets` is empty or has one out of [0, kBuckets); it is kept sorted, without duplicates.
class BucketCopy {
 public:
  BucketCopy(std::vector<int> buckets, std::string source_conninfo, std::string target_conninfo,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

  Result<void> start_copy();
  // Whether every table's initial copy is done (the subscription streams changes since).
  Result<bool> copied();
  Result<BucketDigest> digest_source();
  Result<BucketDigest> digest_target();
  Result<void> fence_source();
  Result<void> unfence_source();
  Result<void> fence_target();
  Result<void> unfence_target();
  // Polls both digests until they are equal, for at most `bound`: false if they never were.
  Result<bool> wait_equal(std::chrono::milliseconds bound);
  // Drops the forward subscription and publication, then starts the reverse ones.
  Result<void> reverse();
  // Whether the reverse subscription exists (the cutover got that far).
  Result<bool> reversed();
  // Drops the reverse subscription and publication (rollback, finalise).
  Result<void> drop_reverse();
  // Drops the forward subscription and publication (abort).
  Result<void> drop_forward();
  // Deletes the buckets' rows on one side, triggers off (a move's cleanup, not a deletion).
  Result<std::int64_t> purge_source();
  Result<std::int64_t> purge_target();

 private:
  std::vector<int> buckets_;
  std::string in_list_;  // "(3,7,11)": the set as SQL
  std::string source_, target_;
  std::chrono::milliseconds timeout_;
};

// `conninfo` (a URI or key=value) as key=value, logging in as `user` with `password` instead of
// its own role: the mover's admin role (MoverOptions::admin_user).
Result<std::string> with_login(const std::string& conninfo, const std::string& user,
                               const std::string& password);

// A session on the primary of a shard (`conninfo` with target_session_attrs=read-write), with the
// settings the digests render rows by (UTC, ISO dates, every float digit).
Result<postgres::Session> open_shard(const std::string& conninfo,
                                     std::chrono::milliseconds timeout);

// The names of a move's forward (source -> target) and reverse publication, subscription and
// slot: after the move's lowest bucket.
std::string forward_name(int bucket);
std::string reverse_name(int bucket);

}  // namespace ztm::storage
