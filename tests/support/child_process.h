#pragma once
// What the throwaway engines of the tests (postgres_instance, redis_instance, nats_instance)
// share: a free port, starting a child process with its output in a log, waiting for it with a
// bound, and the tail of its log for error messages.

#include <sys/types.h>

#include <chrono>
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

}  // namespace ztm::test
