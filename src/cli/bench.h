#pragma once
// `ztm bench URL`: a bounded HTTP/1.1 load generator (the lab's tests and the benchmarks use it).

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/subcommand.h"

namespace ztm::cli {

// Adds `bench`. The result must outlive parsing (CLI11 writes into it).
std::unique_ptr<Subcommand> add_bench_command(CLI::App& app);

}  // namespace ztm::cli
