#pragma once
// Password hashing with Argon2id (libsodium crypto_pwhash_str), on a bounded pool of its own:
// a hash costs tens of milliseconds of CPU and ~19 MiB, so it never runs on an event-loop
// thread, and a flood of logins is refused (overloaded -> 503) instead of queueing without
// bound. Verification is libsodium's, which compares in constant time.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>

#include "core/blocking_pool.h"
#include "core/result.h"

namespace ztm::app {

struct PasswordHasherOptions {
  int threads = 2;
  int max_pending = 256;
  std::uint64_t ops = 2;                // Argon2id passes (opslimit)
  std::size_t memory_bytes = 19 << 20;  // memlimit: OWASP's minimum for Argon2id, t=2
};

class PasswordHasher {
 public:
  // Throws std::runtime_error when libsodium cannot start or the parameters are below its
  // minimum (crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN).
  explicit PasswordHasher(PasswordHasherOptions options);

  // The encoded hash (algorithm, parameters, salt and digest in one string).
  boost::asio::awaitable<Result<std::string>> hash(std::string password);

  // True when `password` matches `encoded`. A malformed `encoded` verifies false.
  boost::asio::awaitable<Result<bool>> verify(std::string encoded, std::string password);

  // For a login with an unknown email: costs what verify() costs and answers false, so the
  // response time does not tell whether the account exists.
  boost::asio::awaitable<Result<bool>> verify_nothing(std::string password);

  // Blocking, for tools (ztm seed), never on an event loop.
  Result<std::string> hash_now(const std::string& password) const;

 private:
  PasswordHasherOptions options_;
  std::string decoy_;  // a hash of a random password, with the same parameters
  BlockingPool pool_;
};

}  // namespace ztm::app
