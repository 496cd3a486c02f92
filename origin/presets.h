// Presets as image URLs: the path that renders a named preset of a source (the images API lists
// it signed; the seed 002 dialect serves it), and each preset's target size, by which the seed
// 002 dialect picks the nearest stand-in for a variant it cannot have now.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "signing/signer.h"
#include "transforms/parser.h"

namespace imgorigin::origin {

// "/<signature>/pr:<preset>/plain/<source>": the image URL path of a preset of `source`, the
// source escaped so that the parser reads back exactly `source`.
std::string SignedPresetPath(const signing::Signer& signer, std::string_view preset,
                             std::string_view source);

struct PresetSize {
  std::string name;
  // The longer side the preset asks for, in pixels (zoom and dpr applied); 0 = unbounded (no
  // width or height: the source's own size).
  double size = 0;
};

// Every configured preset but "default" (which applies to every URL, so is no variant of its
// own), as `parser` reads it (the "default" preset under it, as renders do), smallest first:
// unbounded ones last, equal sizes by name.
std::vector<PresetSize> PresetSizes(const transforms::ParserConfig& parser);

}  // namespace imgorigin::origin
