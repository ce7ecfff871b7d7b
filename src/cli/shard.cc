// ztm shard status|init|add|move|finalise|rollback|abort|rebalance: the command-line surface of
// storage/sharding/mover.h (docs/sharding.md, "Moving a bucket"). Exit status: 0 done, 1 failed
// (the message says why and what to run next), 2 a bad argument.
#include "cli/shard.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "cli/shard_load.h"
#include "core/log.h"
#include "etcd/client.h"
#include "storage/sharding/mover.h"

namespace ztm::cli {
namespace {

constexpr const char* kFooter = R"(
The map lives in etcd (--etcd, --key): every web server started with
storage.shard_map = "etcd://HOST:PORT/KEY" follows it. A move carries a set of buckets from one
shard to another: it copies them with PostgreSQL's logical replication, holds their writes while
the target catches up (the cutover), switches the map for all of them at once, and keeps the old
copy current until `finalise` (or `rollback`, which loses nothing). Each step is recorded in etcd
first: a move that was interrupted is finished by running the same command again, or undone by
`abort` (before the switch) or `rollback` (at any step). finalise, rollback and abort take any
bucket of the move.

Examples:
  ztm shard init map.json                    the first map (shards and their buckets)
  ztm shard add s5 'host=10.0.5.2 dbname=ztm user=ztm'
  ztm shard move --bucket 17,18,40 --to s5   copy, cut over (all on one shard); then:
  ztm shard finalise --bucket 17             drop the old copy   (or: ztm shard rollback ...)
  ztm shard rebalance --shards 5 --batch 64  move buckets until 5 shards hold as many each,
                                             at most 64 a move; run again after a failure
  ztm shard rebalance --shards 5 --by load --dry-run
                                             what evening out requests/s would move (a hot
                                             bucket's shard gives up its other buckets)
  ztm shard status
)";

// "17,18,40": distinct buckets in 0..kBuckets-1, ascending.
Result<std::vector<int>> parse_buckets(const std::string& text) {
  std::vector<int> out;
  std::set<int> seen;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    int b = -1;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), b);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      return Error{Errc::invalid_argument,
                   fmt::format("--bucket: '{}' is not a bucket number (a list: 17,18,40)", item)};
    if (b < 0 || b >= storage::kBuckets)
      return Error{Errc::invalid_argument,
                   fmt::format("bucket {} is not in 0..{}", b, storage::kBuckets - 1)};
    if (!seen.insert(b).second)
      return Error{Errc::invalid_argument, fmt::format("--bucket: bucket {} is listed twice", b)};
    out.push_back(b);
  }
  if (out.empty() || text.back() == ',')
    return Error{Errc::invalid_argument, "--bucket: a list of buckets, like 17 or 17,18,40"};
  std::sort(out.begin(), out.end());
  return out;
}

