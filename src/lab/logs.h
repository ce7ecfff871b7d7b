#pragma once
// Reading the lab's logs in one place (`ztm logs`, `ztm trace`; docs/lab.md, "Searching the
// logs"). The log host (obs) keeps every host's lines as <log_dir>/<host>/<yyyy-mm-dd>.jsonl
// (UTC day), one JSON object a line:
//   - a ztm process's own line: {"ts":"...Z","level":"error","host":"web2","service":"ztm-web",
//     "msg":"request","request_id":"...","trace_id":"<32 hex>","span_id":"<16 hex>",...};
//   - an engine's line, wrapped by the log host: {"ts":"...+00:00","host":"db1",
//     "service":"patroni","msg":"<the raw line>"} (no level: engine_level() derives one);
//   - a span (msg "span"): name, trace_id, span_id, parent_id (optional), start, duration_us.
// No index: every search streams the files line by line (lab scale), so a file of any size is
// read in bounded memory; a line that is not a JSON object, or longer than kMaxLineBytes, is
// skipped and counted, never an error.

#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ztm::lab {

// <lab_dir>/hosts/obs/logs/files: where the log host writes <host>/<yyyy-mm-dd>.jsonl.
std::string log_dir(const std::string& lab_dir);

using LogTime = std::chrono::sys_time<std::chrono::microseconds>;

// "2026-12-05T10:00:00.123Z" (ztm) or "2026-12-05T10:00:00.123456+00:00" (the log host): any
// fraction (truncated to µs), Z or a ±hh:mm offset, 'T' or ' ' between date and time.
std::optional<LogTime> parse_log_time(std::string_view text);
// "2026-12-05T10:00:00.123Z": UTC, milliseconds.
std::string format_log_time(LogTime t);

// Ordered by severity: a filter on a level admits it and every worse one.
enum class Level { trace, debug, info, warning, error, critical };
// trace|debug|info|warning|warn|error|err|critical; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);  // "warning", "error"...

// The level of an engine's raw line, which carries none as a field: its own marker
// (PostgreSQL/Patroni "ERROR:", "FATAL:", "PANIC:", "WARNING:"; HAProxy "[ALERT]", "[WARNING]";
// NATS "[ERR]", "[WRN]", "[FTL]"; Redis "# " (its warning mark); Varnish "Panic"), as a whole
// word in capitals, else info. A heuristic: it reads text, not a grammar.
Level engine_level(std::string_view raw);

struct LogLine {
  LogTime ts;
  Level level = Level::info;
  std::string host;     // the "host" field, else the directory the line was found in
  std::string service;  // "ztm-web", "patroni", "haproxy"...
  std::string msg;
  boost::json::object fields;  // the whole object as stored (ts, level... included)
  std::string raw;             // the stored line, unchanged (`ztm logs --json`)

  // A string field's value, "" when absent or not a string.
  std::string_view field(std::string_view key) const;
};

// Parses one stored line; nullopt when it is not a JSON object with a parsable "ts".
std::optional<LogLine> parse_log_line(std::string_view raw, std::string_view dir_host);

// "ts host service LEVEL msg key=value...": what `ztm logs` prints by default (a value with a
// space or a quote, and any non-string value, in JSON).
std::string format_log_line(const LogLine& line);

// What to find. Every condition set must hold; an empty one admits every line.
struct LogQuery {
  std::optional<Level> min_level;        // this level or worse
  std::vector<std::string> request_ids;  // any of these request ids ...
  std::vector<std::string> trace_ids;    // ... or trace ids: a line carries one as its
                                         // request_id/trace_id field, or in its msg (an engine's
                                         // line: HAProxy logs the request id in its text)
  std::vector<std::string> hosts;        // only these hosts' directories are opened
  std::vector<std::string> services;
  std::optional<LogTime> since;  // lines at or after; only day files from its UTC day are opened
  std::string grep;              // a substring of the stored line (case-sensitive)
  std::size_t limit = 0;         // the latest `limit` matches; 0: all
};

// Bound on one stored line: a longer one is skipped (and counted), not read into memory whole.
inline constexpr std::size_t kMaxLineBytes = 64 * 1024;

struct SearchStats {
  std::size_t files = 0;      // day files opened
  std::size_t lines = 0;      // lines read
  std::size_t matched = 0;    // before the limit kept the latest
  std::size_t malformed = 0;  // parsed and not a log record (not JSON, no object, no ts)
  std::size_t too_long = 0;   // over kMaxLineBytes
};

struct SearchResult {
  std::vector<LogLine> lines;  // merged across hosts and days in time order (ts, then host)
  SearchStats stats;
};

// Reads <log_dir>/<host>/<yyyy-mm-dd>.jsonl (other names are ignored). A missing log_dir is an
// empty result, not an error: the lab may not have shipped anything yet.
SearchResult search(const std::string& log_dir, const LogQuery& query);

// "10m", "2h", "1d", "30s" back from `now`, or a time parse_log_time() reads, or a UTC day
// "2026-12-05"; nullopt when it is none of those.
std::optional<LogTime> parse_since(std::string_view text, LogTime now);

// True when `id` looks like a W3C trace id (32 lowercase hex digits).
bool is_trace_id(std::string_view id);

// Every line of the request or trace `id` (a trace id or a request id): the lines carrying it,
// then those carrying the ids they name (a request id leads to its trace id and back, so the
// worker's lines and HAProxy's line come with the web server's), in time order.
SearchResult trace_lines(const std::string& log_dir, const std::string& id);

struct Span {
  std::string trace_id, span_id, parent_id;  // parent_id: "" for a root
  std::string name, service, host;
  LogTime start;
  std::chrono::microseconds duration{0};
};
// The span a line records (msg "span" with a span_id), else nullopt. Without "start", the span
// ends at the line's ts; "parent" and "duration_ms" are read when "parent_id" and "duration_us"
// are absent (docs/observability.md names them so).
std::optional<Span> span_of(const LogLine& line);

// The waterfall of a trace's lines: a header, then one row per span ordered by start (offset
// from the first span's start and duration in ms, a bar of `width` columns scaled to the
// trace's whole extent, service@host and name indented by depth through parent_id), each
// followed by the non-span lines that belong to it (its span_id, else the innermost span of the
// same host whose time holds them), then the lines outside every span. "" when no span.
std::string waterfall(const std::vector<LogLine>& lines, int width = 40);

}  // namespace ztm::lab
