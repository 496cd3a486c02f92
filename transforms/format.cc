#include "transforms/format.h"

#include <vips/vips.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <string>

#include "transforms/vips_boundary.h"

namespace imgorigin::transforms {

using namespace std::string_view_literals;

namespace {

struct FormatInfo {
  ImageFormat format;
  std::string_view extension;  // canonical one first in kFormats
  std::string_view mime_type;
};

constexpr std::array kFormats = {
    FormatInfo{ImageFormat::kJpeg, "jpg", "image/jpeg"},
    FormatInfo{ImageFormat::kPng, "png", "image/png"},
    FormatInfo{ImageFormat::kWebp, "webp", "image/webp"},
    FormatInfo{ImageFormat::kAvif, "avif", "image/avif"},
    FormatInfo{ImageFormat::kGif, "gif", "image/gif"},
    FormatInfo{ImageFormat::kTiff, "tiff", "image/tiff"},
    FormatInfo{ImageFormat::kHeic, "heic", "image/heic"},
    FormatInfo{ImageFormat::kSvg, "svg", "image/svg+xml"},
    FormatInfo{ImageFormat::kJxl, "jxl", "image/jxl"},
    FormatInfo{ImageFormat::kBmp, "bmp", "image/bmp"},
    FormatInfo{ImageFormat::kIco, "ico", "image/x-icon"},
};

// Spellings that are accepted in URLs but never produced.
struct ExtensionAlias {
  std::string_view extension;
  ImageFormat format;
};
constexpr std::array kAliases = {
    ExtensionAlias{"jpeg", ImageFormat::kJpeg},
    ExtensionAlias{"tif", ImageFormat::kTiff},
    ExtensionAlias{"heif", ImageFormat::kHeic},
};

const FormatInfo* Find(ImageFormat format) {
  for (const auto& info : kFormats) {
    if (info.format == format) return &info;
  }
  return nullptr;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char ca = a[i];
    if (ca >= 'A' && ca <= 'Z') ca = static_cast<char>(ca - 'A' + 'a');
    if (ca != b[i]) return false;
  }
  return true;
}

// libvips' saver lookup is by file suffix. Formats without an entry are never written here:
// libvips has no BMP/ICO saver, SVG is only passed through, and HEIC is not displayable by
// browsers, so serving it would be a trap for the CDN.
const char* SaverSuffix(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return ".jpg";
    case ImageFormat::kPng: return ".png";
    case ImageFormat::kWebp: return ".webp";
    case ImageFormat::kGif: return ".gif";
    case ImageFormat::kAvif: return ".avif";
    case ImageFormat::kTiff: return ".tif";
    case ImageFormat::kJxl: return ".jxl";
    default: return nullptr;
  }
}

// libvips 8.14 registers its HEIF saver for ".heic" only, and whether AV1 works depends on the
// encoders libheif was built with: so AVIF is probed by encoding a tiny image once.
bool CanEncodeAvif() {
  VipsImage* black = nullptr;
  if (vips_black(&black, 8, 8, "bands", 3, nullptr) != 0) {
    vips_error_clear();
    return false;
  }
  const VipsImageHandle pixel(black);
  void* buffer = nullptr;
  size_t length = 0;
  const bool ok = vips_heifsave_buffer(pixel.get(), &buffer, &length, "compression",
                                       VIPS_FOREIGN_HEIF_COMPRESSION_AV1, nullptr) == 0;
  const GBufferHandle encoded(buffer);
  if (!ok) vips_error_clear();
  return ok;
}

bool HasSaver(ImageFormat format) {
  if (format == ImageFormat::kAvif) return CanEncodeAvif();
  const char* suffix = SaverSuffix(format);
  if (suffix == nullptr) return false;
  // The returned type name is static (not to be freed); a miss leaves a message in libvips'
  // per-thread error buffer, which must not leak into an unrelated later error.
  if (vips_foreign_find_save_buffer(suffix) != nullptr) return true;
  vips_error_clear();
  return false;
}

bool StartsWith(std::string_view bytes, std::string_view prefix, size_t offset = 0) {
  return bytes.size() >= offset + prefix.size() && bytes.substr(offset, prefix.size()) == prefix;
}

