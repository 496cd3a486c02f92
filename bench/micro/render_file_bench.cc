// One RenderToFile() call from the command line, for bench/batch/huge.sh: what a batch job does
// to one image, timed and sized by /usr/bin/time around it.
//   bench_render_file SRC DST OPTIONS [--pyramid tiff|dz] [--threads N]
// OPTIONS are imgproxy processing options ("rs:fit:4096:4096/f:jpg"), as `imgorigin batch
// --options` takes them. Prints one line: the result's size, format, bytes and the wall time of
// the call. --threads sets libvips' concurrency (default: the core count, as the vips CLI).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include "transforms/parser.h"
#include "transforms/render_file.h"

namespace {

using namespace imgorigin::transforms;

int Usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s SRC DST OPTIONS [--pyramid tiff|dz] [--threads N]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return Usage(argv[0]);
  FileOutput out{argv[2]};
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i], value = argv[i + 1];
    if (flag == "--pyramid" && value == "tiff") {
      out.pyramid = Pyramid::kTiff;
    } else if (flag == "--pyramid" && value == "dz") {
      out.pyramid = Pyramid::kDeepZoom;
    } else if (flag == "--threads") {
      threads = std::atoi(argv[i + 1]);
    } else {
      return Usage(argv[0]);
    }
  }
  if ((argc - 4) % 2 != 0) return Usage(argv[0]);

  ParserConfig parser;
  parser.max_dimension = 1 << 20;  // batch results are limited by their format, not by the URL
  auto request = ParseProcessingPath("/" + std::string(argv[3]) + "/plain/local:///src", parser);
  if (!request) {
    std::fprintf(stderr, "options: %s\n", request.error().message.c_str());
    return 2;
  }
  InitVips(argv[0]);
  SetVipsConcurrency(threads);
  const auto start = std::chrono::steady_clock::now();
  auto rendered = RenderToFile(argv[1], request->spec, BatchLimits(), out);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!rendered) {
    std::fprintf(stderr, "render failed: %s\n", rendered.error().message.c_str());
    return 1;
  }
  std::printf("%d×%d %s %lld bytes in %.2f s with %d threads\n", rendered->width,
              rendered->height, std::string(FormatExtension(rendered->format)).c_str(),
              static_cast<long long>(rendered->bytes), seconds, threads);
  return 0;
}
