// Eager presets: three presets (rs:fit 160, 800 and 1600 px, the source's JPEG out) of one 2048-px
// photo-like JPEG (the bench corpus, ~2.8 Mpx), rendered from one decode with RenderMany()
// against three independent Process() calls, each of which decodes again (shrunk on load by 8,
// 2 and 1); and the same photos as PNG, a format without shrink-on-load, where each independent
// render decodes at full size. One thread, libvips concurrency 1, as a worker runs it. Items/s = images (all three
// presets) per second for one core.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>
#include <vips/vips8>

#include "bench/micro/corpus.h"
#include "transforms/parser.h"
#include "transforms/pipeline.h"
#include "transforms/render_many.h"

namespace {

using namespace imgorigin;

const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> corpus = [] {
    transforms::InitVips("bench_eager");
    return bench::LoadCorpus(4);
  }();
  return corpus;
}

// The corpus re-encoded as PNG (libvips' default compression).
const std::vector<std::string>& PngCorpus() {
  static const std::vector<std::string> corpus = [] {
    std::vector<std::string> pngs;
    for (const auto& jpeg : Corpus()) {
      void* data = nullptr;
      size_t size = 0;
      vips::VImage::new_from_buffer(jpeg.data(), jpeg.size(), "").write_to_buffer(".png", &data,
                                                                                  &size);
      pngs.emplace_back(static_cast<const char*>(data), size);
      g_free(data);
    }
    return pngs;
  }();
  return corpus;
}

std::vector<transforms::TransformSpec> Presets(const char* format) {
  std::vector<transforms::TransformSpec> specs;
  for (const char* size : {"160", "800", "1600"}) {
    const std::string path = std::string("/rs:fit:") + size + ":" + size + format +
                             "/plain/local:///x.jpg";
    specs.push_back(transforms::ParseProcessingPath(path, {})->spec);
  }
  return specs;
}

void Independent(benchmark::State& state, const char* format, bool png) {
  const auto& corpus = png ? PngCorpus() : Corpus();
  const auto specs = Presets(format);
  transforms::PipelineLimits limits;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& source = corpus[i++ % corpus.size()];
    for (const auto& spec : specs) {
      if (auto out = transforms::Process(source, spec, limits); !out) {
        state.SkipWithError(out.error().message.c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void OneDecode(benchmark::State& state, const char* format, bool png) {
  const auto& corpus = png ? PngCorpus() : Corpus();
  const auto specs = Presets(format);
  transforms::PipelineLimits limits;
  size_t i = 0;
  for (auto _ : state) {
    for (const auto& out : transforms::RenderMany(corpus[i++ % corpus.size()], specs, limits)) {
      if (!out.image) {
        state.SkipWithError(out.image.error().message.c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(Independent, jpeg, "", false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(OneDecode, jpeg, "", false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Independent, webp_out, "/f:webp", false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(OneDecode, webp_out, "/f:webp", false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(Independent, png_source, "/f:jpg", true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(OneDecode, png_source, "/f:jpg", true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
