#pragma once
// Lookup rows: what finds a user's rows by a key other than the user id (docs/sharding.md). On a
// sharded data tier a row lives on the shard its key hashes to, not on its owner's, so that it
// can be found before the owner is known: an email at login, an Idempotency-Key on a retried
// POST /users, a photo's or a job's id in a URL or a queue message. Every Database has the
// table; only the sharded store (storage/sharding/sharded_store.h) uses it.
//
// Written before the row it points at, never in one transaction with it (they may be on two
// shards): a crash in between leaves a row pointing at nothing, which readers treat as absent
// and writers take over (replace_lookup). Keys are 1..kMaxLookupKeyBytes bytes, no NUL.
//
// Contract (as store.h): expected failures are Result errors — invalid_argument (a bad key),
// not_found, unavailable, overloaded; never blocks the caller's thread. Every backend passes
// tests/storage/lookup_conformance.h.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>

#include "core/ids.h"
#include "core/result.h"

namespace ztm::storage {

enum class LookupKind : std::int16_t {
  email = 1,            // an account's email (as stored: lower case) -> its user
  idempotency_key = 2,  // a POST /users Idempotency-Key -> the user it created
  photo = 3,            // a photo id (decimal) -> its owner
  job = 4,              // a job id (decimal) -> its owner
};

inline constexpr std::size_t kMaxLookupKeyBytes = 320;  // an email's longest

class LookupStore {
 public:
  virtual ~LookupStore() = default;

  // Maps (kind, key) to `owner` unless it is mapped already; returns the owner it maps to now
  // (`owner`, or the one mapped before: the caller decides whether that one still exists).
  virtual boost::asio::awaitable<Result<UserId>> put_lookup(LookupKind kind, std::string key,
                                                            UserId owner) = 0;
  // Maps (kind, key) to `owner` if it maps to `previous` (a row pointing at nothing, taken
  // over); precondition_failed if it maps to anything else, or to nothing.
  virtual boost::asio::awaitable<Result<void>> replace_lookup(LookupKind kind, std::string key,
                                                              UserId previous, UserId owner) = 0;
  // The owner (kind, key) maps to; not_found if none.
  virtual boost::asio::awaitable<Result<UserId>> find_lookup(LookupKind kind, std::string key) = 0;
  // Removes (kind, key) if it maps to `owner` (else nothing changes); never not_found.
  virtual boost::asio::awaitable<Result<void>> erase_lookup(LookupKind kind, std::string key,
                                                            UserId owner) = 0;
};

// invalid_argument unless 1 <= key.size() <= kMaxLookupKeyBytes, key has no NUL byte and kind is
// one of the enum's.
Result<void> check_lookup(LookupKind kind, const std::string& key);

// Where a lookup row lives: the key is placed as if it were this user id (FNV-1a over its
// bytes, mixed with its kind; the top 53 bits), so both map modes place keys as they place
// users. PostgreSQL stores it in each row (`lookups.placement`), which gives the row's bucket.
UserId lookup_placement(LookupKind kind, const std::string& key);

}  // namespace ztm::storage
