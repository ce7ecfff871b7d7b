#pragma once
// Throwaway Redis servers and sentinels for one test binary: each in its own directory under
// /tmp (config, log, and the files Sentinel rewrites), on a free port of 127.0.0.1, started as a
// child process in the foreground (no daemonize), stopped by pid, directory removed.
//
// A missing binary or a server that does not come up throws std::runtime_error saying what to
// install or where the log is: tests fail, never skip.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace ztm::test {

class RedisInstance {
 public:
  // A primary (no persistence).
  RedisInstance();
  ~RedisInstance();  // kill(), then removes the directory
  RedisInstance(const RedisInstance&) = delete;
  RedisInstance& operator=(const RedisInstance&) = delete;

  void start();   // again after stop()/kill(), same port and directory; returns once it answers
  void stop();    // SIGTERM and wait (bounded; then SIGKILL)
  void kill();    // SIGKILL and wait
  void pause();   // SIGSTOP: the port still accepts connections, nothing answers
  void resume();  // SIGCONT
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:port"
  const std::string& dir() const { return dir_; }

  // Runs one command with a blocking connection (bounded by 5 s) and returns the reply as text:
  // strings and statuses as they are, integers in decimal, nil as "", arrays one element a line.
  // Throws std::runtime_error on a connection failure or an error reply.
  std::string command(const std::vector<std::string>& args) const;

  // A replica of `primary`; returns once its replication link is up.
  static std::unique_ptr<RedisInstance> replica_of(const RedisInstance& primary);
  // A sentinel monitoring `primary` as `master_name` (quorum 2, down-after 1000 ms).
  static std::unique_ptr<RedisInstance> sentinel(const RedisInstance& primary,
                                                 const std::string& master_name);

 private:
  struct Sentinel {};
  struct Replica {};
  RedisInstance(Replica, const RedisInstance& primary);
  RedisInstance(Sentinel, const RedisInstance& primary, const std::string& master_name);
  void make_dir_and_port();
  void write_config(const std::string& body);

  std::string binary_ = "/usr/bin/redis-server";
  std::string config_;  // path: Sentinel (and CONFIG REWRITE after a failover) rewrites it
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// `count` sentinels monitoring `primary` as `master_name` (quorum 2), down-after 1000 ms.
class SentinelGroup {
 public:
  SentinelGroup(const RedisInstance& primary, const std::string& master_name, int count);

  std::vector<std::string> addresses() const;
  // The master's "ip:port" according to sentinel `i`.
  std::string master(int i) const;

 private:
  std::vector<std::unique_ptr<RedisInstance>> sentinels_;
  std::string master_name_;
};

// Runs one command on "127.0.0.1:port" (see RedisInstance::command).
std::string redis_command(int port, const std::vector<std::string>& args);

}  // namespace ztm::test
