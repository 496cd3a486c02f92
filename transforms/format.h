// Image formats: names, URL extensions, MIME types, and what libvips can do with each here.
//
// Pure functions over an enum; safe from any thread.
#pragma once

#include <optional>
#include <string_view>

namespace imgorigin::transforms {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kAvif, kGif, kTiff, kHeic, kSvg, kJxl, kBmp, kIco };

// "jpg"/"jpeg" → kJpeg, "png", "webp", "avif", "gif", "tiff"/"tif", "heic", "svg", "jxl", "bmp",
// "ico"; case-insensitive. nullopt for anything else.
std::optional<ImageFormat> FormatFromExtension(std::string_view ext);

// Canonical extension ("jpg", "png", …); "" for kUnknown.
std::string_view FormatExtension(ImageFormat format);

// "image/jpeg", …; "application/octet-stream" for kUnknown.
std::string_view FormatMimeType(ImageFormat format);

// Whether this build's libvips can encode `format` (checked once against the loaded savers).
bool CanEncode(ImageFormat format);

// Sniffs the format from the first bytes of a file; kUnknown when nothing matches.
ImageFormat SniffFormat(std::string_view bytes);

}  // namespace imgorigin::transforms