// ISO BMFF ("....ftyp<major><minor><compatible…>"): AVIF and HEIC share the container and
// differ by brand. "mif1"/"msf1" are generic HEIF brands, so the compatible list decides.
ImageFormat SniffIsoBmff(std::string_view bytes) {
  const std::string_view major = bytes.substr(8, 4);
  if (major == "avif" || major == "avis") return ImageFormat::kAvif;
  if (major == "heic" || major == "heix" || major == "heim" || major == "heis") {
    return ImageFormat::kHeic;
  }
  if (major != "mif1" && major != "msf1") return ImageFormat::kUnknown;
  const size_t box_size = (static_cast<size_t>(static_cast<unsigned char>(bytes[0])) << 24) |
                          (static_cast<size_t>(static_cast<unsigned char>(bytes[1])) << 16) |
                          (static_cast<size_t>(static_cast<unsigned char>(bytes[2])) << 8) |
                          static_cast<size_t>(static_cast<unsigned char>(bytes[3]));
  const size_t end = std::min(box_size, bytes.size());
  for (size_t pos = 16; pos + 4 <= end; pos += 4) {
    const std::string_view brand = bytes.substr(pos, 4);
    if (brand == "avif" || brand == "avis") return ImageFormat::kAvif;
  }
  return ImageFormat::kHeic;
}

bool LooksLikeSvg(std::string_view bytes) {
  if (StartsWith(bytes, "\xEF\xBB\xBF")) bytes.remove_prefix(3);
  const size_t start = bytes.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return false;
  bytes.remove_prefix(start);
  return StartsWith(bytes, "<svg") || StartsWith(bytes, "<?xml");
}

}  // namespace

ImageFormat LoaderFormat(std::string_view bytes, const char* path) {
  const char* name = path != nullptr ? vips_foreign_find_load(path)
                                     : vips_foreign_find_load_buffer(bytes.data(), bytes.size());
  if (name == nullptr) {
    vips_error_clear();
    return ImageFormat::kUnknown;
  }
  const GType type = g_type_from_name(name);
  // The lookup has just instantiated the class, so peeking cannot return null for a real name.
  const auto* cls = static_cast<const VipsOperationClass*>(g_type_class_peek(type));
  if (cls == nullptr || (cls->flags & VIPS_OPERATION_BLOCKED) != 0) return ImageFormat::kUnknown;
  // Nicknames are "<family>load[_buffer|_source]" in every libvips we build against.
  const std::string_view nick = vips_nickname_find(type);
  const auto family = [nick](std::string_view prefix) { return nick.starts_with(prefix); };
  if (family("jpegload")) return ImageFormat::kJpeg;
  if (family("pngload")) return ImageFormat::kPng;
  if (family("webpload")) return ImageFormat::kWebp;
  if (family("gifload")) return ImageFormat::kGif;
  if (family("tiffload")) return ImageFormat::kTiff;
  if (family("svgload")) return ImageFormat::kSvg;
  if (family("jxlload")) return ImageFormat::kJxl;
  if (family("heifload")) {
    return SniffFormat(bytes) == ImageFormat::kAvif ? ImageFormat::kAvif : ImageFormat::kHeic;
  }
  if (family("magickload")) {
    const ImageFormat sniffed = SniffFormat(bytes);
    if (sniffed == ImageFormat::kBmp || sniffed == ImageFormat::kIco) return sniffed;
  }
  return ImageFormat::kUnknown;
}

bool CanDecode(std::string_view bytes) { return LoaderFormat(bytes) != ImageFormat::kUnknown; }

std::optional<ImageFormat> FormatFromExtension(std::string_view ext) {
  for (const auto& info : kFormats) {
    if (EqualsIgnoreCase(ext, info.extension)) return info.format;
  }
  for (const auto& alias : kAliases) {
    if (EqualsIgnoreCase(ext, alias.extension)) return alias.format;
  }
  return std::nullopt;
}

std::string_view FormatExtension(ImageFormat format) {
  const FormatInfo* info = Find(format);
  return info == nullptr ? std::string_view() : info->extension;
}

