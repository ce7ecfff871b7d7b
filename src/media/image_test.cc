// check_upload, validate_operations and apply_operations on images that libvips makes here:
// noise (so high frequencies exist), solid blocks with a marked corner, and a 30000 x 30000 PNG
// bomb. Pixel checks use PNG (lossless); JPEG and WebP show the format round trip.
#include "media/image.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vips/vips8>

#include "tests/support/test_images.h"

namespace ztm::media {
namespace {

using test::checkerboard;
using test::decode;
using test::encode;
using test::high_frequency_energy;
using test::marked;
using test::noise;
using test::png_bomb;
using test::start_vips;
using test::take;
using vips::VImage;

std::string refusal(const Result<ImageInfo>& r) {
  if (r.ok()) return "accepted";
  return std::string(to_string(r.error().code)) + ": " + r.error().message;
}

TEST(CheckUpload, AcceptsJpegPngAndWebpByContentAndReportsTheirSize) {
  const VImage image = noise(64, 48);
  for (const Format f : {Format::jpeg, Format::png, Format::webp}) {
    const auto info = check_upload(encode(image, f), ImageLimits{});
    ASSERT_EQ(refusal(info), "accepted") << extension(f);
    EXPECT_EQ(info->format, f);
    EXPECT_EQ(info->width, 64);
    EXPECT_EQ(info->height, 48);
  }
}

TEST(CheckUpload, RefusesWhatIsNotAJpegPngOrWebp) {
  const std::string gif(
      "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,"
      "\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02"
      "D\x01\x00;",
      43);
  const std::string bmp = std::string("BM") + std::string(60, '\0');
  std::string random(4096, '\0');
  for (std::size_t i = 0; i < random.size(); ++i)
    random[i] = static_cast<char>((i * 2654435761u) >> 13);
  EXPECT_EQ(refusal(check_upload("", ImageLimits{})),
            "invalid_argument: empty upload: not an image");
  for (const std::string& bytes : {gif, bmp, random, std::string("hello, I am a photo")})
    EXPECT_EQ(refusal(check_upload(bytes, ImageLimits{})),
              "invalid_argument: not an image (expected JPEG, PNG or WebP)");
}

TEST(CheckUpload, RefusesTruncatedFiles) {
  const VImage image = noise(256, 192);
  for (const Format f : {Format::jpeg, Format::png, Format::webp}) {
    const std::string whole = encode(image, f);
    // Not just the last bytes: a PNG missing only its end marker (12 bytes) has every pixel.
    for (const std::size_t keep : {whole.size() / 2, whole.size() - 20, std::size_t{40}}) {
      const auto r = check_upload(std::string_view(whole).substr(0, keep), ImageLimits{});
      ASSERT_FALSE(r.ok()) << extension(f) << " cut to " << keep << " of " << whole.size();
      EXPECT_EQ(r.error().code, Errc::invalid_argument);
      EXPECT_NE(r.error().message.find("truncated or corrupt"), std::string::npos)
          << r.error().message;
    }
  }
}

TEST(CheckUpload, RefusesACorruptPng) {
  std::string png = encode(noise(256, 192), Format::png);
  for (std::size_t i = png.size() / 2; i < png.size() / 2 + 16; ++i) png[i] = '\x5A';
  EXPECT_NE(refusal(check_upload(png, ImageLimits{})).find("truncated or corrupt PNG"),
            std::string::npos);
}

TEST(CheckUpload, RefusesADecompressionBombFromItsHeaderWithoutDecoding) {
  const std::string& bomb = png_bomb();
  ASSERT_LT(bomb.size(), 200'000u);
  const auto start = std::chrono::steady_clock::now();
  const auto r = check_upload(bomb, ImageLimits{});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(refusal(r),
            "invalid_argument: 30000 x 30000 pixels: a side exceeds the limit of 20000");
  // Decoding 900 M pixels takes seconds; reading a header, microseconds.
  EXPECT_LT(took, std::chrono::milliseconds(500));
  // Within the side limit, the pixel count catches it.
  const ImageLimits wide_sides{.max_side = 40'000};
  EXPECT_EQ(refusal(check_upload(bomb, wide_sides)),
            "invalid_argument: 30000 x 30000 pixels exceed the limit of 50000000");
}

TEST(CheckUpload, RefusesOversizeBytesAndSides) {
  const std::string png = encode(noise(64, 48), Format::png);
  const ImageLimits small_bytes{.max_bytes = 1000};
  EXPECT_EQ(refusal(check_upload(png, small_bytes)),
            "invalid_argument: " + std::to_string(png.size()) + " bytes exceed the limit of 1000");
  const ImageLimits small_sides{.max_side = 50};
  EXPECT_EQ(refusal(check_upload(png, small_sides)),
            "invalid_argument: 64 x 48 pixels: a side exceeds the limit of 50");
  const ImageLimits few_pixels{.max_pixels = 64 * 48 - 1};
  EXPECT_EQ(refusal(check_upload(png, few_pixels)),
            "invalid_argument: 64 x 48 pixels exceed the limit of 3071");
}

TEST(CheckUpload, ReportsTheUprightSizeOfARotatedPhoto) {
  VImage image = noise(40, 20);
  image.set("orientation", 6);  // EXIF: the camera was turned by 90 degrees
  const std::string jpeg = encode(image, Format::jpeg);
  const auto info = check_upload(jpeg, ImageLimits{});
  ASSERT_EQ(refusal(info), "accepted");
  EXPECT_EQ(info->width, 20);
  EXPECT_EQ(info->height, 40);
  const auto upright = apply_operations(jpeg, {}, ImageLimits{});
  ASSERT_TRUE(upright.ok()) << upright.error().message;
  EXPECT_EQ(decode(upright->bytes).width(), 20);
}

std::string validation(const std::vector<Operation>& ops, ImageInfo source = {Format::png, 64, 48},
                       const ImageLimits& limits = {}) {
  const auto r = validate_operations(ops, source, limits);
  return r.ok() ? "valid" : r.error().message;
}

using Kind = Operation::Kind;

TEST(ValidateOperations, NamesTheStepThatFails) {
  EXPECT_EQ(validation({}), "valid");
  EXPECT_EQ(validation({{.kind = Kind::blur, .sigma = 2},
                        {.kind = Kind::crop, .x = 10, .y = 10, .width = 60, .height = 10}}),
            "operations[1].crop: the rectangle 60x10 at (10, 10) leaves the 64x48 image");
  EXPECT_EQ(validation({{.kind = Kind::crop, .x = -1, .y = 0, .width = 5, .height = 5}}),
            "operations[0].crop: the rectangle 5x5 at (-1, 0) leaves the 64x48 image");
  EXPECT_EQ(validation({{.kind = Kind::crop, .x = 0, .y = 0, .width = 0, .height = 5}}),
            "operations[0].crop: the size 0x5 is empty");
  EXPECT_EQ(validation({{.kind = Kind::crop, .x = 2'147'483'000, .width = 1000, .height = 1}}),
            "operations[0].crop: the rectangle 1000x1 at (2147483000, 0) leaves the 64x48 image");
  EXPECT_EQ(validation({{.kind = Kind::sharpen, .sigma = 0}}),
            "operations[0].sharpen: sigma 0 is outside 0.1 .. 100");
  EXPECT_EQ(validation({{.kind = Kind::blur, .sigma = 101}}),
            "operations[0].blur: sigma 101 is outside 0.1 .. 100");
  EXPECT_EQ(validation({{.kind = Kind::blur, .sigma = std::nan("")}}),
            "operations[0].blur: sigma nan is outside 0.1 .. 100");
  EXPECT_EQ(validation({{.kind = Kind::rotate, .angle = 45}}),
            "operations[0].rotate: the angle 45 is not 90, 180 or 270");
  EXPECT_EQ(validation({{.kind = Kind::resize, .scale = 5}}),
            "operations[0].resize: scale 5 is outside 0.01 .. 4");
  EXPECT_EQ(validation({{.kind = Kind::resize, .scale = 0.01}}),
            "operations[0].resize: scale 0.01 leaves no pixel of the 64x48 image");
  EXPECT_EQ(validation({{.kind = Kind::resize, .scale = 4}}, {Format::jpeg, 6000, 4000}),
            "operations[0].resize: the result 24000x16000 exceeds the limits (50000000 pixels, "
            "20000 a side)");
  EXPECT_EQ(validation(std::vector<Operation>(11, {.kind = Kind::blur, .sigma = 1})),
            "operations: 11 steps exceed the limit of 10");
}

TEST(ValidateOperations, ChecksEachStepAgainstThePreviousResult) {
  // 64x48 turned is 48x64: the crop fits only after the rotation.
  const Operation crop{.kind = Kind::crop, .x = 0, .y = 0, .width = 48, .height = 64};
  EXPECT_EQ(validation({{.kind = Kind::rotate, .angle = 90}, crop}), "valid");
  EXPECT_EQ(validation({crop}),
            "operations[0].crop: the rectangle 48x64 at (0, 0) leaves the "
            "64x48 image");
  EXPECT_EQ(validation({{.kind = Kind::resize, .scale = 0.5}, crop}),
            "operations[1].crop: the rectangle 48x64 at (0, 0) leaves the 32x24 image");
}

EditedImage edited(const std::string& source, const std::vector<Operation>& ops) {
  auto r = apply_operations(source, ops, ImageLimits{});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(r).value() : EditedImage{};
}

TEST(ApplyOperations, CropHasTheRequestedSizeAndPixels) {
  VImage image = marked(64, 48);
  image.draw_rect({255, 255, 255}, 10, 5, 1, 1);
  const auto out = edited(encode(image, Format::png),
                          {{.kind = Kind::crop, .x = 10, .y = 5, .width = 20, .height = 8}});
  EXPECT_EQ(out.info.width, 20);
  EXPECT_EQ(out.info.height, 8);
  const VImage got = decode(out.bytes);
  EXPECT_EQ(got.width(), 20);
  EXPECT_EQ(got.height(), 8);
  EXPECT_EQ(got.getpoint(0, 0), (std::vector<double>{255, 255, 255}));  // was (10, 5)
  EXPECT_EQ(got.getpoint(1, 1), (std::vector<double>{0, 0, 0}));
}

TEST(ApplyOperations, BlurLowersHighFrequencyEnergy) {
  const std::string source = encode(noise(200, 150), Format::png);
  const double before = high_frequency_energy(source);
  const double blurred =
      high_frequency_energy(edited(source, {{.kind = Kind::blur, .sigma = 2}}).bytes);
  EXPECT_LT(blurred, 0.5 * before);
  const double more =
      high_frequency_energy(edited(source, {{.kind = Kind::blur, .sigma = 6}}).bytes);
  EXPECT_LT(more, blurred);  // a wider blur removes more
}

TEST(ApplyOperations, SharpenRaisesHighFrequencyEnergy) {
  // Soft edges (a blurred checkerboard) and soft noise, as photos have them.
  for (const VImage& soft :
       {checkerboard(200, 150).gaussblur(1.5), noise(200, 150).gaussblur(1.5)}) {
    const std::string source = encode(soft, Format::png);
    const double before = high_frequency_energy(source);
    const double sharpened =
        high_frequency_energy(edited(source, {{.kind = Kind::sharpen, .sigma = 1}}).bytes);
    EXPECT_GT(sharpened, 1.1 * before);
    const double more =
        high_frequency_energy(edited(source, {{.kind = Kind::sharpen, .sigma = 3}}).bytes);
    EXPECT_GT(more, sharpened);  // a wider mask raises more
  }
}

TEST(ApplyOperations, RotateTurnsClockwiseAndSwapsWidthAndHeight) {
  const std::string source = encode(marked(64, 48), Format::png);
  const auto quarter = edited(source, {{.kind = Kind::rotate, .angle = 90}});
  EXPECT_EQ(quarter.info.width, 48);
  EXPECT_EQ(quarter.info.height, 64);
  const VImage turned = decode(quarter.bytes);
  EXPECT_EQ(turned.width(), 48);
  EXPECT_EQ(turned.getpoint(47, 0), (std::vector<double>{255, 255, 255}));  // top-left -> top-right
  const auto half = edited(source, {{.kind = Kind::rotate, .angle = 180}});
  EXPECT_EQ(decode(half.bytes).getpoint(63, 47), (std::vector<double>{255, 255, 255}));
}

TEST(ApplyOperations, ResizeScales) {
  const auto out =
      edited(encode(noise(200, 150), Format::jpeg), {{.kind = Kind::resize, .scale = 0.5}});
  EXPECT_EQ(out.info.width, 100);
  EXPECT_EQ(out.info.height, 75);
  EXPECT_EQ(decode(out.bytes).width(), 100);
}

TEST(ApplyOperations, ChainsStepsInOrderAndKeepsTheFormatWithoutMetadata) {
  VImage image = noise(64, 48);
  image.set("orientation", 1);
  image.set("exif-ifd0-ImageDescription", "secret place");
  ASSERT_NE(encode(image, Format::jpeg).find("secret place"), std::string::npos);
  for (const Format f : {Format::jpeg, Format::png, Format::webp}) {
    const auto out =
        edited(encode(image, f), {{.kind = Kind::rotate, .angle = 90},
                                  {.kind = Kind::crop, .x = 0, .y = 0, .width = 48, .height = 60},
                                  {.kind = Kind::sharpen, .sigma = 1},
                                  {.kind = Kind::resize, .scale = 0.5},
                                  {.kind = Kind::blur, .sigma = 0.8}});
    EXPECT_EQ(out.info.format, f);
    EXPECT_EQ(out.info.width, 24);
    EXPECT_EQ(out.info.height, 30);
    const auto again = check_upload(out.bytes, ImageLimits{});  // the same format, by content
    ASSERT_EQ(refusal(again), "accepted") << extension(f);
    EXPECT_EQ(again->format, f);
    EXPECT_EQ(out.bytes.find("secret place"), std::string::npos) << extension(f);
  }
}

TEST(ApplyOperations, ACorruptSourceIsInvalidArgumentNotACrash) {
  const std::string jpeg = encode(noise(256, 192), Format::jpeg);
  const std::vector<Operation> blur{{.kind = Kind::blur, .sigma = 1}};
  for (const std::string_view source :
       {std::string_view(jpeg).substr(0, jpeg.size() / 2), std::string_view(jpeg).substr(0, 40),
        std::string_view("\xFF\xD8\xFF garbage after a JPEG signature"), std::string_view("")}) {
    const auto r = apply_operations(source, blur, ImageLimits{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().message;
  }
  const auto bomb = apply_operations(png_bomb(), blur, ImageLimits{});
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(bomb.error().code, Errc::invalid_argument);
  // Steps that do not fit the source are refused before any work.
  const auto outside = apply_operations(
      jpeg, {{.kind = Kind::crop, .x = 250, .y = 0, .width = 10, .height = 10}}, ImageLimits{});
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().message.rfind("operations[0].crop:", 0), 0u) << outside.error().message;
}

TEST(ApplyOperations, JobsOnSeveralThreadsAtOnceGiveTheSameBytes) {
  // A worker pool runs jobs side by side; libvips is shared by them.
  const std::string source = encode(noise(300, 200), Format::jpeg);
  const std::vector<Operation> ops{
      {.kind = Kind::crop, .x = 10, .y = 10, .width = 200, .height = 150},
      {.kind = Kind::sharpen, .sigma = 1},
      {.kind = Kind::blur, .sigma = 2}};
  const std::string expected = edited(source, ops).bytes;
  ASSERT_FALSE(expected.empty());
  constexpr int kThreads = 4;
  std::vector<std::string> results(kThreads * 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        auto r = apply_operations(source, ops, ImageLimits{});
        results[static_cast<std::size_t>(t * 3 + i)] = r.ok() ? std::move(r)->bytes : "failed";
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r == expected);
}

TEST(Format, NamesAndContentTypes) {
  EXPECT_EQ(extension(Format::jpeg), "jpg");
  EXPECT_EQ(extension(Format::webp), "webp");
  EXPECT_EQ(content_type(Format::png), "image/png");
  EXPECT_EQ(content_type(Format::jpeg), "image/jpeg");
}

}  // namespace
}  // namespace ztm::media
