#pragma once
// multipart/form-data (RFC 7578), as browsers send a file input: just enough to find the
// uploaded file in a request body. Views point into the body.

#include <optional>
#include <string_view>

namespace ztm::api {

// The boundary parameter of a multipart/form-data Content-Type; nullopt for any other type or a
// missing/oversized (> 70 characters, RFC 2046) boundary.
std::optional<std::string_view> multipart_boundary(std::string_view content_type);

struct FilePart {
  std::string_view name;          // the form field
  std::string_view content_type;  // as the browser declared it (not trusted)
  std::string_view bytes;
};

// The first part that carries a file (a filename, or an image/* type); nullopt when the body is
// not well-formed multipart or has no such part.
std::optional<FilePart> first_file_part(std::string_view body, std::string_view boundary);

}  // namespace ztm::api
