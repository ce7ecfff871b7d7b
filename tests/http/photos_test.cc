// Photos, edit jobs and the workers end to end (the single server: SQLite, the embedded queue,
// in-process workers, real libvips), over real sockets.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "app/outbox_relay.h"
#include "app/photo_worker.h"
#include "core/run_sync.h"
#include "core/task_group.h"
#include "media/local/local_blob_store.h"
#include "queue/embedded/embedded_queue.h"
#include "tests/support/http_client.h"
#include "tests/support/nats_instance.h"
#include "tests/support/postgres_instance.h"
#include "tests/support/test_images.h"
#include "tests/support/test_server.h"

namespace ztm {

using app::job_message;
using app::OutboxRelay;
using app::parse_job_message;
using app::PhotoWorker;
using queue::EmbeddedQueue;

namespace {
using test::error_code;
using test::eventually;
using test::HttpClient;
using test::Reply;
using test::TestServer;
using vips::VImage;
namespace json = boost::json;

std::string jpeg(int w, int h) {
  return test::encode(test::noise(w, h), media::Format::jpeg);
}

class PhotosTest : public ::testing::Test {
 protected:
  using Configure = std::function<void(Config&)>;
  explicit PhotosTest(const Configure& configure = {})
      : server([&](Config& config) {
          small_limits(config);
          if (configure) configure(config);
        }) {
    c.authorize(user_token);
  }
  static void small_limits(Config& config) {
    config.media.max_upload_bytes = 2 << 20;
    config.media.max_pixels = 4'000'000;
    config.media.user_max_jobs_in_flight = 1000;  // two_hundred_jobs queues 200 at once
    config.http.trusted_proxies = "127.0.0.1";    // the client may speak as an edge (kEdgeFetch)
  }
  // What an edge of ours sends on its fetches (deploy/varnish/edge.vcl).
  static constexpr const char* kEdgeFetch = "Ztm-Edge-Fetch: 1\r\n";
  // Uploads `bytes` as a photo of user 12; the photo's JSON.
  json::object upload(const std::string& bytes, std::string_view type = "image/jpeg") {
    auto r = c.request("POST", "/users/12/photos", bytes, {}, type);
    EXPECT_EQ(r.status, 201u) << r.body;
    return r.status == 201 ? json::parse(r.body).as_object() : json::object{};
  }
  // Whether GET `url` (a /media URL) is 404 now. On a connection of its own: a GET racing the
  // blob collector's removal may have its body cut short after the head (docs/media.md), which
  // counts as not gone yet rather than ending the test.
  bool media_gone(const std::string& url) {
    try {
      HttpClient probe(server.port());  // media are public: no session
      return probe.request("GET", url).status == 404;
    } catch (const std::exception&) {
      return false;
    }
  }
  // Submits steps for a photo; the job id.
  std::int64_t edit(std::int64_t photo, const std::string& steps,
                    std::string_view extra_headers = {}) {
    auto r = c.request("POST", "/photos/" + std::to_string(photo) + "/edits",
                       R"({"operations":)" + steps + "}", extra_headers);
    EXPECT_EQ(r.status, 202u) << r.body;
    return r.status == 202 ? json::parse(r.body).at("id").as_int64() : 0;
  }
  json::object job(std::int64_t id) {
    auto r = c.request("GET", "/jobs/" + std::to_string(id));
    EXPECT_EQ(r.status, 200u) << r.body;
    return json::parse(r.body).as_object();
  }
  // Polls the job until it is done or failed (bounded); its final JSON.
  json::object finished(std::int64_t id, std::chrono::seconds limit = std::chrono::seconds(30)) {
    json::object last;
    HttpClient poll(server.port());
    eventually(
        [&] {
          last = json::parse(poll.request("GET", "/jobs/" + std::to_string(id)).body).as_object();
          return last.at("status") == "done" || last.at("status") == "failed";
        },
        limit, std::chrono::milliseconds(20));
    return last;
  }
  void two_hundred_jobs();  // 100 crops and 100 blurs of one photo, all done as their steps imply
  std::string bytes_at(std::string_view url) {
    auto r = c.request("GET", url);
    EXPECT_EQ(r.status, 200u);
    return r.body;
  }

