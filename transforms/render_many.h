// Several renders of one source from one decode: the eager presets of a new image (DESIGN §6).
//
// RenderMany() renders each spec as Process() would, into an output of its own, but decodes the
// source once for every group of specs that decode it the same way apart from the scale: the same
// colour-profile handling (strip_color_profile), the same HEIF thumbnail choice
// (enforce_thumbnail), the same frames (animated or first frame only), and no trim (trim replaces
// the source by its trimmed pixels before anything else). A group of two or more is decoded once,
// shrunk on load only as far as its largest member allows, into memory; each member then runs its
// own steps from rotation on over that image, so crops, rotations, flips, resizes, effects,
// watermarks and formats still differ freely from spec to spec. The rest render on their own as
// Process() does: a spec with trim, a lone member of its group, raw and skip_processing.
//
// Outputs have the sizes and formats Process() gives. Pixels of a derived output may differ from
// Process()'s by resampling rounding: a smaller preset is reduced from a larger decode than its
// own shrink-on-load would make (a JPEG decoded at 1/2 rather than 1/8, then resized).
//
// Limits hold as for Process(): each spec's header, result and format limits are checked; a
// shared decode reserves, before it starts, the memory of the decoded image plus the largest
// output of its group from limits.max_render_memory and limits.memory_budget, and holds it until
// the group is done; the decode and each render have a deadline of limits.timeout of their own.
//
// Any thread, once InitVips() has run. The caller keeps `source` and `specs` alive for the call.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "transforms/pipeline.h"
#include "transforms/spec.h"

namespace imgorigin::transforms {

struct ManyOutput {
  common::Result<EncodedImage> image;  // what Process() would answer for the spec
  bool derived = false;                // rendered from a decode shared with other specs
};

// One output per spec, in order. Errors are per spec: a source that cannot be decoded fails
// every spec with Process()'s error.
std::vector<ManyOutput> RenderMany(std::string_view source, std::span<const TransformSpec> specs,
                                   const PipelineLimits& limits);

}  // namespace imgorigin::transforms
