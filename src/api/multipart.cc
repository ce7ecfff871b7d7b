#include "api/multipart.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace ztm::api {
namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of `key` in a header's parameters ("form-data; name=\"photo\"; filename=\"a.jpg\"").
std::optional<std::string_view> parameter(std::string_view header, std::string_view key) {
  std::size_t pos = 0;
  while ((pos = header.find(';', pos)) != std::string_view::npos) {
    std::string_view rest = trim(header.substr(pos + 1));
    if (iequals_prefix(rest, key) && rest.size() > key.size() && rest[key.size()] == '=') {
      std::string_view v = rest.substr(key.size() + 1);
      if (!v.empty() && v.front() == '"') {
        const auto end = v.find('"', 1);
        return end == std::string_view::npos ? std::nullopt : std::optional(v.substr(1, end - 1));
      }
      return trim(v.substr(0, v.find(';')));
    }
    ++pos;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> multipart_boundary(std::string_view content_type) {
  if (!iequals_prefix(trim(content_type), "multipart/form-data")) return std::nullopt;
  auto b = parameter(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

std::optional<FilePart> first_file_part(std::string_view body, std::string_view boundary) {
  const std::string delimiter = "--" + std::string(boundary);
  auto at = body.find(delimiter);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string next = "\r\n" + delimiter;
  for (int parts = 0; parts < 100; ++parts) {
    at += delimiter.size();
    if (body.substr(at, 2) == "--") return std::nullopt;  // the closing delimiter
    if (body.substr(at, 2) != "\r\n") return std::nullopt;
    at += 2;
    const auto headers_end = body.find("\r\n\r\n", at);
    if (headers_end == std::string_view::npos) return std::nullopt;
    const std::string_view headers = body.substr(at, headers_end - at);
    const auto content = headers_end + 4;
    const auto end = body.find(next, content);
    if (end == std::string_view::npos) return std::nullopt;
    FilePart part;
    part.bytes = body.substr(content, end - content);
    bool file = false;
    for (std::size_t line = 0; line <= headers.size();) {
      const auto eol = std::min(headers.find("\r\n", line), headers.size());
      const std::string_view h = headers.substr(line, eol - line);
      if (iequals_prefix(h, "content-disposition:")) {
        part.name = parameter(h, "name").value_or("");
        file = file || parameter(h, "filename").has_value();
      } else if (iequals_prefix(h, "content-type:")) {
        part.content_type = trim(h.substr(13));
        file = file || iequals_prefix(part.content_type, "image/");
      }
      line = eol + 2;
    }
    if (file) return part;
    at = end + 2;
  }
  return std::nullopt;
}

}  // namespace ztm::api
