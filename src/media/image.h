#pragma once
// Image checks and operations (libvips). Blocking and CPU-heavy: call them on a BlockingPool,
// never on an event loop. Memory per call is bounded by the limits (libvips streams in
// sequential access; no whole-image copies beyond what an operation needs).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ztm::media {

enum class Format { jpeg, png, webp };
std::string_view extension(Format f);     // "jpg", "png", "webp"
std::string_view content_type(Format f);  // "image/jpeg", ...

struct ImageLimits {
  std::size_t max_bytes = 20 << 20;      // the encoded upload
  std::int64_t max_pixels = 50'000'000;  // width x height (decompression bombs)
  int max_side = 20'000;                 // width or height
  int max_operations = 10;               // steps per edit (each costs a pass over the image)
};

struct ImageInfo {
  Format format = Format::jpeg;
  int width = 0;
  int height = 0;
};

// Checks an upload before anything is stored: the bytes are a JPEG, PNG or WebP (by content,
// not by what the client claims), within the limits, and decode completely (a truncated or
// corrupt file is refused). invalid_argument with a message that names the problem ("not an
// image", "truncated", "50000 x 50000 pixels exceed the limit of 50000000").
Result<ImageInfo> check_upload(std::string_view bytes, const ImageLimits& limits);

// One edit step. Validated against the image before any work (validate_operations).
struct Operation {
  enum class Kind { crop, sharpen, blur, resize, rotate };
  Kind kind = Kind::crop;
  int x = 0, y = 0, width = 0, height = 0;  // crop
  double sigma = 0;                         // sharpen, blur: 0.1 .. 100
  double scale = 1;                         // resize: 0.01 .. 4 (result within the limits)
  int angle = 0;                            // rotate: 90, 180, 270
};

// invalid_argument naming the step ("operations[1].crop: the rectangle leaves the 4000x3000
// image"), given the source image's size; steps apply in order, each to the previous result.
Result<void> validate_operations(const std::vector<Operation>& ops, ImageInfo source,
                                 const ImageLimits& limits);

struct EditedImage {
  std::string bytes;  // encoded in the source's format
  ImageInfo info;
};

// Applies the operations. invalid_argument when the source does not decode (a poison job).
Result<EditedImage> apply_operations(std::string_view source, const std::vector<Operation>& ops,
                                     const ImageLimits& limits);

}  // namespace ztm::media
