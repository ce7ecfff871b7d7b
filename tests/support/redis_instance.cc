#include "tests/support/redis_instance.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/child_process.h"

namespace ztm::test {
namespace {

using namespace std::chrono_literals;
constexpr auto kStartBound = 20s;
constexpr auto kStopBound = 10s;

std::string text_of(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (std::size_t i = 0; i < r->elements; ++i) out += (i ? "\n" : "") + text_of(r->element[i]);
      return out;
    }
    default:
      return std::string(r->str, r->len);
  }
}

}  // namespace

std::string redis_command(int port, const std::vector<std::string>& args, const RedisLogin& login) {
  const timeval bound{5, 0};
  std::unique_ptr<redisContext, decltype(&redisFree)> c(
      redisConnectWithTimeout("127.0.0.1", port, bound), &redisFree);
  if (!c || c->err)
    throw std::runtime_error("redis_command: cannot connect to port " + std::to_string(port) +
                             ": " + (c ? c->errstr : "no memory"));
  redisSetTimeout(c.get(), bound);
  auto run = [&](const std::vector<std::string>& command) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : command) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (!raw) throw std::runtime_error(std::string("redis_command: ") + c->errstr);
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> r(raw, &freeReplyObject);
    if (r->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("redis_command " + command.front() + ": " + r->str);
    return text_of(r.get());
  };
  if (!login.password.empty()) {
    if (login.user.empty())
      run({"AUTH", login.password});
    else
      run({"AUTH", login.user, login.password});
  }
  return run(args);
}

RedisInstance::RedisInstance(RedisAcl acl) : login_(std::move(acl.login)) {
  make_dir_and_port();
  write_config(acl.config);
  start();
}

std::unique_ptr<RedisInstance> RedisInstance::replica_of(const RedisInstance& primary) {
  return std::unique_ptr<RedisInstance>(new RedisInstance(Replica{}, primary));
}