  TestServer server;
  const std::string user_token = server.user_token();  // John Smith, user 12 (one login)
  HttpClient c{server.port()};
};

// The gallery: a user's photos in pages, oldest first; photos and pages are public reads that
// edges keep under the photo's and the owner's keys (docs/cdn.md).
TEST_F(PhotosTest, AUsersPhotosComeInPagesThatEdgesKeepUnderTheOwnersKey) {
  std::vector<std::int64_t> ids;
  for (int w : {40, 50, 60}) ids.push_back(upload(jpeg(w, 30)).at("id").as_int64());
  // The edge's headers go to an edge's fetch (Ztm-Edge-Fetch from a trusted proxy: docs/cdn.md).
  auto first = c.request("GET", "/users/12/photos?limit=2", {}, kEdgeFetch);
  ASSERT_EQ(first.status, 200u) << first.body;
  auto page = json::parse(first.body).as_object();
  ASSERT_EQ(page.at("photos").as_array().size(), 2u);
  EXPECT_EQ(page.at("photos").as_array()[0].at("id").as_int64(), ids[0]);
  EXPECT_EQ(first.header("surrogate-key"), "owner-12");
  EXPECT_EQ(first.header("access-control-allow-origin"), "*");
  const std::string next(page.at("next").as_string());
  EXPECT_EQ(next, "/users/12/photos?after=" + std::to_string(ids[1]) + "&limit=2");
  auto rest = json::parse(c.request("GET", next).body).as_object();
  ASSERT_EQ(rest.at("photos").as_array().size(), 1u);
  EXPECT_EQ(rest.at("photos").as_array()[0].at("width").as_int64(), 60);
  EXPECT_TRUE(rest.at("next").is_null());
  EXPECT_EQ(json::parse(c.request("GET", "/users/13/photos").body).at("photos").as_array().size(),
            0u);
  // Hostile pages: a bad cursor or size is a 400 naming the parameter, a bad id a 404.
  for (const char* bad :
       {"/users/12/photos?limit=101", "/users/12/photos?limit=0", "/users/12/photos?after=-1",
        "/users/12/photos?after=1e3", "/users/12/photos?after=99999999999999999999"}) {
    auto r = c.request("GET", bad);
    EXPECT_EQ(r.status, 400u) << bad;
    EXPECT_EQ(json::parse(r.body).at("error").at("code"), "invalid_parameter") << bad;
    EXPECT_EQ(r.header("cache-control"), "no-store") << bad;
  }
  EXPECT_EQ(c.request("GET", "/users/abc/photos").status, 404u);
  EXPECT_EQ(c.request("GET", "/users/0/photos").status, 404u);

  const std::string path = "/photos/" + std::to_string(ids[0]);
  auto photo = c.request("GET", path, {}, kEdgeFetch);
  EXPECT_EQ(photo.header("cache-control"), "no-cache");
  EXPECT_EQ(photo.header("cdn-cache-control"),
            "max-age=86400, stale-while-revalidate=30, stale-if-error=300");
  EXPECT_EQ(photo.header("surrogate-key"), "photo-" + std::to_string(ids[0]) + " owner-12");
  auto again = c.request(
      "GET", path, {}, std::string(kEdgeFetch) + "If-None-Match: " + photo.header("etag") + "\r\n");
  EXPECT_EQ(again.status, 304u);
  EXPECT_EQ(again.header("surrogate-key"), photo.header("surrogate-key"));
  EXPECT_EQ(c.request("GET", path).header("surrogate-key"), "") << "a browser's read";
  auto media = c.request("GET", std::string(json::parse(photo.body).at("url").as_string()));
  EXPECT_EQ(media.header("access-control-allow-origin"), "*");
}

TEST_F(PhotosTest, UploadThenEditThenFetchTheResult) {
  const std::string original = jpeg(640, 480);
  auto photo = upload(original);
  const auto id = photo.at("id").as_int64();
  EXPECT_EQ(photo.at("width").as_int64(), 640);
  EXPECT_EQ(photo.at("height").as_int64(), 480);
  EXPECT_EQ(photo.at("ownerId").as_int64(), 12);
  const std::string url(photo.at("url").as_string());

  // The bytes: immutable, cacheable for a year, revalidated by their hash.
  auto media = c.request("GET", url);
  ASSERT_EQ(media.status, 200u);
  // Stored as a fresh encoding (no metadata), keyed by the hash of what is served.
  EXPECT_EQ(url, "/media/" + media::blob_key(media.body, "jpg"));
  EXPECT_EQ(photo.at("bytes").as_int64(), static_cast<std::int64_t>(media.body.size()));
  EXPECT_EQ(test::decode(media.body).width(), 640);
  EXPECT_EQ(media.header("content-type"), "image/jpeg");
  EXPECT_EQ(media.header("cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(c.request("GET", url, {}, "If-None-Match: " + media.header("etag") + "\r\n").status,
            304u);
  // HEAD: the length and the validator, without the bytes (the body is streamed: media.md).
  const auto head = c.request("HEAD", url);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-length"), std::to_string(media.body.size()));
  EXPECT_EQ(head.header("etag"), media.header("etag"));
  EXPECT_EQ(head.header("x-content-type-options"), "nosniff");
  EXPECT_TRUE(head.body.empty());
  // A streamed body keeps its place in a pipeline.
  c.send("GET " + url + " HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(c.read().body == media.body);
  EXPECT_EQ(c.read().status, 200u);
  EXPECT_EQ(json::parse(c.request("GET", "/photos/" + std::to_string(id)).body).at("url"),
            photo.at("url"));

  const auto job_id = edit(
      id,
      R"([{"op":"crop","x":20,"y":10,"width":300,"height":200},{"op":"sharpen","sigma":1},{"op":"blur","sigma":2}])");
  auto done = finished(job_id);
  ASSERT_EQ(done.at("status"), "done") << json::serialize(done);
  const auto& result = done.at("result").as_object();
  EXPECT_EQ(result.at("width").as_int64(), 300);
  EXPECT_EQ(result.at("height").as_int64(), 200);
  EXPECT_EQ(result.at("sourceId").as_int64(), id);
  const std::string edited = bytes_at(result.at("url").as_string());
  EXPECT_LT(test::high_frequency_energy(edited), 0.5 * test::high_frequency_energy(original));
}

TEST_F(PhotosTest, TwoHundredJobsAllFinishWithTheImpliedResults) {
  two_hundred_jobs();
}

// The same with NATS JetStream as the queue (a real nats-server -js), constructed first.
struct WithNats {
  test::NatsInstance nats;
};
class PhotosOverNatsTest : public WithNats, public PhotosTest {
 protected:
  PhotosOverNatsTest() : PhotosTest(over_nats(nats.url())) {}
  static Configure over_nats(std::string url) {
    return [url](Config& config) { config.queue.backend = "nats", config.queue.nats_url = url; };
  }
};

TEST_F(PhotosOverNatsTest, TwoHundredJobsAllFinishWithTheImpliedResults) {
  two_hundred_jobs();
}

// Photo bytes in PostgreSQL (media.backend = postgres, the lab's blob store): GET /media streams
// them chunk by chunk (substring of the bytea), and they arrive whole.
struct OnePostgres {
  std::string db = test::PostgresInstance::shared().create_database();
  std::string conninfo = test::PostgresInstance::shared().conninfo(db);
};
class PhotosOverPgBlobsTest : public OnePostgres, public PhotosTest {
 protected:
  PhotosOverPgBlobsTest() : PhotosTest(over_postgres(conninfo)) {}
  static Configure over_postgres(std::string url) {
    return [url](Config& config) {
      config.storage.backend = "postgres";
      config.storage.postgres_url = url;
      config.media.backend = "postgres";
    };
  }
};

TEST_F(PhotosOverPgBlobsTest, ABlobOfManyChunksIsStreamedWhole) {
  const auto photo = upload(jpeg(900, 700));
  const std::string url(photo.at("url").as_string());
  const auto bytes = photo.at("bytes").as_int64();
  ASSERT_GT(bytes, static_cast<std::int64_t>(3 * media::kBlobChunk)) << "several chunks";
  const auto media = c.request("GET", url);
  ASSERT_EQ(media.status, 200u);
  EXPECT_EQ(static_cast<std::int64_t>(media.body.size()), bytes);
  EXPECT_EQ(url, "/media/" + media::blob_key(media.body, "jpg"));
  EXPECT_EQ(media.header("cache-control"), "public, max-age=31536000, immutable");
  const auto head = c.request("HEAD", url);
  EXPECT_EQ(head.header("content-length"), std::to_string(bytes));
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(c.request("GET", "/media/" + media::blob_key("absent", "jpg")).status, 404u);
}

// The blob collector over PostgreSQL (a pass every second): the bytes of a photo deleted right
// after its upload are kept by the grace rule, marked remove_pending, and go once their put
// time (backdated here, on the server's clock) is older than the grace time.
class CollectorOverPgBlobsTest : public OnePostgres, public PhotosTest {
 protected:
  CollectorOverPgBlobsTest()
      : PhotosTest([url = conninfo](Config& config) {
          config.storage.backend = "postgres";
          config.storage.postgres_url = url;
          config.media.backend = "postgres";
          config.media.blob_collect_interval_s = 1;
        }) {}
};

TEST_F(CollectorOverPgBlobsTest, BytesKeptByTheGraceRuleGoOnceItIsOver) {
  auto& pg = test::PostgresInstance::shared();
  const auto photo = upload(jpeg(64, 48));
  const std::string url(photo.at("url").as_string());
  const std::string key = url.substr(7);
  EXPECT_EQ(c.request("DELETE", "/photos/" + std::to_string(photo.at("id").as_int64())).status,
            204u);
  ASSERT_EQ(c.request("GET", url).status, 200u) << "put a moment ago: kept";
  EXPECT_EQ(pg.query(db, "SELECT remove_pending FROM blobs WHERE key = '" + key + "'"), "t");
  pg.query(db, "UPDATE blobs SET put_at = put_at - interval '1 hour' WHERE key = '" + key + "'");
  EXPECT_TRUE(eventually([&] { return media_gone(url); }, std::chrono::seconds(10),
                         std::chrono::milliseconds(50)));
  EXPECT_EQ(pg.query(db, "SELECT count(*) FROM blobs"), "0");
}

// The data tier split over two PostgreSQL databases (storage.shard_map, docs/sharding.md): a
// bucket map file naming both, buckets alternating. The demo data, sign-ups, logins, uploads and
// edits go through the sharded store as they would through one database.
struct TwoShards {
  TwoShards() {
    auto& pg = test::PostgresInstance::shared();
    std::string buckets;
    for (int b = 0; b < 1024; ++b) buckets += (b ? ",\"s" : "\"s") + std::to_string(b % 2) + "\"";
    std::ofstream(map) << R"({"version":1,"mode":"buckets","shards":[{"name":"s0","conninfo":")"
                       << pg.conninfo(pg.create_database()) << R"("},{"name":"s1","conninfo":")"
                       << pg.conninfo(pg.create_database()) << R"("}],"buckets":[)" << buckets
                       << "]}";
  }
  ~TwoShards() { std::filesystem::remove(map); }
  std::string map = std::filesystem::temp_directory_path() /
                    ("ztm-shard-map-" + std::to_string(::getpid()) + ".json");
};
class PhotosOverShardsTest : public TwoShards, public PhotosTest {
 protected:
  PhotosOverShardsTest() : PhotosTest(sharded(map)) {}
  static Configure sharded(std::string path) {
    return [path](Config& config) {
      config.storage.backend = "postgres";
      config.storage.shard_map = path;
    };
  }
};

TEST_F(PhotosOverShardsTest, SignUpsLogInsUploadsAndEditsAcrossShards) {
  // Accounts on both shards, each found by its email (a lookup row on a third place, maybe).
  std::set<std::int64_t> ids;
  for (int i = 0; i < 12; ++i) {
    const std::string email = "shard" + std::to_string(i) + "@example.com";
    auto up = c.request("POST", "/accounts",
                        R"({"email":")" + email + R"(","password":"correct horse battery",)" +
                            R"("profile":{"firstName":"Ann","lastName":"Shard","address":)" +
                            R"({"streetAddress":"1 Main St","city":"Albany","state":"NY",)" +
                            R"("postalCode":12207}}})");
    ASSERT_EQ(up.status, 201u) << up.body;
    ids.insert(json::parse(up.body).at("user_id").as_int64());
    auto login = c.request("POST", "/sessions",
                           R"({"email":")" + email + R"(","password":"correct horse battery"})");
    EXPECT_EQ(login.status, 201u) << login.body;
  }
  EXPECT_EQ(c.request("POST", "/accounts",
                      R"({"email":"shard0@example.com","password":"correct horse battery",)"
                      R"("profile":{"firstName":"Ann","lastName":"Twice","address":)"
                      R"({"streetAddress":"1 Main St","city":"Albany","state":"NY",)"
                      R"("postalCode":12207}}})")
                .status,
            409u);
  // A page of users crosses both shards in id order; the demo data is there too.
  auto page = json::parse(c.request("GET", "/users?limit=100").body).at("users").as_array();
  std::vector<std::int64_t> listed;
  for (const auto& u : page) listed.push_back(u.at("id").as_int64());
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
  for (auto id : ids) EXPECT_NE(std::find(listed.begin(), listed.end(), id), listed.end()) << id;
  EXPECT_EQ(c.request("GET", "/users/12").status, 200u);
  // John's photo and an edit: the photo and job found by id through their lookup rows, the job's
  // message through the outbox of John's shard, the result stored there.
  const auto photo = upload(jpeg(320, 240)).at("id").as_int64();
  EXPECT_EQ(c.request("GET", "/photos/" + std::to_string(photo)).status, 200u);
  auto done = finished(edit(photo, R"([{"op":"crop","x":0,"y":0,"width":100,"height":50}])"));
  ASSERT_EQ(done.at("status"), "done") << json::serialize(done);
  EXPECT_EQ(done.at("result").at("width").as_int64(), 100);
  EXPECT_EQ(c.request("DELETE", "/photos/" + std::to_string(photo)).status, 204u);
  EXPECT_EQ(c.request("GET", "/photos/" + std::to_string(photo)).status, 404u);
}

void PhotosTest::two_hundred_jobs() {
  const std::string original = jpeg(160, 120);
  const double detail = test::high_frequency_energy(original);
  const auto id = upload(original).at("id").as_int64();
  std::vector<std::int64_t> crops, blurs;
  for (int i = 0; i < 100; ++i) {
    crops.push_back(edit(id, R"([{"op":"crop","x":)" + std::to_string(i % 40) +
                                 R"(,"y":5,"width":)" + std::to_string(40 + i % 50) +
                                 R"(,"height":30}])"));
    blurs.push_back(edit(id, R"([{"op":"blur","sigma":)" + std::to_string(1 + i % 3) + "}]"));
  }
  for (int i = 0; i < 100; ++i) {
    auto crop = finished(crops[static_cast<std::size_t>(i)]);
    ASSERT_EQ(crop.at("status"), "done") << i;
    EXPECT_EQ(crop.at("result").at("width").as_int64(), 40 + i % 50);
    EXPECT_EQ(crop.at("result").at("height").as_int64(), 30);
    auto blur = finished(blurs[static_cast<std::size_t>(i)]);
    ASSERT_EQ(blur.at("status"), "done") << i;
    EXPECT_EQ(blur.at("result").at("width").as_int64(), 160);
    if (i < 5) {
      EXPECT_LT(test::high_frequency_energy(bytes_at(blur.at("result").at("url").as_string())),
                0.7 * detail);
    }
  }
  // A job's result is stored before its message is acknowledged: the last ack may trail it.
  EXPECT_TRUE(eventually([&] { return *run_sync(server.queue().pending()) == 0; }));
}

TEST_F(PhotosTest, ABrowserFormUploadIsAccepted) {
  const std::string image = test::encode(test::checkerboard(64, 48), media::Format::png);
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nhello\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n"
      "Content-Type: image/png\r\n\r\n" +
      image + "\r\n--XyZ--\r\n";
  auto photo = upload(body, "multipart/form-data; boundary=XyZ");
  EXPECT_EQ(photo.at("contentType"), "image/png");
  EXPECT_EQ(photo.at("width").as_int64(), 64);
  const std::string stored = bytes_at(photo.at("url").as_string());
  EXPECT_EQ((test::decode(stored) - test::decode(image)).abs().max(), 0) << "PNG is lossless";
}

TEST_F(PhotosTest, BadUploadsGetClear4xxAndStoreNothing) {
  const std::string good = jpeg(64, 48);
  struct Case {
    std::string body;
    std::string type;
    unsigned status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"just text", "text/plain", 415, "unsupported_media_type"},
      {"GIF89a not really", "image/jpeg", 422, "validation_failed"},
      {"", "image/jpeg", 422, "validation_failed"},
      {good.substr(0, good.size() / 2), "image/jpeg", 422, "validation_failed"},  // truncated
      {test::png_bomb(), "image/png", 422, "validation_failed"},                  // 900 M pixels
      {test::encode(test::marked(2100, 2000), media::Format::jpeg), "image/jpeg", 422,
       "validation_failed"},  // > 4 M pixels, few bytes
      {"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno file\r\n--B--\r\n",
       "multipart/form-data; boundary=B", 400, "invalid_multipart"},
  };
  for (const auto& k : cases) {
    HttpClient fresh(server.port());
    fresh.authorize(server.user_token());
    auto r = fresh.request("POST", "/users/12/photos", k.body, {}, k.type);
    EXPECT_EQ(r.status, k.status) << k.type << " " << k.body.size() << " bytes: " << r.body;
    EXPECT_EQ(error_code(r), k.code) << k.type << " " << k.body.size();
  }
  // Too large: refused from the Content-Length alone, before the body is read.
  HttpClient big(server.port());
  big.send(
      "POST /users/12/photos HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nAuthorization: "
      "Bearer " +
      server.user_token() + "\r\nContent-Length: " + std::to_string(3 << 20) + "\r\n\r\n");
  auto too_big = big.read();
  EXPECT_EQ(too_big.status, 413u);
  EXPECT_EQ(error_code(too_big), "body_too_large");
  // Another user's photos, or nobody's session. (A fresh connection: the fixture's has been idle
  // while the cases' images were made, under load longer than the server's first-request timeout.)
  HttpClient owner(server.port());
  owner.authorize(user_token);
  auto other = owner.request("POST", "/users/1/photos", good, {}, "image/jpeg");
  EXPECT_EQ(other.status, 403u);
  HttpClient anonymous(server.port());
  EXPECT_EQ(anonymous.request("POST", "/users/12/photos", good, {}, "image/jpeg").status, 401u);
  EXPECT_FALSE(std::filesystem::exists(server.blob_path(media::blob_key(good, "jpg"))));
}

