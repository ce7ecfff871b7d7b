#pragma once
// The demo data `./scripts/run` loads into an empty database: the chapter's user 12, John
// Smith, and a few more around it, and two demo accounts (documented, for demos and tests only:
// never seed a production database):
//   john.smith@example.com / john-demo-password   (user 12, role user)
//   admin@example.com      / admin-demo-password  (user 22, role admin)

#include <boost/asio/awaitable.hpp>

#include "app/passwords.h"
#include "core/result.h"
#include "storage/store.h"

namespace ztm::app {

inline constexpr const char* kDemoUserEmail = "john.smith@example.com";
inline constexpr const char* kDemoUserPassword = "john-demo-password";
inline constexpr const char* kDemoAdminEmail = "admin@example.com";
inline constexpr const char* kDemoAdminPassword = "admin-demo-password";

// Loads the demo users if the store has no users; returns how many were loaded (0 if it had
// some already). Hashes the demo passwords with `hasher` on the calling thread: call it from a
// tool or a test, never from an event loop.
boost::asio::awaitable<Result<int>> load_demo_data(storage::Store& store,
                                                   const PasswordHasher& hasher);

}  // namespace ztm::app
