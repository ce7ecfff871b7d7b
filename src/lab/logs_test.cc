#include "lab/logs.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace ztm::lab {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kRequest = "req-7f3a";

LogTime at(std::string_view text) {
  auto t = parse_log_time(text);
  if (!t) throw std::invalid_argument(std::string(text));
  return *t;
}

// What the log host would hold: seven hosts' files over two days. One request (kRequest, trace
// kTrace) went HAProxy (lb1, no span) -> web1 (span POST, child span queue publish, an error
// line) -> work1 (span job edit, child of the POST). Around it: another request's error on web2,
// engines' lines in the log host's wrapping, and lines that are not records at all.
class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ztm-logs-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    write(
        "web1/2026-12-04.jsonl",
        R"({"ts":"2026-12-04T12:00:00.000Z","level":"info","host":"web1","service":"ztm-web","msg":"listening","port":8080}
{"ts":"2026-12-04T23:59:59.999Z","level":"warning","host":"web1","service":"ztm-web","msg":"slow query","duration_us":250000}
)");
    write(
        "web1/2026-12-05.jsonl",
        std::string(
            R"({"ts":"2026-12-05T10:00:00.115Z","level":"info","host":"web1","service":"ztm-web","msg":"span","name":"queue publish","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"a1b2c3d4e5f60718","parent_id":"00f067aa0ba902b7","request_id":"req-7f3a","start":"2026-12-05T10:00:00.110Z","duration_us":5000}
not json at all
{"ts":"2026-12-05T10:00:00.112Z","level":"error","host":"web1","service":"ztm-web","msg":"thumbnail missing","request_id":"req-7f3a","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","photo_id":7}
[1,2,3]

{"ts":"2026-12-05T10:00:00.140Z","level":"info","host":"web1","service":"ztm-web","msg":"span","name":"POST /photos/{id}/edits","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","request_id":"req-7f3a","start":"2026-12-05T10:00:00.100Z","duration_us":40000}
{"ts":"2026-12-05T10:00:00.140Z","level":"info","host":"web1","service":"ztm-web","msg":"request","request_id":"req-7f3a","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","method":"POST","path":"/photos/7/edits","status":202,"duration_us":40000}
{"level":"info","msg":"no time"}
{"ts":"2026-12-05T10:00:01Z","level":"info","msg":"cut short
)") + R"({"ts":"2026-12-05T10:00:02.000Z","level":"error","msg":")" +
            std::string(70000, 'x') + R"("}
{"ts":"2026-12-05T10:05:00.000Z","level":"debug","host":"web1","service":"ztm-web","msg":"cache miss","key":"user:12"}
)");
    write("web1/notes.txt",
          R"({"ts":"2026-12-05T10:00:00.000Z","level":"error","msg":"not a day file"})");
    write(
        "web2/2026-12-05.jsonl",
        R"({"ts":"2026-12-05T09:59:59.000Z","level":"warn","host":"web2","service":"ztm-web","msg":"replica lagging","lag_ms":1500}
{"ts":"2026-12-05T10:00:00.123Z","level":"error","host":"web2","service":"ztm-web","msg":"request","request_id":"req-9c01","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b9c7c989f97918e1","method":"GET","path":"/users/1","status":500,"duration_us":1234}
)");
    write(
        "work1/2026-12-05.jsonl",
        R"({"ts":"2026-12-05T10:00:00.199Z","level":"info","host":"work1","service":"ztm-worker","msg":"job done","request_id":"req-7f3a","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"b7ad6b7169203331","steps":2}
{"ts":"2026-12-05T10:00:00.200Z","level":"info","host":"work1","service":"ztm-worker","msg":"span","name":"job edit","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"b7ad6b7169203331","parent_id":"00f067aa0ba902b7","request_id":"req-7f3a","start":"2026-12-05T10:00:00.160Z","duration_us":40000}
)");
    write(
        "db1/2026-12-05.jsonl",
        R"({"ts":"2026-12-05T11:00:00.000001+01:00","host":"db1","service":"postgres","msg":"2026-12-05 10:00:00.000 UTC [42] LOG:  checkpoint starting: time"}
{"ts":"2026-12-05T10:00:00.050000+00:00","host":"db1","service":"patroni","msg":"2026-12-05 10:00:00,050 ERROR: Failed to get list of machines from etcd"}
)");
    write(
        "lb1/2026-12-05.jsonl",
        R"({"ts":"2026-12-05T09:00:00.000000+00:00","host":"lb1","service":"haproxy","msg":"[ALERT]    (1) : backend 'web' has no server available!"}
{"ts":"2026-12-05T10:00:00.145123+00:00","host":"lb1","service":"haproxy","msg":"10.77.0.33:41000 [05/Dec/2026:10:00:00.100] http~ web/web1 0/0/1/44/45 202 120 {req-7f3a} \"POST /photos/7/edits HTTP/1.1\""}
)");
    // The last line has no newline yet (the log host is writing it).
    write(
        "redis1/2026-12-05.jsonl",
        R"({"ts":"2026-12-05T10:00:01.000000+00:00","host":"redis1","service":"redis","msg":"1:M 05 Dec 2026 10:00:01.000 # WARNING overcommit_memory is set to 0!"})");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& file, const std::string& text) {
    fs::create_directories((dir_ / file).parent_path());
    std::ofstream(dir_ / file) << text;
  }

  // "time host msg" for each line, to compare a result at a glance.
  static std::vector<std::string> summary(const SearchResult& r) {
    std::vector<std::string> out;
    for (const auto& l : r.lines)
      out.push_back(format_log_time(l.ts) + " " + l.host + " " + l.msg.substr(0, 20));
    return out;
  }

  SearchResult find(const LogQuery& q) const { return search(dir_.string(), q); }

  fs::path dir_;
};

