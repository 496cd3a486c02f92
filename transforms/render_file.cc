#include "transforms/render_file.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "transforms/geometry.h"
#include "transforms/steps.h"

namespace imgorigin::transforms {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::Fail;
using common::Result;
using vips::VImage;

constexpr std::string_view kDziSuffix = ".dzi";
// Outputs are written under this suffix, then renamed: a failed render leaves nothing behind and
// an earlier output of the same name stays whole until the new one is complete.
constexpr std::string_view kPartSuffix = ".part";
constexpr int kTileSide = 256;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A DeepZoom output's name without ".dzi": dzsave writes <stem>.dzi and <stem>_files/.
std::string DziStem(const std::string& dzi_path) {
  return dzi_path.substr(0, dzi_path.size() - kDziSuffix.size());
}

std::string TilesDir(const std::string& dzi_path) { return DziStem(dzi_path) + "_files"; }

// Where a render into `out` writes before it is renamed into place.
FileOutput PartOutput(const FileOutput& out) {
  FileOutput part = out;
  part.path = out.pyramid == Pyramid::kDeepZoom
                  ? DziStem(out.path) + std::string(kPartSuffix) + std::string(kDziSuffix)
                  : out.path + std::string(kPartSuffix);
  return part;
}

void Remove(const FileOutput& out) {
  std::error_code ignored;  // what is not there needs no removing
  fs::remove(out.path, ignored);
  if (out.pyramid == Pyramid::kDeepZoom) fs::remove_all(TilesDir(out.path), ignored);
}

Result<void> MoveIntoPlace(const FileOutput& part, const FileOutput& out) {
  std::error_code error;
  if (out.pyramid == Pyramid::kDeepZoom) {
    fs::remove_all(TilesDir(out.path), error);
    if (!error) fs::rename(TilesDir(part.path), TilesDir(out.path), error);
  }
  if (!error) fs::rename(part.path, out.path, error);
  if (error) {
    return Fail(ErrorCode::kInternal, "cannot move the result into " + out.path + ": " +
                                          error.message());
  }
  return {};
}

// Bytes written: the file, plus a DeepZoom's tiles.
int64_t WrittenBytes(const FileOutput& out) {
  std::error_code error;
  int64_t total = static_cast<int64_t>(fs::file_size(out.path, error));
  if (error) total = 0;
  if (out.pyramid != Pyramid::kDeepZoom) return total;
  for (auto it = fs::recursive_directory_iterator(TilesDir(out.path), error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error)) total += static_cast<int64_t>(it->file_size(error));
  }
  return total;
}

// The most pixels a side each format's encoder takes (0: more than any plan can ask).
int MaxSide(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
    case ImageFormat::kGif:
      return 65535;
    case ImageFormat::kWebp:
      return 16383;
    default:
      return 0;
  }
}

// dzsave's tile suffix, with the saver options the tiles are written with.
std::string TileSuffix(ImageFormat format, int quality) {
  const std::string q = std::to_string(quality);
  switch (format) {
    case ImageFormat::kWebp:
      return ".webp[Q=" + q + "]";
    case ImageFormat::kPng:
      return ".png";
    default:
      return ".jpg[Q=" + q + ",optimize_coding]";
  }
}

}  // namespace

PipelineLimits BatchLimits() {
  PipelineLimits limits;
  limits.max_src_pixels = 10'000'000'000;
  // kMaxPlanSize is what a plan saturates at: still refused, as a size nothing can write.
  limits.max_result_dimension = kMaxPlanSize - 1;
  limits.timeout = std::chrono::hours(1);
  limits.max_result_pixels.clear();
  limits.max_render_memory = int64_t{4} << 30;
  return limits;
}

ImageFormat FileOutputFormat(const Context& ctx) {
  switch (ctx.file->pyramid) {
    case Pyramid::kTiff:
      return ImageFormat::kTiff;
    case Pyramid::kDeepZoom:
      if (ctx.out_format == ImageFormat::kJpeg || ctx.out_format == ImageFormat::kPng ||
          ctx.out_format == ImageFormat::kWebp) {
        return ctx.out_format;
      }
      return ctx.may_be_transparent ? ImageFormat::kPng : ImageFormat::kJpeg;
    case Pyramid::kNone:
      break;
  }
  return ctx.out_format;
}

