#include "http/router.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace ztm::http {
namespace {

// Splits a path ("/a/b") into its segments ("a", "b"), without allocating; returns how many, or
// Router::kMaxSegments + 1 when there are more (no route has that many).
using Segments = std::array<std::string_view, Router::kMaxSegments>;
std::size_t split_path(std::string_view path, Segments& out) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (std::size_t n = 0;;) {
    if (n == out.size()) return out.size() + 1;
    const auto slash = path.find('/');
    out[n++] = path.substr(0, slash);
    if (slash == std::string_view::npos) return n;
    path.remove_prefix(slash + 1);
  }
}

bool is_placeholder(std::string_view s) {
  return s.size() > 2 && s.front() == '{' && s.back() == '}';
}

}  // namespace

void Router::add(Verb method, std::string pattern, Handler handler) {
  Route* route = nullptr;
  for (auto& r : routes_)
    if (r.pattern == pattern) route = &r;
  if (!route) {
    Route r;
    r.pattern = pattern;
    Segments segments;
    const std::size_t n = split_path(pattern, segments);
    int placeholders = 0;
    for (std::size_t i = 0; i < std::min(n, kMaxSegments); ++i) {
      placeholders += is_placeholder(segments[i]);
      r.segments.emplace_back(segments[i]);
    }
    if (pattern.empty() || pattern.front() != '/' || placeholders > 2 || n > kMaxSegments)
      throw std::invalid_argument("bad route pattern " + pattern);
    routes_.push_back(std::move(r));
    route = &routes_.back();
  }
  for (const auto& m : route->methods)
    if (m.verb == method) throw std::invalid_argument("duplicate route " + pattern);
  route->methods.push_back({method, std::move(handler), static_cast<int>(endpoints_.size())});
  endpoints_.push_back({method, pattern});
}

Router::Match Router::match(Request& req) const {
  // The path's segments, split once; a path longer than any route matches none.
  if (req.path.empty() || req.path.front() != '/') return {nullptr, -1, 404, {}};
  Segments path;
  const std::size_t n = split_path(req.path, path);
  if (n > kMaxSegments) return {nullptr, -1, 404, {}};
  for (const auto& route : routes_) {
    if (route.segments.size() != n) continue;
    std::size_t n_params = 0;
    bool ok = true;
    for (std::size_t i = 0; i < n && ok; ++i) {
      if (is_placeholder(route.segments[i])) {
        ok = !path[i].empty();
        if (ok) req.params[n_params++] = path[i];
      } else {
        ok = path[i] == route.segments[i];
      }
    }
    if (!ok) continue;
    req.route = route.pattern;
    const Verb verb = req.msg.method();
    for (const auto& m : route.methods)
      if (m.verb == verb) return {&m.handler, m.endpoint, 0, {}};
    if (verb == Verb::head)
      for (const auto& m : route.methods)
        if (m.verb == Verb::get) return {&m.handler, m.endpoint, 0, {}};
    Match miss{nullptr, -1, 405, {}};
    for (const auto& m : route.methods) {
      if (!miss.allow.empty()) miss.allow += ", ";
      miss.allow += std::string(bhttp::to_string(m.verb));
      if (m.verb == Verb::get) miss.allow += ", HEAD";
    }
    return miss;
  }
  return {nullptr, -1, 404, {}};
}

}  // namespace ztm::http
