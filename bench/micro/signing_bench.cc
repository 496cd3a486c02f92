// Signature checks: every request pays one HMAC-SHA256 (more while keys rotate).
#include <benchmark/benchmark.h>

#include "signing/signer.h"

namespace {

using imgorigin::signing::Config;
using imgorigin::signing::KeyPair;
using imgorigin::signing::Signer;

constexpr const char* kPath = "/rs:fill:300:300/g:sm/q:80/plain/local:///products/42.jpg@webp";

Config Keys(int pairs) {
  Config config;
  for (int i = 0; i < pairs; ++i) {
    config.keys.push_back(KeyPair{"secret-key-" + std::to_string(i), "salt-" + std::to_string(i)});
  }
  return config;
}

void Sign(benchmark::State& state) {
  Signer signer(Keys(1));
  for (auto _ : state) benchmark::DoNotOptimize(signer.Sign(kPath));
}
BENCHMARK(Sign);

// The matching key is the last of `pairs`: the cost during a rotation.
void VerifyValid(benchmark::State& state) {
  const int pairs = static_cast<int>(state.range(0));
  Config config = Keys(pairs);
  const std::string signature = Signer(Config{{config.keys.back()}}).Sign(kPath);
  Signer signer(config);
  for (auto _ : state) {
    if (!signer.Verify(signature, kPath)) state.SkipWithError("valid signature rejected");
  }
}
BENCHMARK(VerifyValid)->Arg(1)->Arg(3);

void VerifyInvalid(benchmark::State& state) {
  Signer signer(Keys(1));
  std::string signature = signer.Sign(kPath);
  signature[0] = signature[0] == 'A' ? 'B' : 'A';
  for (auto _ : state) benchmark::DoNotOptimize(signer.Verify(signature, kPath));
}
BENCHMARK(VerifyInvalid);

}  // namespace

BENCHMARK_MAIN();
