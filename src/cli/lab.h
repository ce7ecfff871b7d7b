#pragma once
// `ztm lab ...`: registered on the top-level app; run after parsing when it was chosen.

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

namespace ztm::cli {

class LabCommands {
 public:
  virtual ~LabCommands() = default;
  // The exit status when a `lab` subcommand was parsed, else nullopt.
  virtual std::optional<int> run() = 0;
};

// Adds `lab` with up, status, chaos, down and the hidden supervise. The result must outlive
// parsing (CLI11 writes into it).
std::unique_ptr<LabCommands> add_lab_commands(CLI::App& app);

}  // namespace ztm::cli
