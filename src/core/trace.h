#pragma once
// Where a request is in a trace (W3C Trace Context, https://www.w3.org/TR/trace-context/), and
// the ids that find it in the logs (docs/observability.md, "Request ids and traces").
//
// The first `ztm` process a request reaches accepts its `traceparent` header (else starts a
// trace), makes a span for its own work, and hands `traceparent()` on: to the queue message of a
// photo job, whose worker makes a child span. A sampled span is written as a log record
// ("msg":"span"); `ztm trace ID` draws them. Ids are random (a per-thread generator seeded from
// the OS: ids must not collide across processes, they need not be unguessable).

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace ztm {

class Trace {
 public:
  // A child span of `header` (a traceparent), or nullopt when the header is not a valid one
  // (version 00 and its exact shape; all-zero ids are invalid). Unknown future versions are
  // read as 00 when their first four fields are well formed, as the spec asks.
  static std::optional<Trace> child_of(std::string_view header);
  // A new trace, sampled as asked.
  static Trace start(bool sampled);

  std::string_view trace_id() const { return {trace_id_.data(), trace_id_.size()}; }  // 32 hex
  std::string_view span_id() const { return {span_id_.data(), span_id_.size()}; }     // 16 hex
  // The caller's span (16 hex), or "" for the trace's first span.
  std::string_view parent_id() const {
    return has_parent_ ? std::string_view(parent_id_.data(), parent_id_.size()) : "";
  }
  bool sampled() const { return sampled_; }  // its spans are written (the flag travels on)

  // "00-<trace_id>-<span_id>-<01|00>": what a callee's traceparent header carries.
  std::string traceparent() const;

 private:
  // Fixed arrays: making a trace for every request allocates nothing.
  std::array<char, 32> trace_id_{};
  std::array<char, 16> span_id_{};
  std::array<char, 16> parent_id_{};
  bool has_parent_ = false;
  bool sampled_ = false;
};

// True for about `percent` of calls (0..100): which new traces are sampled.
bool sample_percent(int percent);

}  // namespace ztm
