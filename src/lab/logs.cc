#include "lab/logs.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <ext/stdio_filebuf.h>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "lab/engines/files.h"

namespace ztm::lab {

namespace fs = std::filesystem;
using std::chrono::days;
using std::chrono::microseconds;

std::string log_dir(const std::string& lab_dir) {
  return lab_dir + "/hosts/obs/logs/files";
}

namespace {

// The unsigned number written with exactly `n` digits at s[pos], else -1.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// "2026-12-05" (the name of a day file, a --since).
std::optional<std::chrono::sys_days> parse_day(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const int y = digits(s, 0, 4), m = digits(s, 5, 2), d = digits(s, 8, 2);
  if (y < 0 || m < 0 || d < 0) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(unsigned(m)),
                                        std::chrono::day(unsigned(d))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd);
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// `word` in `text` with no letter, digit or '_' right before or after it.
bool has_word(std::string_view text, std::string_view word) {
  for (auto pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
    const auto end = pos + word.size();
    if ((pos == 0 || !word_char(text[pos - 1])) && (end == text.size() || !word_char(text[end])))
      return true;
  }
  return false;
}

// Redis marks a warning with '#' after the time: "1:M 05 Dec 2026 10:00:00.123 # WARNING ...".
bool redis_warning(std::string_view text) {
  for (auto pos = text.find(" # "); pos != std::string_view::npos; pos = text.find(" # ", pos + 1))
    if (pos >= 4 && text[pos - 4] == '.' && digits(text, pos - 3, 3) >= 0) return true;
  return false;
}

// The level an engine writes as a field of its own: logfmt `level=warn` (Prometheus,
// Alertmanager) or JSON `"level":"warn"` (etcd).
std::optional<Level> embedded_level(std::string_view text) {
  for (std::string_view key : {"level=", "\"level\":\""}) {
    const auto pos = text.find(key);
    if (pos == std::string_view::npos) continue;
    auto name = text.substr(pos + key.size());
    name = name.substr(0, std::min(name.find_first_of("\" ,"), name.size()));
    if (auto level = parse_level(name)) return level;
  }
  return std::nullopt;
}

}  // namespace

std::optional<LogTime> parse_log_time(std::string_view s) {
  const auto day = parse_day(s.substr(0, std::min<std::size_t>(10, s.size())));
  if (!day || s.size() < 20 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  const int h = digits(s, 11, 2), m = digits(s, 14, 2), sec = digits(s, 17, 2);
  if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t fraction_us = 0;
  if (s[pos] == '.') {
    std::size_t n = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
      if (n < 6) fraction_us = fraction_us * 10 + (s[pos] - '0');
    if (n == 0) return std::nullopt;
    for (; n < 6; ++n) fraction_us *= 10;
  }
  std::chrono::minutes offset{0};
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (oh < 0 || om < 0 || pos + 3 >= s.size() || s[pos + 3] != ':') return std::nullopt;
    offset = std::chrono::minutes(oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return LogTime(*day) + std::chrono::hours(h) + std::chrono::minutes(m) +
         std::chrono::seconds(sec) + microseconds(fraction_us) - offset;
}

std::string format_log_time(LogTime t) {
  const auto day = std::chrono::floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::milliseconds>(t - day)};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", int(ymd.year()),
                     unsigned(ymd.month()), unsigned(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count(), hms.subseconds().count());
}

std::optional<Level> parse_level(std::string_view name) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"trace", Level::trace},     {"debug", Level::debug},      {"info", Level::info},
      {"warning", Level::warning}, {"warn", Level::warning},     {"error", Level::error},
      {"err", Level::error},       {"critical", Level::critical}};
  for (const auto& [n, level] : kNames)
    if (n == name) return level;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  static constexpr std::array<std::string_view, 6> kNames = {"trace",   "debug", "info",
                                                             "warning", "error", "critical"};
  return kNames[static_cast<std::size_t>(level)];
}

Level engine_level(std::string_view raw) {
  if (auto level = embedded_level(raw)) return *level;
  // Most severe first: a line that says both "ERROR" and "WARNING" is an error.
  static constexpr std::pair<std::string_view, Level> kMarks[] = {
      {"PANIC", Level::critical},   {"FATAL", Level::critical},   {"CRITICAL", Level::critical},
      {"[ALERT]", Level::critical}, {"[EMERG]", Level::critical}, {"[CRIT]", Level::critical},
      {"[FTL]", Level::critical},   {"Panic", Level::critical},  // Varnish: "Child (1) Panic at"
      {"ERROR", Level::error},      {"[ERR]", Level::error},      {"WARNING", Level::warning},
      {"WARN", Level::warning},     {"[WRN]", Level::warning}};
  for (const auto& [mark, level] : kMarks)
    if (has_word(raw, mark)) return level;
  return redis_warning(raw) ? Level::warning : Level::info;
}

