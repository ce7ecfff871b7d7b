#pragma once
// One function per command. Each returns the process exit status.

#include "core/config.h"

namespace ztm::cli {

int serve(const Config& config);         // ztm serve
int worker(const Config& config);        // ztm worker
int migrate(const Config& config);       // ztm migrate
int seed(const Config& config);          // ztm seed
int print_config(const Config& config);  // ztm config print

}  // namespace ztm::cli
