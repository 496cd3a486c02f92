// Benchmark inputs that need no downloads: photo-like JPEGs synthesised with libvips.
//
// A "photo" is multi-octave Perlin noise per channel (large soft shapes down to fine texture),
// a light gradient and Gaussian sensor grain, saved as a progressive-free baseline JPEG. At
// 2048 px wide and Q88 that gives 300–600 KB files, like real photos at that size, so decode
// and shrink-on-load cost what they would in production. Deterministic for a given seed.
// Functions here need InitVips() (or VIPS_INIT) first; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace imgorigin::bench {

// One encoded JPEG of `width` × `height`.
std::string MakePhotoJpeg(int width, int height, uint32_t seed, int quality = 88);

// The corpus the benchmarks read: every *.jpg in $IMGORIGIN_BENCH_CORPUS when set (the load
// benchmark's corpus, so micro and load numbers share inputs), else `count` images made with
// MakePhotoJpeg at 2048 px wide.
std::vector<std::string> LoadCorpus(size_t count = 8);

}  // namespace imgorigin::bench
