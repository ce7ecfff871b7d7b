// Engines `varnish`, `varnish-exporter` and `tls`: a CDN edge of figure 1-11 (Debian `varnish`
// 7.1 with `varnish-modules` for xkey and var), its Prometheus exporter (Debian
// `prometheus-varnish-exporter`) and HAProxy ending TLS in front of it: three processes of one
// edge host.
//
// `varnish` params: origin_host = the host the edge fetches misses from (lb1, on its private
// address, port kLbHttpPort); lease = how long the edge trusts its purge stream (a VCL duration,
// docs/cdn.md "the lease"). The VCL is deploy/varnish/edge.vcl rendered into the working
// directory; varnishd runs in the foreground (-F) as root and drops to its own users (varnish
// compiles the VCL, vcache runs the cache), so the working directory and its parents must let
// user `varnish` in, and -f is an absolute path (a relative one silently means /etc/varnish).
// Listeners: `public` on the public address :80 (clients), `tls` on the host's loopback :6086
// (PROXY protocol: clients of HTTPS through the `tls` process), `admin` on the private address
// :6091 (PURGE and /.ztm/edge, from the edge's own subnet: the web tier and the operator), the
// CLI (varnishadm) on the host's loopback with a secret file.
// Without varnish-modules the VCL does not compile and varnishd exits: its log says why.
// Health: GET /.ztm/ping on the public address answers 200. Describe: "edge" with the origin's
// health as the edge's probe sees it, the lease (fenced), and hits/misses from its exporter.
//
// `tls`: HAProxy (mode tcp, deploy/haproxy/edge-tls.cfg) on the public address :443 with a
// self-signed certificate (tls.crt in its directory), passing each connection to the `tls`
// listener with a PROXY v2 header. Health: a TCP connection to :443 is accepted.
//
// `varnish-exporter`: prometheus-varnish-exporter reading the edge's shared memory (-n) on the
// private address :9131. Health: its health path answers 200. Each scrape runs varnishstat
// (about 40 ms here): the edge's own check scrapes once a second for `status`, which shows
// that scrapes work, so the exporter's check does not scrape a second time.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "lab/engines/certificate.h"
#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/health.h"
#include "lab/secrets.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

constexpr const char* kVarnishd = "/usr/sbin/varnishd";
constexpr const char* kVarnishstat = "/usr/bin/varnishstat";
constexpr const char* kExporter = "/usr/bin/prometheus-varnish-exporter";
constexpr const char* kHaproxy = "/usr/sbin/haproxy";

// varnishd's instance directory (-n): shared memory for varnishstat, varnishadm, the exporter.
// Both engines of an edge host derive it from their own working directory.
std::string instance_dir(const std::string& workdir) {
  return (std::filesystem::absolute(workdir).parent_path() / "varnish" / "instance").string();
}

std::string param(const EngineContext& c, const std::string& key) {
  auto it = c.params.find(key);
  if (it == c.params.end() || it->second.empty())
    throw std::runtime_error("varnish: needs the param " + key);
  return it->second;
}

// The ACL of who may PURGE and read /.ztm/edge (on the admin listener only): the edge's own
// data-center subnet, where the web tier's purger and the operator (the root namespace, the
// bridge's address) are, and the edge host itself.
std::string purgers(const std::string& address) {
  const std::string subnet = address.substr(0, address.rfind('.')) + ".0";
  return "    \"" + subnet + "\"/24;  # the web tier and the operator\n    \"127.0.0.1\";";
}

// What the health check last saw of the edge, for `status`.
struct EdgeView {
  json::value origin_healthy = nullptr;  // the edge's probe of the origin (/.ztm/edge)
  json::value fenced = nullptr;          // the purge lease has lapsed
  json::value hits = nullptr;            // MAIN.cache_hit, from the exporter
  json::value misses = nullptr;          // MAIN.cache_miss
};

// Bounded by 2 x timeout. What cannot be read stays unknown (null), except the counters: they
// keep their last values through a slow scrape.
void refresh(EdgeView& view, const std::string& address, milliseconds timeout) {
  view.origin_healthy = nullptr;
  view.fenced = nullptr;
  if (auto edge = http_request("GET", address, kEdgeAdminPort, "/.ztm/edge", timeout);
      edge && edge->status == 200) {
    boost::system::error_code ec;
    const auto doc = json::parse(edge->body, ec);
    if (!ec && doc.is_object()) {
      if (const auto* h = doc.as_object().if_contains("origin_healthy")) view.origin_healthy = *h;
      if (const auto* f = doc.as_object().if_contains("fenced")) view.fenced = *f;
    }
  }
  if (auto metrics = http_request("GET", address, kEdgeExporterPort, "/metrics", timeout);
      metrics && metrics->status == 200) {
    const auto hit = prometheus_sample(metrics->body, "varnish_main_cache_hit");
    const auto miss = prometheus_sample(metrics->body, "varnish_main_cache_miss");
    if (hit && miss) {
      view.hits = static_cast<std::int64_t>(*hit);
      view.misses = static_cast<std::int64_t>(*miss);
    }
  }
}

}  // namespace

