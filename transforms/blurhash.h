// BlurHash (https://blurha.sh): a ~30-character placeholder string for an image, decoded by
// clients into a blurred preview.
//
// Same algorithm and output as the reference implementation (woltapp/blurhash): a 2-D DCT of the
// linear-light pixels, the DC term as 24-bit sRGB and the AC terms quantised to 19 levels per
// channel, all in base 83. Pure function; any thread. Cost is width × height × components, so
// callers pass a thumbnail (~32 px), not a full image.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace imgorigin::transforms {

// `rgb` holds width × height pixels of 3 bytes (sRGB, rows top to bottom). components_x and
// components_y are in [1, 9]; 4 × 3 is the usual choice. Returns "" for empty input or
// out-of-range components.
std::string EncodeBlurhash(std::span<const uint8_t> rgb, int width, int height,
                           int components_x = 4, int components_y = 3);

}  // namespace imgorigin::transforms
