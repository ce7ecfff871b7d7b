// ztm logs, ztm trace: the command-line surface of src/lab/logs.h (docs/lab.md, "Searching the
// logs"). Values are checked here, not by CLI11, so that every bad argument exits 2.
#include "cli/logs.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

#include "core/clock.h"
#include "lab/lab.h"
#include "lab/logs.h"

namespace ztm::cli {

namespace {

constexpr const char* kDirHelp =
    "the lab's state directory (env ZTM_LAB_DIR, default /run/ztm-lab); the logs are under "
    "<dir>/hosts/obs/logs/files/<host>/<yyyy-mm-dd>.jsonl";

constexpr const char* kLogsFooter = R"(
Every host of the lab ships its lines to the log host (obs), which keeps one file per host and
UTC day, one JSON object a line. ztm processes write ts, level, host, service, msg, request_id,
trace_id, span_id and fields of their own; an engine's line (PostgreSQL, Patroni, Redis,
HAProxy, NATS, Varnish...) is its raw text in msg, its level read from the text (ERROR, FATAL,
[ALERT], Redis's '#'...). Lines that are not JSON objects, or over 64 KiB, are skipped (-v
counts them).

Output: the matching lines of every host merged in time order, one a line:
  2026-12-05T10:00:00.123Z web2 ztm-web ERROR request request_id=... status=500 ...
or, with --json, the stored lines unchanged (for jq, lnav).

Exit status: 0 when a line matched, 1 when none did (or there are no logs), 2 on a bad argument.

Examples:
  ztm logs --level error --since 10m       errors of the last ten minutes, every host
  ztm logs --request 0A4D010A:C5F2_...     one request through HAProxy, web, queue, worker
  ztm logs --host db1,db2 --grep FATAL     two hosts' lines holding a text
  ztm trace 4bf92f3577b34da6a3ce929d0e0e4736    the waterfall of a trace
)";

constexpr const char* kTraceFooter = R"(
Gathers the trace's span records from the log host's files (each ztm process writes one per
request or job, msg "span": name, span_id, parent_id, start, duration_us), and every other line
carrying its trace id or request id, then prints the waterfall: one row per span ordered by
start, indented under its parent, with the start offset from the first span and the duration in
ms, a bar scaled to the whole trace, service@host and the span's name; under each span the lines
it wrote (its span_id, else its host during its time); lines outside every span (HAProxy's) last.

Exit status: 0 when a span was found, 1 when none was, 2 on a bad argument.
)";

std::optional<std::size_t> parse_count(const std::string& text) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

class Logs final : public Subcommand {
 public:
  explicit Logs(CLI::App& app) {
    logs_ = app.add_subcommand(
        "logs", "Search the logs of every host of the lab in one place (the log host's files)");
    logs_
        ->add_option("--level", level_,
                     "error | warning | info | debug: that level or worse (also trace, "
                     "critical)")
        ->type_name("LEVEL");
    logs_
        ->add_option("--request", query_.request_ids,
                     "the lines of this request id: its field, or in an engine's text "
                     "(HAProxy's); repeatable, any of them")
        ->type_name("ID");
    logs_
        ->add_option("--trace", query_.trace_ids,
                     "the lines of this trace id (32 hex); repeatable, any of them or of "
                     "--request")
        ->type_name("ID");
    logs_->add_option("--host", query_.hosts, "only these hosts: web2 or web1,web2")
        ->delimiter(',')
        ->type_name("HOST");
    logs_
        ->add_option("--service", query_.services,
                     "only these services: ztm-web, ztm-worker, patroni, postgres, redis, "
                     "haproxy... (comma-separated)")
        ->delimiter(',')
        ->type_name("SERVICE");
    logs_
        ->add_option("--since", since_,
                     "10m | 2h | 1d | 30s back from now, a time (2026-12-05T10:00:00Z) or a UTC "
                     "day (2026-12-05); older day files are not opened")
        ->type_name("WHEN");
    logs_->add_option("--grep", query_.grep, "a text the stored line holds (case-sensitive)")
        ->type_name("TEXT");
    logs_->add_flag("--json", json_, "print the stored lines unchanged (JSON lines)");
    logs_->add_option("--limit", limit_, "the latest N matches (default 1000; 0: all)")
        ->type_name("N");
    logs_->add_flag("-v,--verbose", verbose_,
                    "say on stderr how many files and lines were read and skipped");
    logs_->add_option("--dir", dir_, kDirHelp)->type_name("DIR");
    logs_->footer(kLogsFooter);
    logs_->allow_extras();  // reported by run() with exit status 2

    trace_ = app.add_subcommand(
        "trace", "Print the waterfall of a request's spans across processes, from the logs");
    trace_->add_option("id", id_, "a trace id (32 hex) or a request id")->type_name("ID");
    trace_->add_option("--dir", dir_, kDirHelp)->type_name("DIR");
    trace_->footer(kTraceFooter);
    trace_->allow_extras();
  }

