// check_upload and apply_operations with libvips (docs/media.md). The order of the checks is the
// point: the format is sniffed from the bytes, the header is read (libvips loads lazily, so this
// costs microseconds even for a 30000 x 30000 bomb) and checked against the limits, and only then
// are pixels decoded, in sequential access (a few lines of the image in memory at a time).
#include "media/image.h"

#include <fmt/format.h>
#include <glib.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <optional>
#include <vips/vips8>

namespace ztm::media {
namespace {

using vips::VImage;

// libvips starts once per process, on first use (a function-local static: thread-safe, no
// mutable global of ours). Its settings are process-wide, which is what they should be here:
//  - no operation cache: jobs never share inputs, and a cache would hold decoded images;
//  - concurrency 1: a job runs on its calling thread plus one libvips worker, so parallelism
//    comes from running several jobs at once (the BlockingPool), and memory grows per job, not
//    per core x job;
//  - libvips warnings go nowhere: they are printed to stderr by default (breaking JSON logs),
//    and every failure they announce also comes back as an error we report.
bool vips_started() {
  static const bool started = [] {
    if (VIPS_INIT("ztm") != 0) return false;
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_concurrency_set(1);
    g_log_set_handler(
        "VIPS", G_LOG_LEVEL_WARNING, [](const char*, GLogLevelFlags, const char*, void*) {},
        nullptr);
    return true;
  }();
  return started;
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::jpeg:
      return "JPEG";
    case Format::png:
      return "PNG";
    case Format::webp:
      return "WebP";
  }
  return "?";
}

// By content only: the magic numbers of the three formats we accept.
std::optional<Format> sniff(std::string_view b) {
  if (b.size() >= 3 && b.substr(0, 3) == "\xFF\xD8\xFF") return Format::jpeg;
  if (b.size() >= 8 && b.substr(0, 8) == "\x89PNG\r\n\x1A\n") return Format::png;
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return Format::webp;
  return std::nullopt;
}

// The first line of a libvips error (they come as several lines, one per layer).
std::string first_line(const char* what) {
  std::string_view s(what);
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return std::string(s.substr(0, s.find('\n')));
}

// A libvips blob over `bytes` without a copy. REQUIRES: `bytes` outlives every image loaded from
// it (the callers keep both in one scope).
class BorrowedBlob {
 public:
  explicit BorrowedBlob(std::string_view bytes)
      : blob_(vips_blob_new(nullptr, bytes.data(), bytes.size())) {}
  ~BorrowedBlob() { vips_area_unref(VIPS_AREA(blob_)); }
  BorrowedBlob(const BorrowedBlob&) = delete;
  BorrowedBlob& operator=(const BorrowedBlob&) = delete;
  VipsBlob* get() const { return blob_; }

