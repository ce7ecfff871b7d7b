#!/usr/bin/env bash
# Photo-edit jobs, ztm (libvips, bench/image_ops_bench) against ImageMagick's convert: the same
# 12-megapixel JPEG, the same steps (crop 3600x2700+200+150, sharpen sigma 1, blur sigma 2, JPEG
# quality 85 without metadata), each pinned to the same single core. Prints a Markdown table.
#
#   bench/image_vs_imagemagick.sh [BUILD_DIR]   (default build-media-rel; configured as Release and
#                                               image_ops_bench built there)
#   env: JOBS=20 (ztm jobs a run), IM_JOBS=10 (convert jobs a run), REPEAT=3 (runs; the best
#        throughput of each is reported), CORE=0, CONVERT=/usr/bin/convert
#
# What differs between the two (as near as they allow):
#  - ztm runs the jobs in one long-lived process, as a worker does; convert starts a process per
#    job, as a shell-out would (its start-up, about 30 ms, is part of its job).
#  - sharpen: both an unsharp mask of amount 1 on the RGB bands (convert -sharpen 0x1); blur: both
#    a separable Gaussian of sigma 2 (convert -blur 0x2, libvips gaussblur). ImageMagick (Q16)
#    computes in 16 bits a channel, libvips in 8-bit integer arithmetic for 8-bit images.
#  - MAGICK_THREAD_LIMIT=1 keeps ImageMagick's OpenMP to one thread on the one core; libvips runs
#    with concurrency 1 (src/media/image.cc).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib/packages.sh
# shellcheck disable=SC2086
install_packages $BUILD_PACKAGES $BENCH_PACKAGES libbenchmark-dev time
build=${1:-build-media-rel}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DZTM_BUILD_TESTS=OFF \
  -DZTM_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target image_ops_bench >/dev/null
bench=$build/bench/image_ops_bench
convert=${CONVERT:-/usr/bin/convert}  # the real binary, not a wrapper earlier on PATH
jobs=${JOBS:-20}
im_jobs=${IM_JOBS:-10}
repeat=${REPEAT:-3}
core=${CORE:-0}

[[ -x $convert ]] || { echo "no $convert: the imagemagick package installs it" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A photo-like 4000x3000 JPEG: plasma (smooth colour areas) plus Gaussian noise (fine detail),
# from a fixed seed, so every run edits the same bytes.
"$convert" -size 4000x3000 -seed 42 plasma:fractal -attenuate 0.25 +noise Gaussian \
  -quality 92 "$work/in.jpg"
in_bytes=$(stat -c %s "$work/in.jpg")

# "p50 p99" of the numbers on stdin (nearest rank).
percentiles() {
  sort -g | awk '{ v[NR] = $1 } END {
    i50 = int(0.50 * (NR - 1) + 0.5) + 1; i99 = int(0.99 * (NR - 1) + 0.5) + 1
    printf "%.0f %.0f\n", v[i50], v[i99] }'
}
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

best_ours="" best_ours_rate=0
for ((r = 1; r <= repeat; r++)); do
  line=$(taskset -c "$core" "$bench" "$work/in.jpg" --jobs "$jobs" --crop 200,150,3600,2700 \
    --sharpen 1 --blur 2 --output "$work/ours.jpg")
  echo "ztm run $r: $line" >&2
  rate=$(field jobs_per_s <<<"$line")
  if awk -v a="$rate" -v b="$best_ours_rate" 'BEGIN { exit !(a > b) }'; then
    best_ours=$line best_ours_rate=$rate
  fi
done

best_im="" best_im_rate=0
for ((r = 1; r <= repeat; r++)); do
  : >"$work/im.lat"
  : >"$work/im.res"
  start=$(date +%s%N)
  for ((i = 0; i < im_jobs; i++)); do
    t0=$(date +%s%N)
    MAGICK_THREAD_LIMIT=1 taskset -c "$core" /usr/bin/time -f "%U %S %M" -a -o "$work/im.res" \
      "$convert" "$work/in.jpg" -crop 3600x2700+200+150 +repage -sharpen 0x1 -blur 0x2 \
      -quality 85 -strip "$work/im.jpg"
    echo $((($(date +%s%N) - t0) / 1000000)) >>"$work/im.lat"
  done
  seconds=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.3f", ns / 1e9 }')
  rate=$(awk -v n="$im_jobs" -v s="$seconds" 'BEGIN { printf "%.2f", n / s }')
  read -r p50 p99 < <(percentiles <"$work/im.lat")
  cpu=$(awk '{ c += $1 + $2 } END { printf "%.0f", 1000 * c / NR }' "$work/im.res")
  rss=$(awk '{ if ($3 > m) m = $3 } END { printf "%.1f", m / 1024 }' "$work/im.res")
  line="jobs=$im_jobs seconds=$seconds jobs_per_s=$rate p50_ms=$p50 p99_ms=$p99 cpu_ms=$cpu max_rss_mb=$rss"
  echo "convert run $r: $line" >&2
  if awk -v a="$rate" -v b="$best_im_rate" 'BEGIN { exit !(a > b) }'; then
    best_im=$line best_im_rate=$rate
  fi
done

row() {  # name, key=value line
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(field jobs <<<"$2")" \
    "$(field jobs_per_s <<<"$2")" "$(field p50_ms <<<"$2")" "$(field p99_ms <<<"$2")" \
    "$(field cpu_ms <<<"$2")" "$(field max_rss_mb <<<"$2")"
}
echo
echo "Input: 4000x3000 JPEG, $in_bytes bytes; job: crop 3600x2700+200+150, sharpen 1, blur 2," \
  "JPEG q85; one core (taskset -c $core); best of $repeat runs."
echo
echo '| engine | jobs | jobs/s | p50 ms | p99 ms | CPU ms/job | peak RSS MB |'
echo '|---|---|---|---|---|---|---|'
row "ztm (libvips $(pkg-config --modversion vips-cpp 2>/dev/null || echo '?'))" "$best_ours"
row "ImageMagick $("$convert" -version | sed -n 's/^Version: ImageMagick \([^ ]*\).*/\1/p') convert" "$best_im"
awk -v a="$best_ours_rate" -v b="$best_im_rate" -v ca="$(field cpu_ms <<<"$best_ours")" \
  -v cb="$(field cpu_ms <<<"$best_im")" \
  'BEGIN { printf "\nztm / ImageMagick: %.1fx the jobs per second, %.1fx less CPU per job\n", a / b, cb / ca }'
