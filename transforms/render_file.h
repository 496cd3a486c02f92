// File-to-file rendering for batch jobs: a source file → a result file (or a tile pyramid) that
// libvips writes itself, with memory bounded whatever the image size.
//
// RenderToFile() runs the same steps as ProcessFile() (pipeline.cc), so options, sizes, formats
// and errors are the server's; only the last step differs: the encoder writes to `out.path`
// instead of a buffer, or builds a pyramid (tiled pyramidal TIFF, DeepZoom). The source is read
// sequentially where the spec allows, and a multi-resolution TIFF (page or SubIFD pyramid, as
// libvips' thumbnail detects them) is decoded from its smallest level that is still at least the
// size the render needs. Batch sources are trusted, so BatchLimits() is far more generous than the
// server's defaults.
//
// Any thread, once InitVips() has run; each call writes only its own output. SetVipsConcurrency()
// is process-wide: call it before rendering, not while renders run.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"
#include "transforms/spec.h"

namespace imgorigin::transforms {

enum class Pyramid { kNone, kTiff, kDeepZoom };

struct FileOutput {
  // kNone/kTiff: the file to write; kDeepZoom: the .dzi path (tiles in <stem>_files/).
  std::string path;
  Pyramid pyramid = Pyramid::kNone;
};

struct RenderedFile {
  ImageFormat format = ImageFormat::kUnknown;  // kTiff for a TIFF pyramid; a DeepZoom's tiles
  int width = 0;                               // full-resolution result
  int height = 0;
  int64_t bytes = 0;  // total written, tiles included
};

// Limits for trusted batch inputs: 10 gigapixels of source, no result-size cap of our own (each
// format's own limit applies), no per-format encode caps, a one-hour timeout, and a memory
// estimate that refuses only renders that must hold a huge image whole (4 GiB).
PipelineLimits BatchLimits();

// Transforms the file at `src_path` per `spec` (as ProcessFile() would) into `out`. A result
// larger than its format can hold (JPEG and GIF 65535 px a side, WebP 16383) without a pyramid is
// kInvalidArgument naming --pyramid. kTiff writes a tiled pyramidal TIFF (JPEG tiles, deflate
// when the result has alpha); kDeepZoom a DeepZoom tile set in the output format (JPEG, PNG or
// WebP; other formats fall back to JPEG, or PNG with alpha). raw and a matching skip_processing
// copy the source file. Errors are ProcessFile()'s, plus kInternal when the output cannot be
// written; a partly written output is removed on failure.
common::Result<RenderedFile> RenderToFile(const std::string& src_path, const TransformSpec& spec,
                                          const PipelineLimits& limits, const FileOutput& out);

// libvips worker threads per image operation. InitVips() sets 1 for the server, whose CPU pool
// gives the parallelism; a batch rendering one image at a time sets the core count, as the vips
// command line does.
void SetVipsConcurrency(int threads);

}  // namespace imgorigin::transforms
