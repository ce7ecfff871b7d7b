#include "http/router.h"

#include <array>
#include <stdexcept>

namespace ztm::http {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
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
    int placeholders = 0;
    for (auto seg : split_path(pattern)) {
      placeholders += is_placeholder(seg);
      r.segments.emplace_back(seg);
    }
    if (pattern.empty() || pattern.front() != '/' || placeholders > 2 ||
        r.segments.size() > kMaxSegments)
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
  // The path's segments, split once (no allocation); a path longer than any route matches none.
  std::array<std::string_view, kMaxSegments> path;
  std::size_t n = 0;
  std::string_view rest = req.path;
  if (rest.empty() || rest.front() != '/') return {nullptr, -1, 404, {}};
  rest.remove_prefix(1);
  for (;;) {
    if (n == path.size()) return {nullptr, -1, 404, {}};
    const auto slash = rest.find('/');
    path[n++] = rest.substr(0, slash);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
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
