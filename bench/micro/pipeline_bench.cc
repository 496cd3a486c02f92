// The transform pipeline: transforms::Process on a 2048-px photo-like JPEG, per output format
// (300 px wide) and per operation (JPEG out). One thread, libvips concurrency 1, as one worker
// of the CPU pool runs it. Items/s = images/s for one core.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/micro/corpus.h"
#include "transforms/parser.h"
#include "transforms/pipeline.h"

namespace {

using namespace imgorigin;

const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> corpus = [] {
    transforms::InitVips("bench_pipeline");
    return bench::LoadCorpus(4);
  }();
  return corpus;
}

void Process(benchmark::State& state, const char* options) {
  const auto& corpus = Corpus();
  auto request =
      transforms::ParseProcessingPath(std::string(options) + "/plain/local:///x.jpg", {});
  if (!request) {
    state.SkipWithError(request.error().message.c_str());
    return;
  }
  transforms::PipelineLimits limits;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    auto out = transforms::Process(corpus[i++ % corpus.size()], request->spec, limits);
    if (!out) {
      state.SkipWithError(out.error().message.c_str());
      break;
    }
    bytes += static_cast<int64_t>(out->bytes.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["out_bytes"] =
      benchmark::Counter(static_cast<double>(bytes) / std::max<int64_t>(1, state.iterations()));
}

// Formats: resize to 300 px wide.
BENCHMARK_CAPTURE(Process, jpeg, "/w:300/q:80/f:jpg")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, webp, "/w:300/f:webp")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, avif, "/w:300/f:avif")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, png, "/w:300/f:png")->Unit(benchmark::kMillisecond)->UseRealTime();
// Operations, JPEG out.
BENCHMARK_CAPTURE(Process, op_fill_crop, "/rs:fill:300:300/f:jpg")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_smart_crop, "/rs:fill:300:300/g:sm/f:jpg")
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_crop_then_resize, "/c:0.5:0.5:nowe/w:300/f:jpg")
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_rotate90, "/w:300/rot:90/f:jpg")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_flip_v, "/w:300/fl:0:1/f:jpg")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_blur, "/w:300/bl:2/f:jpg")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_sharpen, "/w:300/sh:0.7/f:jpg")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_extend, "/rs:fit:400:400/ex:1/bg:ffffff/f:jpg")
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(Process, op_large_1200, "/w:1200/f:jpg")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
