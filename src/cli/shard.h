#pragma once
// `ztm shard ...`: the operator's view of the bucket map in etcd and its moves
// (docs/sharding.md; storage/sharding/mover.h does the work).

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/subcommand.h"

namespace ztm::cli {

// Adds `shard` and its subcommands. The result must outlive parsing (CLI11 writes into it).
std::unique_ptr<Subcommand> add_shard_commands(CLI::App& app);

}  // namespace ztm::cli
