#pragma once
// This machine's name as the process shows it to others (its log lines, its shard load report):
// `configured` (log.host) when set, else the kernel's hostname with every character outside
// [A-Za-z0-9.-] made '-', cut to 64 bytes; "localhost" when there is none.

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace ztm {

inline std::string host_name(std::string_view configured = "") {
  if (!configured.empty()) return std::string(configured);
  char name[256] = "";
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  std::string host(name, std::min<std::size_t>(std::string_view(name).size(), 64));
  for (char& c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '-';
  return host;
}

}  // namespace ztm
