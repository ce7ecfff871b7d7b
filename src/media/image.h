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
  // An edit job's estimated cost (estimate_cost) at most, in pixel-passes: about 2 s of one
  // worker core (docs/media.md).
  std::int64_t max_cost = 2'000'000'000;
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
// Also invalid_argument when the job's estimated cost exceeds limits.max_cost (naming both).
Result<void> validate_operations(const std::vector<Operation>& ops, ImageInfo source,
                                 const ImageLimits& limits);

// What a job's steps cost a worker, in pixel-passes: one pass is a cheap operation on a pixel,
// about 1 ns of one core (measured, docs/media.md), so the figure is proportional to CPU time.
// Crop costs its output pixels, resize its input plus output, rotate its pixels, blur its pixels
// x (m^2 / 32 + m / 2) for a Gaussian mask m pixels wide (about 3.6 sigma), sharpen a blur plus
// 3. Decoding the source and encoding the result are not counted: max_pixels bounds them, as it
// bounds an upload's, whatever the steps. invalid_argument when a step does not apply (as
// validate_operations, without the budget).
Result<std::int64_t> estimate_cost(const std::vector<Operation>& ops, ImageInfo source,
                                   const ImageLimits& limits);

struct EditedImage {
  std::string bytes;  // encoded in the source's format
  ImageInfo info;
};

// An upload as it is stored: checked as check_upload does, then decoded and encoded afresh in
// its format, upright (EXIF orientation applied), in sRGB (an embedded ICC profile is applied,
// then dropped) and without any metadata (EXIF with GPS, XMP, IPTC, ICC, PNG text chunks) or
// bytes after the image's end. JPEG and WebP at quality kUploadQuality, PNG lossless. `info`
// describes the new bytes. invalid_argument as check_upload.
inline constexpr int kUploadQuality = 92;
Result<EditedImage> sanitize_upload(std::string_view bytes, const ImageLimits& limits);

// Applies the operations. invalid_argument when the source does not decode (a poison job).
Result<EditedImage> apply_operations(std::string_view source, const std::vector<Operation>& ops,
                                     const ImageLimits& limits);

}  // namespace ztm::media
