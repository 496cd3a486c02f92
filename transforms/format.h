// Image formats: names, URL extensions, MIME types, and what libvips can do with each here.
//
// Pure functions over an enum; safe from any thread.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace imgorigin::transforms {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kAvif, kGif, kTiff, kHeic, kSvg, kJxl, kBmp, kIco };

// "jpg"/"jpeg" → kJpeg, "png", "webp", "avif", "gif", "tiff"/"tif", "heic", "svg", "jxl", "bmp",
// "ico"; case-insensitive. nullopt for anything else.
std::optional<ImageFormat> FormatFromExtension(std::string_view ext);

// Canonical extension ("jpg", "png", …); "" for kUnknown.
std::string_view FormatExtension(ImageFormat format);

// "image/jpeg", …; "application/octet-stream" for kUnknown.
std::string_view FormatMimeType(ImageFormat format);

// "image/jpeg" (case-insensitive, parameters ignored) → kJpeg, and so on for every format's
// FormatMimeType() plus "image/jpg", "image/heif" and "image/vnd.microsoft.icon"; nullopt for
// anything else.
std::optional<ImageFormat> FormatFromMimeType(std::string_view mime);

// Whether this build's libvips can encode `format` (checked once against the loaded savers).
bool CanEncode(ImageFormat format);

// Whether this process's libvips has a loader for `format` that InitVips() left unblocked, so
// that a source in it can be rendered.
bool CanLoad(ImageFormat format);

// The format of the loader libvips picks for `bytes`: the lookup new_from_buffer() itself makes,
// so this, not SniffFormat(), says what will decode a source (a file starting "<!--ftypavif-->"
// sniffs as AVIF but goes to the SVG loader). With `path` set, the lookup new_from_file() makes
// for that file, and `bytes` are its first bytes (they tell AVIF from HEIC within the HEIF
// loader). kUnknown when no loader takes the bytes, when InitVips() blocked the one that would
// (libvips' lookup ignores blocking: a blocked format must be 415, not a broken file's 422), or
// when the loader is none of the formats above.
ImageFormat LoaderFormat(std::string_view bytes, const char* path = nullptr);

// Whether LoaderFormat() names a format for these bytes.
bool CanDecode(std::string_view bytes);

// Sniffs the format from the first bytes of a file (for labelling bytes that are not decoded,
// such as raw responses); kUnknown when nothing matches.
ImageFormat SniffFormat(std::string_view bytes);

// JPEG, PNG and GIF: the formats every browser displays, so they need no negotiation.
bool IsUniversalWebFormat(ImageFormat format);

// Whether the pipeline writes animations in this format (GIF, WebP).
bool CanAnimate(ImageFormat format);

// Automatic output format (for URLs that name none). `preferred` lists the modern formats to
// offer, best first (IMGPROXY_AUTO_AVIF / AUTO_WEBP / AUTO_JXL in imgproxy terms).
struct FormatPreferences {
  std::vector<ImageFormat> preferred = {ImageFormat::kAvif, ImageFormat::kWebp};
  // Each entry must be AVIF, WebP or JXL; an entry this build cannot encode is skipped at run
  // time rather than rejected, so one config works across builds.
  common::Result<void> Validate() const;
};

// Whether an Accept header value explicitly lists `mime` with a non-zero q. Wildcards
// ("image/*", "*/*") do not count: browsers send them for every image request.
bool AcceptsMimeType(std::string_view accept, std::string_view mime);

// The first of prefs.preferred that `accept` lists and this build can encode; otherwise
// kUnknown, which the pipeline (with auto_format) turns into the source's format when that is a
// universal web format, else PNG (alpha) or JPEG (GIF for animations). `source` is what the URL's
// extension or a sniff says, or kUnknown: a GIF source skips formats that cannot animate. The
// result depends only on the arguments, so the origin can put it into the cache key and answer
// with "Vary: Accept"; pass it as TransformSpec::format with auto_format = true.
ImageFormat ChooseOutputFormat(ImageFormat source, std::string_view accept,
                               const FormatPreferences& prefs);

// Largest SVG document (after gzip inflation for SVGZ) the pipeline reads: SVGs are checked and
// decoded from memory, never from a file, so their size is bounded here.
inline constexpr size_t kMaxSvgBytes = 16 << 20;

// Rejects SVGs that could make the renderer reach outside the document: href/xlink:href (XInclude
// and xml-stylesheet included), url(…) and @import to anything but "#fragment" or "data:", and DTD
// entity declarations. Reads the document as librsvg will: SVGZ is inflated, numeric character
// references are decoded, and CSS escapes (a backslash), which could spell "url(" otherwise, are
// refused. Errors: kUnsupported with a message naming the problem; kTooLarge over kMaxSvgBytes.
common::Result<void> CheckSvgIsSelfContained(std::string_view svg);

}  // namespace imgorigin::transforms