TEST_F(PhotosTest, BadEditsAreRefusedUpFront) {
  const auto id = upload(jpeg(100, 80)).at("id").as_int64();
  for (const char* steps :
       {R"([])", R"([{"op":"explode"}])", R"([{"op":"blur"}])", R"([{"op":"blur","sigma":"2"}])",
        R"([{"op":"blur","sigma":0}])", R"([{"op":"crop","x":90,"y":0,"width":20,"height":10}])",
        R"([{"op":"rotate","angle":45}])", R"([{"op":"blur","sigma":2,"extra":1}])"}) {
    auto r = c.request("POST", "/photos/" + std::to_string(id) + "/edits",
                       std::string(R"({"operations":)") + steps + "}");
    EXPECT_EQ(r.status, 422u) << steps << " " << r.body;
  }
  EXPECT_EQ(c.request("POST", "/photos/" + std::to_string(id) + "/edits", R"({"ops":[]})").status,
            422u);
  EXPECT_EQ(c.request("POST", "/photos/424242/edits", R"({"operations":[{"op":"blur","sigma":1}]})")
                .status,
            404u);
  c.authorize(server.admin_token());  // an admin may edit anyone's photo
  EXPECT_EQ(c.request("POST", "/photos/" + std::to_string(id) + "/edits",
                      R"({"operations":[{"op":"blur","sigma":1}]})")
                .status,
            202u);
}

