#include "api/static_files.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace ztm::api {
namespace fs = std::filesystem;

namespace {

std::string_view content_type_for(const fs::path& p) {
  const auto ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// FNV-1a, 64-bit: a content hash for the ETag (not a security boundary).
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

}  // namespace

std::unique_ptr<StaticFiles> StaticFiles::load(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error(fmt::format("option 'http.static_dir': '{}' is not a directory", dir));
  auto out = std::unique_ptr<StaticFiles>(new StaticFiles());
  std::size_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    total += entry.file_size();
    if (total > kMaxTotalBytes)
      throw std::runtime_error(fmt::format(
          "option 'http.static_dir': '{}' holds more than {} bytes", dir, kMaxTotalBytes));
    std::ifstream in(entry.path(), std::ios::binary);
    File f;
    f.body.assign(std::istreambuf_iterator<char>(in), {});
    f.content_type = content_type_for(entry.path());
    f.etag = fmt::format("\"{:016x}\"", fnv1a(f.body));
    out->files_["/" + fs::relative(entry.path(), dir).generic_string()] = std::move(f);
  }
  return out;
}

std::optional<http::Response> StaticFiles::serve(const http::Request& req) const {
  const std::string_view path = req.path == "/" ? std::string_view("/index.html") : req.path;
  const auto it = files_.find(path);
  if (it == files_.end()) return std::nullopt;
  http::Response res;
  res.content_type = it->second.content_type;
  if (req.header(http::Field::if_none_match).find(it->second.etag) != std::string_view::npos) {
    res.status = 304;
  } else {
    res.body = it->second.body;
  }
  res.header("ETag", it->second.etag);
  res.header("Cache-Control", "no-cache");  // revalidate with the ETag: cheap 304s
  // Pages run only our own scripts and styles and are never framed (clickjacking).
  if (res.content_type.starts_with("text/html"))
    res.header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
  return res;
}

}  // namespace ztm::api
