#pragma once
// Reading one series back from a registry's Prometheus text, for tests that assert on metrics.

#include <string>

#include "core/metrics.h"

namespace ztm::test {

// The value of one series (name with its labels, as rendered) or -1 when it is absent.
inline double metric_value(const MetricsRegistry& registry, const std::string& series) {
  const std::string text = "\n" + registry.render();
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace ztm::test