RedisInstance::RedisInstance(Replica, const RedisInstance& primary) {
  make_dir_and_port();
  write_config("replicaof 127.0.0.1 " + std::to_string(primary.port()) + "\n");
  start();
  const auto until = std::chrono::steady_clock::now() + kStartBound;
  while (command({"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
    if (std::chrono::steady_clock::now() > until)
      throw std::runtime_error("RedisInstance: the replica did not sync in time; log " + dir_ +
                               "/log:\n" + log_tail(dir_ + "/log"));
    std::this_thread::sleep_for(10ms);
  }
}

RedisInstance::RedisInstance(Sentinel, const RedisInstance& primary, const std::string& name,
                             const RedisAcl& acl)
    : login_(acl.login) {
  binary_ = "/usr/bin/redis-sentinel";
  make_dir_and_port();
  write_config("sentinel monitor " + name + " 127.0.0.1 " + std::to_string(primary.port()) +
               " 2\n"
               "sentinel down-after-milliseconds " +
               name +
               " 1000\n"
               "sentinel failover-timeout " +
               name +
               " 5000\n"
               "sentinel parallel-syncs " +
               name + " 1\n" + acl.config);
  start();
}

std::unique_ptr<RedisInstance> RedisInstance::sentinel(const RedisInstance& primary,
                                                       const std::string& master_name,
                                                       const RedisAcl& acl) {
  return std::unique_ptr<RedisInstance>(new RedisInstance(Sentinel{}, primary, master_name, acl));
}

RedisInstance::RedisInstance(Template, const std::string& path,
                             std::map<std::string, std::string> vars, const RedisLogin& login,
                             bool sentinel)
    : login_(login) {
  if (sentinel) binary_ = "/usr/bin/redis-sentinel";
  make_dir_and_port();
  vars["address"] = "127.0.0.1";
  vars["port"] = std::to_string(port_);
  vars["workdir"] = dir_;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("RedisInstance: cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::string out = text.str();
  for (std::size_t open = out.find("{{"); open != std::string::npos; open = out.find("{{")) {
    const auto close = out.find("}}", open);
    const std::string name = out.substr(open + 2, close - open - 2);
    const auto value = vars.find(name);
    if (close == std::string::npos || value == vars.end())
      throw std::runtime_error("RedisInstance: " + path + ": no value for {{" + name + "}}");
    out.replace(open, close + 2 - open, value->second);
  }
  write_file(out);
  start();
}

std::unique_ptr<RedisInstance> RedisInstance::from_template(
    const std::string& path, const std::map<std::string, std::string>& vars,
    const RedisLogin& login, bool sentinel) {
  return std::unique_ptr<RedisInstance>(new RedisInstance(Template{}, path, vars, login, sentinel));
}

void RedisInstance::make_dir_and_port() {
  if (!std::filesystem::exists(binary_))
    throw std::runtime_error("RedisInstance: " + binary_ +
                             " not found; install the Debian packages redis-server and "
                             "redis-sentinel (scripts/lib/packages.sh lists them)");
  std::string pattern = "/tmp/ztm-redis-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("RedisInstance: mkdtemp failed");
  dir_ = pattern;
  port_ = free_port();
}

void RedisInstance::write_config(const std::string& body) {
  write_file("port " + std::to_string(port_) + "\nbind 127.0.0.1\ndir " + dir_ +
             "\ndaemonize no\nprotected-mode no\nsave \"\"\nappendonly no\n"
             "repl-diskless-sync yes\nrepl-diskless-sync-delay 0\n" +
             body);
}

void RedisInstance::write_file(const std::string& text) {
  config_ = dir_ + "/redis.conf";
  std::ofstream out(config_);
  out << text;
  if (!out) throw std::runtime_error("RedisInstance: cannot write " + config_);
}

RedisInstance::~RedisInstance() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void RedisInstance::start() {
  if (pid_ > 0) return;
  const std::string log = dir_ + "/log";
  pid_ = spawn({binary_, config_}, log);
  const auto until = std::chrono::steady_clock::now() + kStartBound;
  while (true) {
    try {
      if (command({"PING"}) == "PONG") return;
    } catch (const std::runtime_error&) {
      // not listening yet (or still loading): poll again
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("RedisInstance: " + binary_ + " exited at start; log " + log +
                               ":\n" + log_tail(log));
    }
    if (std::chrono::steady_clock::now() > until) {
      kill();
      throw std::runtime_error("RedisInstance: no answer in time; log " + log + ":\n" +
                               log_tail(log));
    }
    std::this_thread::sleep_for(5ms);
  }
}

void RedisInstance::stop() {
  if (pid_ <= 0) return;
  resume();
  ::kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + kStopBound;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid_ = -1;
}

void RedisInstance::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisInstance::pause() {
  if (pid_ > 0) stop_process(pid_);
}

void RedisInstance::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string RedisInstance::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string RedisInstance::command(const std::vector<std::string>& args) const {
  return redis_command(port_, args, login_);
}

std::string RedisInstance::command_as(const RedisLogin& login,
                                      const std::vector<std::string>& args) const {
  return redis_command(port_, args, login);
}

SentinelGroup::SentinelGroup(const RedisInstance& primary, const std::string& master_name,
                             int count)
    : master_name_(master_name) {
  for (int i = 0; i < count; ++i)
    sentinels_.push_back(RedisInstance::sentinel(primary, master_name));
}

std::vector<std::string> SentinelGroup::addresses() const {
  std::vector<std::string> out;
  for (const auto& s : sentinels_) out.push_back(s->address());
  return out;
}

std::string SentinelGroup::master(int i) const {
  const std::string r = sentinels_.at(static_cast<std::size_t>(i))
                            ->command({"SENTINEL", "get-master-addr-by-name", master_name_});
  const auto nl = r.find('\n');
  return nl == std::string::npos ? r : r.substr(0, nl) + ":" + r.substr(nl + 1);
}

}  // namespace ztm::test
