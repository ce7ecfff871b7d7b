// The web tier and its Redis credentials: a Redis that refuses them makes /readyz fail, saying so,
// until it accepts them (engine: a redis-server of its own); a password file others may read
// stops the start, naming the option (unit).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/http_client.h"
#include "tests/support/redis_instance.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_server.h"

namespace ztm {
namespace {

using namespace std::chrono_literals;
using test::error_code;
using test::eventually;
using test::HttpClient;
using test::TestServer;

// A file in `dir` holding `text`, mode `mode`.
std::string password_file(const test::TempDir& dir, const std::string& text, mode_t mode = 0600) {
  const std::string path = dir.file("redis-password");
  std::ofstream(path) << text << "\n";
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(RedisAuthServerTest, ReadyzFailsWhileTheSessionsRedisRefusesTheCredentials) {
  test::RedisInstance redis({.config = "user default off resetpass resetkeys resetchannels -@all\n"
                                       "user admin on >admin-secret ~* &* +@all\n"
                                       "user ztm on >right ~ztm:* -@all +@all\n",
                             .login = {"admin", "admin-secret"}});
  test::TempDir dir;
  const std::string wrong = password_file(dir, "wrong");
  TestServer server([&](Config& config) {
    config.sessions.backend = "redis";
    config.sessions.redis_address = redis.address();
    config.sessions.redis_user = "ztm";
    config.sessions.redis_password_file = wrong;
  });
  HttpClient c(server.port());
  // The sessions' Redis is PINGed at start: no login needed to notice.
  EXPECT_TRUE(eventually([&] { return c.request("GET", "/readyz").status == 503; }, 5s, 10ms));
  const auto refused = c.request("GET", "/readyz");
  EXPECT_EQ(refused.status, 503u);
  EXPECT_EQ(error_code(refused), "backend_refused") << refused.body;
  EXPECT_EQ(refused.body.find("wrong"), std::string::npos) << refused.body;
  EXPECT_EQ(c.request("GET", "/users/12").status, 200u) << "public reads need no session";

  // Redis starts accepting that password: ready again by the next PING (every 5 s).
  redis.command({"ACL", "SETUSER", "ztm", ">wrong"});
  EXPECT_TRUE(eventually([&] { return c.request("GET", "/readyz").status == 200; }, 10s, 50ms));
}

TEST(RedisAuthServerTest, APasswordFileOthersMayReadStopsTheStart) {
  test::TempDir dir;
  const std::string open_to_all = password_file(dir, "secret", 0644);
  try {
    TestServer server([&](Config& config) {
      config.cache.l2_nodes = "127.0.0.1:1";
      config.cache.l2_user = "ztm";
      config.cache.l2_password_file = open_to_all;
    });
    ADD_FAILURE() << "the server started";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with("option 'cache.l2_password_file': " + open_to_all +
                                 " is open to other users"))
        << what;
    EXPECT_EQ(what.find("secret\n"), std::string::npos);
  }
}

}  // namespace
}  // namespace ztm