TEST(LogDir, IsTheObsHostsFilesDirectory) {
  EXPECT_EQ(log_dir("/run/ztm-lab"), "/run/ztm-lab/hosts/obs/logs/files");
}

TEST(LogTime, ReadsBothShapesAndOffsets) {
  const auto ztm = parse_log_time("2026-12-05T10:00:00.123Z");
  const auto wrapped = parse_log_time("2026-12-05T10:00:00.123000+00:00");
  ASSERT_TRUE(ztm && wrapped);
  EXPECT_EQ(*ztm, *wrapped);
  EXPECT_EQ(parse_log_time("2026-12-05T11:30:00.123+01:30"), ztm);
  EXPECT_EQ(parse_log_time("2026-12-05T08:00:00.123-02:00"), ztm);
  EXPECT_EQ(parse_log_time("2026-12-05 10:00:00.123456789Z"),
            *ztm + std::chrono::microseconds(456));
  EXPECT_EQ(parse_log_time("2026-12-05T10:00:00Z"), *ztm - std::chrono::milliseconds(123));
  EXPECT_EQ(format_log_time(*wrapped + std::chrono::microseconds(999)), "2026-12-05T10:00:00.123Z");
  for (const char* bad : {"", "2026-12-05", "2026-12-05T10:00:00", "2026-13-05T10:00:00Z",
                          "2026-12-05T24:00:00Z", "2026-12-05T10:00:00.Z", "2026-12-05T10:00:00Zx",
                          "2026-12-05T10:00:00+0100", "yesterday"}) {
    EXPECT_FALSE(parse_log_time(bad)) << bad;
  }
}

