// The URL grammar: ParseProcessingPath on typical, long and base64 URLs, and the canonical spec
// string the cache key is made from. Runs on the event loop for every request, hits included.
#include <benchmark/benchmark.h>

#include "transforms/parser.h"

namespace {

using imgorigin::transforms::ParseProcessingPath;
using imgorigin::transforms::ParserConfig;

void Parse(benchmark::State& state, const char* path) {
  ParserConfig config;
  for (auto _ : state) {
    auto request = ParseProcessingPath(path, config);
    if (!request) state.SkipWithError(request.error().message.c_str());
    benchmark::DoNotOptimize(request);
  }
}
BENCHMARK_CAPTURE(Parse, typical, "/rs:fill:300:300/g:sm/q:80/plain/local:///products/42.jpg@webp");
BENCHMARK_CAPTURE(Parse, width_only, "/w:300/plain/local:///corpus/photo017.jpg");
BENCHMARK_CAPTURE(Parse, long_names,
                  "/resize:fill:300:200:1:0/gravity:nowe:10:20/quality:75/blur:1.5/sharpen:0.7/"
                  "rotate:90/flip:1:0/background:ffffff/format:png/cachebuster:v2/"
                  "filename:product%20shot/plain/local:///dir/a%20b.jpg");
BENCHMARK_CAPTURE(Parse, base64_source,
                  "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/"
                  "anBn.png");

void Canonical(benchmark::State& state) {
  ParserConfig config;
  auto request = ParseProcessingPath("/rs:fill:300:300/g:sm/q:80/bl:2/plain/local:///a.jpg@webp",
                                     config);
  for (auto _ : state) benchmark::DoNotOptimize(request->spec.Canonical());
}
BENCHMARK(Canonical);

}  // namespace

BENCHMARK_MAIN();
