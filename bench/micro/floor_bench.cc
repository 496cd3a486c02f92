// The in-process floor: what the linked libvips alone does for the load benchmark's cold
// scenario, with no HTTP, no URL, no cache — thumbnail from a buffer to 300 px wide, then JPEG
// save at Q80, on 2 threads (one per core, libvips concurrency 1 each, as the server runs it).
// items_per_second is images/s; the cold HTTP scenario is judged against it.
//
//   floor           thumbnail_buffer + jpegsave_buffer(Q 80)        (the definition)
//   floor_same      the same, encoded as imgorigin encodes (optimize_coding, strip)
//   floor_pipeline  the steps imgorigin's pipeline takes, minus HTTP, URL, cache and checks:
//                   JPEG shrink-on-load by the largest of 8/4/2 that keeps ≥ 300 px, resize,
//                   jpegsave as above. vips_thumbnail shrinks on load one notch less (it
//                   decodes 2048 px at 1/2 where imgorigin, sharp and imgproxy use 1/4), so
//                   it is the stricter floor for comparing imgorigin's own overhead.
#include <benchmark/benchmark.h>
#include <vips/vips8>
#include <vips/vector.h>  // after vips8: it relies on its types

#include <atomic>
#include <string>
#include <vector>

#include "bench/micro/corpus.h"

namespace {

using vips::VImage;

const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> corpus = [] {
    if (VIPS_INIT("bench_floor") != 0) vips_error_exit("unable to start libvips");
    vips_cache_set_max(0);
    vips_concurrency_set(1);
#if VIPS_MAJOR_VERSION == 8 && VIPS_MINOR_VERSION < 15
    // As the server runs it (transforms::InitVips): liborc crashed this benchmark too.
    vips_vector_set_enabled(FALSE);
#endif
    return imgorigin::bench::LoadCorpus(8);
  }();
  return corpus;
}

std::atomic<size_t> next_image{0};

void Thumbnail(benchmark::State& state, bool like_imgorigin) {
  const auto& corpus = Corpus();
  for (auto _ : state) {
    const std::string& src = corpus[next_image.fetch_add(1, std::memory_order_relaxed) % corpus.size()];
    VipsBlob* blob = nullptr;
    try {
      // Wraps the bytes without copying them, as a buffer the caller already holds.
      VipsBlob* in = vips_blob_new(nullptr, src.data(), src.size());
      VImage thumb = VImage::thumbnail_buffer(in, 300);
      vips_area_unref(VIPS_AREA(in));
      auto options = VImage::option()->set("Q", 80);
      if (like_imgorigin) options->set("optimize_coding", true)->set("strip", true);
      blob = thumb.jpegsave_buffer(options);
    } catch (const vips::VError& e) {
      state.SkipWithError(e.what());
      break;
    }
    benchmark::DoNotOptimize(VIPS_AREA(blob)->length);
    vips_area_unref(VIPS_AREA(blob));
  }
  state.SetItemsProcessed(state.iterations());
}
void Pipeline(benchmark::State& state) {
  const auto& corpus = Corpus();
  for (auto _ : state) {
    const std::string& src = corpus[next_image.fetch_add(1, std::memory_order_relaxed) % corpus.size()];
    VipsBlob* blob = nullptr;
    try {
      VImage header = VImage::new_from_buffer(src.data(), src.size(), "");
      const double scale = 300.0 / header.width();
      const int shrink = scale <= 1.0 / 8 ? 8 : scale <= 1.0 / 4 ? 4 : scale <= 1.0 / 2 ? 2 : 1;
      VImage img = VImage::new_from_buffer(
          src.data(), src.size(), "",
          VImage::option()->set("shrink", shrink)->set("access", VIPS_ACCESS_SEQUENTIAL));
      img = img.resize(300.0 / img.width());
      blob = img.jpegsave_buffer(
          VImage::option()->set("Q", 80)->set("optimize_coding", true)->set("strip", true));
    } catch (const vips::VError& e) {
      state.SkipWithError(e.what());
      break;
    }
    benchmark::DoNotOptimize(VIPS_AREA(blob)->length);
    vips_area_unref(VIPS_AREA(blob));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(Pipeline)->Name("Thumbnail/floor_pipeline")
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(Thumbnail, floor, false)
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Thumbnail, floor_same, true)
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Thumbnail, floor_1thread, false)
    ->Threads(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
