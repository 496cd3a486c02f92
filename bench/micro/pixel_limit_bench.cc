// The pixel limit: what it costs transforms::Process and transforms::Inspect to refuse a source
// whose header declares more pixels than allowed — a 1-bit PNG of 10000² or 30000² black pixels
// (12 KB and 110 KB, 100 and 900 Mpx declared). The refusal reads the header only
// (tests/unit/transforms_pipeline_test.cc checks that it decodes nothing), so the time should be
// a header read's whatever the declared size; decoding 900 Mpx takes seconds.
#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vips/vips8>

#include "common/handle.h"
#include "common/status.h"
#include "transforms/inspect.h"
#include "transforms/pipeline.h"

namespace {

using namespace imgorigin;

void UnrefBlob(VipsBlob* blob) { vips_area_unref(VIPS_AREA(blob)); }

// Made once per size: encoding 900 Mpx, even black ones, takes seconds.
const std::string& Bomb(int side) {
  static std::map<int, std::string> bombs;
  auto [it, made] = bombs.try_emplace(side);
  if (made) {
    transforms::InitVips("bench_pixel_limit");
    const common::Handle<VipsBlob, UnrefBlob> blob(
        vips::VImage::black(side, side)
            .pngsave_buffer(vips::VImage::option()->set("bitdepth", 1)->set("compression", 9)));
    it->second.assign(static_cast<const char*>(VIPS_AREA(blob.get())->data),
                      VIPS_AREA(blob.get())->length);
  }
  return it->second;
}

void RefuseProcess(benchmark::State& state) {
  const std::string& bomb = Bomb(static_cast<int>(state.range(0)));
  transforms::TransformSpec spec;
  spec.width = 100;
  const transforms::PipelineLimits limits;  // 50 Mpx
  for (auto _ : state) {
    const auto out = transforms::Process(bomb, spec, limits);
    if (out || out.error().code != common::ErrorCode::kTooLarge) {
      state.SkipWithError("the source was not refused as too large");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void RefuseInspect(benchmark::State& state) {
  const std::string& bomb = Bomb(static_cast<int>(state.range(0)));
  const transforms::PipelineLimits limits;
  for (auto _ : state) {
    const auto info = transforms::Inspect(bomb, limits);
    if (info || info.error().code != common::ErrorCode::kTooLarge) {
      state.SkipWithError("the source was not refused as too large");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(RefuseProcess)->Arg(10000)->Arg(30000)->Unit(benchmark::kMicrosecond);
BENCHMARK(RefuseInspect)->Arg(10000)->Arg(30000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