ProcessSpec prepare_varnish(const EngineContext& c) {
  if (::access(kVarnishd, X_OK) != 0)
    throw std::runtime_error(std::string("no ") + kVarnishd + ": install varnish");
  if (c.public_address.empty())
    throw std::runtime_error("varnish: an edge host needs a public address");
  const passwd& pw = engine_user("varnish", "varnish");
  check_searchable("varnish", c.workdir, pw);
  ::chmod(c.workdir.c_str(), 0755);  // the VCL is read by user varnish

  const std::string workdir = std::filesystem::absolute(c.workdir).string();
  const std::string vcl = workdir + "/edge.vcl";
  render_file("varnish", "edge.vcl",
              {{"edge_name", c.host},
               {"origin_host", c.address_of(param(c, "origin_host"))},
               {"origin_port", std::to_string(kLbHttpPort)},
               {"admin_socket", "admin"},
               {"purgers", purgers(c.address)},
               {"lease", param(c, "lease")}},
              vcl);
  const std::string secret = workdir + "/secret";  // varnishadm's (-S), read by root only
  write_file(secret, lab_secret(c.lab_dir, "varnish-cli-" + c.host) + "\n", 0600);

  ProcessSpec spec;
  spec.launch = {
      .argv = {kVarnishd, "-F", "-n", instance_dir(c.workdir), "-f", vcl, "-s", "malloc,256m", "-a",
               "public=" + c.public_address + ":" + std::to_string(kEdgeHttpPort), "-a",
               "tls=127.0.0.1:" + std::to_string(kEdgeTlsProxyPort) + ",PROXY", "-a",
               "admin=" + c.address + ":" + std::to_string(kEdgeAdminPort), "-T",
               "127.0.0.1:" + std::to_string(kEdgeCliPort), "-S", secret,
               // The jail (the default for root, said): the manager drops to varnish, the
               // worker process to vcache.
               "-j", "unix,user=varnish,workuser=vcache"},
      .netns = c.netns,
      .workdir = workdir,
      .log = workdir + "/varnish.log"};
  spec.stop_signal = SIGTERM;
  auto view = std::make_shared<EdgeView>();
  const std::string public_address = c.public_address;
  const std::string address = c.address;
  spec.healthy = [public_address, address, view](milliseconds timeout) {
    const bool up = http_ok(public_address, kEdgeHttpPort, "/.ztm/ping", timeout);
    if (up)
      refresh(*view, address, timeout / 2);
    else
      *view = EdgeView{};
    return up;
  };
  spec.describe = [view](json::object& host) {
    json::value ratio = nullptr;
    if (view->hits.is_int64() && view->misses.is_int64()) {
      const auto hits = view->hits.as_int64(), misses = view->misses.as_int64();
      if (hits + misses > 0) ratio = static_cast<double>(hits) / static_cast<double>(hits + misses);
    }
    host["edge"] = {{"origin_healthy", view->origin_healthy},
                    {"fenced", view->fenced},
                    {"hits", view->hits},
                    {"misses", view->misses},
                    {"hit_ratio", ratio}};
  };
  return spec;
}

ProcessSpec prepare_varnish_exporter(const EngineContext& c) {
  if (::access(kExporter, X_OK) != 0)
    throw std::runtime_error(std::string("no ") + kExporter +
                             ": install prometheus-varnish-exporter");
  ProcessSpec spec;
  spec.launch = {
      .argv = {kExporter, "-n", instance_dir(c.workdir), "-varnishstat-path", kVarnishstat,
               "-web.listen-address", c.address + ":" + std::to_string(kEdgeExporterPort),
               "-web.health-path", "/healthz"},
      .netns = c.netns,
      .user = "varnish",  // varnishstat reads the shared memory varnishd made as varnish
      .workdir = c.workdir,
      .log = c.workdir + "/exporter.log"};
  spec.stop_signal = SIGTERM;
  const std::string address = c.address;
  spec.healthy = [address](milliseconds timeout) {
    return http_ok(address, kEdgeExporterPort, "/healthz", timeout);
  };
  return spec;
}

ProcessSpec prepare_edge_tls(const EngineContext& c) {
  if (::access(kHaproxy, X_OK) != 0)
    throw std::runtime_error(std::string("tls: no ") + kHaproxy + ": install haproxy");
  if (c.public_address.empty())
    throw std::runtime_error("tls: an edge host needs a public address");
  const std::string config = c.workdir + "/haproxy.cfg";
  render_file("haproxy", "edge-tls.cfg",
              {{"public_address", c.public_address},
               {"https_port", std::to_string(kEdgeHttpsPort)},
               {"certificate", make_certificate("tls", c.workdir, "tls", c.public_address)},
               {"varnish_tls_port", std::to_string(kEdgeTlsProxyPort)}},
              config);
  ProcessSpec spec;
  spec.launch = {.argv = {kHaproxy, "-db", "-f", config},
                 .netns = c.netns,
                 .workdir = c.workdir,
                 .log = c.workdir + "/haproxy.log"};
  spec.stop_signal = SIGTERM;
  const std::string address = c.public_address;
  spec.healthy = [address](milliseconds timeout) {
    return tcp_accepting(address, kEdgeHttpsPort, timeout);
  };
  return spec;
}

}  // namespace ztm::lab
