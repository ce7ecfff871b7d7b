#pragma once
// File-system helpers for engines that run as their own user (postgres, etcd): the supervisor is
// root, the engine's files must belong to the engine's user.

#include <pwd.h>

#include <string>

namespace ztm::lab {

// The user's passwd entry; throws std::runtime_error naming the package that creates it.
const passwd& engine_user(const std::string& user, const std::string& package);

// Throws std::runtime_error.
void chown_to(const std::string& path, const passwd& pw);
// mkdir (mode 0700; an existing directory is fine) and chown to `pw`. Throws std::runtime_error.
void make_dir(const std::string& path, const passwd& pw);

// Every directory above `workdir` must let `pw` through (a --dir under a 0700 directory such as
// mktemp -d's would otherwise fail later, obscurely). Throws std::runtime_error saying so.
void check_searchable(const std::string& engine, const std::string& workdir, const passwd& pw);

}  // namespace ztm::lab
