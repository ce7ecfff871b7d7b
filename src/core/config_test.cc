#include "core/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/url.h"

namespace ztm {
namespace {

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/ztm-config-XXXXXX";
  const int fd = mkstemp(name);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

TEST(Config, DefaultsAreValid) {
  Config c;
  EXPECT_NO_THROW(validate(c));
  EXPECT_EQ(c.http.port, 8080);
  EXPECT_EQ(c.storage.backend, "sqlite");
}

TEST(Config, EveryOptionRoundTripsThroughItsTextForm) {
  Config c;
  for (const auto& o : config_options()) {
    const std::string before = o.get(c);
    ASSERT_EQ(o.set(c, before), std::nullopt) << o.key;
    EXPECT_EQ(o.get(c), before) << o.key;
  }
}

TEST(Config, LaterSourcesWin) {
  Config c;
  apply_settings(c, {{"http.port", "9000"}, {"cache.policy", "lfu"}}, "file");
  apply_settings(c, {{"http.port", "9001"}}, "env");
  EXPECT_EQ(c.http.port, 9001);
  EXPECT_EQ(c.cache.policy, "lfu");
}

TEST(Config, ErrorsNameTheOptionAndSource) {
  Config c;
  try {
    apply_settings(c, {{"http.port", "70000"}}, "command line");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("command line: option 'http.port'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
  EXPECT_THROW(apply_settings(c, {{"http.prot", "1"}}, "x"), ConfigError);
  EXPECT_THROW(apply_settings(c, {{"cache.policy", "random"}}, "x"), ConfigError);
  EXPECT_THROW(apply_settings(c, {{"cache.enabled", "yes please"}}, "x"), ConfigError);
  EXPECT_THROW(apply_settings(c, {{"http.threads", "2x"}}, "x"), ConfigError);
}

TEST(Config, CrossOptionValidation) {
  {
    Config sessions;
    sessions.sessions.max_lifetime_s = sessions.sessions.ttl_s - 1;  // the idle ttl could not pass
    EXPECT_THROW(validate(sessions), ConfigError);
    sessions.sessions.max_lifetime_s = sessions.sessions.ttl_s;
    EXPECT_NO_THROW(validate(sessions));
  }
  Config c;
  c.http.header_timeout_ms = c.http.idle_timeout_ms + 1;
  EXPECT_THROW(validate(c), ConfigError);
  // Shards are PostgreSQL clusters: a shard map needs the postgres backend.
  Config sharded;
  sharded.storage.shard_map = "/etc/ztm/shards.json";
  EXPECT_THROW(validate(sharded), ConfigError);
  sharded.storage.backend = "postgres";
  EXPECT_NO_THROW(validate(sharded));
  // Or the map in etcd, followed live: endpoints and a key, or a clear error.
  sharded.storage.shard_map = "etcd://127.0.0.1:2379,[::1]:2380/ztm/shards/map";
  EXPECT_NO_THROW(validate(sharded));
  const auto etcd = parse_etcd_address(sharded.storage.shard_map);
  EXPECT_EQ(etcd.endpoints, (std::vector<std::string>{"127.0.0.1:2379", "[::1]:2380"}));
  EXPECT_EQ(etcd.key, "/ztm/shards/map");
  // The load report: never (0), or at most once a second per server.
  for (int ms : {0, 1000, 600'000}) {
    sharded.storage.shard_load_report_ms = ms;
    EXPECT_NO_THROW(validate(sharded)) << ms;
  }
  for (int ms : {1, 999}) {
    sharded.storage.shard_load_report_ms = ms;
    EXPECT_THROW(validate(sharded), ConfigError) << ms;
  }
  sharded.storage.shard_load_report_ms = 5000;
  for (const char* bad :
       {"etcd://", "etcd://127.0.0.1:2379", "etcd://127.0.0.1:2379/", "etcd:///ztm/map",
        "etcd://host/ztm/map", "etcd://host:0/k", "etcd://host:99999/k", "etcd://a:1,,b:2/k",
        "etcd://h:1/a key", "etcd://h o:1/k"}) {
    sharded.storage.shard_map = bad;
    try {
      validate(sharded);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_TRUE(std::string_view(e.what()).starts_with("option 'storage.shard_map': "))
          << e.what();
    }
  }
}

TEST(Config, EdgeListsAreNamedUrlsWithoutPaths) {
  const auto edges = parse_named_urls("edge1=http://10.77.0.21,edge-2=https://[::1]:6081");
  ASSERT_EQ(edges.size(), 2u);
  EXPECT_EQ(edges[1].name, "edge-2");
  EXPECT_EQ(edges[1].url, "https://[::1]:6081");
  EXPECT_TRUE(parse_named_urls("").empty());
  // What a CSP or a JSON string must never carry, and what is not one edge per name.
  for (const char* bad :
       {"edge1", "=http://a", "Edge=http://a", "e=ftp://a", "e=http://", "e=http://a/path",
        "e=http://a b", "e=http://a;script-src *", "e=http://a\"", "e=http://a,e=http://b"}) {
    EXPECT_THROW(parse_named_urls(bad), std::invalid_argument) << bad;
  }
  Config c;
  c.cdn.edge_admins = "edge1=http://10.77.1.81:6091/purge";
  try {
    validate(c);
    ADD_FAILURE() << "a path was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cdn.edge_admins"), std::string::npos) << e.what();
  }
}

// cdn.edge_networks: client networks (IPv4 and IPv6) and the edge in cdn.edges serving each.
TEST(Config, EdgeNetworksAreNetworksOfKnownEdges) {
  const auto nets = parse_edge_networks("10.77.0.32/27=edge1,2001:db8::/32=edge-2,0.0.0.0/0=e");
  ASSERT_EQ(nets.size(), 3u);
  EXPECT_EQ(nets[0].text, "10.77.0.32/27");
  EXPECT_EQ(nets[0].edge, "edge1");
  EXPECT_EQ(nets[0].prefix, 96 + 27) << "IPv4 is held IPv4-mapped";
  EXPECT_EQ(nets[0].address[10], 0xff);
  EXPECT_EQ(nets[0].address[15], 32);
  EXPECT_EQ(nets[1].prefix, 32);
  EXPECT_EQ(nets[1].address[0], 0x20);
  EXPECT_EQ(nets[2].prefix, 96);
  EXPECT_TRUE(parse_edge_networks("").empty());
  for (const char* bad :
       {"10.77.0.32/27", "10.77.0.32=edge1", "10.77.0.32/33=e", "10.77.0.32/-1=e", "10.77.0.32/=e",
        "10.77.0.32/2x=e", "10.77.0.256/24=e", "10.77.0/24=e", "2001:db8::/129=e",
        "2001:db8:::/32=e", "10.77.0.33/27=e", "2001:db8::1/64=e", "10.0.0.0/8=Edge",
        "10.0.0.0/8=", "10.0.0.0/8=e,10.0.0.0/8=f"}) {
    EXPECT_THROW(parse_edge_networks(bad), std::invalid_argument) << bad;
  }
  Config c;
  c.cdn.edges = "edge1=http://10.77.0.21,edge2=http://10.77.0.22";
  c.cdn.edge_networks = "10.77.0.32/27=edge1,10.77.0.64/27=edge2";
  EXPECT_NO_THROW(validate(c));
  for (const auto& [networks, says] :
       {std::pair{"10.77.0.64/27=edge3", "'edge3' is not an edge in 'cdn.edges'"},
        std::pair{"10.77.0.65/27=edge2", "has bits set past its prefix"},
        std::pair{"10.77.0.64=edge2", "is not address/prefix=edge"},
        std::pair{"fe80::/10=edge1,10.77.0.64/24=edge2", "has bits set past its prefix"}}) {
    c.cdn.edge_networks = networks;
    try {
      validate(c);
      ADD_FAILURE() << networks << " was accepted";
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("option 'cdn.edge_networks'"), std::string::npos) << what;
      EXPECT_NE(what.find(says), std::string::npos) << what;
    }
  }
  c.cdn.edges = "";
  c.cdn.edge_networks = "10.77.0.32/27=edge1";
  EXPECT_THROW(validate(c), ConfigError) << "no edges: no edge to route to";
}

// Redis users and their password files: a user needs a password (Redis has no user without
// one here); a password alone logs in as Redis's default user; a user name has no spaces.
TEST(Config, RedisUsersNeedTheirPasswordFiles) {
  EXPECT_NO_THROW(validate(Config{}));
  for (const auto& [user_key, file_key] :
       {std::pair{"cache.l2_user", "cache.l2_password_file"},
        std::pair{"sessions.redis_user", "sessions.redis_password_file"},
        std::pair{"sessions.redis_sentinel_user", "sessions.redis_sentinel_password_file"}}) {
    Config c;
    apply_settings(c, {{file_key, "/run/secrets/redis"}}, "test");
    EXPECT_NO_THROW(validate(c)) << file_key << " alone: AUTH <password>";
    apply_settings(c, {{user_key, "ztm"}}, "test");
    EXPECT_NO_THROW(validate(c)) << user_key;
    apply_settings(c, {{file_key, ""}}, "test");
    try {
      validate(c);
      ADD_FAILURE() << user_key << " without " << file_key << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), std::string("option '") + user_key + "' needs '" + file_key +
                                           "': Redis authenticates a user by its password");
    }
    apply_settings(c, {{file_key, "/run/secrets/redis"}, {user_key, "two words"}}, "test");
    EXPECT_THROW(validate(c), ConfigError) << "a space in " << user_key;
  }
}

