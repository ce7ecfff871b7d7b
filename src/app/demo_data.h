#pragma once
// The demo data `./scripts/run` loads into an empty database: the chapter's user 12, John
// Smith, and a few more around it.

#include <boost/asio/awaitable.hpp>

#include "core/result.h"
#include "storage/store.h"

namespace ztm {

// Loads the demo users if the store has no users; returns how many were loaded (0 if it had
// some already).
boost::asio::awaitable<Result<int>> load_demo_data(Store& store);

}  // namespace ztm
