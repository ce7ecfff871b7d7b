#include "cli/config_flags.h"

#include <fmt/format.h>

namespace ztm::cli {

ConfigFlags::ConfigFlags(CLI::App& command) {
  command.add_option("-c,--config", config_file_, "TOML configuration file")
      ->check(CLI::ExistingFile);
  const Config defaults;
  const auto& all = config_options();
  values_.resize(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& o = all[i];
    const std::string help =
        fmt::format("{} (default: {}; env {})", o.help,
                    o.get(defaults).empty() ? "\"\"" : o.get(defaults), env_name(o.key));
    options_.push_back(command.add_option("--" + o.key, values_[i], help)->group("Configuration"));
  }
}

Config ConfigFlags::load(char** environ_vars) const {
  Config config;
  if (!config_file_.empty()) apply_settings(config, read_toml_settings(config_file_), config_file_);
  apply_settings(config, read_env_settings(environ_vars), "environment");
  std::vector<std::pair<std::string, std::string>> flags;
  const auto& all = config_options();
  for (std::size_t i = 0; i < all.size(); ++i)
    if (options_[i]->count() > 0) flags.emplace_back(all[i].key, values_[i]);
  apply_settings(config, flags, "command line");
  validate(config);
  return config;
}

}  // namespace ztm::cli
