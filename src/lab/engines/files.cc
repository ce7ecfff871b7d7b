#include "lab/engines/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace ztm::lab {

const passwd& engine_user(const std::string& user, const std::string& package) {
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("no user `" + user + "`: install " + package);
  return *pw;
}

void chown_to(const std::string& path, const passwd& pw) {
  if (::chown(path.c_str(), pw.pw_uid, pw.pw_gid) != 0)
    throw std::runtime_error("chown " + path + ": " + std::strerror(errno));
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
