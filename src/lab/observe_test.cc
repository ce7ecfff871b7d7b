#include "lab/observe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "lab/host_exporter.h"
#include "lab/template.h"

namespace ztm::lab {
namespace {

std::map<std::string, std::vector<std::string>> processes_by_host(const Stage& s) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& h : s.hosts)
    for (const auto& p : h.processes) out[h.name].push_back(p.engine);
  return out;
}

TEST(Observe, AddsTheObsHostAndAnExporterBesideEachEngineWithout) {
  const Stage s = observed(*find_stage("cache"));
  auto by_host = processes_by_host(s);
  EXPECT_EQ(by_host.at("obs"),
            (std::vector<std::string>{"logs", "host-exporter", "node-exporter", "alertmanager",
                                      "prometheus", "dashboard", "log-shipper"}));
  EXPECT_EQ(by_host.at("db2"),
            (std::vector<std::string>{"patroni", "postgres-exporter", "log-shipper"}));
  EXPECT_EQ(by_host.at("cache1"),
            (std::vector<std::string>{"redis", "redis-exporter", "log-shipper"}));
  // ztm serves its own /metrics
  EXPECT_EQ(by_host.at("web1"), (std::vector<std::string>{"ztm", "log-shipper"}));
  for (const auto& h : s.hosts)
    for (const auto& p : h.processes) {
      if (p.engine == "postgres-exporter") {
        EXPECT_EQ(p.after, std::vector<std::string>{h.name + "/patroni"});
      }
    }
  EXPECT_EQ(observed(s).hosts.size(), s.hosts.size());  // idempotent
}

TEST(Observe, RuntimeHostsShipTheirLogsToo) {
  const Stage s = observed(*find_stage("queue"));
  const HostDef web5 = s.web_host(5), work3 = s.worker_host(3);
  EXPECT_EQ(web5.processes.back().engine, "log-shipper");
  EXPECT_EQ(web5.processes.front().engine, "ztm");
  EXPECT_EQ(work3.processes.back().engine, "log-shipper");
}

TEST(Observe, EveryProcessWithMetricsIsATargetOfAKnownJob) {
  const Stage s = observed(*find_stage("cdn"));
  std::vector<const HostDef*> hosts;
  for (const auto& h : s.hosts) hosts.push_back(&h);
  std::map<std::string, std::vector<std::string>> by_job;
  for (const auto& t : scrape_targets(hosts)) {
    EXPECT_NE(std::find(scrape_jobs().begin(), scrape_jobs().end(), t.job), scrape_jobs().end())
        << t.job;
    by_job[t.job].push_back(t.instance);
  }
  EXPECT_EQ(by_job["ztm-web"], (std::vector<std::string>{"web1:8080", "web2:8080", "web3:8080"}));
  EXPECT_EQ(by_job["ztm-worker"], (std::vector<std::string>{"work1:8080", "work2:8080"}));
  EXPECT_EQ(by_job["haproxy"], std::vector<std::string>{"lb1:8405"});
  EXPECT_EQ(by_job["varnish"], (std::vector<std::string>{"edge1:9131", "edge2:9131"}));
  EXPECT_EQ(by_job["postgres"], std::vector<std::string>{"db1:9187"});
  EXPECT_EQ(by_job["redis"], std::vector<std::string>{"redis1:9121"});
  EXPECT_EQ(by_job["host"], std::vector<std::string>{"obs:9101"});
}

// Prometheus's config has a scrape config reading each job's file, and nothing else.
TEST(Observe, PrometheusConfigScrapesEveryJob) {
  const std::string config = render_template(
      "prometheus", "prometheus.yml", {{"alertmanager", "10.77.1.3:9093"}, {"targets", "/t"}});
  for (const auto& job : scrape_jobs()) {
    const auto at = config.find("job_name: " + job);
    ASSERT_NE(at, std::string::npos) << job;
    const char after = config.at(at + std::string("job_name: ").size() + job.size());
    EXPECT_TRUE(after == ' ' || after == '\n') << job;
    EXPECT_NE(config.find("\"/t/" + job + ".json\""), std::string::npos) << job;
  }
}

TEST(Observe, HostMetricsNameEachHostAndSkipWhatIsUnknown) {
  HostUsage web{.cpu_seconds = 1.5,
                .cpu_quota_cores = 0.5,
                .cpu_throttled_seconds = 0.75,
                .memory_bytes = 1024,
                .io_read_bytes = 7,
                .io_write_bytes = 9};
  HostUsage db{.cpu_seconds = 0.25};
  const std::string text = host_metrics({{"web1", web}, {"db1", db}});
  EXPECT_NE(text.find("ztm_host_cpu_seconds_total{host=\"web1\"} 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("ztm_host_cpu_seconds_total{host=\"db1\"} 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("ztm_host_memory_bytes{host=\"web1\"} 1024\n"), std::string::npos);
  EXPECT_NE(text.find("ztm_host_cpu_quota_cores{host=\"web1\"} 0.5\n"), std::string::npos);
  EXPECT_EQ(text.find("ztm_host_cpu_quota_cores{host=\"db1\"}"), std::string::npos);  // none
  EXPECT_NE(text.find("ztm_host_cpu_throttled_seconds_total{host=\"web1\"} 0.75\n"),
            std::string::npos);
  EXPECT_EQ(text.find("ztm_host_memory_bytes{host=\"db1\"}"), std::string::npos);
  EXPECT_NE(text.find("ztm_host_io_bytes_total{host=\"web1\",direction=\"write\"} 9\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE ztm_host_cpu_seconds_total counter\n"), std::string::npos);
}

}  // namespace
}  // namespace ztm::lab
