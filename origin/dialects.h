// The seeds' URL dialects, read into imgproxy processing options so that they share the specs,
// cache entries, headers and limits of signed image URLs (the same variant is one cache entry
// whichever URL asked for it).
//
// Seed 004: GET /api/v1/img/{id}.{format}?thumbnail=200&rotate=180 (also width, height,
// quality). These URLs are public and unsigned, so an unsigned request may use only the values
// in the allow-lists (the seed's own sizes and right angles by default): anything else must carry
// `s=`, the imgproxy signature (same keys and salts) of the path followed by "?" and the other
// parameters sorted by name, or it is refused. Nobody can make the server render unbounded
// variants through the public dialect.
//
// Seed 002: GET /get_image?image_id=…&image_size=small|medium|large names a configured preset
// (no option of its own, so nothing to allow-list). When that variant cannot be had now, the
// nearest preset a cache holds stands in for it: FallbackOrder() says which to try.
//
// Pure functions over a Config that is read-only once the server runs; any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "origin/presets.h"
#include "signing/signer.h"

namespace imgorigin::origin {

struct DialectConfig {
  bool seed004 = true;  // dialects.seed004: serve GET /api/v1/img/… and POST /api/v1/img
  bool seed002 = true;  // dialects.seed002: serve GET /get_image and POST /upload
  std::vector<int> sizes = {100, 200, 400, 800};  // thumbnail, width and height without s=
  std::vector<int> rotations = {0, 90, 180, 270};  // rotate without s=
  std::vector<int> qualities = {};                 // quality without s= (none by default)
  // A seed 002 stand-in's Cache-Control: short, so that a CDN asks again soon for the variant
  // that was asked for rather than keeping the stand-in as long as the real thing.
  std::string fallback_cache_control = "public, max-age=60";

  common::Result<void> Validate() const;
};

struct Seed004Request {
  std::string id;       // the image record's id, as in the path
  std::string options;  // imgproxy options, "/rs:fit:200:200/rot:180/f:webp"
};

// `path` is "/api/v1/img/{id}.{format}", `query` what follows "?" (may be empty). Errors:
// kNotFound for a path that is not the dialect's, kInvalidArgument naming a bad parameter,
// kPermissionDenied for a value outside the allow-lists without a valid s=.
common::Result<Seed004Request> ParseSeed004(std::string_view path, std::string_view query,
                                            const DialectConfig& config,
                                            const signing::Signer& signer);

struct Seed002Request {
  std::string id;    // the image record's id, lowercase
  std::string size;  // a configured preset's name
};

// `query` is what follows "?" in /get_image. Errors: kInvalidArgument naming the parameter
// (missing, given twice, not a UUID, not a preset of `presets`, or unknown).
common::Result<Seed002Request> ParseSeed002(std::string_view query,
                                            const std::map<std::string, std::string>& presets);

// The presets to try in place of `wanted`, in order, from `sizes` (PresetSizes(): smallest
// first): the next smaller one, then the smaller ones below it, then the larger ones, nearest
// first — a smaller image in the layout beats a larger download. Empty when `wanted` is not in
// `sizes`.
std::vector<std::string> FallbackOrder(const std::vector<PresetSize>& sizes,
                                       std::string_view wanted);

}  // namespace imgorigin::origin
