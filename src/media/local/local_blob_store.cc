#include "media/local/local_blob_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

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

// `root`/`name`, created (and its entry made durable) when missing.
Result<std::string> ensure_dir(const std::string& root, const std::string& name) {
  std::string dir = root + "/" + name;
  if (::mkdir(dir.c_str(), 0755) == 0) {
    if (auto s = sync_dir(root); !s.ok()) return std::move(s).error();
  } else if (errno != EEXIST) {
    return fs_error("mkdir", dir, errno);
  }
  return dir;
}

// The sub-directory of `key`, created when missing.
Result<std::string> ensure_sub_dir(const std::string& root, const std::string& key) {
  return ensure_dir(root, key.substr(0, 2));
}

std::string blob_path(const std::string& root, const std::string& key) {
  return root + "/" + key.substr(0, 2) + "/" + key;
}

// Removal candidates: an empty file per key in one directory, so that a pass lists them without
// walking the blobs.
constexpr const char* kPendingDir = ".pending";

std::string marker_path(const std::string& root, const std::string& key) {
  return root + "/" + kPendingDir + "/" + key;
}

using TimePoint = std::chrono::system_clock::time_point;

// A file's mtime: a blob's "put at" time.
TimePoint mtime_of(const struct stat& st) {
  return TimePoint(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

// Sets the file's access and modification times to `now` (the store's clock, not the kernel's,
// so that a test's manual clock is the time blobs were put at).
Result<void> set_put_time(int fd, TimePoint now, const std::string& path) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  struct timespec t {};
  t.tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
  t.tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
  const struct timespec times[2] = {t, t};
  if (::futimens(fd, times) != 0) return fs_error("touch", path, errno);
  return {};
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
Result<void> put_file(const std::string& root, const std::string& key, const std::string& bytes,
                      TimePoint now) {
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
    if (existing.fd.ok() && existing.st.st_nlink > 0)  // same key, same bytes: refresh it
      return set_put_time(existing.fd.get(), now, final_path);
    std::string tmp = *sub + "/." + key + ".XXXXXX";
    const Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd.ok()) return fs_error("create", tmp, errno);
    auto done = write_all(fd.get(), bytes, tmp);
    if (done.ok()) done = set_put_time(fd.get(), now, tmp);
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

// The marker of a removal candidate is made and dropped under a lock on the marker itself
// (flock: shared to make, exclusive to drop), and a drop happens only when the blob is absent:
// a marker is made only while its blob exists (under the blob's exclusive lock), so a drop never
// takes away the marker of a blob kept meanwhile. Made durable (the directory fsync'ed) before
// the removal that keeps the blob returns, and before its lock is released.
Result<void> make_marker(const std::string& root, const std::string& key) {
  auto dir = ensure_dir(root, kPendingDir);
  if (!dir.ok()) return std::move(dir).error();
  const std::string path = marker_path(root, key);
  // Each round is lost only to a drop that unlinked the marker between our open and our lock.
  for (int round = 0; round < 8; ++round) {
    bool created = true;
    int raw = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC, 0644);
    if (raw < 0 && errno == EEXIST) {
      created = false;
      raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (raw < 0 && errno == ENOENT) continue;  // dropped meanwhile
    }
    LockedBlob marker{Fd(raw)};
    if (!marker.fd.ok()) return fs_error("create", path, errno);
    if (auto locked = lock_blob(marker, path, LOCK_SH); !locked.ok()) return locked;
    if (marker.st.st_nlink == 0) continue;  // dropped between the open and the lock
    // A marker found is durable already: makers of one key take turns under its blob's lock,
    // and each fsyncs before it lets go.
    return created ? sync_dir(*dir) : Result<void>{};
  }
  return Error{Errc::unavailable, fmt::format("blob store: mark {}: dropped under every try", key)};
}

// Drops the key's marker unless its blob exists (a blob put anew since: a candidate again, at
// worst one that a later pass finds in use). Not made durable: a drop lost in a crash leaves a
// marker without a blob, which the next pass drops again.
Result<void> drop_marker_unless_blob(const std::string& root, const std::string& key) {
  const std::string path = marker_path(root, key);
  LockedBlob marker{Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC))};
  if (auto locked = lock_blob(marker, path, LOCK_EX); !locked.ok()) return locked;
  if (!marker.fd.ok() || marker.st.st_nlink == 0) return {};  // no marker
  struct stat blob {};
  const std::string blob_file = blob_path(root, key);
  if (::stat(blob_file.c_str(), &blob) == 0) return {};
  if (errno != ENOENT) return fs_error("stat", blob_file, errno);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fs_error("unlink", path, errno);
  return {};
}

// How long ago the locked blob was put.
std::chrono::system_clock::duration age_of(const LockedBlob& blob, TimePoint now) {
  return now - mtime_of(blob.st);
}

