#include "lab/engines/files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "lab/process.h"

namespace ztm::lab {

const passwd& engine_user(const std::string& user, const std::string& package) {
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("no user `" + user + "`: install " + package);
  return *pw;
}

const passwd& system_user(const std::string& name, const std::string& log) {
  const char* kName = name.c_str();
  static std::mutex creating;
  std::lock_guard lock(creating);
  if (const passwd* pw = ::getpwnam(kName)) return *pw;
  const auto status = run(
      {.argv = {"/usr/sbin/useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "ztm lab", kName},
       .log = log},
      std::chrono::seconds(30));
  const passwd* pw = ::getpwnam(kName);
  if (!pw)
    throw std::runtime_error(std::string("cannot create the system user ") + kName +
                             " (useradd exited " + (status ? std::to_string(*status) : "?") +
                             "):\n" + tail(log, 5));
  return *pw;
}

int open_no_links(const std::string& path, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_NO_SYMLINKS;
  const int fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
  if (fd < 0) return -1;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink > 1)) {
    ::close(fd);
    errno = ELOOP;
    return -1;
  }
  return fd;
}

void write_private_file(const std::string& path, std::string_view content, mode_t mode) {
  const int fd = open_no_links(path, O_WRONLY | O_CREAT, mode);
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  bool ok = ::ftruncate(fd, 0) == 0 && ::fchmod(fd, mode) == 0;
  for (std::size_t done = 0; ok && done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  const int saved = errno;
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path + ": " + std::strerror(saved));
}

void chown_to(const std::string& path, const passwd& pw) {
  // O_PATH: no read permission needed, and a directory opens like a file.
  const int fd = open_no_links(path, O_PATH);
  const bool ok =
      fd >= 0 && ::fchownat(fd, "", pw.pw_uid, pw.pw_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0;
  const int saved = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error("chown " + path + ": " + std::strerror(saved));
}

void make_dir(const std::string& path, const passwd& pw) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error("mkdir " + path + ": " + std::strerror(errno));
  chown_to(path, pw);
}

void check_searchable(const std::string& engine, const std::string& workdir, const passwd& pw) {
  for (std::filesystem::path p = std::filesystem::path(workdir).parent_path();
       !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;
    const bool ok = (st.st_mode & S_IXOTH) || (st.st_uid == pw.pw_uid && (st.st_mode & S_IXUSR)) ||
                    (st.st_gid == pw.pw_gid && (st.st_mode & S_IXGRP));
    if (!ok)
      throw std::runtime_error(engine + ": user " + pw.pw_name + " cannot enter " + p.string() +
                               ": choose a --dir whose parent directories are searchable (o+x)");
  }
}

}  // namespace ztm::lab
