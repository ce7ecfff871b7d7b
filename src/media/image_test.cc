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
using test::jpeg_segments;
using test::jpeg_with_location;
using test::marked;
using test::noise;
using test::png_bomb;
using test::png_chunks;
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

// --- sanitize_upload: what an original is stored as (security issue 13, finding 3) ---

EditedImage sanitized(const std::string& upload) {
  auto r = sanitize_upload(upload, ImageLimits{});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(r).value() : EditedImage{};
}

TEST(SanitizeUpload, DropsEveryExifFieldAndTheLocation) {
  const std::string upload = jpeg_with_location(64, 48);
  // The fixture carries what a phone writes: an EXIF block with a GPS IFD.
  const VImage located = decode(upload);
  ASSERT_NE(located.get_typeof("exif-ifd3-GPSLatitude"), 0u);
  ASSERT_EQ(jpeg_segments(upload).front(), std::string("APP1:Exif"));
  const auto out = sanitized(upload);
  EXPECT_EQ(out.info.format, Format::jpeg);
  EXPECT_EQ(out.info.width, 64);
  EXPECT_EQ(out.info.height, 48);
  for (const auto& segment : jpeg_segments(out.bytes))
    EXPECT_FALSE(segment.starts_with("APP1") || segment.starts_with("APP2") ||
                 segment.starts_with("APP13"))
        << segment;
  EXPECT_FALSE(jpeg_segments(out.bytes).empty());
  const VImage clean = decode(out.bytes);
  EXPECT_EQ(clean.get_typeof("exif-ifd3-GPSLatitude"), 0u);
  EXPECT_EQ(clean.get_typeof("exif-data"), 0u);
  EXPECT_EQ(out.bytes.find("PhoneCo"), std::string::npos);
}

TEST(SanitizeUpload, DropsBytesAfterTheImage) {
  const std::string jpeg = encode(noise(32, 24), Format::jpeg) + "<script>alert(1)</script>";
  const auto out = sanitized(jpeg);
  EXPECT_TRUE(out.bytes.ends_with("\xFF\xD9")) << "nothing after the end-of-image marker";
  EXPECT_EQ(out.bytes.find("<script>"), std::string::npos);
  const std::string png = encode(checkerboard(32, 24), Format::png) + "trailing secret";
  const auto png_out = sanitized(png);
  EXPECT_EQ(png_chunks(png_out.bytes).trailing, 0u);
  EXPECT_EQ(png_out.bytes.find("trailing secret"), std::string::npos);
}

