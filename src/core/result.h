#pragma once
// Expected failures (bad input, not found, a backend down) are values, not exceptions.
// They map to HTTP in exactly one place: api/errors.cc.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ztm {

enum class Errc {
  invalid_argument,        // the request is malformed or fails validation
  invalid_json,            // the body is not JSON (syntax, or nested too deep)
  invalid_header,          // a header's value is malformed
  invalid_parameter,       // a query parameter is malformed or out of range
  invalid_multipart,       // a multipart body is malformed or carries no file
  unsupported_media_type,  // the body's Content-Type is not one the endpoint reads
  not_found,               // the entity does not exist
  precondition_failed,     // an optimistic-concurrency check (If-Match) failed
  conflict,                // the write collides with existing state (e.g. duplicate key)
  unavailable,             // a backend is unreachable or the service is draining; retry later
  overloaded,              // a bounded queue is full; retry later
  unauthenticated,         // no valid session (or wrong credentials)
  forbidden,               // authenticated, but not allowed to do this
  rate_limited,            // too many attempts; retry after Error::retry_after_s
  quota_exceeded,          // a per-user quota is used up; retry after Error::retry_after_s
  moved,                   // a shard refused rows of a bucket it gave away: the map is stale
  internal,                // a bug or an unexpected backend error
};

std::string_view to_string(Errc code);

struct Error {
  Errc code;
  std::string message;
  int retry_after_s = 0;  // rate_limited, quota_exceeded: when a retry may succeed
  // unavailable: the request reached the backend, which may have done it before the failure
  // (a write sent, then the connection died). Retrying it is safe only if it is idempotent.
  bool outcome_unknown = false;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  Result(Errc code, std::string message) : v_(Error{code, std::move(message)}) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // REQUIRES: !ok()
  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  Result(Errc code, std::string message) : error_{code, std::move(message)}, ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_{Errc::internal, {}};
  bool ok_ = true;
};

}  // namespace ztm
