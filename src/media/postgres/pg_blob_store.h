#pragma once
// Blobs in PostgreSQL, for the scaled-out lab: table blobs(key text primary key, bytes bytea),
// so photos are replicated (and synchronously committed to the standby) with everything else and
// survive the loss of any web or worker host, without a new engine to run (docs/media.md).
//
// Asynchronous libpq on the callers' event loops (postgres::Host: pipelined connections per loop).
// The bytes travel in binary both ways (as text, bytea is hex: twice the size on the wire and
// about 2 ms per MB of encoding on the event loop); reads for streaming take one substring() of
// the column per chunk (docs/media.md, "Streaming a blob").
//
// put(): one statement that checks the key against the bytes' SHA-256 on the server (no hashing
// on the event loop) and inserts with ON CONFLICT DO UPDATE SET put_at = now() (same key, same
// bytes: only the "put at" time is refreshed). It returns ok once the commit is as durable as
// the server's synchronous_commit makes it. remove(): one statement that locks the row, then
// deletes it, or, when it was put within the grace time (the server's clock, the same that set
// put_at), marks it a removal candidate (remove_pending), in the same transaction.

#include <string>

#include "media/blob_store.h"
#include "postgres/host.h"

namespace ztm::media {

class PgBlobStore final : public BlobStore {
 public:
  // Does not connect (the first call on each loop does). The defaults of postgres::HostOptions suit
  // blobs too: a 20 MB blob takes well under the 5 s request timeout on a LAN.
  explicit PgBlobStore(postgres::HostOptions options);
  // REQUIRES: no call in flight (see postgres/host.h).
  ~PgBlobStore() override;
  PgBlobStore(const PgBlobStore&) = delete;
  PgBlobStore& operator=(const PgBlobStore&) = delete;

  // Creates the blobs table if it does not exist (and adds put_at, remove_pending and the
  // candidates' index to one made before them):
  // idempotent, and safe when several servers start at once (one statement under a
  // transaction-scoped advisory lock). Not a versioned migration of pg_migrations.cc because
  // blobs may live in another database than the users; call it at start-up (run_sync) and from
  // `ztm migrate`.
  boost::asio::awaitable<Result<void>> migrate();

  // invalid_argument for a malformed key or one that is not the bytes' hash; unavailable when
  // the server cannot be reached in time.
  boost::asio::awaitable<Result<void>> put(std::string key, std::string bytes) override;
  boost::asio::awaitable<Result<std::string>> get(std::string key) override;
  // Streaming (BlobReader): the length from the row without reading the bytes, and each chunk
  // by substring, which reads only the TOAST pieces it covers (the column is EXTERNAL).
  boost::asio::awaitable<Result<std::uint64_t>> size(std::string key) override;
  boost::asio::awaitable<Result<std::string>> read(std::string key, std::uint64_t offset,
                                                   std::size_t max_bytes) override;
  boost::asio::awaitable<Result<bool>> remove(std::string key,
                                              std::chrono::seconds unless_put_within) override;
  boost::asio::awaitable<Result<std::vector<std::string>>> removal_candidates(
      std::chrono::seconds put_before, int limit) override;
  boost::asio::awaitable<Result<void>> forget_candidate(
      std::string key, std::chrono::seconds unless_put_within) override;

 private:
  postgres::Host host_;
};

}  // namespace ztm::media
