#pragma once
// Passwords the service presents to its backends (Redis) are read from files named in the
// config (cache.l2_password_file, sessions.redis_password_file, ...), never written in the config
// itself: the config may be world-readable, is printed by `ztm config print`, and flags and
// environment variables show in /proc. docs/security.md says why.

#include <string>

namespace ztm {

// The secret in the file at `path`: its first line without the line break. Throws
// std::runtime_error saying why not: the file cannot be read, others (not its owner or group)
// may read or write it, or the secret is empty, has more than one line or over 512 bytes.
std::string read_secret_file(const std::string& path);

}  // namespace ztm