// `ztm config print` shows where a password is, never the password (the config holds none).
TEST(Config, PrintedConfigNamesPasswordFilesOnly) {
  Config c;
  c.sessions.redis_user = "ztm";
  c.sessions.redis_password_file = "/run/secrets/redis-app";
  const std::string toml = to_toml(c);
  EXPECT_NE(toml.find("redis_password_file = \"/run/secrets/redis-app\""), std::string::npos);
  for (const auto& o : config_options())
    EXPECT_EQ(o.key.find("password") != std::string::npos, o.key.ends_with("_password_file"))
        << o.key << ": a password option must be a file";
}

TEST(Config, TomlFileIsFlattenedToDottedKeys) {
  const auto path = write_temp(
      "node_id = 7\n[http]\nport = 9090\naddress = \"0.0.0.0\"\n[cache]\nenabled = false\n");
  Config c;
  apply_settings(c, read_toml_settings(path), path);
  EXPECT_EQ(c.node_id, 7);
  EXPECT_EQ(c.http.port, 9090);
  EXPECT_EQ(c.http.address, "0.0.0.0");
  EXPECT_FALSE(c.cache.enabled);
  std::remove(path.c_str());
}

TEST(Config, TomlSyntaxErrorsAndUnknownKeysAreReported) {
  const auto bad = write_temp("[http\nport = 1\n");
  EXPECT_THROW(read_toml_settings(bad), ConfigError);
  const auto unknown = write_temp("[http]\nportt = 1\n");
  Config c;
  EXPECT_THROW(apply_settings(c, read_toml_settings(unknown), unknown), ConfigError);
  std::remove(bad.c_str());
  std::remove(unknown.c_str());
}