std::string_view LogLine::field(std::string_view key) const {
  const auto it = fields.find(key);
  if (it == fields.end()) return {};
  const auto* s = it->value().if_string();
  return s ? std::string_view(*s) : std::string_view{};
}

std::optional<LogLine> parse_log_line(std::string_view raw, std::string_view dir_host) {
  boost::system::error_code ec;
  auto value = boost::json::parse(raw, ec);
  if (ec || !value.is_object()) return std::nullopt;
  LogLine line;
  line.fields = std::move(value.as_object());
  const auto ts = parse_log_time(line.field("ts"));
  if (!ts) return std::nullopt;
  line.ts = *ts;
  line.host = line.field("host").empty() ? dir_host : line.field("host");
  line.service = line.field("service");
  line.msg = line.field("msg");
  const auto level = parse_level(line.field("level"));
  line.level = level ? *level : engine_level(line.msg);
  line.raw = raw;
  return line;
}

std::string format_log_line(const LogLine& line) {
  std::string msg = line.msg;
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  std::string level(level_name(line.level));
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string out = fmt::format("{} {} {} {} {}", format_log_time(line.ts), line.host,
                                line.service.empty() ? "-" : line.service, level, msg);
  for (const auto& kv : line.fields) {
    const std::string_view key = kv.key();
    if (key == "ts" || key == "level" || key == "host" || key == "service" || key == "msg")
      continue;
    const auto* s = kv.value().if_string();
    const bool bare = s && !s->empty() && std::none_of(s->begin(), s->end(), [](char c) {
                        return std::isspace(static_cast<unsigned char>(c)) || c == '"';
                      });
    fmt::format_to(std::back_inserter(out), " {}={}", key,
                   bare ? std::string_view(*s) : boost::json::serialize(kv.value()));
  }
  return out;
}

namespace {

// Streams a file's lines, each at most kMaxLineBytes: a longer one is skipped without being
// held, so a file (or a line) of any size is read in bounded memory.
class LineReader {
 public:
  explicit LineReader(std::istream& in) : in_(in), buf_(kMaxLineBytes + 1) {}

  // The next non-empty line (without "\n" or "\r\n"), nullopt at the end.
  std::optional<std::string_view> next(SearchStats& stats) {
    while (in_.getline(buf_.data(), static_cast<std::streamsize>(buf_.size())) ||
           in_.gcount() > 0) {
      const bool ended_by_newline = !in_.eof() && !in_.fail();
      if (in_.fail() && !in_.eof()) {  // kMaxLineBytes stored and no newline yet
        in_.clear();
        in_.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
        ++stats.lines;
        ++stats.too_long;
        continue;
      }
      std::string_view line(buf_.data(),
                            static_cast<std::size_t>(in_.gcount()) - (ended_by_newline ? 1 : 0));
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      ++stats.lines;
      return line;
    }
    return std::nullopt;
  }

 private:
  std::istream& in_;
  std::vector<char> buf_;
};

struct DayFile {
  std::chrono::sys_days day;
  std::string host;
  fs::path path;
};

// The day files the query needs: its hosts' directories, from the day of `since` on.
std::vector<DayFile> day_files(const std::string& dir, const LogQuery& query) {
  std::vector<DayFile> out;
  std::error_code ec;
  for (const auto& host_dir : fs::directory_iterator(dir, ec)) {
    const std::string host = host_dir.path().filename().string();
    if (!host_dir.is_directory(ec) ||
        (!query.hosts.empty() &&
         std::find(query.hosts.begin(), query.hosts.end(), host) == query.hosts.end()))
      continue;
    std::error_code files_ec;
    for (const auto& file : fs::directory_iterator(host_dir.path(), files_ec)) {
      const std::string name = file.path().filename().string();
      const auto day = name.size() == 16 && name.ends_with(".jsonl")
                           ? parse_day(std::string_view(name).substr(0, 10))
                           : std::nullopt;
      if (!day || (query.since && *day < std::chrono::floor<days>(*query.since))) continue;
      out.push_back({*day, host, file.path()});
    }
  }
  std::sort(out.begin(), out.end(), [](const DayFile& a, const DayFile& b) {
    return std::tie(a.day, a.host) < std::tie(b.day, b.host);
  });
  return out;
}

bool any_of_in(const std::vector<std::string>& needles, std::string_view text) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](const std::string& n) { return contains(text, n); });
}

