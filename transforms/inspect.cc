#include "transforms/inspect.h"

#include <algorithm>
#include <array>
#include <span>
#include <vector>
#include <vips/vips8>

#include "transforms/blurhash.h"
#include "transforms/jpeg_scans.h"
#include "transforms/render_cost.h"
#include "transforms/vips_boundary.h"

namespace imgorigin::transforms {
namespace {

using common::ErrorCode;
using common::Fail;
using vips::VImage;

// The most common colour among opaque pixels, at 4 bits per channel (4096 bins): coarse enough
// that noise and gradients fall into one bin, fine enough to tell brand colours apart. The bin's
// mean is returned, not its corner.
Rgb DominantColour(const uint8_t* pixels, size_t count, int bands) {
  struct Bin {
    int count = 0;
    int64_t r = 0, g = 0, b = 0;
  };
  std::vector<Bin> bins(4096);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = pixels + i * bands;
    if (bands == 4 && p[3] < 128) continue;
    Bin& bin = bins[(p[0] >> 4) << 8 | (p[1] >> 4) << 4 | (p[2] >> 4)];
    ++bin.count;
    bin.r += p[0];
    bin.g += p[1];
    bin.b += p[2];
  }
  const Bin& best = *std::max_element(bins.begin(), bins.end(),
                                      [](const Bin& a, const Bin& b) { return a.count < b.count; });
  if (best.count == 0) return Rgb{0, 0, 0};  // fully transparent
  return Rgb{static_cast<uint8_t>(best.r / best.count), static_cast<uint8_t>(best.g / best.count),
             static_cast<uint8_t>(best.b / best.count)};
}

common::Result<void> Run(std::string_view source, const PipelineLimits& limits, Deadline& deadline,
                         VipsStage& stage, ImageInfo& info,
                         common::MemoryBudget::Reservation& memory) {
  info.format = LoaderFormat(source);
  info.bytes = static_cast<int64_t>(source.size());
  if (info.format == ImageFormat::kUnknown) {
    return Fail(ErrorCode::kUnsupported, "source is not a supported image format");
  }
  if (info.format == ImageFormat::kSvg) {
    if (auto checked = CheckSvgIsSelfContained(source); !checked) {
      return std::unexpected(checked.error());
    }
  }
  if (info.format == ImageFormat::kJpeg) {
    JpegScanCounter scans;
    scans.Feed(source);
    if (auto checked = scans.Check(limits.max_jpeg_scans); !checked) return checked;
  }

  {  // the header is let go before the thumbnail below opens the source again
    const VImage header = VImage::new_from_buffer(
        source.data(), source.size(), "", VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
    info.pages = header.get_typeof(VIPS_META_N_PAGES) != 0
                     ? std::max(1, header.get_int(VIPS_META_N_PAGES))
                     : 1;
    if (int64_t{header.width()} * header.height() * info.pages > limits.max_src_pixels) {
      return Fail(ErrorCode::kTooLarge, "source image is over the limit of " +
                                            std::to_string(limits.max_src_pixels) + " pixels");
    }
    info.orientation = header.get_typeof(VIPS_META_ORIENTATION) != 0
                           ? std::clamp(header.get_int(VIPS_META_ORIENTATION), 1, 8)
                           : 1;
    const bool swap = info.orientation >= 5;
    info.width = swap ? header.height() : header.width();
    info.height = swap ? header.width() : header.height();
    info.alpha = header.has_alpha();
    info.colour_space = vips_enum_nick(VIPS_TYPE_INTERPRETATION, header.interpretation());

    // The thumbnail's decode holds what a render's would (a progressive JPEG's coefficients, an
    // interlaced PNG), so it is admitted the same way.
    RenderFootprint footprint =
        SourceFootprint(info.format, header, info.bytes, /*in_memory=*/true);
    footprint.out_w = footprint.out_h = kInspectThumbnail;
    auto admitted = AdmitRender(footprint, limits, deadline.at());
    if (!admitted) return std::unexpected(admitted.error());
    memory = std::move(*admitted);
  }

  // A thumbnail (shrink-on-load, EXIF-rotated, first frame) bounds the work below. No profile
  // transform: a lossless sRGB→sRGB round trip through lcms would bend saturated colours, and
  // libvips already turns CMYK into sRGB here.
  const BlobHandle blob(vips_blob_new(nullptr, source.data(), source.size()));
  VImage thumb = VImage::thumbnail_buffer(
      blob.get(), kInspectThumbnail,
      VImage::option()->set("height", kInspectThumbnail)->set("size", VIPS_SIZE_DOWN));
  if (thumb.interpretation() != VIPS_INTERPRETATION_sRGB) {
    thumb = thumb.colourspace(VIPS_INTERPRETATION_sRGB);
  }
  if (thumb.format() != VIPS_FORMAT_UCHAR) thumb = thumb.cast(VIPS_FORMAT_UCHAR);
  if (thumb.bands() > 4) thumb = thumb.extract_band(0, VImage::option()->set("n", 4));
  {
    // The decode behind the thumbnail is the only long part: the deadline watches it.
    const EvalWatch watch(thumb, &deadline);
    stage = VipsStage::kProcessing;
    thumb = thumb.copy_memory();
  }
  if (deadline.Passed()) return Fail(ErrorCode::kDeadlineExceeded, deadline.Message());

  const size_t count = static_cast<size_t>(thumb.width()) * thumb.height();
  size_t size = 0;
  const GBufferHandle pixels(thumb.write_to_memory(&size));
  info.dominant_colour =
      DominantColour(static_cast<const uint8_t*>(pixels.get()), count, thumb.bands());

  // BlurHash has no alpha: transparent areas show as the white a page usually has behind them.
  const VImage opaque =
      thumb.has_alpha()
          ? thumb.flatten(VImage::option()->set("background", std::vector<double>{255, 255, 255}))
                .cast(VIPS_FORMAT_UCHAR)
          : thumb;
  size_t rgb_size = 0;
  const GBufferHandle rgb(opaque.write_to_memory(&rgb_size));
  info.blurhash = EncodeBlurhash(std::span(static_cast<const uint8_t*>(rgb.get()), rgb_size),
                                 opaque.width(), opaque.height());
  return {};
}

}  // namespace

common::Result<ImageInfo> Inspect(std::string_view source, const PipelineLimits& limits) {
  ImageInfo info;
  common::MemoryBudget::Reservation memory;  // outlives every image Run() makes
  // Failures while the source is opened are the source's fault; after that, a kill by the
  // deadline is told apart by CatchVipsErrors.
  Deadline deadline(limits.timeout);
  VipsStage stage = VipsStage::kDecoding;
  const auto done = CatchVipsErrors(
      [&] { return Run(source, limits, deadline, stage, info, memory); }, stage, &deadline);
  if (!done) return std::unexpected(done.error());
  return info;
}

}  // namespace imgorigin::transforms