TEST(SanitizeUpload, DropsPngTextAndIccChunksAndKeepsThePixels) {
  VImage image = checkerboard(64, 48);
  image.set("png-comment-0-Comment", std::string(100'000, 'x').c_str());  // a big text chunk
  image.set("png-comment-1-Location", "51.5 N 0.1 W");
  const std::string png = take(image.icc_transform("srgb", VImage::option()->set("embedded", false))
                                   .pngsave_buffer());  // with an sRGB iCCP chunk
  const auto before = png_chunks(png).types;
  ASSERT_NE(std::find(before.begin(), before.end(), "zTXt"), before.end());  // libvips deflates
  ASSERT_NE(std::find(before.begin(), before.end(), "iCCP"), before.end());
  const auto out = sanitized(png);
  for (const auto& type : png_chunks(out.bytes).types)
    EXPECT_TRUE(type == "IHDR" || type == "pHYs" || type == "IDAT" || type == "IEND") << type;
  EXPECT_EQ(out.bytes.find("51.5 N"), std::string::npos);
  EXPECT_EQ((decode(out.bytes) - decode(png)).abs().max(), 0) << "PNG stays lossless";
}

TEST(SanitizeUpload, AppliesAnEmbeddedIccProfileBeforeDroppingIt) {
  // Pure sRGB red, stored in Display P3 with its profile: P3's numbers for it are about
  // (234, 51, 35). Dropping the profile without converting would show that duller red.
  VImage red =
      (VImage::black(16, 16, VImage::option()->set("bands", 3)) + std::vector<double>{255, 0, 0})
          .cast(VIPS_FORMAT_UCHAR)
          .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  const VImage p3 = red.icc_transform("p3", VImage::option()->set("input_profile", "srgb"));
  ASSERT_NE(p3.get_typeof(VIPS_META_ICC_NAME), 0u);
  ASSERT_LT(p3.getpoint(8, 8)[0], 245) << "the P3 numbers differ from sRGB's";
  for (const Format f : {Format::png, Format::jpeg}) {
    const auto out =
        sanitized(f == Format::png ? take(p3.pngsave_buffer())
                                   : take(p3.jpegsave_buffer(VImage::option()->set("Q", 95))));
    const VImage back = decode(out.bytes);
    EXPECT_EQ(back.get_typeof(VIPS_META_ICC_NAME), 0u) << extension(f);
    const auto pixel = back.getpoint(8, 8);
    EXPECT_GT(pixel[0], 245) << extension(f);
    EXPECT_LT(pixel[1], 12) << extension(f);
    EXPECT_LT(pixel[2], 12) << extension(f);
  }
}

TEST(SanitizeUpload, StoresASidewaysPhotoUprightWithoutItsTag) {
  VImage image = marked(60, 40);
  image.draw_rect({255, 255, 255}, 0, 0, 8, 8);  // a white corner at (0, 0)
  image.set("orientation", 6);  // the camera was turned: shown turned 90 degrees clockwise
  const auto out = sanitized(encode(image, Format::jpeg));
  EXPECT_EQ(out.info.width, 40);
  EXPECT_EQ(out.info.height, 60);
  const VImage upright = decode(out.bytes);
  EXPECT_EQ(upright.width(), 40);
  EXPECT_EQ(upright.height(), 60);
  EXPECT_TRUE(upright.get_typeof("orientation") == 0 || upright.get_int("orientation") == 1);
  EXPECT_GT(upright.getpoint(39, 0)[0], 100) << "the marked corner turned to the top right";
}

TEST(SanitizeUpload, KeepsTheFormatAndWebpLosesItsExifToo) {
  VImage image = noise(48, 32);
  image.set("exif-ifd0-ImageDescription", "secret place");
  const std::string webp = take(image.webpsave_buffer());
  ASSERT_NE(webp.find("secret place"), std::string::npos);
  const auto out = sanitized(webp);
  EXPECT_EQ(out.info.format, Format::webp);
  EXPECT_EQ(out.bytes.find("secret place"), std::string::npos);
  EXPECT_EQ(out.bytes.find("EXIF"), std::string::npos) << "libvips 8.14 writes one regardless";
  EXPECT_EQ(test::decode(out.bytes).get_typeof("exif-data"), 0u);
  EXPECT_EQ((test::decode(out.bytes).width()), 48);
}

TEST(SanitizeUpload, RefusesWhatCheckUploadRefuses) {
  const std::string jpeg = encode(noise(64, 48), Format::jpeg);
  for (const std::string& bad :
       {std::string("GIF89a"), std::string(), jpeg.substr(0, jpeg.size() / 2), png_bomb()}) {
    const auto r = sanitize_upload(bad, ImageLimits{});
    ASSERT_FALSE(r.ok()) << bad.size();
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().message;
  }
}

// --- estimate_cost and the budget (security issue 13, finding 6) ---

std::int64_t cost(const std::vector<Operation>& ops, ImageInfo source) {
  auto r = estimate_cost(ops, source, ImageLimits{});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : -1;
}

TEST(EstimateCost, FollowsThePixelPassModel) {
  const ImageInfo photo{Format::jpeg, 1000, 500};  // 0.5 M pixels
  EXPECT_EQ(cost({{.kind = Kind::crop, .width = 500, .height = 250}}, photo), 125'000);
  EXPECT_EQ(cost({{.kind = Kind::rotate, .angle = 90}}, photo), 500'000);
  EXPECT_EQ(cost({{.kind = Kind::resize, .scale = 2}}, photo), 500'000 + 2'000'000);
  // A Gaussian mask 37 wide for sigma 10 (libvips cuts it at 0.2 of its peak): 37^2 / 32 + 37 / 2
  // = 42 + 18 a pixel.
  EXPECT_EQ(cost({{.kind = Kind::blur, .sigma = 10}}, photo), 500'000 * 60);
  EXPECT_EQ(cost({{.kind = Kind::sharpen, .sigma = 10}}, photo), 500'000 * 63);
  // Each step on the previous result: a blur after a crop costs the crop's pixels.
  EXPECT_LT(
      cost({{.kind = Kind::crop, .width = 100, .height = 100}, {.kind = Kind::blur, .sigma = 50}},
           photo),
      cost({{.kind = Kind::blur, .sigma = 50}}, photo) / 10);
  EXPECT_FALSE(estimate_cost({{.kind = Kind::blur, .sigma = 0}}, photo, ImageLimits{}).ok());
}

TEST(EstimateCost, AJobOverTheBudgetIsRefusedNamingItsCostAndTheBudget) {
  // The job: one blur of sigma 100 on a 20000 x 2500 PNG took 51 s of a worker.
  const ImageInfo strip{Format::png, 20000, 2500};
  const auto r = validate_operations({{.kind = Kind::blur, .sigma = 100}}, strip, ImageLimits{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message,
            "operations: the job would cost about 2.1e+11 pixel-passes, over the budget of 2e+09 "
            "(use a smaller sigma, crop or shrink first, or fewer steps)");
  // Ten big blurs of the largest photo, each within the sigma range: refused as a whole.
  const ImageInfo big{Format::jpeg, 8000, 6000};
  EXPECT_FALSE(validate_operations(std::vector<Operation>(10, {.kind = Kind::blur, .sigma = 10}),
                                   big, ImageLimits{})
                   .ok());
  // What people do pass: the benchmark's job on a 12-megapixel photo, a small blur of the
  // largest, the lab's wide blur of a 1200 x 900 photo.
  EXPECT_TRUE(
      validate_operations({{.kind = Kind::crop, .x = 200, .y = 150, .width = 3600, .height = 2700},
                           {.kind = Kind::sharpen, .sigma = 1},
                           {.kind = Kind::blur, .sigma = 2}},
                          {Format::jpeg, 4000, 3000}, ImageLimits{})
          .ok());
  EXPECT_TRUE(validate_operations({{.kind = Kind::blur, .sigma = 2}}, big, ImageLimits{}).ok());
  EXPECT_TRUE(validate_operations({{.kind = Kind::blur, .sigma = 20}}, {Format::jpeg, 1200, 900},
                                  ImageLimits{})
                  .ok());
  // The budget is a limit like the others: a smaller one refuses sooner.
  EXPECT_FALSE(validate_operations({{.kind = Kind::blur, .sigma = 2}}, big,
                                   ImageLimits{.max_cost = 1'000'000})
                   .ok());
}

TEST(EstimateCost, TheWorkerRefusesAnOverBudgetJobToo) {
  // A job queued under a larger budget (or forged into the queue) is refused, not run.
  const std::string png = encode(noise(400, 300), Format::png);
  const auto r = apply_operations(png, {{.kind = Kind::blur, .sigma = 100}},
                                  ImageLimits{.max_cost = 10'000'000});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pixel-passes"), std::string::npos) << r.error().message;
}

TEST(Format, NamesAndContentTypes) {
  EXPECT_EQ(extension(Format::jpeg), "jpg");
  EXPECT_EQ(extension(Format::webp), "webp");
  EXPECT_EQ(content_type(Format::png), "image/png");
  EXPECT_EQ(content_type(Format::jpeg), "image/jpeg");
}

}  // namespace
}  // namespace ztm::media