bool is_one_of(const std::vector<std::string>& values, std::string_view value) {
  return !value.empty() && std::find(values.begin(), values.end(), value) != values.end();
}

// Cheap tests on the stored text before parsing it: a line that lacks the --grep text, or
// every id asked for, cannot match. (An id with JSON escapes in it would be stored escaped.)
bool may_match(std::string_view raw, const LogQuery& q) {
  if (!q.grep.empty() && !contains(raw, q.grep)) return false;
  if (q.request_ids.empty() && q.trace_ids.empty()) return true;
  for (const auto* ids : {&q.request_ids, &q.trace_ids})
    for (const auto& id : *ids)
      if (id.find_first_of("\"\\") != std::string::npos || contains(raw, id)) return true;
  return false;
}

bool matches(const LogLine& line, const LogQuery& q) {
  if (q.min_level && line.level < *q.min_level) return false;
  if (q.since && line.ts < *q.since) return false;
  if (!q.services.empty() && !is_one_of(q.services, line.service)) return false;
  if (q.request_ids.empty() && q.trace_ids.empty()) return true;
  return is_one_of(q.request_ids, line.field("request_id")) ||
         is_one_of(q.trace_ids, line.field("trace_id")) || any_of_in(q.request_ids, line.msg) ||
         any_of_in(q.trace_ids, line.msg);
}

struct Match {
  LogLine line;
  std::size_t seq;  // the order read: ties of ts and host keep the file's order
};

bool earlier(const Match& a, const Match& b) {
  return std::tie(a.line.ts, a.line.host, a.seq) < std::tie(b.line.ts, b.line.host, b.seq);
}

void keep_latest(std::vector<Match>& matches, std::size_t n) {
  if (matches.size() <= n) return;
  const auto drop = static_cast<std::ptrdiff_t>(matches.size() - n);
  std::nth_element(matches.begin(), matches.begin() + drop, matches.end(), earlier);
  matches.erase(matches.begin(), matches.begin() + drop);
}

}  // namespace

SearchResult search(const std::string& dir, const LogQuery& query) {
  SearchResult out;
  std::vector<Match> found;
  std::size_t seq = 0;
  for (const auto& file : day_files(dir, query)) {
    // The log host's user owns these files: root reads them without following a link there.
    const int fd = open_no_links(file.path, O_RDONLY);
    if (fd < 0) continue;
    __gnu_cxx::stdio_filebuf<char> buffer(fd, std::ios::in | std::ios::binary);  // closes fd
    std::istream in(&buffer);
    ++out.stats.files;
    LineReader reader(in);
    while (const auto raw = reader.next(out.stats)) {
      if (!may_match(*raw, query)) continue;
      auto line = parse_log_line(*raw, file.host);
      if (!line) {
        ++out.stats.malformed;
        continue;
      }
      if (!matches(*line, query)) continue;
      ++out.stats.matched;
      found.push_back({std::move(*line), seq++});
      // Bounded by the limit: trimmed whenever twice as many are held.
      if (query.limit > 0 && found.size() >= 2 * query.limit) keep_latest(found, query.limit);
    }
  }
  if (query.limit > 0) keep_latest(found, query.limit);
  std::sort(found.begin(), found.end(), earlier);
  out.lines.reserve(found.size());
  for (auto& m : found) out.lines.push_back(std::move(m.line));
  return out;
}

std::optional<LogTime> parse_since(std::string_view text, LogTime now) {
  if (text.size() >= 2 && text.size() <= 7) {
    const auto number = text.substr(0, text.size() - 1);
    const int n = digits(number, 0, number.size());
    const std::map<char, std::chrono::seconds> units = {{'s', std::chrono::seconds(1)},
                                                        {'m', std::chrono::minutes(1)},
                                                        {'h', std::chrono::hours(1)},
                                                        {'d', days(1)}};
    const auto unit = units.find(text.back());
    if (n >= 0 && unit != units.end()) return now - unit->second * n;
  }
  if (auto day = parse_day(text)) return LogTime(*day);
  return parse_log_time(text);
}

}  // namespace ztm::lab
