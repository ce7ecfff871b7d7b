#include "core/secret_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ztm {

std::string read_secret_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path + " is not a regular file");
  }
  if (st.st_mode & S_IRWXO) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{} is open to other users (mode {:03o}): chmod o= it",
                                         path, st.st_mode & 0777));
  }
  std::string text;
  char buffer[1024];
  ssize_t n = 0;
  while (text.size() <= 4096 && (n = ::read(fd, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(n));
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(read_errno));
  if (text.ends_with('\n')) text.pop_back();
  if (text.ends_with('\r')) text.pop_back();
  if (text.empty()) throw std::runtime_error(path + " is empty");
  if (text.find_first_of("\r\n") != std::string::npos)
    throw std::runtime_error(path + " holds more than one line");
  if (text.size() > 512) throw std::runtime_error(path + " holds over 512 bytes");
  return text;
}

}  // namespace ztm
