#include "tests/support/etcd_instance.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "etcd/protocol.h"
#include "tests/support/child_process.h"

namespace ztm::test {
namespace {

using namespace std::chrono_literals;
constexpr const char* kBinary = "/usr/bin/etcd";
constexpr auto kStartBound = 20s;
constexpr auto kStopBound = 10s;

std::string url(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// The body of an HTTP answer, or "" when it is not a 200.
std::string ok_body(const std::string& answer) {
  const auto body = answer.find("\r\n\r\n");
  if (answer.compare(0, 12, "HTTP/1.0 200") != 0 && answer.compare(0, 12, "HTTP/1.1 200") != 0)
    return "";
  return body == std::string::npos ? "" : answer.substr(body + 4);
}

}  // namespace

EtcdInstance::EtcdInstance() {
  dir_ = engine_dir("etcd", kBinary, "etcd-server");
  port_ = free_port();
  peer_port_ = free_port();
  start();
}

EtcdInstance::~EtcdInstance() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string EtcdInstance::endpoint() const {
  return "127.0.0.1:" + std::to_string(port_);
}

bool EtcdInstance::healthy() const {
  // 200 {"health":"true"} once the member has a leader (itself) and serves reads.
  const auto body = ok_body(http_request(port_, "GET", "/health"));
  return body.find("\"true\"") != std::string::npos;
}

void EtcdInstance::start() {
  // The flags of deploy/etcd/etcd.yml, on loopback: the gateway is on by default on the command
  // line; fsync is off (the data is disposable).
  const std::vector<std::string> args = {kBinary,
                                         "--name=ztm-test",
                                         "--data-dir=" + dir_ + "/data",
                                         "--listen-client-urls=" + url(port_),
                                         "--advertise-client-urls=" + url(port_),
                                         "--listen-peer-urls=" + url(peer_port_),
                                         "--initial-advertise-peer-urls=" + url(peer_port_),
                                         "--initial-cluster=ztm-test=" + url(peer_port_),
                                         "--initial-cluster-state=new",
                                         "--initial-cluster-token=ztm-test",
                                         "--unsafe-no-fsync",
                                         "--log-level=warn",
                                         "--logger=zap",
                                         "--log-outputs=stderr"};
  process_.start(
      args, dir_ + "/log", [this] { return healthy(); }, kStartBound, "EtcdInstance: etcd");
}

void EtcdInstance::stop() {
  process_.stop(kStopBound);
}

std::string EtcdInstance::post(const std::string& path, const std::string& body) {
  const auto answer = ok_body(http_request(port_, "POST", path, body));
  if (answer.empty())
    throw std::runtime_error("EtcdInstance: POST " + path + " failed; log " + dir_ + "/log");
  return answer;
}

std::int64_t EtcdInstance::put(const std::string& key, const std::string& value) {
  const auto body = boost::json::serialize(boost::json::object{
      {"key", etcd::base64_encode(key)}, {"value", etcd::base64_encode(value)}});
  const auto answer = boost::json::parse(post("/v3/kv/put", body));
  return std::stoll(std::string(answer.at("header").at("revision").as_string()));
}

void EtcdInstance::remove(const std::string& key) {
  post("/v3/kv/deleterange",
       boost::json::serialize(boost::json::object{{"key", etcd::base64_encode(key)}}));
}

void EtcdInstance::compact(std::int64_t revision) {
  post("/v3/kv/compaction",
       boost::json::serialize(boost::json::object{{"revision", std::to_string(revision)}}));
}

}  // namespace ztm::test
