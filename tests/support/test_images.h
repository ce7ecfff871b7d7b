#pragma once
// Images for tests, made with libvips itself: noise (so high frequencies exist), solid blocks
// with a marked corner, a checkerboard, a 30000 x 30000 PNG bomb, and a measure of detail
// (what a blur lowers and a sharpen raises). Shared by the media unit tests and the photo API's
// integration tests.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include <vips/vips8>

#include "media/image.h"

namespace ztm::test {

using media::check_upload;
using media::Format;
using media::ImageLimits;
using vips::VImage;

// Every test starts libvips through the code under test first, so VIPS_INIT has run.
inline void start_vips() {
  (void)check_upload("", ImageLimits{});
}

inline std::string take(VipsBlob* blob) {
  std::size_t size = 0;
  const void* data = vips_blob_get(blob, &size);
  std::string out(static_cast<const char*>(data), size);
  vips_area_unref(VIPS_AREA(blob));
  return out;
}

inline std::string encode(const VImage& image, Format f) {
  switch (f) {
    case Format::jpeg:
      return take(image.jpegsave_buffer(VImage::option()->set("Q", 90)));
    case Format::png:
      return take(image.pngsave_buffer());
    case Format::webp:
      return take(image.webpsave_buffer(VImage::option()->set("lossless", true)));
  }
  return {};
}

// sRGB noise around mid-grey: plenty of high-frequency detail, deterministic.
inline VImage noise(int width, int height) {
  start_vips();
  const VImage n =
      VImage::gaussnoise(width, height,
                         VImage::option()->set("sigma", 40)->set("mean", 128)->set("seed", 7))
          .cast(VIPS_FORMAT_UCHAR);
  return n.bandjoin(n.flip(VIPS_DIRECTION_HORIZONTAL))
      .bandjoin(n.flip(VIPS_DIRECTION_VERTICAL))
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

// Black, with one white pixel at (0, 0): shows where a corner went.
inline VImage marked(int width, int height) {
  start_vips();
  VImage image = VImage::black(width, height, VImage::option()->set("bands", 3))
                     .cast(VIPS_FORMAT_UCHAR)
                     .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  image.draw_rect({255, 255, 255}, 0, 0, 1, 1);
  return image;
}

// Grey squares of 8 pixels, dark and light.
inline VImage checkerboard(int width, int height) {
  start_vips();
  const VImage xy = VImage::xyz(width, height);
  const VImage cell = ((xy[0] / 8).cast(VIPS_FORMAT_INT) + (xy[1] / 8).cast(VIPS_FORMAT_INT)) % 2;
  const VImage grey = (cell * 160 + 48).cast(VIPS_FORMAT_UCHAR);
  return grey.bandjoin(grey).bandjoin(grey).copy(
      VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

inline VImage decode(const std::string& bytes) {
  return VImage::new_from_buffer(bytes, "");
}

// Mean absolute difference between horizontal and vertical neighbours of the grey image: what a
// blur lowers and a sharpen raises.
inline double high_frequency_energy(const std::string& bytes) {
  const VImage g = decode(bytes).colourspace(VIPS_INTERPRETATION_B_W).cast(VIPS_FORMAT_FLOAT);
  const int w = g.width(), h = g.height();
  const double dx = (g.crop(1, 0, w - 1, h) - g.crop(0, 0, w - 1, h)).abs().avg();
  const double dy = (g.crop(0, 1, w, h - 1) - g.crop(0, 0, w, h - 1)).abs().avg();
  return dx + dy;
}

// A PNG that claims 30000 x 30000 pixels (900 M, 18x the default limit) in about 110 KB: one bit
// a pixel, all zero, deflated. Made once; decoding it would take seconds and 900 MB.
inline const std::string& png_bomb() {
  static const std::string bomb = [] {
    start_vips();
    return take(VImage::black(30000, 30000)
                    .pngsave_buffer(VImage::option()->set("bitdepth", 1)->set("compression", 9)));
  }();
  return bomb;
}

// A phone photo's JPEG: noise with EXIF that says where it was taken (a GPS IFD) and by what.
inline std::string jpeg_with_location(int width, int height) {
  VImage image = noise(width, height);
  image.set("exif-ifd0-Make", "PhoneCo");
  image.set("exif-ifd3-GPSLatitudeRef", "N");
  image.set("exif-ifd3-GPSLatitude", "51/1 30/1 2616/100");
  image.set("exif-ifd3-GPSLongitudeRef", "W");
  image.set("exif-ifd3-GPSLongitude", "0/1 7/1 3960/100");
  return encode(image, Format::jpeg);
}

// The segments of a JPEG before its scan (SOS), as "APP1:Exif", "APP1:http" (XMP), "APP2:ICC_",
// "DQT"...: a marker's name and, for APPn, the first 4 bytes of its payload. Empty when the
// bytes are not a well-formed JPEG header.
inline std::vector<std::string> jpeg_segments(const std::string& jpeg) {
  std::vector<std::string> out;
  if (jpeg.size() < 4 || jpeg.compare(0, 2, "\xFF\xD8") != 0) return {};
  std::size_t at = 2;
  while (at + 4 <= jpeg.size()) {
    const auto marker = static_cast<unsigned char>(jpeg[at + 1]);
    if (static_cast<unsigned char>(jpeg[at]) != 0xFF) return {};
    if (marker == 0xDA) break;  // start of scan: the entropy-coded data follows
    const std::size_t length =
        static_cast<unsigned char>(jpeg[at + 2]) * 256u + static_cast<unsigned char>(jpeg[at + 3]);
    if (marker >= 0xE0 && marker <= 0xEF)
      out.push_back("APP" + std::to_string(marker - 0xE0) + ":" + jpeg.substr(at + 4, 4));
    else
      out.push_back(marker == 0xDB ? "DQT" : marker == 0xC4 ? "DHT" : "other");
    at += 2 + length;
  }
  return out;
}

// The chunk types of a PNG in order ("IHDR", "tEXt", "iCCP", "IDAT"... "IEND"), and how many
// bytes follow IEND. Empty when the bytes are not a well-formed PNG.
struct PngChunks {
  std::vector<std::string> types;
  std::size_t trailing = 0;
};
inline PngChunks png_chunks(const std::string& png) {
  PngChunks out;
  if (png.compare(0, 8, "\x89PNG\r\n\x1A\n") != 0) return {};
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    std::uint32_t length = 0;
    for (int i = 0; i < 4; ++i)
      length = length * 256 + static_cast<unsigned char>(png[at + static_cast<std::size_t>(i)]);
    out.types.push_back(png.substr(at + 4, 4));
    at += 12 + length;  // length, type, data, CRC
    if (out.types.back() == "IEND") {
      out.trailing = png.size() - std::min(at, png.size());
      return out;
    }
  }
  return {};
}

}  // namespace ztm::test
