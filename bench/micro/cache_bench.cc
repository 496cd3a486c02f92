// Cache keys and the memory tier: both run on the event loop for every request.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "cache/key.h"
#include "cache/memory_tier.h"

namespace {

using imgorigin::cache::CachedImage;
using imgorigin::cache::CachedImagePtr;
using imgorigin::cache::MemoryTier;

void VariantKey(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(imgorigin::cache::VariantKey(
        "local:///products/42.jpg", 0, "rs:fill:300:300/g:sm/q:80", "webp"));
  }
}
BENCHMARK(VariantKey);

void SourceTag(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(imgorigin::cache::SourceTag("local:///products/42.jpg"));
}
BENCHMARK(SourceTag);

CachedImagePtr Image(size_t bytes) {
  auto image = std::make_shared<CachedImage>();
  image->body = imgorigin::common::MakeShared(std::string(bytes, 'x'));
  image->content_type = "image/jpeg";
  image->etag = "\"0123456789abcdef0123456789abcdef\"";
  return image;
}

std::vector<std::string> Keys(size_t n) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i) {
    keys.push_back(imgorigin::cache::VariantKey("local:///" + std::to_string(i) + ".jpg", 0, "w:300", "jpg"));
  }
  return keys;
}

// Hits over 4096 entries of 10 KB (a warm thumbnail cache), from 1 and 2 threads (the loops).
void MemoryGetHit(benchmark::State& state) {
  static MemoryTier* tier = nullptr;
  static std::vector<std::string> keys;
  if (state.thread_index() == 0) {
    keys = Keys(4096);
    tier = new MemoryTier({.capacity_bytes = 256u << 20});
    for (const auto& key : keys) tier->Put(key, Image(10'000));
  }
  size_t i = static_cast<size_t>(state.thread_index()) * 977;
  for (auto _ : state) {
    auto hit = tier->Get(keys[i++ & 4095]);
    benchmark::DoNotOptimize(hit);
  }
  if (state.thread_index() == 0) {
    delete tier;
    tier = nullptr;
  }
}
BENCHMARK(MemoryGetHit)->Threads(1)->Threads(2)->UseRealTime();

void MemoryGetMiss(benchmark::State& state) {
  MemoryTier tier({.capacity_bytes = 256u << 20});
  const auto keys = Keys(1024);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(tier.Get(keys[i++ & 1023]));
}
BENCHMARK(MemoryGetMiss);

// Steady-state inserts into a full tier: every Put evicts.
void MemoryPutEvicting(benchmark::State& state) {
  MemoryTier tier({.capacity_bytes = 16u << 20});
  const auto keys = Keys(8192);
  const auto image = Image(10'000);
  size_t i = 0;
  for (auto _ : state) tier.Put(keys[i++ & 8191], image);
}
BENCHMARK(MemoryPutEvicting);

}  // namespace

BENCHMARK_MAIN();