class Shard final : public Subcommand {
 public:
  explicit Shard(CLI::App& app) {
    shard_ = app.add_subcommand("shard", "The bucket map in etcd and bucket moves (sharding)");
    shard_->require_subcommand(1);
    shard_->footer(kFooter);
    auto common = [this](CLI::App* sub) {
      sub->add_option("--etcd", etcd_, "etcd endpoints, host:port[,host:port] (127.0.0.1:2379)")
          ->type_name("ENDPOINTS");
      sub->add_option("--key", key_, "the map's key (/ztm/shards/map)");
      sub->add_option("--admin-user", admin_user_,
                      "log in to the shards as this role instead of the map's (moves need one "
                      "that may create subscriptions: a superuser in PostgreSQL 15)")
          ->type_name("ROLE");
      sub->add_option("--admin-password-file", admin_password_file_,
                      "the admin role's password, the file's first line (keep it 0600)")
          ->type_name("FILE")
          ->check(CLI::ExistingFile);
      return sub;
    };
    status_ = common(shard_->add_subcommand("status", "The map, rows per shard, moves in flight"));
    init_ = common(shard_->add_subcommand("init", "Write the first map from a JSON file"));
    init_->add_option("file", file_, "the map (docs/sharding.md, \"The map\")")->required();
    add_ = common(shard_->add_subcommand("add", "Append a migrated shard to the map"));
    add_->add_option("name", name_, "the shard's name, [a-z0-9_-]{1,32}")->required();
    add_->add_option("conninfo", conninfo_, "its libpq conninfo")->required();
    move_ = common(
        shard_->add_subcommand("move", "Move buckets of one shard to another (up to the switch)"));
    move_->add_option("--bucket", buckets_, "a bucket or a list, 17,18,40 (each 0..1023)")
        ->required()
        ->type_name("LIST");
    move_->add_option("--to", to_, "the target shard's name")->required();
    move_->add_option("--cutover-wait", cutover_ms_,
                      "ms the target may take to catch up while writes are held (5000)");
    finalise_ = common(shard_->add_subcommand("finalise", "Drop a switched move's old copy"));
    rollback_ = common(shard_->add_subcommand("rollback", "Undo a move, at any step"));
    abort_ = common(shard_->add_subcommand("abort", "Undo a move that has not switched yet"));
    for (CLI::App* sub : {finalise_, rollback_, abort_})
      sub->add_option("--bucket", bucket_, "any bucket of the move, 0..1023")->required();
    rebalance_ = common(shard_->add_subcommand(
        "rebalance",
        "Move buckets until N shards hold as many, or as many rows or requests/s, each"));
    rebalance_->add_option("--shards", shards_, "how many shards should hold buckets")->required();
    rebalance_->add_option("--batch", batch_, "at most this many buckets a move, 1..1024 (64)");
    rebalance_
        ->add_option("--by", by_,
                     "what to even out: buckets (their count, the fewest moves), rows (counted on "
                     "every shard) or load (requests/s from the servers' reports) (buckets)")
        ->check(CLI::IsMember({"buckets", "rows", "load"}));
    rebalance_->add_flag("--dry-run", dry_run_, "say the plan, move nothing");
  }

  std::optional<int> run() override {
    if (!shard_->parsed()) return std::nullopt;
    if (auto checked = check_arguments(); !checked.ok()) return report(checked);
    etcd::ClientOptions o;
    std::stringstream list(etcd_);
    for (std::string e; std::getline(list, e, ',');) o.endpoints.push_back(e);
    std::unique_ptr<etcd::Client> client;
    try {
      client = std::make_unique<etcd::Client>(o);
    } catch (const std::exception& e) {
      fmt::print(stderr, "ztm shard: --etcd: {}\n", e.what());
      return 2;
    }
    storage::MoverOptions options;
    options.map_key = key_;
    options.admin_user = admin_user_;
    if (!admin_password_file_.empty()) {
      std::ifstream in(admin_password_file_);
      if (!std::getline(in, options.admin_password)) {
        fmt::print(stderr, "ztm shard: --admin-password-file: cannot read {}\n",
                   admin_password_file_);
        return 2;
      }
    }
    options.cutover_wait = std::chrono::milliseconds(cutover_ms_);
    // Each line as it happens, also into a file or a pipe (an operator's tail -f, a test).
    options.progress = [](const std::string& line) {
      fmt::print("{}\n", line);
      std::fflush(stdout);
    };
    storage::Mover mover(*client, options);
    return report(dispatch(mover));
  }

 private:
  Result<void> dispatch(storage::Mover& mover) {
    if (status_->parsed()) return print_status(mover);
    if (init_->parsed()) {
      std::ifstream in(file_);
      if (!in) return Error{Errc::invalid_argument, "cannot read " + file_};
      std::stringstream text;
      text << in.rdbuf();
      auto map = storage::parse_shard_map(text.str());
      if (!map.ok()) return std::move(map).error();
      return mover.init(*map);
    }
    if (add_->parsed()) return mover.add_shard({name_, conninfo_});
    if (move_->parsed()) {
      auto r = mover.move(move_buckets_, to_);
      if (!r.ok()) return std::move(r).error();
      fmt::print("{} on {}; run `ztm shard finalise --bucket {}` (or rollback)\n",
                 storage::describe_buckets(move_buckets_), to_, move_buckets_.front());
      return {};
    }
    if (finalise_->parsed()) return mover.finalise(bucket_);
    if (rollback_->parsed() || abort_->parsed()) {
      auto r = rollback_->parsed() ? mover.rollback(bucket_) : mover.abort(bucket_);
      if (!r.ok()) return std::move(r).error();
      return {};
    }
    const auto by = by_ == "rows"   ? storage::Balance::rows
                    : by_ == "load" ? storage::Balance::load
                                    : storage::Balance::buckets;
    auto r = mover.rebalance({shards_, by, batch_, dry_run_});
    if (!r.ok()) return std::move(r).error();
    fmt::print("{}: {} buckets {}\n", dry_run_ ? "dry run" : "rebalanced", *r,
               dry_run_ ? "to move" : "moved");
    return {};
  }

