#include "sqlite/database.h"

#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace ztm::sqlite {
namespace {

Options checked(Options o) {
  if (o.path.empty()) throw std::runtime_error("sqlite: the database path is empty");
  if (o.threads < 1 || o.max_pending < 1 || o.busy_timeout_ms < 0)
    throw std::runtime_error(fmt::format(
        "sqlite {}: threads and max_pending must be at least 1 and busy_timeout_ms at least 0 "
        "(got {}, {}, {})",
        o.path, o.threads, o.max_pending, o.busy_timeout_ms));
  return o;
}

}  // namespace

Database::Database(Options o)
    : options_(checked(std::move(o))), pool(options_.threads, options_.max_pending) {
  const auto dir = std::filesystem::path(options_.path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error(fmt::format("sqlite {}: cannot create the directory {}: {}",
                                         options_.path, dir.string(), ec.message()));
  auto w = Connection::open(options_, Connection::Role::writer);
  if (!w.ok()) throw std::runtime_error(w.error().message);
  writer = std::move(w).value();
  for (int i = 0; i < options_.threads; ++i) {
    auto r = Connection::open(options_, Connection::Role::reader);
    if (!r.ok()) throw std::runtime_error(r.error().message);
    idle_readers.push_back(std::move(r).value());
  }
}

}  // namespace ztm::sqlite
