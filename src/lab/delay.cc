// The delay program's loop: the NFQUEUE socket (libnetfilter_queue) feeds a DelayLine; ppoll
// sleeps until the next packet arrives or the oldest held one is due. One thread, one queue.
#include "lab/delay.h"

extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}
#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <poll.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "lab/delay_line.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

using std::chrono::milliseconds;

struct Loop {
  DelayLine line;
  nfq_q_handle* queue = nullptr;
};

// Called by nfq_handle_packet for each packet read: hold it, or drop it beyond the bound.
int on_packet(nfq_q_handle* queue, nfgenmsg*, nfq_data* data, void* arg) {
  auto& loop = *static_cast<Loop*>(arg);
  const nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
  if (!header) return 0;
  const std::uint32_t id = ntohl(header->packet_id);
  if (!loop.line.hold(id, DelayLine::Clock::now())) nfq_set_verdict(queue, id, NF_DROP, 0, nullptr);
  return 0;
}

void write_stats(const std::string& path, const DelayOptions& options, const DelayLine& line) {
  const auto at =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const boost::json::object stats = {{"queue", options.queue},    {"delay_ms", options.delay_ms},
                                     {"held", line.held()},       {"released", line.released()},
                                     {"dropped", line.dropped()}, {"at_ms", at}};
  // Temp file + rename: the health check never reads half a file.
  write_file(path + ".tmp", boost::json::serialize(stats) + "\n");
  std::filesystem::rename(path + ".tmp", path);
}

}  // namespace

int run_delay(const DelayOptions& options) {
  Loop loop{.line = DelayLine(milliseconds(options.delay_ms),
                              static_cast<std::size_t>(options.max_held))};
  nfq_handle* handle = nfq_open();
  if (!handle) {
    fmt::print(stderr, "ztm lab delay: nfq_open: {}\n", std::strerror(errno));
    return 1;
  }
  loop.queue =
      nfq_create_queue(handle, static_cast<std::uint16_t>(options.queue), on_packet, &loop);
  if (!loop.queue) {
    fmt::print(stderr, "ztm lab delay: cannot bind NFQUEUE {}: {}\n", options.queue,
               std::strerror(errno));
    nfq_close(handle);
    return 1;
  }
  // Metadata only (the id is all a verdict needs); the kernel queues at most max_held packets.
  if (nfq_set_mode(loop.queue, NFQNL_COPY_META, 0) < 0 ||
      nfq_set_queue_maxlen(loop.queue, static_cast<std::uint32_t>(options.max_held)) < 0) {
    fmt::print(stderr, "ztm lab delay: configuring queue {}: {}\n", options.queue,
               std::strerror(errno));
    nfq_destroy_queue(loop.queue);
    nfq_close(handle);
    return 1;
  }
  const int fd = nfq_fd(handle);
  fmt::print(stderr, "ztm lab delay: queue {} bound, {} ms, at most {} held\n", options.queue,
             options.delay_ms, options.max_held);
  std::vector<char> buffer(1 << 16);
  auto next_stats = DelayLine::Clock::now();
  for (;;) {
    const auto now = DelayLine::Clock::now();
    for (const std::uint32_t id : loop.line.release(now))
      nfq_set_verdict(loop.queue, id, NF_ACCEPT, 0, nullptr);
    if (!options.stats.empty() && now >= next_stats) {
      write_stats(options.stats, options, loop.line);
      next_stats = now + milliseconds(250);
    }
    auto wake = next_stats;
    if (const auto due = loop.line.next_due(); due && *due < wake) wake = *due;
    const auto wait = std::max(wake - DelayLine::Clock::now(), DelayLine::Clock::duration::zero());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    const timespec timeout{.tv_sec = static_cast<time_t>(ns / 1'000'000'000),
                           .tv_nsec = static_cast<long>(ns % 1'000'000'000)};
    pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
    if (::ppoll(&pfd, 1, &timeout, nullptr) <= 0) continue;
    // Drain what is readable; ENOBUFS (the socket's buffer overflowed: the kernel dropped
    // packets it could not deliver) is not fatal.
    for (;;) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n < 0) break;
      nfq_handle_packet(handle, buffer.data(), static_cast<int>(n));
    }
  }
}

}  // namespace ztm::lab