  // What can be checked without etcd (a bad one exits 2 before connecting).
  Result<void> check_arguments() {
    if (move_->parsed()) {
      auto parsed = parse_buckets(buckets_);
      if (!parsed.ok()) return std::move(parsed).error();
      move_buckets_ = std::move(*parsed);
    }
    if ((finalise_->parsed() || rollback_->parsed() || abort_->parsed()) &&
        (bucket_ < 0 || bucket_ >= storage::kBuckets))
      return Error{Errc::invalid_argument,
                   fmt::format("bucket {} is not in 0..{}", bucket_, storage::kBuckets - 1)};
    if (rebalance_->parsed() && (batch_ < 1 || batch_ > storage::kBuckets))
      return Error{Errc::invalid_argument,
                   fmt::format("--batch {} is not in 1..{}", batch_, storage::kBuckets)};
    return {};
  }

  Result<void> print_status(storage::Mover& mover) const {
    auto st = mover.status();
    if (!st.ok()) return std::move(st).error();
    fmt::print("map version {}, {} buckets, {} fenced\n", st->map.version, storage::kBuckets,
               st->map.fenced_buckets.size());
    fmt::print("{:<12} {:>8} {:>12}\n", "shard", "buckets", "users");
    for (const auto& s : st->shards) {
      if (s.error.empty()) {
        fmt::print("{:<12} {:>8} {:>12}\n", s.name, s.buckets, s.users);
      } else {
        fmt::print("{:<12} {:>8} {:>12}  {}\n", s.name, s.buckets, "?", s.error);
      }
    }
    if (st->moves.empty()) fmt::print("no moves in flight\n");
    for (const auto& m : st->moves)
      fmt::print("move of {}: {} -> {}, {}, lag {}\n",
                 storage::describe_buckets(m.record.buckets, 8), m.record.from, m.record.to,
                 storage::to_string(m.record.step),
                 m.lag_bytes < 0 ? std::string("?") : fmt::format("{} bytes", m.lag_bytes));
    print_shard_load(etcd_, st->map);  // requests/s, hot buckets and users (cli/shard_load.h)
    return {};
  }

  static int report(const Result<void>& r) {
    if (r.ok()) return 0;
    fmt::print(stderr, "ztm shard: {}\n", r.error().message);
    return r.error().code == Errc::invalid_argument ? 2 : 1;
  }

  CLI::App* shard_ = nullptr;
  CLI::App *status_ = nullptr, *init_ = nullptr, *add_ = nullptr, *move_ = nullptr,
           *finalise_ = nullptr, *rollback_ = nullptr, *abort_ = nullptr, *rebalance_ = nullptr;
  std::string etcd_ = "127.0.0.1:2379";
  std::string key_ = "/ztm/shards/map";
  std::string file_, name_, conninfo_, to_, buckets_;
  std::string admin_user_, admin_password_file_;
  std::vector<int> move_buckets_;  // buckets_, parsed
  int bucket_ = -1;
  int shards_ = 0;
  int batch_ = 64;
  std::string by_ = "buckets";
  bool dry_run_ = false;
  int cutover_ms_ = 5000;
};

}  // namespace

std::unique_ptr<Subcommand> add_shard_commands(CLI::App& app) {
  return std::make_unique<Shard>(app);
}

}  // namespace ztm::cli
