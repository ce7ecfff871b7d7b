#pragma once
// The autoscaler's policy (`ztm lab autoscale`), free of processes and sockets so that it can be
// tested with an injected clock: it is fed, once a second, the number of requests each web server
// has served (from its own GET /metrics) and answers how many servers there should be.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace ztm::lab {

struct AutoscalePolicy {
  bool enabled = false;
  int min = 2;
  int max = 6;
  double up_rps = 150;   // per server, sustained for up_after: add a server
  double down_rps = 30;  // per server, sustained for down_after: remove one
  std::chrono::seconds up_after{3};
  std::chrono::seconds down_after{6};
  std::chrono::seconds cooldown{4};  // after any change, before the next decision
};

// Requests a web server has served, from the text of its GET /metrics: the sum of
// ztm_http_requests_total over every route except the probes (/readyz, /livez, /metrics),
// which are not load.
double served_requests(const std::string& metrics);

class Autoscaler {
 public:
  using Clock = std::chrono::steady_clock;

  struct Decision {
    int target = 0;      // the number of web servers wanted; == servers: no change
    std::string reason;  // why, when target != servers
  };

  // `counts`: per web host, requests served so far (served_requests), sampled at `now`;
  // `servers`: the web servers there are now. Moves at most one server at a time.
  Decision sample(const AutoscalePolicy& policy, const std::map<std::string, double>& counts,
                  int servers, Clock::time_point now);
  // A change was made at `now`: cooldown starts, the next rate is measured afresh.
  void changed(Clock::time_point now);

  double load_rps() const { return load_rps_; }  // per server at the last sample; < 0 unknown
  int sampled() const { return sampled_; }       // servers in the last sample

 private:
  std::map<std::string, double> last_count_;
  Clock::time_point last_sample_{}, above_since_{}, below_since_{}, last_change_{};
  double load_rps_ = -1;
  int sampled_ = 0;
};

// The worker autoscaler's policy (`ztm lab autoscale workers`): fed, once a second, the queue's
// depth (jobs published and not yet done, from NATS's monitoring endpoint) and the number of
// worker hosts, it answers how many workers there should be.
struct WorkerAutoscalePolicy {
  bool enabled = false;
  int min = 1;
  int max = 4;
  std::int64_t up_pending = 20;  // jobs waiting, sustained for up_after: add a worker
  std::chrono::seconds up_after{3};
  std::chrono::seconds down_after{5};  // the queue empty this long: remove one
  std::chrono::seconds cooldown{3};    // after any change, before the next decision
};

// The depth of the job queue from the text of NATS's GET /jsz?streams=true: the messages in
// `stream` (ZTM_JOBS is a work-queue stream: a message leaves it when a worker acks it, so
// this is exactly the queue's `pending()`, what ztm_queue_pending reports). nullopt when the
// answer is not JSON; 0 when the stream does not exist yet (nothing was ever published).
std::optional<std::int64_t> stream_messages(const std::string& jsz, const std::string& stream);

class WorkerAutoscaler {
 public:
  using Clock = std::chrono::steady_clock;
  struct Decision {
    int target = 0;      // workers wanted; == workers: no change
    std::string reason;  // why, when target != workers
  };

  // `pending`: the queue's depth at `now` (nullopt: unknown, e.g. NATS is down: no decision
  // and the conditions start again). Moves at most one worker at a time.
  Decision sample(const WorkerAutoscalePolicy& policy, std::optional<std::int64_t> pending,
                  int workers, Clock::time_point now);
  void changed(Clock::time_point now);  // a change was made: cooldown starts

  std::optional<std::int64_t> pending() const { return pending_; }  // at the last sample

 private:
  Clock::time_point above_since_{}, empty_since_{}, last_change_{};
  std::optional<std::int64_t> pending_;
};

}  // namespace ztm::lab
