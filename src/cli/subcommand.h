#pragma once
// A command with its own options (not the Config-driven ones of the command table in main.cc):
// registered on the top-level app before parsing, run after it when it was chosen.

#include <optional>

namespace ztm::cli {

class Subcommand {
 public:
  virtual ~Subcommand() = default;
  // The exit status when this command was parsed, else nullopt.
  virtual std::optional<int> run() = 0;
};

}  // namespace ztm::cli
