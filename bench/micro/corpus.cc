#include "bench/micro/corpus.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vips/vips8>

namespace imgorigin::bench {
namespace {

using vips::VImage;

// Fractal (1/f) noise: octaves of Perlin noise, each half the cell size and amplitude of the
// one before, which is roughly the spectrum of natural scenes.
VImage Fbm(int width, int height, uint32_t seed, int largest_cell, int smallest_cell) {
  VImage sum;
  double amplitude = 1;
  double total = 0;
  bool first = true;
  for (int cell = largest_cell; cell >= smallest_cell; cell /= 2) {
    VImage octave =
        VImage::perlin(width, height,
                       VImage::option()->set("cell_size", cell)->set("seed", static_cast<int>(seed)))
        * amplitude;
    sum = first ? octave : sum + octave;
    first = false;
    total += amplitude;
    amplitude *= 0.62;
    seed = seed * 1664525u + 1013904223u;
  }
  // Normalised to zero mean and unit deviation, whatever Perlin's own range is.
  return (sum - sum.avg()) / std::max(1e-6, sum.deviate());
}

}  // namespace

std::string MakePhotoJpeg(int width, int height, uint32_t seed, int quality) {
  std::vector<VImage> channels;
  const double base[3] = {130 + (seed % 7) * 8.0, 125 + (seed % 5) * 8.0, 110 + (seed % 3) * 15.0};
  // A shared luminance structure makes the channels correlated, as in photos.
  VImage luma = Fbm(width, height, seed * 3 + 11, 512, 2);
  VImage sky = VImage::xyz(width, height)[1] * (60.0 / height);  // darker towards the bottom
  // Worley cells give hard edges (leaves, stones, fabric) that smooth noise lacks.
  VImage cells = VImage::worley(
      width, height, VImage::option()->set("cell_size", 96)->set("seed", static_cast<int>(seed)));
  VImage edges = (cells - cells.avg()) / std::max(1e-6, cells.deviate());
  for (int c = 0; c < 3; ++c) {
    VImage chroma = Fbm(width, height, seed * 7 + c * 101 + 1, 256, 8);
    VImage grain = VImage::gaussnoise(
        width, height,
        VImage::option()->set("sigma", 4.0)->set("mean", 0.0)->set("seed", static_cast<int>(seed + c)));
    channels.push_back(luma * 40 + chroma * 18 + edges * 25 + grain - sky + base[c]);
  }
  VImage rgb = VImage::bandjoin(channels);
  rgb = rgb.cast(VIPS_FORMAT_UCHAR).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  VipsBlob* blob = rgb.jpegsave_buffer(VImage::option()->set("Q", quality)->set("strip", true));
  std::string out(static_cast<const char*>(VIPS_AREA(blob)->data), VIPS_AREA(blob)->length);
  vips_area_unref(VIPS_AREA(blob));
  return out;
}

std::vector<std::string> LoadCorpus(size_t count) {
  std::vector<std::string> corpus;
  if (const char* dir = std::getenv("IMGORIGIN_BENCH_CORPUS"); dir && *dir) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".jpg") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::ostringstream bytes;
      bytes << in.rdbuf();
      corpus.push_back(bytes.str());
    }
    if (corpus.empty()) throw std::runtime_error(std::string("no *.jpg in ") + dir);
    return corpus;
  }
  for (size_t i = 0; i < count; ++i) {
    corpus.push_back(MakePhotoJpeg(2048, 1365, static_cast<uint32_t>(i + 1)));
  }
  return corpus;
}

}  // namespace imgorigin::bench
