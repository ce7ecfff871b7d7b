#include "api/static_files.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "api/cache_policy.h"

namespace ztm::api {
namespace fs = std::filesystem;

namespace {

std::string_view content_type_for(const fs::path& p) {
  const auto ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".map") return "application/json";
  if (ext == ".webp") return "image/webp";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

std::unique_ptr<StaticFiles> StaticFiles::load(const std::string& dir,
                                               const std::vector<std::string>& edge_origins) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error(fmt::format("option 'http.static_dir': '{}' is not a directory", dir));
  auto out = std::unique_ptr<StaticFiles>(new StaticFiles());
  // Our own scripts and styles only (no inline ones), from here or an edge; never framed.
  const std::string edges = fmt::format("{}", fmt::join(edge_origins, " "));
  out->csp_ = fmt::format(
      "default-src 'self'{0}{1}; img-src 'self'{0}{1} blob: data:; "
      "frame-ancestors 'none'",
      edges.empty() ? "" : " ", edges);
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
    f.etag = content_etag(f.body);
    const std::string path = "/" + fs::relative(entry.path(), dir).generic_string();
    f.immutable = path.starts_with("/assets/");
    out->files_[path] = std::move(f);
  }
  return out;
}

std::optional<http::Response> StaticFiles::serve(const http::Request& req) const {
  const std::string_view path = req.path == "/" ? std::string_view("/index.html") : req.path;
  const auto it = files_.find(path);
  if (it == files_.end()) return std::nullopt;
  const File& file = it->second;
  http::Response res;
  res.content_type = file.content_type;
  CachePolicy::conditional(req, res, file.etag, file.body);
  if (file.immutable) {
    CachePolicy::immutable(res);
    res.header("Access-Control-Allow-Origin", "*");  // a module script loaded from an edge
  } else {
    res.header("Cache-Control", "no-cache");  // revalidate with the ETag: cheap 304s
  }
  if (res.content_type.starts_with("text/html")) res.header("Content-Security-Policy", csp_);
  return res;
}

}  // namespace ztm::api
