#include "lab/delay_line.h"

#include <gtest/gtest.h>

namespace ztm::lab {
namespace {

using std::chrono::milliseconds;
using Ids = std::vector<std::uint32_t>;

TEST(DelayLine, ReleasesEachPacketAfterTheDelayInArrivalOrder) {
  const DelayLine::Clock::time_point t0{};
  DelayLine line(milliseconds(40), 16);
  EXPECT_FALSE(line.next_due());
  EXPECT_TRUE(line.hold(7, t0));
  EXPECT_TRUE(line.hold(3, t0 + milliseconds(5)));
  EXPECT_TRUE(line.hold(9, t0 + milliseconds(5)));
  EXPECT_EQ(line.next_due(), t0 + milliseconds(40));
  EXPECT_EQ(line.release(t0 + milliseconds(39)), Ids{});
  EXPECT_EQ(line.release(t0 + milliseconds(40)), Ids{7});
  EXPECT_EQ(line.next_due(), t0 + milliseconds(45));
  EXPECT_EQ(line.release(t0 + milliseconds(100)), (Ids{3, 9}));
  EXPECT_EQ(line.held(), 0u);
  EXPECT_EQ(line.released(), 3u);
  EXPECT_FALSE(line.next_due());
}

TEST(DelayLine, AClockSteppingBackNeverReorders) {
  const DelayLine::Clock::time_point t0{};
  DelayLine line(milliseconds(40), 16);
  line.hold(1, t0 + milliseconds(10));
  line.hold(2, t0);  // earlier than the packet ahead of it
  EXPECT_EQ(line.release(t0 + milliseconds(49)), Ids{});
  EXPECT_EQ(line.release(t0 + milliseconds(50)), (Ids{1, 2}));
}

TEST(DelayLine, BeyondTheBoundPacketsAreRefusedAndCounted) {
  const DelayLine::Clock::time_point t0{};
  DelayLine line(milliseconds(40), 2);
  EXPECT_TRUE(line.hold(1, t0));
  EXPECT_TRUE(line.hold(2, t0));
  EXPECT_FALSE(line.hold(3, t0));
  EXPECT_FALSE(line.hold(4, t0 + milliseconds(1)));
  EXPECT_EQ(line.held(), 2u);
  EXPECT_EQ(line.dropped(), 2u);
  EXPECT_EQ(line.release(t0 + milliseconds(40)), (Ids{1, 2}));
  EXPECT_TRUE(line.hold(5, t0 + milliseconds(40)));  // room again once released
  EXPECT_EQ(line.dropped(), 2u);
}

TEST(DelayLine, ZeroDelayReleasesAtOnce) {
  const DelayLine::Clock::time_point t0{};
  DelayLine line(milliseconds(0), 4);
  line.hold(1, t0);
  EXPECT_EQ(line.release(t0), Ids{1});
}

}  // namespace
}  // namespace ztm::lab