std::string_view FormatMimeType(ImageFormat format) {
  const FormatInfo* info = Find(format);
  return info == nullptr ? std::string_view("application/octet-stream") : info->mime_type;
}

std::optional<ImageFormat> FormatFromMimeType(std::string_view mime) {
  mime = mime.substr(0, mime.find(';'));
  while (!mime.empty() && mime.back() == ' ') mime.remove_suffix(1);
  for (const auto& info : kFormats) {
    if (EqualsIgnoreCase(mime, info.mime_type)) return info.format;
  }
  if (EqualsIgnoreCase(mime, "image/jpg")) return ImageFormat::kJpeg;
  if (EqualsIgnoreCase(mime, "image/heif")) return ImageFormat::kHeic;
  if (EqualsIgnoreCase(mime, "image/vnd.microsoft.icon")) return ImageFormat::kIco;
  return std::nullopt;
}

bool CanLoad(ImageFormat format) {
  const char* nick = nullptr;
  switch (format) {
    case ImageFormat::kJpeg:
      nick = "jpegload";
      break;
    case ImageFormat::kPng:
      nick = "pngload";
      break;
    case ImageFormat::kWebp:
      nick = "webpload";
      break;
    case ImageFormat::kGif:
      nick = "gifload";
      break;
    case ImageFormat::kTiff:
      nick = "tiffload";
      break;
    case ImageFormat::kSvg:
      nick = "svgload";
      break;
    case ImageFormat::kJxl:
      nick = "jxlload";
      break;
    case ImageFormat::kAvif:
    case ImageFormat::kHeic:
      nick = "heifload";
      break;
    case ImageFormat::kBmp:
    case ImageFormat::kIco:
      nick = "magickload";
      break;
    case ImageFormat::kUnknown:
      return false;
  }
  // Not cached: InitVips() may block loaders after a first call.
  const GType type = vips_type_find("VipsOperation", nick);
  if (type == 0) return false;
  const auto* cls = static_cast<const VipsOperationClass*>(g_type_class_ref(type));
  const bool blocked = cls == nullptr || (cls->flags & VIPS_OPERATION_BLOCKED) != 0;
  if (cls != nullptr) g_type_class_unref(const_cast<VipsOperationClass*>(cls));
  return !blocked;
}

bool CanEncode(ImageFormat format) {
  // Computed once for all formats. vips_init() is idempotent; calling it here means an early
  // caller cannot cache "no savers" forever just because the process had not initialised libvips.
  static const auto kEncodable = [] {
    std::array<bool, static_cast<size_t>(ImageFormat::kIco) + 1> encodable{};
    if (vips_init("imgorigin") != 0) {
      vips_error_clear();
      return encodable;
    }
    for (size_t i = 0; i < encodable.size(); ++i) {
      encodable[i] = HasSaver(static_cast<ImageFormat>(i));
    }
    return encodable;
  }();
  const auto index = static_cast<size_t>(format);
  return index < kEncodable.size() && kEncodable[index];
}

ImageFormat SniffFormat(std::string_view bytes) {
  if (StartsWith(bytes, "\xFF\xD8\xFF")) return ImageFormat::kJpeg;
  if (StartsWith(bytes, "\x89PNG\r\n\x1A\n")) return ImageFormat::kPng;
  if (StartsWith(bytes, "GIF87a") || StartsWith(bytes, "GIF89a")) return ImageFormat::kGif;
  if (StartsWith(bytes, "RIFF") && StartsWith(bytes, "WEBP", 8)) return ImageFormat::kWebp;
  if (StartsWith(bytes, "ftyp", 4) && bytes.size() >= 12) {
    const ImageFormat format = SniffIsoBmff(bytes);
    if (format != ImageFormat::kUnknown) return format;
  }
  if (StartsWith(bytes, "II*\0"sv) || StartsWith(bytes, "MM\0*"sv)) return ImageFormat::kTiff;
  if (StartsWith(bytes, "\xFF\x0A") || StartsWith(bytes, "\0\0\0\x0CJXL \r\n\x87\n"sv)) {
    return ImageFormat::kJxl;
  }
  if (StartsWith(bytes, "\0\0\1\0"sv)) return ImageFormat::kIco;
  if (StartsWith(bytes, "BM")) return ImageFormat::kBmp;
  if (LooksLikeSvg(bytes)) return ImageFormat::kSvg;
  return ImageFormat::kUnknown;
}

