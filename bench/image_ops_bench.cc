// image_ops_bench: N photo-edit jobs (crop + sharpen + blur by default), one after another in this
// process, as a worker runs them: apply_operations on the encoded bytes, the encoded result out.
// Prints one line of key=value results (bench/image_vs_imagemagick.sh reads it):
//   jobs=20 seconds=3.1 jobs_per_s=6.4 p50_ms=150.2 p99_ms=171.9 cpu_ms=148.0 max_rss_mb=48.1 ...
// cpu_ms is the process's CPU time (every thread, user + system) per job: on cores shared with
// other work it is steadier than the wall-clock figures.
// max_rss_mb is the process's peak resident set (getrusage) after every job: an upper bound for
// one job, the process's own baseline (code, libraries, the input bytes) included.
// cost is media::estimate_cost of the job, in pixel-passes; the budget (ImageLimits::max_cost) is
// not enforced here, so a job over it can be timed (docs/media.md chooses the budget this way).
//
//   image_ops_bench INPUT.jpg [--jobs N] [--crop X,Y,W,H] [--sharpen SIGMA] [--blur SIGMA]
//                   [--output OUT]
// A crop of width 0 or a sigma of 0 leaves that step out.
#include <fmt/format.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <vector>

#include "media/image.h"

namespace {

using ztm::media::Operation;

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double max_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"photo-edit jobs with ztm's libvips code"};
  std::string input, output;
  int jobs = 20;
  std::vector<int> crop{200, 150, 3600, 2700};
  double sharpen = 1.0, blur = 2.0;
  app.add_option("input", input, "the source image")->required();
  app.add_option("--jobs", jobs, "jobs to time (after one warm-up job)")
      ->check(CLI::PositiveNumber);
  app.add_option("--crop", crop, "X,Y,W,H")->delimiter(',')->expected(4);
  app.add_option("--sharpen", sharpen, "sigma");
  app.add_option("--blur", blur, "sigma");
  app.add_option("--output", output, "where to write the last job's result");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(input, std::ios::binary);
  const std::string source{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<Operation> ops;
  if (crop[2] > 0)
    ops.push_back({.kind = Operation::Kind::crop,
                   .x = crop[0],
                   .y = crop[1],
                   .width = crop[2],
                   .height = crop[3]});
  if (sharpen > 0) ops.push_back({.kind = Operation::Kind::sharpen, .sigma = sharpen});
  if (blur > 0) ops.push_back({.kind = Operation::Kind::blur, .sigma = blur});
  ztm::media::ImageLimits limits;
  limits.max_cost = std::numeric_limits<std::int64_t>::max();

  auto run_one = [&]() -> std::optional<ztm::media::EditedImage> {
    auto r = ztm::media::apply_operations(source, ops, limits);
    if (!r.ok()) {
      std::fprintf(stderr, "image_ops_bench: %s\n", r.error().message.c_str());
      return std::nullopt;
    }
    return std::move(r).value();
  };
  auto warm = run_one();  // warm-up: starts libvips, faults in its code
  if (!warm) return 1;
  // The cost is estimated from the source's upright size, which check_upload reads.
  auto source_info = ztm::media::check_upload(source, limits);
  const auto cost = source_info ? ztm::media::estimate_cost(ops, *source_info, limits)
                                : ztm::Result<std::int64_t>(source_info.error());

  std::vector<double> ms;
  std::optional<ztm::media::EditedImage> last;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  for (int i = 0; i < jobs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    last = run_one();
    if (!last) return 1;
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_ms = (cpu_seconds() - cpu_start) * 1000 / jobs;
  if (!output.empty()) std::ofstream(output, std::ios::binary) << last->bytes;
  fmt::print(
      "jobs={} seconds={:.3f} jobs_per_s={:.2f} p50_ms={:.1f} p99_ms={:.1f} cpu_ms={:.1f} "
      "max_rss_mb={:.1f} out={}x{} out_bytes={} cost={:.3g}\n",
      jobs, seconds, jobs / seconds, percentile(ms, 0.5), percentile(ms, 0.99), cpu_ms,
      max_rss_mb(), last->info.width, last->info.height, last->bytes.size(),
      cost ? static_cast<double>(*cost) : -1.0);
  return 0;
}
