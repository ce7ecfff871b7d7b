#include "lab/engines/engine.h"

namespace ztm::lab {

PrepareFn find_engine(const std::string& name) {
  if (name == "ztm") return prepare_ztm_server;
  if (name == "postgres") return prepare_postgres;
  if (name == "etcd") return prepare_etcd;
  if (name == "patroni") return prepare_patroni;
  if (name == "haproxy") return prepare_haproxy;
  if (name == "redis") return prepare_redis;
  if (name == "sentinel") return prepare_sentinel;
  if (name == "nats") return prepare_nats;
  if (name == "worker") return prepare_ztm_worker;
  if (name == "varnish") return prepare_varnish;
  if (name == "varnish-exporter") return prepare_varnish_exporter;
  if (name == "tls") return prepare_edge_tls;
  if (name == "delay") return prepare_delay;
  if (name == "prometheus") return prepare_prometheus;
  if (name == "alertmanager") return prepare_alertmanager;
  if (name == "host-exporter") return prepare_host_exporter;
  if (name == "node-exporter") return prepare_node_exporter;
  if (name == "postgres-exporter") return prepare_postgres_exporter;
  if (name == "redis-exporter") return prepare_redis_exporter;
  if (name == "dashboard") return prepare_dashboard;
  if (name == "logs") return prepare_log_host;
  if (name == "log-shipper") return prepare_log_shipper;
  return nullptr;
}

}  // namespace ztm::lab