TEST(LogLevel, EngineLinesTakeTheirLevelFromTheirOwnMarker) {
  const std::pair<const char*, Level> cases[] = {
      {"2026-12-05 10:00:00.000 UTC [42] ERROR:  relation \"x\" does not exist", Level::error},
      {"2026-12-05 10:00:00.000 UTC [42] FATAL:  password authentication failed", Level::critical},
      {"2026-12-05 10:00:00.000 UTC [42] PANIC:  could not write to file", Level::critical},
      {"2026-12-05 10:00:00.000 UTC [42] WARNING:  there is no transaction", Level::warning},
      {"2026-12-05 10:00:00.000 UTC [42] LOG:  checkpoint starting: time", Level::info},
      {"2026-12-05 10:00:00,050 CRITICAL: system ID mismatch", Level::critical},
      {"[ALERT]    (1) : backend 'web' has no server available!", Level::critical},
      {"[WARNING]  (1) : Server web/web2 is DOWN", Level::warning},
      {"[NOTICE]   (1) : haproxy version is 2.6.12", Level::info},
      {"1:M 05 Dec 2026 10:00:01.000 # WARNING overcommit_memory is set to 0!", Level::warning},
      {"1:M 05 Dec 2026 10:00:01.000 # Redis is starting", Level::warning},
      {"1:M 05 Dec 2026 10:00:01.000 * Ready to accept connections tcp", Level::info},
      {"[1] 2026/12/05 10:00:00.000000 [ERR] 10.77.1.10:4222 - cid:5 - read error", Level::error},
      {"[1] 2026/12/05 10:00:00.000000 [WRN] JetStream is low on memory", Level::warning},
      {"[1] 2026/12/05 10:00:00.000000 [INF] Server is ready", Level::info},
      {"ts=2026-12-05T10:00:00Z caller=main.go:1 level=error msg=\"notify failed\"", Level::error},
      {R"({"level":"warn","ts":"2026-12-05T10:00:00Z","msg":"slow fdatasync"})", Level::warning},
      {"Child (123) Panic at: Fri, 05 Dec 2026 10:00:00 GMT", Level::critical},
      {"GET /errors 200 no error here, ERRORS=0", Level::info},
  };
  for (const auto& [text, level] : cases) EXPECT_EQ(engine_level(text), level) << text;
}

TEST(LogLine, ParsesFieldsAndFormatsKeyValues) {
  const auto line = parse_log_line(
      R"({"ts":"2026-12-05T10:00:00.123Z","level":"warn","service":"ztm-web","msg":"request","path":"/users/1","status":500,"note":"two words"})",
      "web2");
  ASSERT_TRUE(line);
  EXPECT_EQ(line->host, "web2");  // from the directory when the line has none
  EXPECT_EQ(line->level, Level::warning);
  EXPECT_EQ(
      format_log_line(*line),
      R"(2026-12-05T10:00:00.123Z web2 ztm-web WARNING request path=/users/1 status=500 note="two words")");
  const auto engine = parse_log_line(
      R"({"ts":"2026-12-05T10:00:00+00:00","host":"db1","service":"patroni","msg":"x ERROR: y"})",
      "");
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->level, Level::error);
  EXPECT_FALSE(parse_log_line("[1]", "web1"));
  EXPECT_FALSE(parse_log_line(R"({"ts":"soon","msg":"x"})", "web1"));
}

TEST_F(LogsTest, MergesEveryHostAndDayInTimeOrderAndCountsWhatItSkips) {
  const auto r = find({});
  EXPECT_EQ(summary(r), (std::vector<std::string>{
                            "2026-12-04T12:00:00.000Z web1 listening",
                            "2026-12-04T23:59:59.999Z web1 slow query",
                            "2026-12-05T09:00:00.000Z lb1 [ALERT]    (1) : bac",
                            "2026-12-05T09:59:59.000Z web2 replica lagging",
                            "2026-12-05T10:00:00.000Z db1 2026-12-05 10:00:00.",
                            "2026-12-05T10:00:00.050Z db1 2026-12-05 10:00:00,",
                            "2026-12-05T10:00:00.112Z web1 thumbnail missing",
                            "2026-12-05T10:00:00.115Z web1 span",
                            "2026-12-05T10:00:00.123Z web2 request",
                            "2026-12-05T10:00:00.140Z web1 span",  // same ts: the file's order
                            "2026-12-05T10:00:00.140Z web1 request",
                            "2026-12-05T10:00:00.145Z lb1 10.77.0.33:41000 [05",
                            "2026-12-05T10:00:00.199Z work1 job done",
                            "2026-12-05T10:00:00.200Z work1 span",
                            "2026-12-05T10:00:01.000Z redis1 1:M 05 Dec 2026 10:0",
                            "2026-12-05T10:05:00.000Z web1 cache miss",
                        }));
  EXPECT_EQ(r.stats.files, 7u);  // notes.txt is not a day file
  EXPECT_EQ(r.stats.malformed, 4u);
  EXPECT_EQ(r.stats.too_long, 1u);
  EXPECT_EQ(r.stats.lines, 16u + 4u + 1u);  // the blank line is no line
  EXPECT_EQ(
      r.lines.front().raw,
      R"({"ts":"2026-12-04T12:00:00.000Z","level":"info","host":"web1","service":"ztm-web","msg":"listening","port":8080})");
}

