#pragma once
// Throwaway Redis servers and sentinels for one test binary: each in its own directory under
// /tmp (config, log, and the files Sentinel rewrites), on a free port of 127.0.0.1, started as a
// child process in the foreground (no daemonize), stopped by pid, directory removed.
//
// A missing binary or a server that does not come up throws std::runtime_error saying what to
// install or where the log is: tests fail, never skip.

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ztm::test {

// Who command() authenticates as (AUTH [user] password); no password = no AUTH.
struct RedisLogin {
  std::string user;
  std::string password;
};

// A server that requires authentication: ACL lines for its config ("user ...", "masteruser",
// "sentinel auth-user ...", each ending in a newline), and the login command() uses.
struct RedisAcl {
  std::string config;
  RedisLogin login;
};

class RedisInstance {
 public:
  // A primary (no persistence), with `acl` (none by default: everyone is the default user).
  explicit RedisInstance(RedisAcl acl = {});
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

  // Runs one command with a blocking connection (bounded by 5 s), authenticated with the
  // instance's login, and returns the reply as text: strings and statuses as they are, integers
  // in decimal, nil as "", arrays one element a line. Throws std::runtime_error on a connection
  // failure or an error reply (its text in the message: "NOPERM ...", "NOAUTH ...").
  std::string command(const std::vector<std::string>& args) const;
  // The same as another user ({} = none: Redis's default user).
  std::string command_as(const RedisLogin& login, const std::vector<std::string>& args) const;

  // A replica of `primary`; returns once its replication link is up.
  static std::unique_ptr<RedisInstance> replica_of(const RedisInstance& primary);
  // A sentinel monitoring `primary` as `master_name` (quorum 2, down-after 1000 ms); `acl`'s
  // lines follow `sentinel monitor` (so they may say `sentinel auth-user <master_name> ...`).
  static std::unique_ptr<RedisInstance> sentinel(const RedisInstance& primary,
                                                 const std::string& master_name,
                                                 const RedisAcl& acl = {});
  // A server (or, with `sentinel`, a Sentinel) whose whole config is the template at `path`
  // (deploy/redis/*.conf, {{name}} placeholders) rendered with `vars` plus {{address}}
  // (127.0.0.1), {{port}} and {{workdir}} of its own; command() logs in as `login`.
  static std::unique_ptr<RedisInstance> from_template(
      const std::string& path, const std::map<std::string, std::string>& vars,
      const RedisLogin& login, bool sentinel);

 private:
  struct Sentinel {};
  struct Replica {};
  struct Template {};
  RedisInstance(Replica, const RedisInstance& primary);
  RedisInstance(Sentinel, const RedisInstance& primary, const std::string& master_name,
                const RedisAcl& acl);
  RedisInstance(Template, const std::string& path, std::map<std::string, std::string> vars,
                const RedisLogin& login, bool sentinel);
  void make_dir_and_port();
  void write_config(const std::string& body);
  void write_file(const std::string& text);

  std::string binary_ = "/usr/bin/redis-server";
  std::string config_;  // path: Sentinel (and CONFIG REWRITE after a failover) rewrites it
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  RedisLogin login_;
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

// Runs one command on "127.0.0.1:port" (see RedisInstance::command), after AUTH when `login`
// has a password.
std::string redis_command(int port, const std::vector<std::string>& args,
                          const RedisLogin& login = {});

}  // namespace ztm::test
