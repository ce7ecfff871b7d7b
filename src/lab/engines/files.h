#pragma once
// File-system helpers for engines that run as their own user (postgres, etcd): the supervisor is
// root, the engine's files must belong to the engine's user.
//
// Root never follows a link it did not create (security issue 13, finding 9): an engine's user
// owns its working directory and could put a symbolic link there (postgres.log -> /etc/shadow)
// or a hard link to a file it does not own, and root would then write, truncate or chown that
// file. So every path root opens, writes or chowns under the lab is opened with
// open_no_links(): no symbolic link anywhere on the path (the lab's directory is made canonical
// when the supervisor starts), and a regular file with a second hard link is refused.

#include <pwd.h>
#include <sys/types.h>

#include <string>
#include <string_view>

namespace ztm::lab {

// The user's passwd entry; throws std::runtime_error naming the package that creates it.
const passwd& engine_user(const std::string& user, const std::string& package);

// open(2) of `path` resolved without following any symbolic link (openat2 RESOLVE_NO_SYMLINKS);
// also refuses (ELOOP) a link itself (O_PATH) and a regular file with more than one hard link. -1
// with errno on failure.
int open_no_links(const std::string& path, int flags, mode_t mode = 0);

// Writes `content` to `path` (replacing it; created with `mode`, and chmod'ed to it), through
// open_no_links. Throws std::runtime_error.
void write_private_file(const std::string& path, std::string_view content, mode_t mode);

// A system user of the lab's own, created on first use as a package's postinst would
// (useradd --system, no home, no shell; its output in `log`): "ztm", which the lab's servers run
// as (`ztm serve` decodes untrusted images, `ztm worker` edits them: neither needs root), and
// "ztm-logs", the log shipper and log host's (they read every engine's log: never as root, so a
// link an engine's user made is followed with no more rights than any user has). Throws
// std::runtime_error.
const passwd& system_user(const std::string& name, const std::string& log);

// chown through open_no_links (never a link's target). Throws std::runtime_error.
void chown_to(const std::string& path, const passwd& pw);
// mkdir (mode 0700; an existing directory is fine) and chown to `pw`. Throws std::runtime_error.
void make_dir(const std::string& path, const passwd& pw);

// Every directory above `workdir` must let `pw` through (a --dir under a 0700 directory such as
// mktemp -d's would otherwise fail later, obscurely). Throws std::runtime_error saying so.
void check_searchable(const std::string& engine, const std::string& workdir, const passwd& pw);

}  // namespace ztm::lab