TEST_F(LogsTest, ALevelAdmitsItselfAndWorse) {
  LogQuery q;
  q.min_level = Level::error;
  EXPECT_EQ(summary(find(q)), (std::vector<std::string>{
                                  "2026-12-05T09:00:00.000Z lb1 [ALERT]    (1) : bac",
                                  "2026-12-05T10:00:00.050Z db1 2026-12-05 10:00:00,",
                                  "2026-12-05T10:00:00.112Z web1 thumbnail missing",
                                  "2026-12-05T10:00:00.123Z web2 request",
                              }));
  q.min_level = Level::warning;
  EXPECT_EQ(find(q).lines.size(), 4u + 3u);  // slow query, replica lagging (warn), redis's #
}

TEST_F(LogsTest, SinceOpensOnlyTheDaysItNeeds) {
  LogQuery q;
  q.since = parse_since("2026-12-05", LogTime{});
  auto r = find(q);
  EXPECT_EQ(r.stats.files, 6u);
  EXPECT_EQ(r.lines.size(), 14u);
  q.since = parse_since("10m", at("2026-12-05T10:10:00.145Z"));
  r = find(q);
  EXPECT_EQ(summary(r), (std::vector<std::string>{
                            "2026-12-05T10:00:00.145Z lb1 10.77.0.33:41000 [05",
                            "2026-12-05T10:00:00.199Z work1 job done",
                            "2026-12-05T10:00:00.200Z work1 span",
                            "2026-12-05T10:00:01.000Z redis1 1:M 05 Dec 2026 10:0",
                            "2026-12-05T10:05:00.000Z web1 cache miss",
                        }));
  q.since = parse_since("2026-12-06T00:00:00Z", LogTime{});
  r = find(q);
  EXPECT_EQ(r.stats.files, 0u);
  EXPECT_TRUE(r.lines.empty());
}

TEST(LogSince, ReadsDurationsDaysAndTimes) {
  const auto now = at("2026-12-05T10:00:00Z");
  EXPECT_EQ(parse_since("30s", now), at("2026-12-05T09:59:30Z"));
  EXPECT_EQ(parse_since("10m", now), at("2026-12-05T09:50:00Z"));
  EXPECT_EQ(parse_since("2h", now), at("2026-12-05T08:00:00Z"));
  EXPECT_EQ(parse_since("1d", now), at("2026-12-04T10:00:00Z"));
  EXPECT_EQ(parse_since("2026-12-01", now), at("2026-12-01T00:00:00Z"));
  EXPECT_EQ(parse_since("2026-12-05T09:00:00+00:00", now), at("2026-12-05T09:00:00Z"));
  for (const char* bad : {"", "m", "10", "10x", "-5m", "1.5h", "10 m", "yesterday", "2026-12-32"}) {
    EXPECT_FALSE(parse_since(bad, now)) << bad;
  }
}