TEST(Config, TomlTextParsesLikeAFile) {
  Config c;
  apply_settings(c, parse_toml_settings("[http]\nport = 9091\n", "inline.toml"), "inline.toml");
  EXPECT_EQ(c.http.port, 9091);
  try {
    parse_toml_settings("[http\n", "inline.toml");
    ADD_FAILURE() << "a syntax error was accepted";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(std::string_view(e.what()).starts_with("inline.toml:1:")) << e.what();
  }
}

TEST(Config, EnvironmentVariablesMapToOptions) {
  EXPECT_EQ(env_name("http.max_body_bytes"), "ZTM_HTTP_MAX_BODY_BYTES");
  char a[] = "ZTM_HTTP_PORT=1234", b[] = "PATH=/bin", d[] = "ZTM_LOG_LEVEL=warn";
  char* env[] = {a, b, d, nullptr};
  Config c;
  apply_settings(c, read_env_settings(env), "environment");
  EXPECT_EQ(c.http.port, 1234);
  EXPECT_EQ(c.log.level, "warn");
}

TEST(Config, PrintedTomlReadsBackToTheSameConfig) {
  Config c;
  c.http.port = 4321;
  c.http.static_dir = "some \"quoted\" dir";
  c.http.trusted_proxies = "line\nbreak, \x01\x7f\ttab";  // control characters (fuzz/config)
  const auto path = write_temp(to_toml(c));
  Config back;
  apply_settings(back, read_toml_settings(path), path);
  for (const auto& o : config_options()) EXPECT_EQ(o.get(back), o.get(c)) << o.key;
  std::remove(path.c_str());
}

}  // namespace
TEST(HttpHostPort, SplitsAnHttpUrlAndRefusesTheRest) {
  EXPECT_EQ(http_host_port("http://10.77.1.81:6091")->host, "10.77.1.81");
  EXPECT_EQ(http_host_port("http://10.77.1.81:6091")->port, 6091);
  EXPECT_EQ(http_host_port("http://[::1]:80/metrics")->host, "::1");
  for (const char* bad : {"https://h:1", "http://h", "http://h:", "http://:80", "http://h:0",
                          "http://h:65536", "http://h:8x", "h:80"})
    EXPECT_FALSE(http_host_port(bad).has_value()) << bad;
}

}  // namespace ztm
