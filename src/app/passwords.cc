#include "app/passwords.h"

#include <fmt/format.h>
#include <sodium.h>

#include <stdexcept>

namespace ztm::app {

PasswordHasher::PasswordHasher(PasswordHasherOptions options)
    : options_(options), pool_(options.threads, options.max_pending) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
  if (options_.ops < crypto_pwhash_OPSLIMIT_MIN ||
      options_.memory_bytes < crypto_pwhash_MEMLIMIT_MIN)
    throw std::runtime_error(
        fmt::format("Argon2id parameters below libsodium's minimum (ops >= {}, "
                    "memory >= {} bytes)",
                    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN));
  char random[33];
  randombytes_buf(random, 32);
  random[32] = '\0';
  auto decoy = hash_now(std::string(random, 32));
  if (!decoy) throw std::runtime_error("password hashing failed: " + decoy.error().message);
  decoy_ = std::move(*decoy);
}

Result<std::string> PasswordHasher::hash_now(const std::string& password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), options_.ops,
                            options_.memory_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Error{Errc::overloaded, "password hashing ran out of memory"};
  return std::string(out);
}

boost::asio::awaitable<Result<std::string>> PasswordHasher::hash(std::string password) {
  co_return co_await pool_.run([this, &password] { return hash_now(password); });
}

boost::asio::awaitable<Result<bool>> PasswordHasher::verify(std::string encoded,
                                                            std::string password) {
  co_return co_await pool_.run([&encoded, &password]() -> Result<bool> {
    if (encoded.size() >= crypto_pwhash_STRBYTES) return false;
    return crypto_pwhash_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
  });
}

boost::asio::awaitable<Result<bool>> PasswordHasher::verify_nothing(std::string password) {
  auto r = co_await verify(decoy_, std::move(password));
  if (!r) co_return std::move(r).error();
  co_return false;
}

}  // namespace ztm::app
