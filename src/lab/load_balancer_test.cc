#include "lab/load_balancer.h"

#include <gtest/gtest.h>

namespace ztm::lab {
namespace {

TEST(LoadBalancerApi, ParsesThePoolFromShowStat) {
  const std::string csv =
      "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight,\n"
      "public,FRONTEND,,,3,9,4096,120,OPEN,,\n"
      "web,web1,0,0,2,5,,40,UP,1,\n"
      "web,web2,0,0,0,5,,40,DOWN 1/2,1,\n"
      "web,web4,0,0,,0,,0,MAINT,1,\n"
      "web,BACKEND,0,0,2,9,410,80,UP,2,\n"
      "other,x1,0,0,7,7,,7,UP,1,\n";
  auto pool = parse_pool(csv);
  ASSERT_TRUE(pool);
  ASSERT_EQ(pool->size(), 3u);
  EXPECT_EQ((*pool)[0].name, "web1");
  EXPECT_EQ((*pool)[0].status, "UP");
  EXPECT_EQ((*pool)[0].sessions, 2);
  EXPECT_EQ((*pool)[1].status, "DOWN 1/2");
  EXPECT_EQ((*pool)[2].sessions, 0);
  EXPECT_FALSE(parse_pool("Unknown command.\n"));
}

TEST(LoadBalancerApi, CountsEachServersResponsesAndItsErrors) {
  const std::string csv =
      "# pxname,svname,scur,status,eresp,wretr,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
      "hrsp_other,\n"
      "web,web1,0,UP,1,2,0,90,1,4,5,0,\n"
      "web,web2,0,UP,,,,,,,,,\n";
  auto pool = parse_pool(csv);
  ASSERT_TRUE(pool);
  ASSERT_EQ(pool->size(), 2u);
  // 100 passed on, 2 retried elsewhere, 1 aborted: 8 of 103 failed.
  EXPECT_EQ((*pool)[0].responses, 103);
  EXPECT_EQ((*pool)[0].responses_5xx, 8);
  EXPECT_EQ((*pool)[1].responses, 0);
}

}  // namespace
}  // namespace ztm::lab
