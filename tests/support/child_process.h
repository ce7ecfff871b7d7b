#pragma once
// What the throwaway engines of the tests (postgres_instance, redis_instance, nats_instance,
// etcd_instance) share: a free port, starting a child process with its output in a log, waiting
// for it with a bound, the tail of its log for error messages, and a plain HTTP request;
// EngineProcess and engine_dir put these together for an engine that runs as one process.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace ztm::test {

// A TCP port on 127.0.0.1 that was free a moment ago. Throws std::runtime_error.
int free_port();

// Who a child runs as (PostgreSQL refuses root): `drop` = switch to uid/gid before exec.
struct RunAs {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// fork + exec of args[0] (a path), stdin from /dev/null, stdout and stderr appended to `log`.
// The child gets SIGQUIT when this thread dies (PR_SET_PDEATHSIG), so a crashed test leaves no
// engine behind. Throws std::runtime_error when fork fails.
pid_t spawn(const std::vector<std::string>& args, const std::string& log, const RunAs& as = {});

// Waits up to `bound` for `pid` to exit; true when it did (its status in *status if given).
bool wait_for_exit(pid_t pid, std::chrono::steady_clock::duration bound, int* status = nullptr);

// The last ~3000 bytes of a log file, for error messages.
std::string log_tail(const std::string& path);

// One HTTP/1.0 request to 127.0.0.1:port (an engine's health or admin endpoint): the whole
// answer (status line, headers, body), or "" when nothing answers. Bounded by 1 s send and
// receive timeouts and 256 KiB.
std::string http_request(int port, const std::string& method, const std::string& path,
                         const std::string& body = "");

// A directory of its own under /tmp ("/tmp/ztm-<name>-XXXXXX") for an engine run from `binary`.
// Throws std::runtime_error naming the Debian `package` to install when the binary is missing.
std::string engine_dir(const std::string& name, const std::string& binary,
                       const std::string& package);

// One engine's process, by pid: started and waited for until ready, stopped, killed, paused.
// The destructor kills it.
class EngineProcess {
 public:
  EngineProcess() = default;
  ~EngineProcess() { kill(); }
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  // Spawns `args` (output appended to `log`) and polls `ready` every 10 ms until it holds.
  // Throws std::runtime_error naming `what`, with the log's tail, when the process exits first
  // or is not ready within `bound` (then it is killed). Nothing when it is running already.
  void start(const std::vector<std::string>& args, const std::string& log,
             const std::function<bool()>& ready, std::chrono::steady_clock::duration bound,
             const std::string& what);
  // SIGTERM (and SIGCONT: a paused process handles it once it runs again), wait up to `bound`
  // for it to exit, then SIGKILL.
  void stop(std::chrono::steady_clock::duration bound);
  void kill();    // SIGKILL and wait: a crash
  void pause();   // SIGSTOP: a hung engine (its port still accepts connections, nothing answers)
  void resume();  // SIGCONT
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// SIGSTOP to `pid`, then waits (at most 5 s) until every thread of it is stopped: kill() returns
// before a running multi-threaded process has stopped, and a test that pauses an engine must not
// have its next call answered meanwhile. Throws std::runtime_error when it does not stop.
void stop_process(pid_t pid);

}  // namespace ztm::test
