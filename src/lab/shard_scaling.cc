// The shard clusters at runtime (stage sharding, docs/lab.md "Shards"): `scale shards=N` adds
// clusters s<k> (its primary s<k>a, then its replica s<k>b, each healthy before the next), runs
// `ztm migrate` on the new cluster from inside its primary's host, and registers it in the
// bucket map in etcd (lab/shards.h: appended with no bucket, the version bumped, written with a
// compare-and-swap so a concurrent writer is never overwritten). Moving buckets onto it is the
// mover's job (docs/sharding.md), not the lab's. Removing a shard would need its buckets moved
// off first: refused. `status` shows the map (shard_map_status).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "lab/engines/engine.h"
#include "lab/engines/postgres_credentials.h"
#include "lab/network.h"
#include "lab/shards.h"
#include "lab/supervisor_class.h"
#include "lab/template.h"

namespace ztm::lab {

namespace json = boost::json;

namespace {

constexpr std::chrono::seconds kMigrateBound{60};
constexpr std::chrono::seconds kEtcdTimeout{2};
constexpr std::chrono::milliseconds kStatusTimeout{300};  // status answers quickly, etcd or not
constexpr int kMapWriteAttempts = 5;  // compare-and-swap retries when another writer won

// Appends `shard` to the map at kShardMapKey in etcd at address; "" or what went wrong. A map
// that has the shard already (a repeated scale after a failure) counts as done.
std::string register_shard(const std::string& etcd, const ShardEntry& shard) {
  try {
    for (int attempt = 0; attempt < kMapWriteAttempts; ++attempt) {
      const EtcdValue current = etcd_get(etcd, kEtcdClientPort, kShardMapKey, kEtcdTimeout);
      if (current.mod_revision == 0) return fmt::format("no shard map at {}", kShardMapKey);
      if (current.value.find("\"" + shard.name + "\"") != std::string::npos) return "";
      if (etcd_put_if(etcd, kEtcdClientPort, kShardMapKey, map_with_shard(current.value, shard),
                      current.mod_revision, kEtcdTimeout))
        return "";
    }
    return fmt::format("the shard map kept changing: {} not registered", shard.name);
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

// One process per shard cluster: its first member's Patroni (s1a, s2a, ...), by number.
std::vector<Proc*> Supervisor::shard_procs() {
  return numbered_procs([](const Proc& p) {
    return p.def->engine == "patroni" && p.host->name.back() == 'a' &&
           std::count(p.host->roles.begin(), p.host->roles.end(), "shard");
  });
}

json::object Supervisor::scale_shards(int shards) {
  if (stage_.max_shards == 0)
    return {{"ok", false}, {"error", "stage " + stage_.name + " has no shards"}};
  if (shards < static_cast<int>(shard_procs().size()))
    return {{"ok", false},
            {"error", "removing a shard needs its buckets moved off first (not built)"}};
  return resize({.tier = "shards",
                 .prefix = "s",
                 .want = shards,
                 .max = stage_.max_shards,
                 .members = [this] { return shard_procs(); },
                 .add = [this](int k) { return add_shard(k); },
                 .remove = [](const std::string&) { return std::string("not built"); }});
}

std::string Supervisor::add_shard(int k) {
  const std::vector<HostDef> cluster = stage_.shard_cluster(k);
  std::vector<std::string> addresses;
  for (const auto& h : cluster) {
    if (auto e = add_runtime_host(h); !e.empty()) return e;
    addresses.push_back(host_address(h));
  }
  const ShardEntry shard{.name = "s" + std::to_string(k),
                         .conninfo = shard_conninfo(postgres_password(dir_), addresses)};

  // The schema, on the cluster's primary (libpq finds it: target_session_attrs=read-write).
  const std::string first = cluster.front().name;
  const std::string workdir = fmt::format("{}/hosts/{}/migrate", dir_, first);
  std::filesystem::create_directories(workdir);
  const std::string config = workdir + "/ztm-migrate.toml";
  write_file(
      config,
      fmt::format("[storage]\nbackend = \"postgres\"\npostgres_url = \"{}\"\n", shard.conninfo),
      0600);  // the lab's password
  const Launch migrate{.argv = {self_exe(), "migrate", "--config", config},
                       .netns = netns_name(first),
                       .workdir = workdir,
                       .log = workdir + "/migrate.log",
                       .exe = kThisBinary};
  if (lab::run(migrate, kMigrateBound) != 0)
    return fmt::format("ztm migrate on {} failed ({}):\n{}", shard.name, migrate.log,
                       tail(migrate.log, 10));

  const HostDef* etcd = host("etcd1");
  if (!etcd) return "no host etcd1";
  if (auto e = register_shard(host_address(*etcd), shard); !e.empty())
    return "registering " + shard.name + ": " + e;
  progress(fmt::format("{} registered in {} (no bucket yet)", shard.name, kShardMapKey));
  return "";
}

json::object Supervisor::shard_map_status() const {
  const HostDef* etcd = host("etcd1");
  if (!etcd) return {{"error", "no host etcd1"}};
  try {
    const EtcdValue map =
        etcd_get(host_address(*etcd), kEtcdClientPort, kShardMapKey, kStatusTimeout);
    if (map.mod_revision == 0) return {{"error", fmt::format("no map at {}", kShardMapKey)}};
    return summarize_shard_map(map.value);
  } catch (const std::exception& e) {
    return {{"error", e.what()}};
  }
}

}  // namespace ztm::lab