  std::optional<int> run() override {
    CLI::App* chosen = logs_->parsed() ? logs_ : trace_->parsed() ? trace_ : nullptr;
    if (!chosen) return std::nullopt;
    const std::string name = chosen->get_name();
    if (!chosen->remaining().empty()) {
      fmt::print(stderr, "ztm {}: unexpected argument {} (see ztm {} --help)\n", name,
                 chosen->remaining().front(), name);
      return 2;
    }
    const std::string dir = lab::log_dir(dir_.empty() ? lab::default_dir() : dir_);
    try {
      return chosen == logs_ ? logs(dir) : trace(dir);
    } catch (const std::exception& e) {
      fmt::print(stderr, "ztm {}: {}\n", name, e.what());
      return 1;
    }
  }

 private:
  int logs(const std::string& dir) {
    if (!level_.empty()) {
      query_.min_level = lab::parse_level(level_);
      if (!query_.min_level) {
        fmt::print(stderr, "ztm logs: --level {}: say error, warning, info or debug\n", level_);
        return 2;
      }
    }
    if (!since_.empty()) {
      query_.since = lab::parse_since(
          since_, std::chrono::floor<std::chrono::microseconds>(Clock::system().now()));
      if (!query_.since) {
        fmt::print(stderr,
                   "ztm logs: --since {}: say 30s, 10m, 2h, 1d, a time "
                   "(2026-12-05T10:00:00Z) or a day (2026-12-05)\n",
                   since_);
        return 2;
      }
    }
    const auto limit = parse_count(limit_);
    if (!limit) {
      fmt::print(stderr, "ztm logs: --limit {}: say a count (0: all)\n", limit_);
      return 2;
    }
    query_.limit = *limit;
    const auto result = lab::search(dir, query_);
    for (const auto& line : result.lines)
      fmt::print("{}\n", json_ ? line.raw : lab::format_log_line(line));
    if (verbose_) print_stats(result.stats);
    if (result.stats.matched > result.lines.size())
      fmt::print(stderr, "ztm logs: the latest {} of {} matching lines (--limit 0: all)\n",
                 result.lines.size(), result.stats.matched);
    if (!std::filesystem::is_directory(dir))
      fmt::print(stderr, "ztm logs: no logs in {} (is the lab up with --observe?)\n", dir);
    return result.lines.empty() ? 1 : 0;
  }

  int trace(const std::string& dir) {
    std::string id = id_;
    if (id.empty()) {
      fmt::print(stderr, "ztm trace: give a trace id (32 hex) or a request id\n");
      return 2;
    }
    if (id.size() == 32 &&
        std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isxdigit(c) != 0; }))
      std::transform(id.begin(), id.end(), id.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto result = lab::trace_lines(dir, id);
    const std::string waterfall = lab::waterfall(result.lines);
    if (!waterfall.empty()) {
      fmt::print("{}", waterfall);
      return 0;
    }
    fmt::print(stderr, "ztm trace: no span of {} in {}{}\n", id, dir,
               result.lines.empty() ? "" : "; its lines:");
    for (const auto& line : result.lines) fmt::print("{}\n", lab::format_log_line(line));
    return 1;
  }

  static void print_stats(const lab::SearchStats& s) {
    fmt::print(stderr,
               "ztm logs: read {} files, {} lines; {} matched; skipped {} not log records, {} "
               "over {} KiB\n",
               s.files, s.lines, s.matched, s.malformed, s.too_long, lab::kMaxLineBytes / 1024);
  }

  CLI::App* logs_;
  CLI::App* trace_;
  std::string dir_;
  lab::LogQuery query_;
  std::string level_;
  std::string since_;
  std::string limit_ = "1000";
  bool json_ = false;
  bool verbose_ = false;
  std::string id_;
};

}  // namespace

std::unique_ptr<Subcommand> add_logs_commands(CLI::App& app) {
  return std::make_unique<Logs>(app);
}

}  // namespace ztm::cli
