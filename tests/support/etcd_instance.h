#pragma once
// A throwaway etcd for one test binary: a single-member cluster (Debian's etcd 3.4) on two free
// ports of 127.0.0.1 (clients, peers), its data in a directory of its own under /tmp, run as a
// child process in the foreground, stopped or killed by pid and started again on the same ports
// and data (so a restart keeps the keys and the revisions); the directory is removed at the end.
// etcd runs as root here without complaint (only its data directory's mode is checked).
//
// A missing binary or a server that does not come up throws std::runtime_error saying what to
// install or where the log is: tests fail, never skip.

#include <cstdint>
#include <string>

#include "tests/support/child_process.h"

namespace ztm::test {

class EtcdInstance {
 public:
  EtcdInstance();   // starts it; returns once it has a leader and serves reads (polled, bounded)
  ~EtcdInstance();  // kill(), then removes the directory
  EtcdInstance(const EtcdInstance&) = delete;
  EtcdInstance& operator=(const EtcdInstance&) = delete;

  void start();                       // again after stop()/kill(): same ports and data
  void stop();                        // SIGTERM (a clean shutdown) and wait, bounded; then SIGKILL
  void kill() { process_.kill(); }    // SIGKILL and wait: a crash
  void pause() { process_.pause(); }  // SIGSTOP: a hung server (its port accepts, nothing answers)
  void resume() { process_.resume(); }  // SIGCONT
  bool running() const { return process_.running(); }

  std::string endpoint() const;  // "127.0.0.1:port", the clients' address
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // Straight to the JSON gateway with a blocking socket (what etcdctl would do), bypassing the
  // client under test. Throw std::runtime_error when etcd does not answer 200.
  std::int64_t put(const std::string& key, const std::string& value);  // the put's revision
  void remove(const std::string& key);
  void compact(std::int64_t revision);  // drops the revisions before it

 private:
  bool healthy() const;
  std::string post(const std::string& path, const std::string& body);

  std::string dir_;  // data in dir_/data, log in dir_/log
  int port_ = 0;
  int peer_port_ = 0;
  EngineProcess process_;
};

}  // namespace ztm::test
