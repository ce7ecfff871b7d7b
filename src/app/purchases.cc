#include "app/purchases.h"

#include <fmt/format.h>

namespace ztm::app {

namespace {

constexpr Plan kPlans[] = {
    {"storage-100gb", "100 GB of photo storage for one month", 199, "USD"},
    {"storage-1tb", "1 TB of photo storage for one month", 999, "USD"},
};

}  // namespace

std::span<const Plan> plans() {
  return kPlans;
}

const Plan* find_plan(std::string_view id) {
  for (const Plan& p : kPlans)
    if (p.id == id) return &p;
  return nullptr;
}

boost::asio::awaitable<Result<storage::Purchase>> PurchaseService::buy(
    UserId user, std::string plan, std::optional<std::string> idempotency_key) {
  const Plan* p = find_plan(plan);
  if (!p) {
    std::string known;
    for (const Plan& k : kPlans) known += (known.empty() ? "" : ", ") + std::string(k.id);
    co_return Error{Errc::invalid_argument, "plan: unknown; one of " + known};
  }
  storage::Purchase purchase{ids_.next(), user, std::string(p->id), p->price_cents,
                             std::string(p->currency)};
  auto stored = co_await store_.create_purchase(std::move(purchase), std::move(idempotency_key));
  if (!stored) co_return stored;
  if (stored->plan != p->id)
    co_return Error{Errc::conflict, fmt::format("Idempotency-Key: already used to buy {}; use "
                                                "another key for another purchase",
                                                stored->plan)};
  co_return stored;
}

boost::asio::awaitable<Result<std::vector<storage::Purchase>>> PurchaseService::of(UserId user) {
  co_return co_await store_.list_purchases(user, storage::kMaxPurchasesListed);
}

}  // namespace ztm::app
