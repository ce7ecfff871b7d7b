#include "media/local/local_blob_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "core/blocking_pool.h"

namespace ztm::media {
namespace {

using boost::asio::awaitable;

// An open file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

// Expected file-system failures are unavailable (a disk that is full, read-only or gone may come
// back); the message names the operation, the path and errno's text.
Error fs_error(std::string_view what, const std::string& path, int err) {
  return Error{Errc::unavailable,
               fmt::format("blob store: {} {}: {}", what, path, std::strerror(err))};
}

Result<void> check_key(const std::string& key) {
  if (!valid_blob_key(key))
    return Error{Errc::invalid_argument, fmt::format("malformed blob key \"{}\"", key)};
  return {};
}

// Makes the entry of a rename or a new file in `dir` durable.
Result<void> sync_dir(const std::string& dir) {
  const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok()) return fs_error("open", dir, errno);
  if (::fsync(fd.get()) != 0) return fs_error("fsync", dir, errno);
  return {};
}

Result<void> write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fs_error("write", path, errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// The sub-directory of `key`, created (and its entry made durable) when missing.
Result<std::string> ensure_sub_dir(const std::string& root, const std::string& key) {
  std::string sub = root + "/" + key.substr(0, 2);
  if (::mkdir(sub.c_str(), 0755) == 0) {
    if (auto s = sync_dir(root); !s.ok()) return std::move(s).error();
  } else if (errno != EEXIST) {
    return fs_error("mkdir", sub, errno);
  }
  return sub;
}

std::string blob_path(const std::string& root, const std::string& key) {
  return root + "/" + key.substr(0, 2) + "/" + key;
}

// The blob's file at `path` as it is now, locked (shared or exclusive) against a put's touch
// and a removal's check (flock, released on close). No file: `fd` is not ok.
// REQUIRES: blob.fd was opened just before (errno is the open's when it failed).
struct LockedBlob {
  Fd fd;
  struct stat st {};
};
Result<void> lock_blob(LockedBlob& blob, const std::string& path, int operation) {
  if (!blob.fd.ok()) return errno == ENOENT ? Result<void>{} : fs_error("open", path, errno);
  while (::flock(blob.fd.get(), operation) != 0)
    if (errno != EINTR) return fs_error("flock", path, errno);
  if (::fstat(blob.fd.get(), &blob.st) != 0) return fs_error("stat", path, errno);
  return {};
}

// A put of a key that exists refreshes the file's mtime (its "put at" time) under a shared lock;
// a file unlinked meanwhile (st_nlink 0: a removal won the lock first) does not count. The new
// file is linked with RENAME_NOREPLACE, so a blob's name only ever gains a file when it had none,
// and a file that has a link is the one at the blob's name (what remove_file relies on).
Result<void> put_file(const std::string& root, const std::string& key, const std::string& bytes) {
  if (auto k = check_key(key); !k.ok()) return k;
  if (blob_key(bytes, key.substr(key.find('.') + 1)) != key)
    return Error{Errc::invalid_argument, fmt::format("blob key {} is not the bytes' hash", key)};
  auto sub = ensure_sub_dir(root, key);
  if (!sub.ok()) return std::move(sub).error();
  const std::string final_path = blob_path(root, key);
  // Each round is lost only to a removal that unlinked the file between our look and our link;
  // a few in a row would need removals of a blob that is being put, so give up after some.
  for (int round = 0; round < 8; ++round) {
    LockedBlob existing{Fd(::open(final_path.c_str(), O_RDONLY | O_CLOEXEC))};
    if (auto locked = lock_blob(existing, final_path, LOCK_SH); !locked.ok()) return locked;
    if (existing.fd.ok() && existing.st.st_nlink > 0) {  // same key, same bytes: refresh it
      if (::futimens(existing.fd.get(), nullptr) != 0) return fs_error("touch", final_path, errno);
      return {};
    }
    std::string tmp = *sub + "/." + key + ".XXXXXX";
    const Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd.ok()) return fs_error("create", tmp, errno);
    auto done = write_all(fd.get(), bytes, tmp);
    if (done.ok() && ::fsync(fd.get()) != 0) done = fs_error("fsync", tmp, errno);
    bool raced = false;
    if (done.ok() &&
        ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) != 0) {
      raced = errno == EEXIST;  // another put linked it first: refresh that one
      if (!raced) done = fs_error("rename", final_path, errno);
    }
    if (!done.ok() || raced) ::unlink(tmp.c_str());
    if (!done.ok()) return done;
    if (!raced) return sync_dir(*sub);
  }
  return Error{Errc::unavailable, fmt::format("blob store: put {}: removed under every try", key)};
}

// The blob's file, open for reading; not_found when absent.
Result<int> open_blob(const std::string& root, const std::string& key) {
  if (auto k = check_key(key); !k.ok()) return std::move(k).error();
  const std::string path = blob_path(root, key);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return Error{Errc::not_found, fmt::format("blob {} not found", key)};
  if (fd < 0) return fs_error("open", path, errno);
  return fd;
}

