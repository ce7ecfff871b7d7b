#pragma once
// The supervisor's control socket (DIR/control.sock): one connection per request, one JSON line
// each way. Requests: {"op":"status"}, {"op":"kill"|"stop"|"start","target":T}, {"op":"down"}.
// Answers: {"ok":true,...} or {"ok":false,"error":"..."}.

#include <boost/json/object.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace ztm::lab {

// Sends `request` and returns the answer; nullopt when the supervisor cannot be reached or does
// not answer within `timeout`.
std::optional<boost::json::object> call_supervisor(const std::string& dir,
                                                   const boost::json::object& request,
                                                   std::chrono::milliseconds timeout);

// The supervisor's live status, the document of `ztm lab status --json` (docs/lab.md); nullopt
// when no supervisor answers in `dir` within 5 s.
std::optional<boost::json::object> live_status(const std::string& dir);

// A listening Unix socket at `path` (an old socket file is replaced). Throws std::runtime_error.
int listen_control(const std::string& path);

// Reads one request line from an accepted connection (bounded by `timeout`); nullopt on
// timeout, EOF or bad JSON.
std::optional<boost::json::object> read_request(int fd, std::chrono::milliseconds timeout);
void write_answer(int fd, const boost::json::object& answer);

}  // namespace ztm::lab