Result<void> CheckFileOutputSize(const Context& ctx) {
  const int max = MaxSide(ctx.out_format);
  if (ctx.file->pyramid != Pyramid::kNone || max == 0) return {};
  if (ctx.plan.final_w <= max && ctx.plan.final_h <= max) return {};
  return Fail(ErrorCode::kInvalidArgument,
              "result would be " + std::to_string(ctx.plan.final_w) + "×" +
                  std::to_string(ctx.plan.final_h) + ", over the " + std::to_string(max) +
                  " pixels a side " + std::string(FormatExtension(ctx.out_format)) +
                  " can hold: write a pyramid (--pyramid tiff or --pyramid dz) or a smaller size");
}

void SavePyramid(const Context& ctx, const VImage& img, int quality) {
  const std::string& path = ctx.file->path;
  if (ctx.file->pyramid == Pyramid::kDeepZoom) {
    const std::string suffix = TileSuffix(ctx.out_format, quality);
    img.dzsave(DziStem(path).c_str(), VImage::option()
                                          ->set("suffix", suffix.c_str())
                                          ->set("strip", ctx.saver_strips));
    return;
  }
  // JPEG tiles cannot carry alpha. Past 4 GiB a classic TIFF's offsets overflow: a pyramid whose
  // pixels come near that is written as BigTIFF, which libtiff and libvips read alike.
  const bool alpha = img.has_alpha();
  const int64_t raw = int64_t{img.width()} * img.height() * img.bands();
  VImage pixels = img;
#if VIPS_MAJOR_VERSION == 8 && VIPS_MINOR_VERSION < 15
  // libvips before 8.15 crashes when a pyramid TIFF write fails part way (a truncated source):
  // its layers are freed after their target (libvips issue 3411). There the pixels are computed
  // into a temporary file first (libvips' own, in $TMPDIR, deleted when closed), so the TIFF
  // writer only reads a complete image; a failure is an error of that first write. Costs the
  // result's raw size on disk for the while.
  VipsImage* staged = vips_image_new_temp_file("%s.v");
  if (staged == nullptr || vips_image_write(img.get_image(), staged) != 0) {
    if (staged != nullptr) g_object_unref(staged);
    throw vips::VError();
  }
  pixels = VImage(staged);
#endif
  pixels.tiffsave(path.c_str(),
               VImage::option()
                   ->set("tile", true)
                   ->set("tile_width", kTileSide)
                   ->set("tile_height", kTileSide)
                   ->set("pyramid", true)
                   ->set("compression", alpha ? VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE
                                              : VIPS_FOREIGN_TIFF_COMPRESSION_JPEG)
                   ->set("Q", quality)
                   ->set("bigtiff", raw > (int64_t{1} << 31))
                   ->set("strip", ctx.saver_strips));
}

Result<EncodedImage> CopySourceFile(const std::string& path, ImageFormat format,
                                    const FileOutput& out) {
  if (out.pyramid != Pyramid::kNone) {
    return Fail(ErrorCode::kInvalidArgument,
                "raw and skip_processing copy the source: it cannot be written as a pyramid");
  }
  std::error_code error;
  fs::copy_file(path, out.path, fs::copy_options::overwrite_existing, error);
  if (error) {
    return Fail(ErrorCode::kInternal, "cannot copy the source to " + out.path + ": " +
                                          error.message());
  }
  return EncodedImage{{}, format, 0, 0};
}

Result<RenderedFile> RenderToFile(const std::string& src_path, const TransformSpec& spec,
                                  const PipelineLimits& limits, const FileOutput& out) {
  if (out.pyramid == Pyramid::kDeepZoom && !EndsWith(out.path, kDziSuffix)) {
    return Fail(ErrorCode::kInvalidArgument, "a DeepZoom output's path must end in .dzi");
  }
  const FileOutput part = PartOutput(out);
  Remove(part);  // left by a process that died mid-render
  auto rendered = RunFile(src_path, spec, limits, &part, nullptr);
  if (rendered) {
    if (auto moved = MoveIntoPlace(part, out); !moved) rendered = std::unexpected(moved.error());
  }
  if (!rendered) {
    Remove(part);
    return std::unexpected(rendered.error());
  }
  return RenderedFile{rendered->format, rendered->width, rendered->height, WrittenBytes(out)};
}

void SetVipsConcurrency(int threads) { vips_concurrency_set(std::max(1, threads)); }

}  // namespace imgorigin::transforms