 private:
  VipsBlob* blob_;
};

// EXIF orientations 5..8 turn the picture by 90 or 270 degrees: the upright picture has width
// and height swapped.
int orientation_of(const VImage& image) {
  if (image.get_typeof("orientation") == 0) return 1;
  const int o = image.get_int("orientation");
  return o >= 1 && o <= 8 ? o : 1;
}

// A decoded header and the (lazy) image behind it.
struct Opened {
  VImage image;
  ImageInfo info;  // upright (after the EXIF orientation)
  int orientation = 1;
};

// Sniffs, reads the header and checks it against the limits; decodes no pixel. Throws VError
// when the header does not parse.
Result<Opened> open_image(std::string_view bytes, const ImageLimits& limits, VipsAccess access,
                          const BorrowedBlob& blob) {
  if (bytes.empty()) return Error{Errc::invalid_argument, "empty upload: not an image"};
  if (bytes.size() > limits.max_bytes)
    return Error{Errc::invalid_argument,
                 fmt::format("{} bytes exceed the limit of {}", bytes.size(), limits.max_bytes)};
  const auto format = sniff(bytes);
  if (!format) return Error{Errc::invalid_argument, "not an image (expected JPEG, PNG or WebP)"};
  // fail_on=error: a truncated or corrupt body fails the decode instead of being padded with
  // grey (libvips' default, which suits viewers, not an upload check).
  auto* options = VImage::option()->set("access", access)->set("fail_on", VIPS_FAIL_ON_ERROR);
  Opened o;
  o.info.format = *format;
  switch (*format) {
    case Format::jpeg:
      o.image = VImage::jpegload_buffer(blob.get(), options);
      break;
    case Format::png:
      o.image = VImage::pngload_buffer(blob.get(), options);
      break;
    case Format::webp:
      o.image = VImage::webpload_buffer(blob.get(), options);
      break;
  }
  const std::int64_t w = o.image.width(), h = o.image.height();
  if (w > limits.max_side || h > limits.max_side)
    return Error{
        Errc::invalid_argument,
        fmt::format("{} x {} pixels: a side exceeds the limit of {}", w, h, limits.max_side)};
  if (w * h > limits.max_pixels)
    return Error{Errc::invalid_argument,
                 fmt::format("{} x {} pixels exceed the limit of {}", w, h, limits.max_pixels)};
  o.orientation = orientation_of(o.image);
  const bool turned = o.orientation >= 5;
  o.info.width = static_cast<int>(turned ? h : w);
  o.info.height = static_cast<int>(turned ? w : h);
  return o;
}

Error undecodable(Format f, const vips::VError& e) {
  return Error{Errc::invalid_argument,
               fmt::format("truncated or corrupt {}: {}", format_name(f), first_line(e.what()))};
}

VipsAngle vips_angle(int degrees) {
  switch (degrees) {
    case 90:
      return VIPS_ANGLE_D90;
    case 180:
      return VIPS_ANGLE_D180;
    default:
      return VIPS_ANGLE_D270;
  }
}

// Sharpen as an unsharp mask on every band: in + (in - gaussblur(in, sigma)), clipped to the
// band format's range; what ImageMagick's -sharpen does. Not vips_sharpen: that one sharpens L*
// in LabS, and the sRGB -> LabS -> sRGB round trip costs 0.33 s of CPU on a 10-megapixel photo,
// more than decoding, blurring and encoding it together (docs/media.md).
VImage unsharp_mask(const VImage& in, double sigma) {
  return (in + in - in.gaussblur(sigma)).cast(in.format());
}

// One step, lazily: nothing runs until the result is encoded. REQUIRES: validated.
VImage apply_step(const VImage& in, const Operation& op) {
  switch (op.kind) {
    case Operation::Kind::crop:
      return in.extract_area(op.x, op.y, op.width, op.height);
    case Operation::Kind::sharpen:
      return unsharp_mask(in, op.sigma);
    case Operation::Kind::blur:
      return in.gaussblur(op.sigma);
    case Operation::Kind::resize:
      return in.resize(op.scale);
    case Operation::Kind::rotate:
      return in.rot(vips_angle(op.angle));
  }
  return in;
}

// The image without its metadata (EXIF, XMP, IPTC, ICC, PNG text: where and how a photo was
// taken is private). The savers' `strip` is not enough: libvips 8.14's WebP saver writes EXIF
// rebuilt from the "exif-ifd*" fields even when stripping, so those go too.
VImage without_metadata(const VImage& image) {
  VImage out = image.copy();
  char** fields = vips_image_get_fields(out.get_image());
  for (char** f = fields; *f != nullptr; ++f) {
    const std::string_view name(*f);
    if (name.starts_with("exif-") || name.ends_with("-data") || name.starts_with("png-comment-"))
      out.remove(*f);
  }
  g_strfreev(fields);
  return out;
}

// Pixels described by an embedded ICC profile (Adobe RGB, Display P3, CMYK...) would show wrong
// colours once the profile is dropped, so they are converted to sRGB first, keeping 16-bit
// depth; CMYK without a profile goes through libvips' default CMYK profile.
VImage in_srgb(const VImage& image) {
  if (image.get_typeof(VIPS_META_ICC_NAME) != 0)
    return image.icc_transform("srgb",
                               VImage::option()
                                   ->set("embedded", true)
                                   ->set("depth", image.format() == VIPS_FORMAT_USHORT ? 16 : 8));
  if (image.interpretation() == VIPS_INTERPRETATION_CMYK)
    return image.colourspace(VIPS_INTERPRETATION_sRGB);
  return image;
}

std::uint32_t le32(std::string_view b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = v << 8 | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

// libvips 8.14's WebP saver writes an EXIF chunk (rebuilt from the resolution and orientation)
// even with `strip`. This drops it, and any XMP or ICC chunk, from the RIFF container, and clears
// their flags in the VP8X header (ICC 0x20, EXIF 0x08, XMP 0x04).
std::string without_webp_metadata(const std::string& webp) {
  if (webp.size() < 12) return webp;
  std::string out = webp.substr(0, 12);  // "RIFF" <size> "WEBP"
  for (std::size_t at = 12; at + 8 <= webp.size();) {
    const std::string_view fourcc(webp.data() + at, 4);
    const std::size_t size = le32(webp, at + 4);
    const std::size_t whole = std::min(webp.size() - at, 8 + size + (size & 1));  // even-padded
    if (fourcc != "EXIF" && fourcc != "XMP " && fourcc != "ICCP") out.append(webp, at, whole);
    at += whole;
  }
  if (out.size() >= 21 && out.compare(12, 4, "VP8X") == 0)
    out[20] = static_cast<char>(static_cast<unsigned char>(out[20]) & ~0x2Cu);
  const auto riff = static_cast<std::uint32_t>(out.size() - 8);
  for (std::size_t i = 0; i < 4; ++i) out[4 + i] = static_cast<char>(riff >> (8 * i) & 0xFF);
  return out;
}

// In the source's format; JPEG and WebP at `quality`, PNG lossless. A fresh encode: nothing of
// the source's bytes (trailing data, chunks) survives but its pixels.
std::string encode(const VImage& image, Format f, int quality) {
  const VImage bare = without_metadata(image);
  auto* options = VImage::option()->set("strip", true);
  VipsBlob* blob = nullptr;
  switch (f) {
    case Format::jpeg:
      blob = bare.jpegsave_buffer(options->set("Q", quality));
      break;
    case Format::png:
      blob = bare.pngsave_buffer(options);
      break;
    case Format::webp:
      blob = bare.webpsave_buffer(options->set("Q", quality));
      break;
  }
  std::size_t size = 0;
  const void* data = vips_blob_get(blob, &size);
  std::string out(static_cast<const char*>(data), size);
  vips_area_unref(VIPS_AREA(blob));
  return f == Format::webp ? without_webp_metadata(out) : out;
}

// Decodes `source` and encodes it afresh after `ops` (none for an upload): upright, in sRGB,
// without metadata, in the source's format at `quality`. Checks the header against the limits
// first, and the steps (with their cost) when there are any.
Result<EditedImage> render(std::string_view source, const std::vector<Operation>& ops,
                           const ImageLimits& limits, int quality) {
  if (!vips_started()) return Error{Errc::internal, "libvips did not start"};
  const auto format = sniff(source);
  try {
    const BorrowedBlob blob(source);
    // Rotations (ours, or the EXIF orientation's) read the image out of order, so they need
    // random access: libvips then decodes the whole source first (in memory, or in a temporary
    // file past 100 MB). Everything else streams.
    bool random = false;
    for (const auto& op : ops) random = random || op.kind == Operation::Kind::rotate;
    auto opened = open_image(source, limits, VIPS_ACCESS_SEQUENTIAL, blob);
    if (opened.ok() && (random || opened->orientation != 1))
      opened = open_image(source, limits, VIPS_ACCESS_RANDOM, blob);  // a header read, no pixels
    if (!opened.ok()) return std::move(opened).error();
    if (!ops.empty())
      if (auto valid = validate_operations(ops, opened->info, limits); !valid.ok())
        return std::move(valid).error();
    VImage image = opened->image;
    if (opened->orientation != 1) image = image.autorot();
    image = in_srgb(image);
    for (const auto& op : ops) image = apply_step(image, op);
    EditedImage out;
    out.info = ImageInfo{opened->info.format, image.width(), image.height()};
    out.bytes = encode(image, opened->info.format, quality);  // the whole pipeline runs here
    return out;
  } catch (const vips::VError& e) {
    // The header and the steps were valid, so libvips failed on the source's pixels: the job
    // can never succeed (a poison job), which invalid_argument says.
    return undecodable(format.value_or(Format::jpeg), e);
  } catch (const std::bad_alloc&) {
    return Error{Errc::internal, "out of memory decoding or encoding an image"};
  }
}

}  // namespace

Result<ImageInfo> check_upload(std::string_view bytes, const ImageLimits& limits) {
  if (!vips_started()) return Error{Errc::internal, "libvips did not start"};
  const auto format = sniff(bytes);
  try {
    const BorrowedBlob blob(bytes);
    auto opened = open_image(bytes, limits, VIPS_ACCESS_SEQUENTIAL, blob);
    if (!opened.ok()) return std::move(opened).error();
    // The header is fine: decode every pixel once (one streaming pass, a few lines in memory),
    // so a file cut short or corrupt further in is refused now, not by a worker later.
    (void)opened->image.avg();
    return opened->info;
  } catch (const vips::VError& e) {
    return undecodable(format.value_or(Format::jpeg), e);
  } catch (const std::bad_alloc&) {
    return Error{Errc::internal, "out of memory checking an upload"};
  }
}

Result<EditedImage> apply_operations(std::string_view source, const std::vector<Operation>& ops,
                                     const ImageLimits& limits) {
  return render(source, ops, limits, 85);  // edits: visually lossless, a third of Q 100's bytes
}

Result<EditedImage> sanitize_upload(std::string_view bytes, const ImageLimits& limits) {
  return render(bytes, {}, limits, kUploadQuality);
}

}  // namespace ztm::media