bool IsUniversalWebFormat(ImageFormat format) {
  return format == ImageFormat::kJpeg || format == ImageFormat::kPng ||
         format == ImageFormat::kGif;
}

bool CanAnimate(ImageFormat format) {
  return format == ImageFormat::kGif || format == ImageFormat::kWebp;
}

common::Result<void> FormatPreferences::Validate() const {
  for (const ImageFormat format : preferred) {
    if (format != ImageFormat::kAvif && format != ImageFormat::kWebp &&
        format != ImageFormat::kJxl) {
      return common::Fail(common::ErrorCode::kInvalidArgument,
                          "format preferences: only avif, webp and jxl can be negotiated, got " +
                              std::string(FormatExtension(format)));
    }
  }
  return {};
}

namespace {

std::string_view TrimSpaces(std::string_view text) {
  const size_t start = text.find_first_not_of(" \t");
  if (start == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(" \t");
  return text.substr(start, end - start + 1);
}

// q of one media range's parameters ("q=0.8"); 1 when absent, 0 when malformed (RFC 9110 says
// a recipient may ignore a malformed range, and not offering it is the safe reading).
double QValue(std::string_view params) {
  while (!params.empty()) {
    const size_t semi = params.find(';');
    const std::string_view param = TrimSpaces(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') continue;
    const std::string_view number = param.substr(2);
    double q = 0;
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), q);
    if (ec != std::errc() || ptr != number.data() + number.size() || q < 0 || q > 1) return 0;
    return q;
  }
  return 1;
}

}  // namespace

bool AcceptsMimeType(std::string_view accept, std::string_view mime) {
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    const std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const size_t semi = range.find(';');
    const std::string_view type = TrimSpaces(range.substr(0, semi));
    if (!EqualsIgnoreCase(type, mime)) continue;
    if (QValue(semi == std::string_view::npos ? std::string_view() : range.substr(semi + 1)) > 0) {
      return true;
    }
  }
  return false;
}

ImageFormat ChooseOutputFormat(ImageFormat source, std::string_view accept,
                               const FormatPreferences& prefs) {
  for (const ImageFormat format : prefs.preferred) {
    if (source == ImageFormat::kGif && !CanAnimate(format)) continue;
    if (AcceptsMimeType(accept, FormatMimeType(format)) && CanEncode(format)) return format;
  }
  return ImageFormat::kUnknown;
}

namespace {

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// A reference that stays inside the document: a fragment or inline data.
bool IsLocalReference(std::string_view value) {
  value = TrimSpaces(value);
  while (!value.empty() && (value.front() == '"' || value.front() == '\'')) value.remove_prefix(1);
  value = TrimSpaces(value);
  return value.empty() || value.front() == '#' || StartsWithIgnoreCase(value, "data:");
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' ||
         c == '.';
}

std::unexpected<common::Error> SvgRefused(std::string_view why) {
  return common::Fail(common::ErrorCode::kUnsupported,
                      "SVG source refused: " + std::string(why));
}

std::unexpected<common::Error> SvgTooLarge() {
  return common::Fail(common::ErrorCode::kTooLarge,
                      "SVG source is over the limit of " + std::to_string(kMaxSvgBytes) + " bytes");
}

void InflateEnd(z_stream* stream) { inflateEnd(stream); }

// SVGZ: librsvg inflates gzip itself, so the check must read the inflated document.
common::Result<std::string> Inflate(std::string_view gz) {
  z_stream stream{};
  // 16 + MAX_WBITS: gzip framing only, as librsvg accepts.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
    return common::Fail(common::ErrorCode::kInternal, "zlib could not be initialised");
  }
  const common::Handle<z_stream, InflateEnd> owner(&stream);
  std::string out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  stream.avail_in = static_cast<uInt>(std::min<size_t>(gz.size(), kMaxSvgBytes));
  for (;;) {
    const size_t done = out.size();
    if (done >= kMaxSvgBytes) return SvgTooLarge();
    out.resize(std::min(kMaxSvgBytes, std::max<size_t>(done * 2, 64 * 1024)));
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + done);
    stream.avail_out = static_cast<uInt>(out.size() - done);
    const int rc = inflate(&stream, Z_NO_FLUSH);
    out.resize(out.size() - stream.avail_out);
    if (rc == Z_STREAM_END) return out;
    if (rc != Z_OK) return SvgRefused("its gzip stream is corrupt");
  }
}