// Up to `max_bytes` from `offset` (fewer only at the end of the file).
Result<std::string> read_at(int fd, std::uint64_t offset, std::size_t max_bytes,
                            const std::string& path) {
  std::string bytes(max_bytes, '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fs_error("read", path, errno);
    if (n == 0) break;  // the end of the blob
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

Result<std::uint64_t> file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fs_error("stat", path, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::string> get_file(const std::string& root, const std::string& key) {
  auto opened = open_blob(root, key);
  if (!opened) return std::move(opened).error();
  const Fd fd(*opened);
  const auto size = file_size(fd.get(), blob_path(root, key));
  if (!size) return size.error();
  return read_at(fd.get(), 0, static_cast<std::size_t>(*size), blob_path(root, key));
}

Result<std::uint64_t> size_of_file(const std::string& root, const std::string& key) {
  auto opened = open_blob(root, key);
  if (!opened) return std::move(opened).error();
  const Fd fd(*opened);
  return file_size(fd.get(), blob_path(root, key));
}

// Opened again for every chunk: no descriptor is held between the chunks of a slow reader, and
// a blob removed meanwhile is not_found rather than read from its unlinked inode.
Result<std::string> read_file(const std::string& root, const std::string& key, std::uint64_t offset,
                              std::size_t max_bytes) {
  auto opened = open_blob(root, key);
  if (!opened) return std::move(opened).error();
  const Fd fd(*opened);
  return read_at(fd.get(), offset, max_bytes, blob_path(root, key));
}

// Under an exclusive lock, so that no put touches the file between the check of its mtime and
// the unlink: a put either refreshed it first (kept) or finds it unlinked and writes a new file.
// A file still linked is the one at the blob's name (puts link with RENAME_NOREPLACE), so the
// unlink removes what was checked. Nothing is renamed aside, so a crash leaves either the blob
// or nothing. Not made durable: a removal lost in a crash leaves an unreferenced blob, which is
// harmless.
Result<bool> remove_file(const std::string& root, const std::string& key,
                         std::chrono::seconds unless_put_within) {
  if (auto k = check_key(key); !k.ok()) return std::move(k).error();
  const std::string path = blob_path(root, key);
  LockedBlob blob{Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC))};
  if (auto locked = lock_blob(blob, path, LOCK_EX); !locked.ok()) return std::move(locked).error();
  if (!blob.fd.ok() || blob.st.st_nlink == 0) return true;  // absent, or removed meanwhile
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);  // the clock file times come from
  const auto put_at = std::chrono::seconds(blob.st.st_mtim.tv_sec) +
                      std::chrono::nanoseconds(blob.st.st_mtim.tv_nsec);
  const auto age =
      std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) - put_at;
  if (age < unless_put_within) return false;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fs_error("unlink", path, errno);
  return true;
}

}  // namespace

LocalBlobStore::LocalBlobStore(LocalBlobStoreOptions options)
    : dir_(std::move(options.dir)),
      pool_(std::make_unique<BlockingPool>(options.threads, options.max_pending)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_))
    throw std::runtime_error(fmt::format("blob store: cannot create the directory {}: {}", dir_,
                                         ec ? ec.message() : "not a directory"));
}

LocalBlobStore::~LocalBlobStore() {
  pool_->join();
}

// Each call is named before it is awaited: GCC 12 must not build a class-type temporary (the
// lambda) inside a co_await expression (src/storage/store.h).
awaitable<Result<void>> LocalBlobStore::put(std::string key, std::string bytes) {
  auto call = pool_->run([this, key = std::move(key), bytes = std::move(bytes)] {
    return put_file(dir_, key, bytes);
  });
  co_return co_await std::move(call);
}

awaitable<Result<std::string>> LocalBlobStore::get(std::string key) {
  auto call = pool_->run([this, key = std::move(key)] { return get_file(dir_, key); });
  co_return co_await std::move(call);
}

awaitable<Result<std::uint64_t>> LocalBlobStore::size(std::string key) {
  auto call = pool_->run([this, key = std::move(key)] { return size_of_file(dir_, key); });
  co_return co_await std::move(call);
}

awaitable<Result<std::string>> LocalBlobStore::read(std::string key, std::uint64_t offset,
                                                    std::size_t max_bytes) {
  auto call = pool_->run([this, key = std::move(key), offset, max_bytes] {
    return read_file(dir_, key, offset, max_bytes);
  });
  co_return co_await std::move(call);
}

awaitable<Result<bool>> LocalBlobStore::remove(std::string key,
                                               std::chrono::seconds unless_put_within) {
  auto call = pool_->run([this, key = std::move(key), unless_put_within] {
    return remove_file(dir_, key, unless_put_within);
  });
  co_return co_await std::move(call);
}

}  // namespace ztm::media
