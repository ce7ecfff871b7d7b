// `ztm trace`: a request's lines gathered from every host, and its spans as a waterfall.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "lab/logs.h"

namespace ztm::lab {

using std::chrono::microseconds;

bool is_trace_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

SearchResult trace_lines(const std::string& dir, const std::string& id) {
  LogQuery query;
  (is_trace_id(id) ? query.trace_ids : query.request_ids).push_back(id);
  // A request id names the trace and the trace names the request ids of its processes: two
  // rounds reach both; a third only when a round found yet another id.
  for (int round = 0;; ++round) {
    auto result = search(dir, query);
    if (round == 2) return result;
    bool grew = false;
    for (const auto& line : result.lines) {
      for (auto [ids, key] :
           {std::pair{&query.request_ids, "request_id"}, std::pair{&query.trace_ids, "trace_id"}}) {
        const std::string_view value = line.field(key);
        if (value.empty() || std::find(ids->begin(), ids->end(), value) != ids->end()) continue;
        ids->emplace_back(value);
        grew = true;
      }
    }
    if (!grew) return result;
  }
}

namespace {

// A number field (duration_us: an integer; duration_ms may have a fraction), else nullopt.
std::optional<double> number_field(const boost::json::object& fields, std::string_view key) {
  const auto it = fields.find(key);
  if (it == fields.end() || !it->value().is_number()) return std::nullopt;
  return it->value().to_number<double>();
}

}  // namespace

std::optional<Span> span_of(const LogLine& line) {
  if (line.msg != "span" || line.field("span_id").empty()) return std::nullopt;
  Span s;
  s.trace_id = line.field("trace_id");
  s.span_id = line.field("span_id");
  s.parent_id = line.field("parent_id").empty() ? line.field("parent") : line.field("parent_id");
  s.name = line.field("name");
  s.service = line.service;
  s.host = line.host;
  if (auto us = number_field(line.fields, "duration_us"))
    s.duration = microseconds(std::llround(*us));
  else if (auto ms = number_field(line.fields, "duration_ms"))
    s.duration = microseconds(std::llround(*ms * 1000));
  const auto start = parse_log_time(line.field("start"));
  s.start = start ? *start : line.ts - s.duration;
  return s;
}

namespace {

struct Row {
  Span span;
  int depth = 0;
  std::vector<const LogLine*> lines;  // the non-span lines that belong to it
};

// Depth through parent_id; a span whose parent is not among them is a root (its parent may be
// a process that logs nowhere, or a caller's traceparent). Bounded: a cycle cannot loop.
void set_depths(std::vector<Row>& rows) {
  std::map<std::string, const Row*> by_id;
  for (const auto& r : rows) by_id.emplace(r.span.span_id, &r);
  for (auto& r : rows) {
    const Row* at = &r;
    for (auto it = by_id.find(at->span.parent_id);
         it != by_id.end() && r.depth < static_cast<int>(rows.size());
         it = by_id.find(at->span.parent_id)) {
      at = it->second;
      ++r.depth;
    }
  }
}

// The row a non-span line belongs to: the span it names, else the innermost span of its host
// whose time holds it; nullptr when none.
Row* owner(std::vector<Row>& rows, const LogLine& line) {
  const std::string_view span_id = line.field("span_id");
  Row* best = nullptr;
  for (auto& r : rows) {
    if (!span_id.empty() && r.span.span_id == span_id) return &r;
    const bool holds = r.span.host == line.host && r.span.start <= line.ts &&
                       line.ts <= r.span.start + r.span.duration;
    if (holds && (!best || r.depth > best->depth)) best = &r;
  }
  return best;
}

std::string bar(microseconds from, microseconds length, microseconds total, int width) {
  const auto cell = [&](microseconds t) {
    return static_cast<int>(std::clamp<std::int64_t>(t.count() * width / total.count(), 0, width));
  };
  const int left = std::min(cell(from), width - 1);
  const int right = std::max(cell(from + length), left + 1);
  return std::string(static_cast<std::size_t>(left), ' ') +
         std::string(static_cast<std::size_t>(right - left), '=') +
         std::string(static_cast<std::size_t>(width - right), ' ');
}

double ms(microseconds d) {
  return static_cast<double>(d.count()) / 1000.0;
}

}  // namespace

std::string waterfall(const std::vector<LogLine>& lines, int width) {
  std::vector<Row> rows;
  std::vector<const LogLine*> others;
  for (const auto& line : lines) {
    auto span = span_of(line);
    const bool repeated =  // a span shipped twice (a resent batch) is one row
        span && std::any_of(rows.begin(), rows.end(),
                            [&](const Row& r) { return r.span.span_id == span->span_id; });
    if (span && !repeated) rows.push_back({std::move(*span), 0, {}});
    if (!span) others.push_back(&line);
  }
  if (rows.empty()) return "";
  set_depths(rows);
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.span.start, a.depth) < std::tie(b.span.start, b.depth);
  });
  std::vector<const LogLine*> outside;
  for (const auto* line : others) {
    if (Row* r = owner(rows, *line))
      r->lines.push_back(line);
    else
      outside.push_back(line);
  }

  const auto t0 = rows.front().span.start;
  auto end = t0;
  std::vector<std::string> trace_ids;
  for (const auto& r : rows) {
    end = std::max(end, r.span.start + r.span.duration);
    if (std::find(trace_ids.begin(), trace_ids.end(), r.span.trace_id) == trace_ids.end())
      trace_ids.push_back(r.span.trace_id);
  }
  const microseconds total = std::max(end - t0, microseconds(1));
  std::string out =
      fmt::format("trace {}: {} span{}, {:.3f} ms, from {}\n", fmt::join(trace_ids, ","),
                  rows.size(), rows.size() == 1 ? "" : "s", ms(total), format_log_time(t0));
  out += fmt::format("{:>10} {:>10}  {:<{}}  {}\n", "start ms", "ms", "", width + 2,
                     "service@host  span");
  const std::string pad(static_cast<std::size_t>(10 + 1 + 10 + 2 + width + 2 + 2), ' ');
  for (const auto& r : rows) {
    const std::string indent(static_cast<std::size_t>(2 * r.depth), ' ');
    out += fmt::format("{:>10.3f} {:>10.3f}  [{}]  {}{}@{}  {}\n", ms(r.span.start - t0),
                       ms(r.span.duration), bar(r.span.start - t0, r.span.duration, total, width),
                       indent, r.span.service, r.span.host, r.span.name);
    for (const auto* line : r.lines) out += pad + indent + "  " + format_log_line(*line) + "\n";
  }
  if (!outside.empty()) out += "outside every span:\n";
  for (const auto* line : outside) out += "  " + format_log_line(*line) + "\n";
  return out;
}

}  // namespace ztm::lab