TEST_F(LogsTest, ARequestIdFindsItsLinesOnEveryHostIncludingTheEnginesText) {
  LogQuery q;
  q.request_ids = {kRequest};
  const auto r = find(q);
  std::vector<std::string> hosts;
  for (const auto& l : r.lines) hosts.push_back(l.host);
  EXPECT_EQ(hosts,
            (std::vector<std::string>{"web1", "web1", "web1", "web1", "lb1", "work1", "work1"}));
  q.request_ids = {};
  q.trace_ids = {kTrace};
  EXPECT_EQ(find(q).lines.size(), 6u);  // HAProxy's line names the request, not the trace
}

TEST_F(LogsTest, HostServiceGrepAndLimitNarrowTheResult) {
  LogQuery q;
  q.hosts = {"web2"};
  auto r = find(q);
  EXPECT_EQ(r.stats.files, 1u);
  EXPECT_EQ(r.lines.size(), 2u);
  q = {};
  q.services = {"patroni", "redis"};
  EXPECT_EQ(find(q).lines.size(), 2u);
  q = {};
  q.grep = "overcommit";
  r = find(q);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].host, "redis1");
  q = {};
  q.limit = 3;  // the latest three, still in time order
  EXPECT_EQ(summary(find(q)), (std::vector<std::string>{
                                  "2026-12-05T10:00:00.200Z work1 span",
                                  "2026-12-05T10:00:01.000Z redis1 1:M 05 Dec 2026 10:0",
                                  "2026-12-05T10:05:00.000Z web1 cache miss",
                              }));
}

TEST_F(LogsTest, AMissingDirectoryIsAnEmptyResult) {
  const auto r = search((dir_ / "nowhere").string(), {});
  EXPECT_TRUE(r.lines.empty());
  EXPECT_EQ(r.stats.files, 0u);
}