// No grace time for a deleted photo's bytes (media.blob_remove_grace_s): they go at once.
class NoGraceTest : public PhotosTest {
 protected:
  NoGraceTest() : PhotosTest([](Config& config) { config.media.blob_remove_grace_s = 0; }) {}
};

// With the default grace time, the bytes of a photo deleted right after its upload stay: an
// upload of the same bytes may be between its put and its photo (docs/media.md).
TEST_F(PhotosTest, BytesPutWithinTheGraceTimeStayWhenTheirPhotoIsDeleted) {
  auto photo = upload(jpeg(64, 48));
  const std::string key = std::string(photo.at("url").as_string()).substr(7);
  EXPECT_EQ(c.request("DELETE", "/photos/" + std::to_string(photo.at("id").as_int64())).status,
            204u);
  EXPECT_EQ(c.request("GET", "/photos/" + std::to_string(photo.at("id").as_int64())).status, 404u);
  EXPECT_TRUE(std::filesystem::exists(server.blob_path(key)));
}

// The blob collector (media.blob_collect_interval_s, here a pass every second): the bytes kept
// by the grace rule go once their put time is older than the grace time and no photo holds
// them; GET /media is 404 from then on.
class CollectorTest : public PhotosTest {
 protected:
  CollectorTest() : PhotosTest([](Config& config) { config.media.blob_collect_interval_s = 1; }) {}
};

