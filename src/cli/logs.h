#pragma once
// `ztm logs` and `ztm trace`: searching the lab's central log files (src/lab/logs.h).

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/subcommand.h"

namespace ztm::cli {

// Adds `logs` and `trace`. The result must outlive parsing (CLI11 writes into it).
std::unique_ptr<Subcommand> add_logs_commands(CLI::App& app);

}  // namespace ztm::cli
