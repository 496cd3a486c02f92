// The encoders the processing timeout cannot stop (AVIF, JPEG XL, WebP, GIF take the whole image
// in one call): how long each takes per output megapixel, which sizes the defaults of
// limits.max_result_pixels. A synthetic photo (bench/micro/corpus.h) of the output's size is
// rendered through transforms::Process to each format at the pipeline's own settings; JPEG and
// PNG, written line by line, are the reference. Reported: time per render and Mpx/s.
#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <utility>

#include "bench/micro/corpus.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"

namespace {

using namespace imgorigin;
using transforms::ImageFormat;

const std::string& Photo(int side) {
  static std::map<int, std::string> photos;
  auto [it, made] = photos.try_emplace(side);
  if (made) {
    transforms::InitVips("bench_encode");
    it->second = bench::MakePhotoJpeg(side, side, 7);
  }
  return it->second;
}

void Encode(benchmark::State& state, ImageFormat format) {
  const int side = static_cast<int>(state.range(0));
  if (!transforms::CanEncode(format)) {
    state.SkipWithError("this libvips cannot write the format");
    return;
  }
  const std::string& photo = Photo(side);
  transforms::TransformSpec spec;
  spec.format = format;
  transforms::PipelineLimits limits;
  limits.max_result_pixels.clear();  // measuring what the caps are for
  limits.timeout = std::chrono::minutes(5);
  for (auto _ : state) {
    const auto out = transforms::Process(photo, spec, limits);
    if (!out) {
      state.SkipWithError(out.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(out->bytes.data());
  }
  const double mpx = static_cast<double>(side) * side / 1e6;
  state.counters["Mpx/s"] =
      benchmark::Counter(mpx * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK_CAPTURE(Encode, avif, ImageFormat::kAvif)->Arg(1024)->Arg(2048)->Arg(4096)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK_CAPTURE(Encode, jxl, ImageFormat::kJxl)->Arg(1024)->Arg(2048)->Arg(4096)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK_CAPTURE(Encode, webp, ImageFormat::kWebp)->Arg(1024)->Arg(2048)->Arg(4096)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK_CAPTURE(Encode, gif, ImageFormat::kGif)->Arg(1024)->Arg(2048)->Arg(4096)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK_CAPTURE(Encode, jpeg, ImageFormat::kJpeg)->Arg(1024)->Arg(2048)->Arg(4096)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK_CAPTURE(Encode, png, ImageFormat::kPng)->Arg(1024)->Arg(2048)->Arg(4096)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

BENCHMARK_MAIN();
