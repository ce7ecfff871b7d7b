#pragma once
// `ztm lab ...`: registered on the top-level app; run after parsing when it was chosen.

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/subcommand.h"

namespace ztm::cli {

// Adds `lab` with up, status, chaos, scale, restart, autoscale, down and the hidden supervise.
// The result must outlive parsing (CLI11 writes into it).
std::unique_ptr<Subcommand> add_lab_commands(CLI::App& app);

}  // namespace ztm::cli
