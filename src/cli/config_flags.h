#pragma once
// Every configuration option as a command-line flag (--http.port 8080), plus --config FILE.
// After parsing, load() layers the sources: defaults -> TOML file -> ZTM_* environment -> flags.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace ztm::cli {

class ConfigFlags {
 public:
  // Adds the flags to `command`. The object must outlive parsing (CLI11 writes into it).
  explicit ConfigFlags(CLI::App& command);
  ConfigFlags(const ConfigFlags&) = delete;
  ConfigFlags& operator=(const ConfigFlags&) = delete;

  // The effective configuration; throws ConfigError naming the option and its source.
  Config load(char** environ_vars) const;

 private:
  std::string config_file_;
  std::vector<std::string> values_;    // one per config_options() entry
  std::vector<CLI::Option*> options_;  // the same order
};

}  // namespace ztm::cli
