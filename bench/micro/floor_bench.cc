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
//   floor_pipeline_webp, _avif, _png
//                   the same steps saved as the load benchmark's `formats` scenario asks
//                   (WebP q75, AVIF q50, PNG), with the saver options imgorigin used when this
//                   was written (transforms/steps_output.cc: WebP effort 4; AVIF effort 4 =
//                   avif_speed 5, sharp's default, 8-bit, auto chroma; PNG of these JPEG
//                   sources zlib 3 with the "average" row filter).
//                   Keep them in step with steps_output.cc when its defaults change.
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
enum class Out { kJpeg, kWebp, kAvif, kPng };

VipsBlob* Save(const VImage& img, Out out) {
  auto* options = VImage::option()->set("strip", true);
  switch (out) {
    case Out::kJpeg:
      return img.jpegsave_buffer(options->set("Q", 80)->set("optimize_coding", true));
    case Out::kWebp:
      return img.webpsave_buffer(options->set("Q", 75)->set("effort", 4));
    case Out::kAvif:
      return img.heifsave_buffer(options->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1)
                                     ->set("Q", 50)
                                     ->set("effort", 4)
                                     ->set("bitdepth", 8)
                                     ->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_AUTO));
    case Out::kPng:
      return img.pngsave_buffer(
          options->set("compression", 3)->set("filter", VIPS_FOREIGN_PNG_FILTER_AVG));
  }
  return nullptr;
}

void Pipeline(benchmark::State& state, Out out) {
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
      blob = Save(img.resize(300.0 / img.width()), out);
    } catch (const vips::VError& e) {
      state.SkipWithError(e.what());
      break;
    }
    benchmark::DoNotOptimize(VIPS_AREA(blob)->length);
    vips_area_unref(VIPS_AREA(blob));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(Pipeline, jpeg, Out::kJpeg)->Name("Thumbnail/floor_pipeline")
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Pipeline, webp, Out::kWebp)->Name("Thumbnail/floor_pipeline_webp")
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Pipeline, avif, Out::kAvif)->Name("Thumbnail/floor_pipeline_avif")
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Pipeline, png, Out::kPng)->Name("Thumbnail/floor_pipeline_png")
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(Thumbnail, floor, false)
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Thumbnail, floor_same, true)
    ->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Thumbnail, floor_1thread, false)
    ->Threads(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
