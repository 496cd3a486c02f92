// Encoder effort against time and bytes: AVIF speed 4–9 (output.avif_speed) and WebP effort 0–6
// (output.webp_effort), with JPEG as the reference, on a few corpus photos (bench/micro/corpus.h)
// resized to 300 and 1200 px wide through transforms::Process at the pipeline's other defaults.
// Prints a Markdown table: per setting and width, the median render time (decode, resize and
// encode, as a cold request pays it) and the mean output size over the photos. Not a Google
// Benchmark: the table is the result (docs/transforms.md). Usage: bench_encode_effort [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/micro/corpus.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"

namespace {

using namespace imgorigin;
using transforms::ImageFormat;

struct Variant {
  std::string label;
  ImageFormat format;
  int avif_speed = 8;
  int webp_effort = 4;
};

struct Figures {
  double median_ms = 0;
  double mean_bytes = 0;
};

// Every photo rendered `runs` times at `width`; the median of all those times, the mean size.
Figures Measure(const std::vector<std::string>& photos, const Variant& variant, int width,
                int runs) {
  transforms::PipelineLimits limits;
  limits.avif_speed = variant.avif_speed;
  limits.webp_effort = variant.webp_effort;
  limits.timeout = std::chrono::minutes(1);
  transforms::TransformSpec spec;
  spec.format = variant.format;
  spec.width = width;
  std::vector<double> times;
  double bytes = 0;
  for (const auto& photo : photos) {
    for (int run = 0; run < runs; ++run) {
      const auto start = std::chrono::steady_clock::now();
      auto out = transforms::Process(photo, spec, limits);
      const auto end = std::chrono::steady_clock::now();
      if (!out) {
        std::fprintf(stderr, "%s: %s\n", variant.label.c_str(), out.error().message.c_str());
        std::exit(1);
      }
      times.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      if (run == 0) bytes += static_cast<double>(out->bytes.size());
    }
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return {times[times.size() / 2], bytes / static_cast<double>(photos.size())};
}

}  // namespace

int main(int argc, char** argv) {
  transforms::InitVips(argv[0]);
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  const auto photos = bench::LoadCorpus(3);
  std::vector<Variant> variants = {{"JPEG q80", ImageFormat::kJpeg}};
  for (int speed = 4; speed <= 9; ++speed) {
    variants.push_back({"AVIF speed " + std::to_string(speed), ImageFormat::kAvif, speed});
  }
  for (int effort = 0; effort <= 6; ++effort) {
    variants.push_back({"WebP effort " + std::to_string(effort), ImageFormat::kWebp, 8, effort});
  }
  std::printf("| output | 300 px ms | 300 px bytes | 1200 px ms | 1200 px bytes |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  for (const auto& variant : variants) {
    if (!transforms::CanEncode(variant.format)) continue;
    const Figures small = Measure(photos, variant, 300, runs);
    const Figures large = Measure(photos, variant, 1200, runs);
    std::printf("| %s | %.1f | %.0f | %.1f | %.0f |\n", variant.label.c_str(), small.median_ms,
                small.mean_bytes, large.median_ms, large.mean_bytes);
    std::fflush(stdout);
  }
  return 0;
}
