// The formats' names and validate_operations: plain checks, no libvips, so an API handler can
// refuse a bad edit before it queues a job.
#include <fmt/format.h>

#include <array>
#include <cmath>

#include "media/image.h"

namespace ztm::media {
namespace {

// By Format: the extension, the content type.
constexpr std::array<std::array<std::string_view, 2>, 3> kFormatNames{
    {{"jpg", "image/jpeg"}, {"png", "image/png"}, {"webp", "image/webp"}}};

constexpr double kMinSigma = 0.1;  // below it a blur or sharpen does nothing visible
constexpr double kMaxSigma =
    100;  // beyond it the mask (about 6 sigma wide) costs more than it adds
constexpr double kMinScale = 0.01;
constexpr double kMaxScale = 4;  // enlarging further only invents pixels

std::string_view kind_name(Operation::Kind k) {
  switch (k) {
    case Operation::Kind::crop:
      return "crop";
    case Operation::Kind::sharpen:
      return "sharpen";
    case Operation::Kind::blur:
      return "blur";
    case Operation::Kind::resize:
      return "resize";
    case Operation::Kind::rotate:
      return "rotate";
  }
  return "?";
}

// The size after `op`, or the reason `op` does not apply to an image of `size`.
Result<ImageInfo> check_step(const Operation& op, ImageInfo size, const ImageLimits& limits) {
  const auto fail = [](std::string why) { return Error{Errc::invalid_argument, std::move(why)}; };
  switch (op.kind) {
    case Operation::Kind::crop: {
      if (op.width < 1 || op.height < 1)
        return fail(fmt::format("the size {}x{} is empty", op.width, op.height));
      // 64-bit sums: x + width must not overflow into range.
      if (op.x < 0 || op.y < 0 || static_cast<std::int64_t>(op.x) + op.width > size.width ||
          static_cast<std::int64_t>(op.y) + op.height > size.height)
        return fail(fmt::format("the rectangle {}x{} at ({}, {}) leaves the {}x{} image", op.width,
                                op.height, op.x, op.y, size.width, size.height));
      size.width = op.width;
      size.height = op.height;
      return size;
    }
    case Operation::Kind::sharpen:
    case Operation::Kind::blur:
      // The negated test also refuses NaN.
      if (!(op.sigma >= kMinSigma && op.sigma <= kMaxSigma))
        return fail(fmt::format("sigma {} is outside {} .. {}", op.sigma, kMinSigma, kMaxSigma));
      return size;
    case Operation::Kind::resize: {
      if (!(op.scale >= kMinScale && op.scale <= kMaxScale))
        return fail(fmt::format("scale {} is outside {} .. {}", op.scale, kMinScale, kMaxScale));
      // libvips rounds the scaled size to the nearest pixel.
      const auto w = std::llround(size.width * op.scale);
      const auto h = std::llround(size.height * op.scale);
      if (w < 1 || h < 1)
        return fail(fmt::format("scale {} leaves no pixel of the {}x{} image", op.scale, size.width,
                                size.height));
      if (w > limits.max_side || h > limits.max_side || w * h > limits.max_pixels)
        return fail(fmt::format("the result {}x{} exceeds the limits ({} pixels, {} a side)", w, h,
                                limits.max_pixels, limits.max_side));
      size.width = static_cast<int>(w);
      size.height = static_cast<int>(h);
      return size;
    }
    case Operation::Kind::rotate:
      if (op.angle != 90 && op.angle != 180 && op.angle != 270)
        return fail(fmt::format("the angle {} is not 90, 180 or 270", op.angle));
      if (op.angle != 180) std::swap(size.width, size.height);
      return size;
  }
  return fail("unknown operation");
}

// The width of libvips' Gaussian mask for `sigma`: vips_gaussblur's default min_ampl 0.2 cuts
// the curve where exp(-x^2 / 2 sigma^2) < 0.2, at x = sigma * sqrt(2 ln 5) ~ 1.8 sigma.
std::int64_t gauss_mask_width(double sigma) {
  return 2 * static_cast<std::int64_t>(std::ceil(1.8 * sigma)) + 1;
}

// What a Gaussian of mask width `m` costs a pixel, measured (docs/media.md): libvips convolves a
// row and a column pass, but past small masks the time per pixel grows as m^2 (m = 19: 11 ns,
// 73: 165 ns, 181: 890 ns on one core), so the model is m^2 / 32 + m / 2, a little above each.
std::int64_t gauss_cost(double sigma) {
  const std::int64_t m = gauss_mask_width(sigma);
  return m * m / 32 + m / 2;
}

// Pixel-passes of one step from an image of `in` to one of `out` (estimate_cost).
std::int64_t step_cost(const Operation& op, ImageInfo in, ImageInfo out) {
  const std::int64_t in_pixels = std::int64_t{in.width} * in.height;
  const std::int64_t out_pixels = std::int64_t{out.width} * out.height;
  switch (op.kind) {
    case Operation::Kind::crop:
      return out_pixels;
    case Operation::Kind::resize:
      return in_pixels + out_pixels;
    case Operation::Kind::rotate:
      return in_pixels;
    case Operation::Kind::blur:
      return in_pixels * gauss_cost(op.sigma);
    case Operation::Kind::sharpen:  // a blur, a subtraction, an addition and a cast
      return in_pixels * (gauss_cost(op.sigma) + 3);
  }
  return in_pixels;
}

struct Walk {
  ImageInfo result;
  std::int64_t cost = 0;
};

// The steps applied to sizes, each checked against the previous result, and what they cost.
Result<Walk> walk(const std::vector<Operation>& ops, ImageInfo source, const ImageLimits& limits) {
  if (ops.size() > static_cast<std::size_t>(limits.max_operations))
    return Error{Errc::invalid_argument, fmt::format("operations: {} steps exceed the limit of {}",
                                                     ops.size(), limits.max_operations)};
  Walk w{source, 0};
  for (std::size_t i = 0; i < ops.size(); ++i) {
    auto next = check_step(ops[i], w.result, limits);
    if (!next.ok())
      return Error{
          Errc::invalid_argument,
          fmt::format("operations[{}].{}: {}", i, kind_name(ops[i].kind), next.error().message)};
    w.cost += step_cost(ops[i], w.result, *next);
    w.result = *next;
  }
  return w;
}

}  // namespace

std::string_view extension(Format f) {
  return kFormatNames[static_cast<std::size_t>(f)][0];
}
std::string_view content_type(Format f) {
  return kFormatNames[static_cast<std::size_t>(f)][1];
}

Result<std::int64_t> estimate_cost(const std::vector<Operation>& ops, ImageInfo source,
                                   const ImageLimits& limits) {
  auto w = walk(ops, source, limits);
  if (!w.ok()) return std::move(w).error();
  return w->cost;
}

Result<void> validate_operations(const std::vector<Operation>& ops, ImageInfo source,
                                 const ImageLimits& limits) {
  auto w = walk(ops, source, limits);
  if (!w.ok()) return std::move(w).error();
  if (w->cost > limits.max_cost)
    return Error{Errc::invalid_argument,
                 fmt::format("operations: the job would cost about {:.2g} pixel-passes, over the "
                             "budget of {:.2g} (use a smaller sigma, crop or shrink first, or "
                             "fewer steps)",
                             static_cast<double>(w->cost), static_cast<double>(limits.max_cost))};
  return {};
}

}  // namespace ztm::media
