#pragma once
// A throwaway NATS server with JetStream for one test binary: `nats-server -js` on a free port
// of 127.0.0.1 (and a monitoring port), its store in a directory of its own under /tmp, run as a
// child process in the foreground, stopped or killed by pid and started again on the same port
// and store (so a restart keeps the streams); the directory is removed at the end.
//
// A missing binary or a server that does not come up throws std::runtime_error saying what to
// install or where the log is: tests fail, never skip.

#include <string>

#include "tests/support/child_process.h"

namespace ztm::test {

class NatsInstance {
 public:
  NatsInstance();   // starts it; returns once JetStream is ready (polled, bounded)
  ~NatsInstance();  // kill(), then removes the directory
  NatsInstance(const NatsInstance&) = delete;
  NatsInstance& operator=(const NatsInstance&) = delete;

  void start();                       // again after stop()/kill(): same ports and store directory
  void stop();                        // SIGTERM (a clean shutdown) and wait, bounded; then SIGKILL
  void kill() { process_.kill(); }    // SIGKILL and wait: a crash
  void pause() { process_.pause(); }  // SIGSTOP: a hung broker (its port accepts, nothing answers)
  void resume() { process_.resume(); }  // SIGCONT
  bool running() const { return process_.running(); }

  std::string url() const;  // "nats://127.0.0.1:port"
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // The one server of this test binary, started on first use.
  static NatsInstance& shared();

 private:
  bool jetstream_ready() const;

  std::string dir_;  // store in dir_/store, log in dir_/log
  int port_ = 0;
  int monitor_port_ = 0;
  EngineProcess process_;
};

}  // namespace ztm::test