TEST_F(CollectorTest, BytesKeptByTheGraceRuleGoOnceItIsOverAndMediaIs404) {
  const auto photo = upload(jpeg(64, 48));
  const std::string url(photo.at("url").as_string());
  const std::string file = server.blob_path(url.substr(7));
  EXPECT_EQ(c.request("DELETE", "/photos/" + std::to_string(photo.at("id").as_int64())).status,
            204u);
  ASSERT_EQ(c.request("GET", url).status, 200u) << "put a moment ago: kept";
  // As if uploaded an hour ago: a file's mtime is its blob's put time.
  std::filesystem::last_write_time(file,
                                   std::filesystem::last_write_time(file) - std::chrono::hours(1));
  EXPECT_TRUE(eventually([&] { return media_gone(url); }, std::chrono::seconds(10),
                         std::chrono::milliseconds(50)));
  EXPECT_FALSE(std::filesystem::exists(file));
  // Counted when the collector's pass ends, a moment after the file went.
  EXPECT_TRUE(eventually(
      [&] {
        return server.metrics().render().find(
                   R"(ztm_blob_collector_candidates_total{outcome="removed"} 1)") !=
               std::string::npos;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(20)))
      << server.metrics().render();
}

TEST_F(NoGraceTest, DeletingAPhotoRemovesItsBytesWhenUnshared) {
  const std::string image = jpeg(64, 48);
  auto first = upload(image);
  auto second = upload(image);  // the same bytes: one blob
  const std::string key = std::string(first.at("url").as_string()).substr(7);
  EXPECT_EQ(first.at("url"), second.at("url"));
  EXPECT_EQ(c.request("DELETE", "/photos/" + std::to_string(first.at("id").as_int64())).status,
            204u);
  EXPECT_TRUE(std::filesystem::exists(server.blob_path(key))) << "the second photo still uses it";
  EXPECT_EQ(c.request("DELETE", "/photos/" + std::to_string(second.at("id").as_int64())).status,
            204u);
  EXPECT_FALSE(std::filesystem::exists(server.blob_path(key)));
  EXPECT_EQ(c.request("GET", "/photos/" + std::to_string(first.at("id").as_int64())).status, 404u);
  EXPECT_EQ(c.request("GET", std::string(first.at("url").as_string())).status, 404u);
  EXPECT_EQ(c.request("GET", "/media/not-a-key.jpg").status, 404u);
}

TEST_F(PhotosTest, ARedeliveredJobMakesNoSecondResult) {
  const auto id = upload(jpeg(80, 60)).at("id").as_int64();
  const auto job_id = edit(id, R"([{"op":"blur","sigma":1}])");
  auto done = finished(job_id);
  ASSERT_EQ(done.at("status"), "done");
  // The same message again (as a broker redelivers after a lost ack): acked, nothing made.
  std::string message = job_message(job_id), dedup = "again";
  ASSERT_TRUE(run_sync(server.queue().publish(std::move(dedup), std::move(message))).ok());
  ASSERT_TRUE(eventually([&] { return *run_sync(server.queue().pending()) == 0; },
                         std::chrono::seconds(10)));
  auto after = job(job_id);
  EXPECT_EQ(after.at("result").at("id"), done.at("result").at("id"));
  EXPECT_EQ(after.at("attempts"), done.at("attempts"));
}

// --- Security issue 13, finding 3: originals without metadata; nosniff everywhere ---

TEST_F(PhotosTest, AnOriginalIsServedWithoutItsLocationOrTrailingBytes) {
  const std::string located = test::jpeg_with_location(320, 240) + "TRAILING <html>secret</html>";
  ASSERT_EQ(test::jpeg_segments(located).front(), "APP1:Exif");
  auto photo = upload(located);
  const std::string url(photo.at("url").as_string());
  auto media = c.request("GET", url);
  ASSERT_EQ(media.status, 200u);
  EXPECT_NE(media.body, located);
  const auto segments = test::jpeg_segments(media.body);
  ASSERT_FALSE(segments.empty()) << "a JPEG";
  for (const auto& segment : segments) EXPECT_NE(segment, "APP1:Exif");
  EXPECT_EQ(test::decode(media.body).get_typeof("exif-ifd3-GPSLatitude"), 0u);
  EXPECT_EQ(media.body.find("PhoneCo"), std::string::npos);
  EXPECT_TRUE(media.body.ends_with("\xFF\xD9")) << "nothing after the end-of-image marker";
  EXPECT_EQ(media.body.find("secret"), std::string::npos);
  // The photo describes the stored bytes, whose hash is its key.
  EXPECT_EQ(url, "/media/" + media::blob_key(media.body, "jpg"));
  EXPECT_EQ(photo.at("bytes").as_int64(), static_cast<std::int64_t>(media.body.size()));
  EXPECT_EQ(photo.at("width").as_int64(), 320);
}

TEST_F(PhotosTest, APngLosesItsTextAndIccChunks) {
  VImage image = test::checkerboard(64, 48);
  image.set("png-comment-0-Comment", std::string(200'000, 'x').c_str());
  const std::string png =
      test::take(
          image.icc_transform("srgb", VImage::option()->set("embedded", false)).pngsave_buffer()) +
      "trailing";
  const auto before = test::png_chunks(png).types;
  ASSERT_NE(std::find(before.begin(), before.end(), "iCCP"), before.end());
  ASSERT_NE(std::find(before.begin(), before.end(), "zTXt"), before.end());  // libvips deflates
  const std::string stored = bytes_at(upload(png, "image/png").at("url").as_string());
  const auto after = test::png_chunks(stored);
  for (const auto& type : after.types)
    EXPECT_TRUE(type == "IHDR" || type == "pHYs" || type == "IDAT" || type == "IEND") << type;
  EXPECT_EQ(after.trailing, 0u);
}

TEST_F(PhotosTest, ASidewaysPhotoIsStoredUpright) {
  VImage image = test::noise(80, 60);
  image.set("orientation", 6);  // shown turned 90 degrees clockwise
  auto photo = upload(test::encode(image, media::Format::jpeg));
  EXPECT_EQ(photo.at("width").as_int64(), 60);
  EXPECT_EQ(photo.at("height").as_int64(), 80);
  const VImage stored = test::decode(bytes_at(photo.at("url").as_string()));
  EXPECT_EQ(stored.width(), 60);
  EXPECT_EQ(stored.height(), 80);
  EXPECT_TRUE(stored.get_typeof("orientation") == 0 || stored.get_int("orientation") == 1);
}

TEST_F(PhotosTest, EveryResponseSaysNosniff) {
  auto photo = upload(jpeg(64, 48));
  const auto media = c.request("GET", std::string(photo.at("url").as_string()));
  const auto json = c.request("GET", "/photos/" + std::to_string(photo.at("id").as_int64()));
  const auto error = c.request("GET", "/photos/424242");
  const auto no_route = c.request("GET", "/no/such/route");
  EXPECT_EQ(media.status, 200u);
  EXPECT_EQ(json.status, 200u);
  EXPECT_EQ(error.status, 404u);
  for (const auto* r : {&media, &json, &error, &no_route})
    EXPECT_EQ(r->header("x-content-type-options"), "nosniff") << r->status << " " << r->body;
}

// --- Security issue 13, finding 6: edits cost-bounded, quotas per user ---

class BudgetTest : public PhotosTest {
 protected:
  // 640 x 480: a blur of sigma 2 costs 0.3 M x 6 = 1.8 M pixel-passes; of sigma 100, 1.3 G; ten
  // of sigma 5, 61 M.
  BudgetTest() : PhotosTest([](Config& config) { config.media.max_edit_cost = 50'000'000; }) {}
};

TEST_F(BudgetTest, AnEditOverTheCostBudgetIs422NamingTheCost) {
  const auto id = upload(jpeg(640, 480)).at("id").as_int64();
  const std::string edits = "/photos/" + std::to_string(id) + "/edits";
  auto heavy = c.request("POST", edits, R"({"operations":[{"op":"blur","sigma":100}]})");
  EXPECT_EQ(heavy.status, 422u) << heavy.body;
  EXPECT_EQ(error_code(heavy), "validation_failed");
  EXPECT_NE(heavy.body.find("pixel-passes, over the budget of 5e+07"), std::string::npos)
      << heavy.body;
  EXPECT_EQ(c.request("POST", edits, R"({"operations":[{"op":"blur","sigma":2}]})").status, 202u);
  // Within the step limit, ten medium blurs add up past the budget.
  std::string ten = R"({"operations":[)";
  for (int i = 0; i < 10; ++i) ten += std::string(i ? "," : "") + R"({"op":"blur","sigma":5})";
  EXPECT_EQ(c.request("POST", edits, ten + "]}").status, 422u);
}

class QuotaTest : public PhotosTest {
 protected:
  QuotaTest()
      : PhotosTest([](Config& config) {
          config.media.user_max_photos = 2;
          config.media.user_max_jobs_in_flight = 2;
          config.worker.in_process = false;  // jobs stay queued: in flight
        }) {}
  Reply upload_reply(const std::string& bytes) {
    return c.request("POST", "/users/12/photos", bytes, {}, "image/jpeg");
  }
};

TEST_F(QuotaTest, APhotoBeyondTheUsersCountIs429UntilOneIsDeleted) {
  const auto first = upload(jpeg(64, 48)).at("id").as_int64();
  upload(jpeg(64, 40));
  auto refused = upload_reply(jpeg(64, 32));
  EXPECT_EQ(refused.status, 429u) << refused.body;
  EXPECT_EQ(error_code(refused), "quota_exceeded");
  EXPECT_EQ(refused.header("retry-after"), "3600");
  // An admin uploading for the user counts against the user too.
  HttpClient admin(server.port());
  admin.authorize(server.admin_token());
  EXPECT_EQ(admin.request("POST", "/users/12/photos", jpeg(64, 32), {}, "image/jpeg").status, 429u);
  EXPECT_EQ(c.request("DELETE", "/photos/" + std::to_string(first)).status, 204u);
  EXPECT_EQ(upload_reply(jpeg(64, 32)).status, 201u);
}

TEST_F(QuotaTest, EditsBeyondTheJobsInFlightAre429WithRetryAfter) {
  const auto id = upload(jpeg(64, 48)).at("id").as_int64();
  edit(id, R"([{"op":"blur","sigma":1}])");
  edit(id, R"([{"op":"blur","sigma":1}])");
  auto refused = c.request("POST", "/photos/" + std::to_string(id) + "/edits",
                           R"({"operations":[{"op":"blur","sigma":1}]})");
  EXPECT_EQ(refused.status, 429u) << refused.body;
  EXPECT_EQ(error_code(refused), "quota_exceeded");
  EXPECT_EQ(refused.header("retry-after"), "10");
}

class ByteQuotaTest : public PhotosTest {
 protected:
  ByteQuotaTest() : PhotosTest([](Config& config) { config.media.user_max_bytes = 40'000; }) {}
};

TEST_F(ByteQuotaTest, AnUploadThatWouldPassTheUsersBytesIs429) {
  // Noise barely compresses: 160 x 120 at Q 92 is about 30 kB stored, 160 x 100 about 25 kB.
  const auto first = upload(jpeg(160, 120));
  ASSERT_GT(first.at("bytes").as_int64(), 20'000);
  ASSERT_LT(first.at("bytes").as_int64(), 40'000);
  auto refused = c.request("POST", "/users/12/photos", jpeg(160, 100), {}, "image/jpeg");
  EXPECT_EQ(refused.status, 429u) << refused.body;
  EXPECT_EQ(error_code(refused), "quota_exceeded");
  EXPECT_FALSE(refused.header("retry-after").empty());
  EXPECT_EQ(c.request("POST", "/users/12/photos", jpeg(16, 12), {}, "image/jpeg").status, 201u)
      << "a small one still fits";
}

class PoisonTest : public PhotosTest {
 protected:
  PoisonTest() : PhotosTest([](Config& config) { config.queue.max_deliveries = 2; }) {}
};

TEST_F(PoisonTest, AJobWhoseImageFailsEndsFailedAndDeadLetteredOthersFinish) {
  const auto bad_photo = upload(jpeg(96, 64));
  const auto bad_id = bad_photo.at("id").as_int64();
  const auto good_id = upload(jpeg(90, 60)).at("id").as_int64();
  // Damage the stored bytes behind the service's back: every attempt to decode them fails.
  {
    const std::string url(bad_photo.at("url").as_string());
    const std::string bad = bytes_at(url);
    std::ofstream f(server.blob_path(url.substr(7)), std::ios::binary | std::ios::trunc);
    f << bad.substr(0, 200);
  }
  // The request's id and trace travel with its job (docs/observability.md): in the message.
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const auto poison =
      edit(bad_id, R"([{"op":"blur","sigma":1}])",
           "X-Request-Id: poison-edit\r\ntraceparent: 00-" + trace_id + "-00f067aa0ba902b7-01\r\n");
  const auto fine = edit(good_id, R"([{"op":"blur","sigma":1}])");
  auto failed = finished(poison, std::chrono::seconds(20));
  ASSERT_EQ(failed.at("status"), "failed") << json::serialize(failed);
  EXPECT_FALSE(failed.at("error").as_string().empty());
  EXPECT_EQ(failed.at("attempts").as_int64(), 2);
  EXPECT_EQ(finished(fine).at("status"), "done");
  // The worker marks the job failed, then dead-letters its message: the second may come a
  // moment after the job reads "failed".
  ASSERT_TRUE(eventually([&] {
    auto d = run_sync(server.queue().dead_letters(10));
    return d.ok() && !d->empty();
  })) << "no dead letter";
  auto dead = run_sync(server.queue().dead_letters(10));
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  auto message = parse_job_message(dead->front().payload);
  ASSERT_TRUE(message.ok()) << dead->front().payload;
  EXPECT_EQ(message->job, poison);
  EXPECT_EQ(message->origin.request_id, "poison-edit");
  // The web request's own span is the job's parent: same trace, its span, sampled.
  auto parent = Trace::child_of(message->origin.traceparent);
  ASSERT_TRUE(parent) << message->origin.traceparent;
  EXPECT_EQ(parent->trace_id(), trace_id);
  EXPECT_NE(parent->parent_id(), "00f067aa0ba902b7");
  EXPECT_TRUE(parent->sampled());
}

// Stopping a relay and workers of the test's own (cancelling their TaskGroup); the server runs no
// workers (its relay publishes too: the queue's dedup absorbs the repeat).
class StopTest : public PhotosTest {
 protected:
  StopTest() : PhotosTest([](Config& config) { config.worker.in_process = false; }) {}

  // The server's blob directory (blob_path is <dir>/<2 chars>/<key>).
  std::string media_dir() {
    return std::filesystem::path(server.blob_path("00")).parent_path().parent_path().string();
  }
  OutboxRelay relay_waiting_an_hour() {
    return OutboxRelay(server.store(), server.store(), server.queue(),
                       {.idle_wait = std::chrono::hours(1)});
  }

  IdGenerator ids{2};  // a node of its own
};

// Sets `returned` when `task` has returned.
boost::asio::awaitable<void> noting_return(boost::asio::awaitable<void> task,
                                           std::atomic<bool>& returned) {
  co_await std::move(task);
  returned = true;
}

// A blob store whose get() waits, cancellably, until release().
class GatedBlobStore final : public media::BlobStoreWrapper {
 public:
  using media::BlobStoreWrapper::BlobStoreWrapper;
  boost::asio::awaitable<Result<std::string>> get(std::string key) override {
    gate_.emplace(co_await boost::asio::this_coro::executor, 1);
    ++waiting_;
    co_await gate_->async_receive(boost::asio::use_awaitable);  // throws if cancelled
    co_return co_await target().get(std::move(key));
  }
  int waiting() const { return waiting_.load(); }
  // REQUIRES: waiting() > 0.
  void release() { (void)gate_->try_send(boost::system::error_code()); }

 private:
  std::optional<boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>>
      gate_;
  std::atomic<int> waiting_{0};
};

TEST_F(StopTest, StoppingIdleWorkersIsPrompt) {
  media::LocalBlobStore blobs({.dir = media_dir()});
  OutboxRelay relay = relay_waiting_an_hour();
  PhotoWorker worker(server.queue(), server.store(), blobs, ids, nullptr,
                     {.concurrency = 2, .fetch_wait = std::chrono::milliseconds(200)});
  TaskGroup group;
  group.spawn(relay.run());
  group.spawn(worker.run());
  auto& queue = dynamic_cast<EmbeddedQueue&>(server.queue());
  ASSERT_TRUE(eventually([&] { return queue.waiting_fetches() == 2; }));
  const auto start = std::chrono::steady_clock::now();
  group.stop();  // the relay's hour-long wait is aborted; the fetches end within fetch_wait
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(StopTest, StoppingFinishesAndAcksTheJobInHand) {
  const auto job_id =
      edit(upload(jpeg(80, 60)).at("id").as_int64(), R"([{"op":"blur","sigma":1}])");
  // Destroyed last: the gate's channel lives on the group's io_context, whose destructor frees
  // the channel's service, so the gate must go first; the tasks are stopped before anything
  // they use goes, whichever way the test ends.
  TaskGroup group;
  media::LocalBlobStore local({.dir = media_dir()});
  GatedBlobStore blobs(local);
  OutboxRelay relay = relay_waiting_an_hour();
  PhotoWorker worker(server.queue(), server.store(), blobs, ids, nullptr,
                     {.concurrency = 1, .fetch_wait = std::chrono::milliseconds(100)});
  std::atomic<bool> relay_returned{false}, worker_returned{false};
  struct StopFirst {
    TaskGroup& tasks;
    ~StopFirst() { tasks.stop(); }
  } stop_first{group};
  group.spawn(noting_return(relay.run(), relay_returned));
  group.spawn(noting_return(worker.run(), worker_returned));
  ASSERT_TRUE(eventually([&] { return blobs.waiting() == 1; }));  // the job is in hand

  auto stopped = std::async(std::launch::async, [&group] { group.stop(); });
  // The relay returning shows the cancellation was emitted (to every task at once).
  const bool cancelled = eventually([&] { return relay_returned.load(); });
  EXPECT_FALSE(worker_returned) << "the worker waits for its job";
  blobs.release();
  ASSERT_TRUE(cancelled);
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(worker_returned);
  EXPECT_EQ(job(job_id).at("status"), "done");
  EXPECT_EQ(*run_sync(server.queue().pending()), 0) << "acked";
}

}  // namespace
}  // namespace ztm
