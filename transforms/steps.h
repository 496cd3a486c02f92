// The pipeline's steps and the per-request context they share (internal to transforms/).
//
// Process() makes one Context per call and runs the steps listed in pipeline.cc over it, in that
// order. Each step reads what earlier steps left in the context and adds its own part; it returns
// an Error to end the request, or sets `output` to finish it (early for raw and skip_processing,
// last for encode). Steps may throw libvips' exceptions: the loop that runs them sits inside
// CatchVipsErrors(). RenderMany() (render_many.h) runs the same steps over one context per spec,
// the decode shared between them through `shared`. The context belongs to the calling thread;
// libvips' worker threads touch only its Deadline.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <vips/vips8>

#include "common/status.h"
#include "transforms/geometry.h"
#include "transforms/render_cost.h"
#include "transforms/pipeline.h"
#include "transforms/render_file.h"
#include "transforms/vips_boundary.h"

namespace imgorigin::transforms {

// One level of a multi-resolution source, and how its loader reaches it.
struct PyramidLevel {
  int width = 0;
  int height = 0;
  int page = 0;     // TIFF page pyramid
  int subifd = -1;  // TIFF SubIFD pyramid: -1 is the main image
};

struct Context {
  // First, so that it is released last: after every pixel buffer below is gone.
  common::MemoryBudget::Reservation memory;

  Context(std::string_view source, const char* path, const TransformSpec& spec,
          const PipelineLimits& limits)
      : source(source), path(path), spec(spec), limits(limits), deadline(limits.timeout) {}

  // The request.
  std::string_view source;  // the whole file; with `path`, only its first bytes (enough to sniff)
  const char* path;         // set: libvips reads the file itself (ProcessFile)
  const TransformSpec& spec;
  const PipelineLimits& limits;
  // Set by RenderMany: the source already decoded (in memory, in the working space, at a scale at
  // least what this render needs), standing in for the decode and its memory reservation.
  const vips::VImage* shared = nullptr;
  // Set by RenderToFile: the encoder writes this file or pyramid instead of bytes in memory.
  const FileOutput* file = nullptr;
  Deadline deadline;
  VipsStage stage = VipsStage::kProcessing;  // kDecoding while a loader opens the source

  // The source, from its first bytes and its header.
  ImageFormat src_format = ImageFormat::kUnknown;
  int src_w = 0;
  int src_h = 0;
  int pages = 1;
  int orientation = 1;  // EXIF, 1 when absent
  bool src_alpha = false;
  RenderFootprint footprint;  // the source's part from the header, the rest from the plan
  // A multi-resolution TIFF's levels, full size first (empty otherwise): shrink-on-load picks one.
  std::vector<PyramidLevel> levels;

  // Decided before decoding.
  int rotate = 0;  // spec.rotate as 0, 90, 180 or 270
  bool use_thumbnail = false;
  ImageFormat out_format = ImageFormat::kUnknown;
  bool may_be_transparent = false;  // the output may keep or gain alpha
  bool animated = false;  // the output keeps the source's frames
  int frame_count = 1;
  bool needs_random = false;  // the steps read pixels out of order: no streaming decode
  Plan plan;

  // Pixels.
  std::optional<vips::VImage> trimmed;  // trim's result, standing in for the file
  std::optional<EvalWatch> load_watch;
  vips::VImage working;  // the source in the working space; carries an animation's timing
  std::vector<vips::VImage> frames;  // what per-frame steps work on: one unless animated
  vips::VImage image;                // the frames joined, with the output's metadata
  bool saver_strips = false;         // the saver writes no metadata at all

  std::optional<EncodedImage> output;  // set once the request is done
};

using Step = common::Result<void> (*)(Context&);

// Runs every step of the pipeline (pipeline.cc) over `ctx`, inside CatchVipsErrors().
common::Result<void> RunSteps(Context& ctx);
// ProcessFile()'s run (pipeline.cc), writing into `file` when it is set. `facts`, when given,
// receives what the header said.
common::Result<EncodedImage> RunFile(const std::string& path, const TransformSpec& spec,
                                     const PipelineLimits& limits, const FileOutput* file,
                                     SourceFacts* facts);

// Shared by the steps.
std::vector<double> Colour(const Rgb& c, bool with_alpha, double alpha);
vips::VImage ToWorkingSpace(vips::VImage img, bool keep_profile);

// The source and the decisions taken from its header (steps_source.cc).
common::Result<void> CheckRequest(Context& ctx);
common::Result<void> ReadHeader(Context& ctx);
common::Result<void> ChooseOutput(Context& ctx);
common::Result<void> ReserveMemory(Context& ctx);
common::Result<void> TrimSource(Context& ctx);
common::Result<void> PlanGeometry(Context& ctx);
common::Result<void> LoadSource(Context& ctx);
// What LoadSource and ReserveMemory decide, for RenderMany's shared decode: the loader's scale for
// `plan` (shrink-on-load), the render's footprint once ChooseOutput has run, and the decode at
// `scale` into the working space (lazy: pixels are computed when read).
double LoadScale(const Context& ctx, const Plan& plan);
RenderFootprint PlanFootprint(const Context& ctx);
vips::VImage DecodeSource(Context& ctx, double scale);

// On every frame (steps_frames.cc).
common::Result<void> RotateAndFlip(Context& ctx);
common::Result<void> CropSource(Context& ctx);
common::Result<void> Resize(Context& ctx);
common::Result<void> CropToResult(Context& ctx);
common::Result<void> ApplyEffects(Context& ctx);
common::Result<void> Extend(Context& ctx);
common::Result<void> ExtendAspectRatio(Context& ctx);
common::Result<void> Pad(Context& ctx);
common::Result<void> FlattenBackground(Context& ctx);
common::Result<void> ApplyWatermark(Context& ctx);

// The output (steps_output.cc).
common::Result<void> JoinFrames(Context& ctx);
common::Result<void> SetMetadata(Context& ctx);
common::Result<void> Encode(Context& ctx);

// File outputs (render_file.cc), used by the steps when ctx.file is set: the output format a
// pyramid needs (ChooseOutput), the format's own size limit (PlanGeometry), and the pyramid
// writers (Encode; a plain file goes through Encode's own savers).
ImageFormat FileOutputFormat(const Context& ctx);
common::Result<void> CheckFileOutputSize(const Context& ctx);
void SavePyramid(const Context& ctx, const vips::VImage& img, int quality);
// raw and skip_processing into a file: the source file copied as it is (width and height 0).
common::Result<EncodedImage> CopySourceFile(const std::string& path, ImageFormat format,
                                            const FileOutput& out);

}  // namespace imgorigin::transforms