// Numeric character references (&#114; &#x72;) for ASCII, decoded as the XML parser will, so
// that "u&#114;l(" is read as "url(". Others cannot spell an ASCII keyword and are kept.
std::string DecodeAsciiCharacterReferences(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '&' && i + 2 < text.size() && text[i + 1] == '#') {
      const bool hex = text[i + 2] == 'x' || text[i + 2] == 'X';
      const size_t digits = i + (hex ? 3 : 2);
      const size_t semi = text.find(';', digits);
      unsigned value = 0;
      if (semi != std::string_view::npos && semi > digits) {
        const auto [ptr, ec] =
            std::from_chars(text.data() + digits, text.data() + semi, value, hex ? 16 : 10);
        if (ec == std::errc() && ptr == text.data() + semi && value > 0 && value < 0x80) {
          out += static_cast<char>(value);
          i = semi;
          continue;
        }
      }
    }
    out += text[i];
  }
  return out;
}

common::Result<void> CheckSvgText(const std::string& text);

}  // namespace

common::Result<void> CheckSvgIsSelfContained(std::string_view svg) {
  std::string inflated;
  if (StartsWith(svg, "\x1F\x8B")) {
    auto document = Inflate(svg);
    if (!document) return std::unexpected(std::move(document.error()));
    inflated = std::move(*document);
    svg = inflated;
  }
  if (svg.size() > kMaxSvgBytes) return SvgTooLarge();
  if (svg.find('\\') != std::string_view::npos) {
    return SvgRefused("it contains a backslash (CSS escapes could hide a reference)");
  }
  // Twice: as written (where attributes are delimited) and with character references decoded
  // (as CSS and URLs are read).
  if (auto checked = CheckSvgText(Lowercase(svg)); !checked) return checked;
  return CheckSvgText(Lowercase(DecodeAsciiCharacterReferences(svg)));
}

namespace {

// `text` is case-folded; attribute and function names are ASCII, so offsets carry over.
common::Result<void> CheckSvgText(const std::string& text) {
  if (text.find("<!entity") != std::string::npos) {
    return SvgRefused("it declares XML entities");
  }
  // Every attribute named "href" or "…:href" (xlink:href), whatever its quoting.
  for (size_t pos = text.find("href"); pos != std::string::npos; pos = text.find("href", pos + 4)) {
    if (pos > 0 && IsNameChar(text[pos - 1]) && text[pos - 1] != ':') continue;
    size_t i = pos + 4;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    const char quote = text[i];
    size_t end = 0;
    if (quote == '"' || quote == '\'') {
      ++i;
      end = text.find(quote, i);
    } else {
      end = text.find_first_of(" \t\r\n/>", i);
    }
    if (end == std::string::npos) end = text.size();
    if (!IsLocalReference(std::string_view(text).substr(i, end - i))) {
      return SvgRefused("it references an external resource (href)");
    }
  }
  // CSS: url(…) in style attributes or <style>, and @import.
  for (size_t pos = text.find("url("); pos != std::string::npos; pos = text.find("url(", pos + 4)) {
    const size_t end = text.find(')', pos + 4);
    const std::string_view value =
        std::string_view(text).substr(pos + 4, (end == std::string::npos ? text.size() : end) -
                                                   (pos + 4));
    if (!IsLocalReference(value)) return SvgRefused("it references an external resource (url())");
  }
  if (text.find("@import") != std::string::npos) return SvgRefused("it imports a stylesheet");
  return {};
}

}  // namespace

}  // namespace imgorigin::transforms
