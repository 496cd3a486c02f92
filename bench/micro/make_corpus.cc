// Writes the load benchmark's corpus: photo-like JPEGs (see corpus.h) into a directory.
//   imgorigin_make_corpus DIR COUNT WIDTH HEIGHT [PREFIX]
// Files are PREFIX%03d.jpg; existing files are kept, so reruns are instant.
#include <vips/vips8>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench/micro/corpus.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s DIR COUNT WIDTH HEIGHT [PREFIX]\n", argv[0]);
    return 2;
  }
  if (VIPS_INIT(argv[0]) != 0) vips_error_exit("unable to start libvips");
  vips_cache_set_max(0);
  const std::filesystem::path dir = argv[1];
  const int count = std::atoi(argv[2]);
  const int width = std::atoi(argv[3]);
  const int height = std::atoi(argv[4]);
  const std::string prefix = argc > 5 ? argv[5] : "photo";
  std::filesystem::create_directories(dir);
  for (int i = 0; i < count; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%03d.jpg", prefix.c_str(), i);
    const auto path = dir / name;
    if (std::filesystem::exists(path)) continue;
    // Large sources are mostly soft (so 100 MP stays a plausible file size), small ones detailed.
    const int quality = int64_t{width} * height > 8'000'000 ? 80 : 88;
    const std::string bytes =
        imgorigin::bench::MakePhotoJpeg(width, height, static_cast<uint32_t>(i + 1), quality);
    const auto tmp = dir / (std::string(name) + ".tmp");
    std::ofstream(tmp, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::filesystem::rename(tmp, path);
    std::printf("%s %zu bytes\n", path.c_str(), bytes.size());
  }
  vips_shutdown();
  return 0;
}