TEST_F(LogsTest, ATraceIsGatheredFromItsRequestIdOrItsTraceId) {
  EXPECT_TRUE(is_trace_id(kTrace));
  EXPECT_FALSE(is_trace_id(kRequest));
  EXPECT_FALSE(is_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736"));
  const auto by_request = trace_lines(dir_.string(), kRequest);
  const auto by_trace = trace_lines(dir_.string(), kTrace);
  ASSERT_EQ(by_request.lines.size(), 7u);
  ASSERT_EQ(by_trace.lines.size(), 7u);  // with HAProxy's line, found by the request id
  for (std::size_t i = 0; i < by_request.lines.size(); ++i)
    EXPECT_EQ(by_request.lines[i].raw, by_trace.lines[i].raw);
}

TEST_F(LogsTest, TheWaterfallNestsSpansAndPutsLinesUnderTheirSpan) {
  const auto lines = trace_lines(dir_.string(), kRequest).lines;
  const std::string pad(47, ' ');
  auto line_of = [&](std::string_view msg) {
    for (const auto& l : lines)
      if (l.msg.starts_with(msg)) return format_log_line(l);
    return std::string("missing: ") + std::string(msg);
  };
  EXPECT_EQ(
      waterfall(lines, 20),
      "trace 4bf92f3577b34da6a3ce929d0e0e4736: 3 spans, 100.000 ms, from "
      "2026-12-05T10:00:00.100Z\n"
      "  start ms         ms                          service@host  span\n"
      "     0.000     40.000  [========            ]  ztm-web@web1  POST /photos/{id}/edits\n" +
          pad + "  " + line_of("thumbnail") + "\n" +  // its span_id, in the child's time
          pad + "  " + line_of("request") + "\n" +    // web1, during the span
          "    10.000      5.000  [  =                 ]    ztm-web@web1  queue publish\n"
          "    60.000     40.000  [            ========]    ztm-worker@work1  job edit\n" +
          pad + "    " + line_of("job done") + "\n" +
          "outside every span:\n"
          "  " +
          line_of("10.77.0.33") + "\n");
  EXPECT_EQ(waterfall({}), "");
}

// A span record as a ztm process writes it, starting `start_ms` after 10:00:00.000.
LogLine span_line(const char* name, const char* host, const char* id, const char* parent,
                  int start_ms, int duration_ms) {
  const std::string start = fmt::format("2026-12-05T10:00:00.{:03}Z", start_ms);
  auto line = parse_log_line(
      fmt::format(R"({{"ts":"{}","host":"{}","service":"ztm","msg":"span","name":"{}",)"
                  R"("trace_id":"{}","span_id":"{}","parent_id":"{}","start":"{}",)"
                  R"("duration_us":{}}})",
                  start, host, name, kTrace, id, parent, start, duration_ms * 1000),
      "");
  if (!line) throw std::logic_error("bad span fixture");
  return *line;
}

TEST(Waterfall, RowsAreOrderedByStartAndIndentedByDepth) {
  // Given out of order; C (under B) starts before D (under A): start order, not depth order.
  const std::vector<LogLine> lines = {
      span_line("D", "work1", "000000000000000d", "000000000000000a", 40, 20),
      span_line("C", "web1", "000000000000000c", "000000000000000b", 20, 10),
      span_line("A", "web1", "000000000000000a", "", 0, 100),
      span_line("B", "web1", "000000000000000b", "000000000000000a", 10, 40),
  };
  EXPECT_EQ(waterfall(lines, 10),
            "trace 4bf92f3577b34da6a3ce929d0e0e4736: 4 spans, 100.000 ms, from "
            "2026-12-05T10:00:00.000Z\n"
            "  start ms         ms                service@host  span\n"
            "     0.000    100.000  [==========]  ztm@web1  A\n"
            "    10.000     40.000  [ ====     ]    ztm@web1  B\n"
            "    20.000     10.000  [  =       ]      ztm@web1  C\n"
            "    40.000     20.000  [    ==    ]    ztm@work1  D\n");
}

TEST(Waterfall, ASpanWithoutItsParentIsARootAndARepeatedSpanOneRow) {
  std::vector<LogLine> lines;
  for (
      const char* raw :
      {R"({"ts":"2026-12-05T10:00:01Z","host":"web1","service":"ztm-web","msg":"span","name":"GET /users/{id}","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b9c7c989f97918e1","parent_id":"ffffffffffffffff","duration_us":1000})",
       R"({"ts":"2026-12-05T10:00:01Z","host":"web1","service":"ztm-web","msg":"span","name":"GET /users/{id}","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b9c7c989f97918e1","parent_id":"ffffffffffffffff","duration_us":1000})"}) {
    auto line = parse_log_line(raw, "");
    ASSERT_TRUE(line);
    lines.push_back(*line);
  }
  const auto span = span_of(lines[0]);
  ASSERT_TRUE(span);
  EXPECT_EQ(span->start, at("2026-12-05T10:00:00.999Z"));  // no start: it ended at ts
  const auto in_ms = parse_log_line(
      R"({"ts":"2026-12-05T10:00:01Z","msg":"span","span_id":"b9c7c989f97918e1","parent":"ffffffffffffffff","duration_ms":2.5})",
      "web1");
  ASSERT_TRUE(in_ms && span_of(*in_ms));
  EXPECT_EQ(span_of(*in_ms)->duration, std::chrono::microseconds(2500));
  EXPECT_EQ(span_of(*in_ms)->parent_id, "ffffffffffffffff");
  const auto not_a_span = parse_log_line(
      R"({"ts":"2026-12-05T10:00:01Z","msg":"request","span_id":"b9c7c989f97918e1"})", "web1");
  ASSERT_TRUE(not_a_span);
  EXPECT_FALSE(span_of(*not_a_span));  // a line written inside a span is not one
  EXPECT_EQ(waterfall(lines, 4),
            "trace 0af7651916cd43dd8448eb211c80319c: 1 span, 1.000 ms, from "
            "2026-12-05T10:00:00.999Z\n"
            "  start ms         ms          service@host  span\n"
            "     0.000      1.000  [====]  ztm-web@web1  GET /users/{id}\n");
}

}  // namespace
}  // namespace ztm::lab
