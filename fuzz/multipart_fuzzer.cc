// A photo upload as multipart/form-data, as PhotosApi::upload reads it: the boundary from the
// Content-Type, then the first file part of the body. Input: the Content-Type value, '\n', the
// body. Every view handed out must point into the text it came from.

#include "api/multipart.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ztm;
  std::string_view body = fuzz::as_text(data, size);
  const std::string_view content_type = fuzz::next_line(body);
  const auto boundary = api::multipart_boundary(content_type);
  if (!boundary) return 0;
  FUZZ_CHECK(!boundary->empty() && boundary->size() <= 70);
  FUZZ_CHECK(fuzz::points_into(*boundary, content_type));
  const auto part = api::first_file_part(body, *boundary);
  if (!part) return 0;
  FUZZ_CHECK(fuzz::points_into(part->name, body));
  FUZZ_CHECK(fuzz::points_into(part->content_type, body));
  FUZZ_CHECK(fuzz::points_into(part->bytes, body));
  return 0;
}
