// The hold's deadline on a manual clock (unit: no server; every host refuses connections, so
// discovery never finds a primary and a call is held). The clock, not a sleep, ends the hold; the
// hold's looks at the topology are real 25 ms timers, so the test polls with a bound. How the hold
// rides out a real failover: ReplicaRouterTest (engine).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "storage/replication/replica_router.h"
#include "tests/support/eventually.h"
#include "tests/support/refusing_port.h"

namespace ztm::storage {
namespace {

using std::chrono::milliseconds;

TEST(ReplicaRouterHold, AHeldCallEndsAtTheHoldsDeadlineOnTheClock) {
  test::RefusingPort a, b;
  ManualClock clock;
  ReplicaRouterOptions o;
  o.conninfo = fmt::format("host=127.0.0.1,127.0.0.1 port={},{} dbname=ztm", a.port(), b.port());
  o.timeout_ms = 1000;
  o.hold_ms = 5000;
  o.clock = &clock;
  ReplicaRouter router(o);
  ASSERT_EQ(router.hosts(), 2u);
  EXPECT_EQ(router.host_status(0).role, HostRole::down);
  EXPECT_FALSE(router.staleness(1)) << "nothing proves a host that never answered fresh";

  std::optional<Result<StoredUser>> got;
  std::thread caller([&] { got.emplace(run_sync(router.get_user(UserId(1)))); });
  ASSERT_TRUE(test::eventually([&] { return router.holding() == 1; }));
  clock.advance(milliseconds(4999));
  // A millisecond before the deadline the call stays held, look after look (25 ms each).
  EXPECT_FALSE(test::eventually([&] { return router.holding() == 0; }, milliseconds(200)));
  clock.advance(milliseconds(1));
  EXPECT_TRUE(test::eventually([&] { return router.holding() == 0; }))
      << "on the deadline the call ends at its next look, without waiting 5 s of real time";
  caller.join();
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().code, Errc::unavailable);
  EXPECT_NE(got->error().message.find("still so after holding the call 5000 ms"), std::string::npos)
      << got->error().message;
  EXPECT_EQ(router.held(), 1u);
}

}  // namespace
}  // namespace ztm::storage
