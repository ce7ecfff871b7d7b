// A configuration file (--config), as `ztm serve` loads it: TOML text to dotted settings, each
// applied through its option's parser and checks, then the cross-option validation. Anything
// wrong must be a ConfigError (a clear start-up message), never another exception or a crash;
// a configuration accepted must print (`ztm config print`) as TOML that loads back the same.

#include "core/config.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ztm;
  Config config;
  try {
    apply_settings(config, parse_toml_settings(fuzz::as_text(data, size), "fuzz.toml"),
                   "fuzz.toml");
    validate(config);
  } catch (const ConfigError&) {
    return 0;
  }
  const std::string printed = to_toml(config);
  Config back;
  try {
    apply_settings(back, parse_toml_settings(printed, "printed.toml"), "printed.toml");
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "the printed configuration does not load: %s\n", e.what());
    FUZZ_CHECK(false);
  }
  FUZZ_CHECK(to_toml(back) == printed);
  return 0;
}
