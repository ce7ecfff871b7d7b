#pragma once
// What the service sells (revenue, docs/kpis.md): a fixed catalogue of plans, and the purchase
// of one by a logged-in user. The price is the catalogue's at the time of purchase, recorded
// with the purchase; a client names a plan, never a price. There is no payment provider: a
// purchase is recorded as paid (docs/kpis.md says what a real one would change).
//
// Errors: invalid_argument (unknown plan; 422), conflict (the Idempotency-Key was used for
// another plan; 409), and the store's (unavailable, overloaded: 503).

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "storage/kpi_store.h"

namespace ztm::app {

struct Plan {
  std::string_view id;
  std::string_view description;
  std::int64_t price_cents;
  std::string_view currency;
};

// The catalogue: storage upgrades, one month each.
std::span<const Plan> plans();
const Plan* find_plan(std::string_view id);

class PurchaseService {
 public:
  // REQUIRES: store and ids outlive this.
  PurchaseService(storage::KpiStore& store, IdGenerator& ids) : store_(store), ids_(ids) {}

  // `user` buys `plan` at the catalogue's price. With an idempotency key, a repeat returns the
  // first purchase (a repeat naming another plan is a conflict).
  boost::asio::awaitable<Result<storage::Purchase>> buy(UserId user, std::string plan,
                                                        std::optional<std::string> idempotency_key);
  // The user's purchases, newest first (at most storage::kMaxPurchasesListed).
  boost::asio::awaitable<Result<std::vector<storage::Purchase>>> of(UserId user);

 private:
  storage::KpiStore& store_;
  IdGenerator& ids_;
};

}  // namespace ztm::app
