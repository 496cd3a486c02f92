// The codecs the processing timeout cannot stop, because they take or make a whole frame in one
// call, and how long each takes per megapixel:
//  - Encode: AVIF, JPEG XL, WebP, GIF. A synthetic photo (bench/micro/corpus.h) of the output's
//    size is rendered through transforms::Process to each format at the pipeline's own settings.
//    This sizes the defaults of limits.max_result_pixels and the rates of WorstEncodeSeconds().
//  - Decode: AVIF, HEIC, JPEG XL, WebP sources of the given size rendered to a 64 px JPEG, so
//    the time is the decode's. This gives the rates of WorstDecodeSeconds().
// JPEG and PNG, read and written line by line, are the reference. Reported: time per render and
// Mpx/s.
#include <benchmark/benchmark.h>

#include <chrono>
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

// Renders `source` with `spec` and no result caps, so the rates measured are the codecs' own.
void Run(benchmark::State& state, const std::string& source, const transforms::TransformSpec& spec,
         int64_t pixels) {
  transforms::PipelineLimits limits;
  limits.max_result_pixels.clear();
  limits.timeout = std::chrono::minutes(5);
  for (auto _ : state) {
    const auto out = transforms::Process(source, spec, limits);
    if (!out) {
      state.SkipWithError(out.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(out->bytes.data());
  }
  state.counters["Mpx/s"] = benchmark::Counter(
      static_cast<double>(pixels) / 1e6 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void Encode(benchmark::State& state, ImageFormat format) {
  const int side = static_cast<int>(state.range(0));
  if (!transforms::CanEncode(format)) return state.SkipWithError("this libvips cannot write it");
  transforms::TransformSpec spec;
  spec.format = format;
  Run(state, Photo(side), spec, int64_t{side} * side);
}

void Decode(benchmark::State& state, ImageFormat format) {
  const int side = static_cast<int>(state.range(0));
  if (!transforms::CanEncode(format)) return state.SkipWithError("this libvips cannot write it");
  static std::map<std::pair<ImageFormat, int>, std::string> sources;
  auto [it, made] = sources.try_emplace({format, side});
  if (made) {
    transforms::TransformSpec to_format;
    to_format.format = format;
    transforms::PipelineLimits limits;
    limits.max_result_pixels.clear();
    limits.timeout = std::chrono::minutes(10);
    auto encoded = transforms::Process(Photo(side), to_format, limits);
    if (!encoded) return state.SkipWithError(encoded.error().message.c_str());
    it->second = std::move(encoded->bytes);
  }
  if (!transforms::CanDecode(it->second)) return state.SkipWithError("this libvips cannot read it");
  transforms::TransformSpec thumbnail;
  thumbnail.format = ImageFormat::kJpeg;
  thumbnail.width = 64;
  Run(state, it->second, thumbnail, int64_t{side} * side);
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

#define IMGORIGIN_DECODE_BENCH(name, format)                                        \
  BENCHMARK_CAPTURE(Decode, name, format)->Arg(1024)->Arg(2048)->Arg(4096)    \
      ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3)
IMGORIGIN_DECODE_BENCH(avif, ImageFormat::kAvif);
IMGORIGIN_DECODE_BENCH(heic, ImageFormat::kHeic);
IMGORIGIN_DECODE_BENCH(jxl, ImageFormat::kJxl);
IMGORIGIN_DECODE_BENCH(webp, ImageFormat::kWebp);
IMGORIGIN_DECODE_BENCH(jpeg, ImageFormat::kJpeg);
IMGORIGIN_DECODE_BENCH(png, ImageFormat::kPng);

BENCHMARK_MAIN();