// Under an exclusive lock, so that no put touches the file between the check of its mtime and
// the unlink: a put either refreshed it first (kept) or finds it unlinked and writes a new file.
// A file still linked is the one at the blob's name (puts link with RENAME_NOREPLACE), so the
// unlink removes what was checked. Nothing is renamed aside, so a crash leaves either the blob
// or nothing. A blob kept gets its marker, durable before the lock is released. A blob removed
// loses its marker only after its unlink is durable (otherwise a crash could bring the blob back
// without it); a removal lost in a crash is harmless otherwise (an unreferenced blob, or a
// candidate found again).
Result<bool> remove_file(const std::string& root, const std::string& key,
                         std::chrono::seconds unless_put_within, TimePoint now) {
  if (auto k = check_key(key); !k.ok()) return std::move(k).error();
  const std::string path = blob_path(root, key);
  LockedBlob blob{Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC))};
  if (auto locked = lock_blob(blob, path, LOCK_EX); !locked.ok()) return std::move(locked).error();
  if (blob.fd.ok() && blob.st.st_nlink > 0) {
    if (age_of(blob, now) < unless_put_within) {
      if (auto marked = make_marker(root, key); !marked.ok()) return std::move(marked).error();
      return false;
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fs_error("unlink", path, errno);
    struct stat marker {};
    if (::stat(marker_path(root, key).c_str(), &marker) != 0) return true;  // no candidate
    if (auto synced = sync_dir(root + "/" + key.substr(0, 2)); !synced.ok())
      return std::move(synced).error();
  }
  // Absent, removed meanwhile, or removed now: its candidate goes too.
  if (auto dropped = drop_marker_unless_blob(root, key); !dropped.ok())
    return std::move(dropped).error();
  return true;
}

// The blob stays; its marker goes unless it was put within `unless_put_within` (under the
// blob's lock, so no removal keeps it in between).
Result<void> forget_file(const std::string& root, const std::string& key,
                         std::chrono::seconds unless_put_within, TimePoint now) {
  if (auto k = check_key(key); !k.ok()) return k;
  const std::string path = blob_path(root, key);
  LockedBlob blob{Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC))};
  if (auto locked = lock_blob(blob, path, LOCK_EX); !locked.ok()) return locked;
  if (!blob.fd.ok() || blob.st.st_nlink == 0) return drop_marker_unless_blob(root, key);
  if (age_of(blob, now) < unless_put_within) return {};
  const std::string marker = marker_path(root, key);
  if (::unlink(marker.c_str()) != 0 && errno != ENOENT) return fs_error("unlink", marker, errno);
  return {};
}

// The markers whose blob was put at least `put_before` ago or is absent, oldest put first.
Result<std::vector<std::string>> list_candidates(const std::string& root,
                                                 std::chrono::seconds put_before, int limit,
                                                 TimePoint now) {
  if (auto l = check_candidate_limit(limit); !l.ok()) return std::move(l).error();
  const std::string dir = root + "/" + kPendingDir;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return std::vector<std::string>{};
  if (ec) return fs_error("list", dir, ec.value());
  std::vector<std::pair<TimePoint, std::string>> found;  // (put at, key); absent: the epoch
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string key = it->path().filename().string();
    if (!valid_blob_key(key)) continue;
    struct stat st {};
    TimePoint put_at{};
    if (::stat(blob_path(root, key).c_str(), &st) == 0)
      put_at = mtime_of(st);
    else if (errno != ENOENT)
      return fs_error("stat", blob_path(root, key), errno);
    if (now - put_at >= put_before) found.emplace_back(put_at, std::move(key));
  }
  if (ec) return fs_error("list", dir, ec.value());
  const auto n = std::min(found.size(), static_cast<std::size_t>(limit));
  std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(n), found.end());
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(std::move(found[i].second));
  return keys;
}

}  // namespace

LocalBlobStore::LocalBlobStore(LocalBlobStoreOptions options)
    : dir_(std::move(options.dir)),
      clock_(*options.clock),
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
    return put_file(dir_, key, bytes, clock_.now());
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
    return remove_file(dir_, key, unless_put_within, clock_.now());
  });
  co_return co_await std::move(call);
}

awaitable<Result<std::vector<std::string>>> LocalBlobStore::removal_candidates(
    std::chrono::seconds put_before, int limit) {
  auto call = pool_->run(
      [this, put_before, limit] { return list_candidates(dir_, put_before, limit, clock_.now()); });
  co_return co_await std::move(call);
}

awaitable<Result<void>> LocalBlobStore::forget_candidate(std::string key,
                                                         std::chrono::seconds unless_put_within) {
  auto call = pool_->run([this, key = std::move(key), unless_put_within] {
    return forget_file(dir_, key, unless_put_within, clock_.now());
  });
  co_return co_await std::move(call);
}

}  // namespace ztm::media
