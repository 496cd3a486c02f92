// What one render will cost, estimated before the work starts: the memory it will hold at its
// peak (from the source's header and the plan, before any pixel is decoded), and the time of the
// encoders the deadline cannot stop.
//
// Memory.
// libvips streams most work through small regions, so a render's memory is dominated by the few
// buffers that must hold a whole image at once, which is what this counts:
//  - the loader's own: a multi-scan (progressive) JPEG keeps every DCT coefficient of the full-size
//    image however much it is shrunk on load, an interlaced PNG is read whole, GIF keeps a canvas
//    and the previous frame, HEIF/AVIF, JPEG XL and WebP decode whole frames;
//  - the decoded image when the steps read it out of order (rotation, trim, smart crop, frames);
//  - the encoders that take a whole image (AVIF/HEIF, JPEG XL, WebP, GIF), and the encoded bytes;
//  - the encoded source when it is held in memory.
// The factors are meant as an upper bound for real images, not an exact figure.
//
// Time. AVIF, WebP and GIF encode each frame in one call that libvips' kill cannot reach (a 4096²
// AVIF ran 28 s past a 1 s timeout), and AVIF/HEIC, JPEG XL and WebP decode each frame in one
// call too. So before decoding, and again before encoding, the worst time of that call at the
// slowest rate measured here (bench/micro/encode_bench.cc) is checked against the time left.
// Any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <vips/vips8>

#include "common/memory_budget.h"
#include "common/status.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"

namespace imgorigin::transforms {

struct RenderFootprint {
  // The source, from its header.
  ImageFormat src_format = ImageFormat::kUnknown;
  int64_t src_w = 0;
  int64_t src_h = 0;
  int bands = 3;
  int sample_bytes = 1;      // 2 for 16-bit PNG/TIFF, 4 for float
  bool progressive = false;  // multi-scan JPEG, interlaced PNG or GIF
  int64_t source_bytes = 0;   // encoded source held in memory (0 when libvips reads a file)
  int64_t encoded_bytes = 0;  // the encoded source's size, wherever it is
  // The decode.
  double decode_scale = 1;    // shrink-on-load: decoded side / source side (≤ 1)
  int frames = 1;             // frames decoded
  bool whole_decode = false;  // the decoded frames are held in memory (random access, trim)
  // The output.
  ImageFormat out_format = ImageFormat::kUnknown;
  int64_t out_w = 0;
  int64_t out_h = 0;
  int out_frames = 1;
  bool fit_bytes = false;  // max_bytes: the output's pixels are kept for repeated encodes
  bool to_file = false;       // libvips writes the result to a file: no encoded bytes in memory
  bool tiled_output = false;  // a pyramid, encoded tile by tile whatever the format
};

// The source's part of a footprint, from the header a loader opened and the size of the encoded
// source. `in_memory`: the encoded source is held in memory (not read from a file by libvips).
RenderFootprint SourceFootprint(ImageFormat format, const vips::VImage& header,
                                int64_t encoded_bytes, bool in_memory);

// Bytes, including a fixed allowance for libvips' per-pipeline buffers.
int64_t EstimateRenderMemory(const RenderFootprint& footprint);

// Refuses a footprint over limits.max_render_memory, or whose decode could take longer than
// limits.timeout (kTooLarge), then reserves it from limits.memory_budget when there is one,
// waiting until `deadline` (kOverloaded after), and refuses it when its decode no longer fits in
// the time left (kDeadlineExceeded). The caller holds the reservation until every image of the
// render is gone.
common::Result<common::MemoryBudget::Reservation> AdmitRender(
    const RenderFootprint& footprint, const PipelineLimits& limits,
    std::chrono::steady_clock::time_point deadline);

// Whether the format's encoder takes the whole image (each frame) in one call that libvips
// cannot stop: its output size is capped per format (limits.max_result_pixels).
bool EncodesWholeImage(ImageFormat format);

// Seconds `pixels` (every frame's) take to decode from `encoded_bytes` of `format` at worst; 0
// for decoders the deadline stops (JPEG, PNG, GIF, TIFF read line by line or strip by strip).
double WorstDecodeSeconds(ImageFormat format, int64_t pixels, int64_t encoded_bytes);

// Seconds one frame of `pixels` takes to encode in `format` at worst; 0 for encoders the deadline
// stops (JPEG, PNG, TIFF write line by line).
double WorstEncodeSeconds(ImageFormat format, int64_t pixels);

// Seconds one frame of `pixels` typically takes to encode in `format` at `limits`' encoder
// efforts (avif_speed, webp_effort), for a photo on a busy core: what a visitor would wait, not
// a bound (the format upgrade's budget compares it). Every format the pipeline writes has one.
double TypicalEncodeSeconds(ImageFormat format, int64_t pixels, const PipelineLimits& limits);

}  // namespace imgorigin::transforms
