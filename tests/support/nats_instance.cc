#include "tests/support/nats_instance.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace ztm::test {
namespace {

using namespace std::chrono_literals;
constexpr const char* kBinary = "/usr/sbin/nats-server";
constexpr auto kStartBound = 20s;
constexpr auto kStopBound = 10s;

}  // namespace

NatsInstance::NatsInstance() {
  dir_ = engine_dir("nats", kBinary, "nats-server");
  port_ = free_port();
  monitor_port_ = free_port();
  start();
}

NatsInstance::~NatsInstance() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string NatsInstance::url() const {
  return "nats://127.0.0.1:" + std::to_string(port_);
}

bool NatsInstance::jetstream_ready() const {
  // 200 once JetStream is up and has recovered its streams from the store (2.9: /healthz checks
  // it).
  return http_request(monitor_port_, "GET", "/healthz").find(" 200 ") != std::string::npos;
}

void NatsInstance::start() {
  const std::vector<std::string> args = {kBinary,
                                         "-a",
                                         "127.0.0.1",
                                         "-p",
                                         std::to_string(port_),
                                         "-m",
                                         std::to_string(monitor_port_),
                                         "-js",
                                         "-sd",
                                         dir_ + "/store"};
  process_.start(
      args, dir_ + "/log", [this] { return jetstream_ready(); }, kStartBound,
      "NatsInstance: nats-server");
}

void NatsInstance::stop() {
  process_.stop(kStopBound);
}

NatsInstance& NatsInstance::shared() {
  static NatsInstance instance;
  return instance;
}

}  // namespace ztm::test
