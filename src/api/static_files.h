#pragma once
// Static files of the web UI, read into memory once at start-up (small by design: at most
// kMaxTotalBytes), served with a strong content-hash ETag. Files under /assets/ are the
// bundler's content-hashed output (web/): immutable, and readable cross-origin so that a page
// loads them from a CDN edge; every other file (index.html) is revalidated on each use.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/message.h"

namespace ztm::api {

class StaticFiles {
 public:
  static constexpr std::size_t kMaxTotalBytes = 32 << 20;

  // Loads every regular file below `dir`; throws std::runtime_error naming the problem
  // (missing directory, too large). Pages may load scripts, styles, images and data from
  // `edge_origins` ("http://10.77.0.21") besides their own origin (the CSP).
  static std::unique_ptr<StaticFiles> load(const std::string& dir,
                                           const std::vector<std::string>& edge_origins = {});

  // The file for a GET/HEAD path ("/" means "/index.html"), or nullopt if there is none.
  std::optional<http::Response> serve(const http::Request& req) const;
  std::size_t size() const { return files_.size(); }

 private:
  struct File {
    std::string body;
    std::string_view content_type;
    std::string etag;
    bool immutable = false;
  };
  std::string csp_;
  std::map<std::string, File, std::less<>> files_;  // "/index.html" -> file
};

}  // namespace ztm::api
