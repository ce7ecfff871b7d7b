#include "lab/secrets.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ztm::lab {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("lab secret: " + what + ": " + std::strerror(errno));
}

std::string random_hex() {
  unsigned char bytes[16];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) fail("getrandom");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-')) return false;
  return true;
}

// The directory, made by root 0700; refuses one that is not a real directory owned by root
// (a link or another user's directory: root must not write secrets where another user chose).
std::string secrets_dir(const std::string& lab_dir) {
  const std::string dir = lab_dir + "/secrets";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail("mkdir " + dir);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) fail("lstat " + dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
    throw std::runtime_error("lab secret: " + dir +
                             " is not a directory of this user with mode 0700");
  return dir;
}

std::string read_secret(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail("open " + path);
  char buffer[128];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  if (n <= 0) fail("read " + path);
  std::string value(buffer, static_cast<std::size_t>(n));
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

}  // namespace

std::string lab_secret(const std::string& lab_dir, const std::string& name) {
  if (!valid_name(name)) throw std::runtime_error("lab secret: bad name `" + name + "`");
  const std::string dir = secrets_dir(lab_dir);
  const std::string path = dir + "/" + name;
  if (::access(path.c_str(), F_OK) == 0) return read_secret(path);
  // Write the whole file under a temporary name, then link it: a reader never sees half a
  // secret, and of two writers racing the second's link fails and it reads the first's.
  std::string temporary = dir + "/." + name + ".XXXXXX";
  const int fd = ::mkostemp(temporary.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) fail("mkstemp in " + dir);
  const std::string value = random_hex();
  const std::string line = value + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!written) {
    ::unlink(temporary.c_str());
    fail("write " + temporary);
  }
  const bool linked = ::link(temporary.c_str(), path.c_str()) == 0;
  const int link_errno = errno;
  ::unlink(temporary.c_str());
  if (linked) return value;
  errno = link_errno;
  if (errno != EEXIST) fail("link " + path);
  return read_secret(path);
}

}  // namespace ztm::lab
