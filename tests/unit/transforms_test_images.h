// Fixture images and pixel checks shared by the transforms unit tests: flat colours and
// quadrants whose region colours tell which part of the source survived, noise for
// resampling comparisons, encoders to bytes, and a tolerant region check.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>
#include <vips/vips8>

#include "transforms/pipeline.h"

namespace imgorigin::transforms::test_images {

using vips::VImage;
using Colour = std::array<double, 3>;

inline constexpr Colour kRed{255, 0, 0};
inline constexpr Colour kGreen{0, 255, 0};
inline constexpr Colour kBlue{0, 0, 255};
inline constexpr Colour kYellow{255, 255, 0};
inline constexpr Colour kWhite{255, 255, 255};
inline constexpr Colour kBlack{0, 0, 0};

// Worst channel difference allowed for a flat region of a lossy or resampled output: absorbs
// JPEG/WebP loss and resampling at region edges.
inline constexpr double kColourTolerance = 12;

inline VImage Srgb(const VImage& img) {
  return img.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

inline VImage Solid(int w, int h, const Colour& c) {
  return Srgb(VImage::black(w, h)
                  .new_from_image(std::vector<double>(c.begin(), c.end()))
                  .cast(VIPS_FORMAT_UCHAR));
}

// Red top-left, green top-right, blue bottom-left, yellow bottom-right.
inline VImage Quadrants(int w, int h) {
  return Solid(w, h, kYellow)
      .insert(Solid(w / 2, h / 2, kRed), 0, 0)
      .insert(Solid(w - w / 2, h / 2, kGreen), w / 2, 0)
      .insert(Solid(w / 2, h - h / 2, kBlue), 0, h / 2);
}

inline VImage Noise(int w, int h) {
  VImage g = VImage::gaussnoise(w, h, VImage::option()->set("sigma", 60)).cast(VIPS_FORMAT_UCHAR);
  return Srgb(VImage::bandjoin({g, g.rot180(), g.flip(VIPS_DIRECTION_HORIZONTAL)}));
}

inline std::string Blob(VipsBlob* blob) {
  std::string out(static_cast<const char*>(VIPS_AREA(blob)->data), VIPS_AREA(blob)->length);
  vips_area_unref(VIPS_AREA(blob));
  return out;
}

inline std::string Png(const VImage& img) { return Blob(img.pngsave_buffer()); }
inline std::string Jpeg(const VImage& img, int q = 95) {
  return Blob(img.jpegsave_buffer(VImage::option()->set("Q", q)));
}

// Decodes fully now: libvips reads lazily from the caller's buffer, which may be a temporary.
inline VImage Decode(const std::string& bytes, vips::VOption* options = nullptr) {
  return VImage::new_from_buffer(bytes.data(), bytes.size(), "", options).copy_memory();
}

inline double Mean(const VImage& img, int band, int x, int y, int w, int h) {
  return img.extract_area(x, y, w, h).extract_band(band).avg();
}

// Expects the rectangle's mean colour to be `want`.
inline void ExpectRegion(const VImage& img, int x, int y, int w, int h, const Colour& want,
                         double tolerance = kColourTolerance) {
  for (int b = 0; b < 3; ++b) {
    EXPECT_NEAR(Mean(img, b, x, y, w, h), want[b], tolerance)
        << "band " << b << " of region " << x << "," << y << " " << w << "×" << h;
  }
}

// Mean absolute difference per sample between two images of equal shape.
inline double MeanAbsDiff(const VImage& a, const VImage& b) {
  return (a.cast(VIPS_FORMAT_FLOAT) - b.cast(VIPS_FORMAT_FLOAT)).abs().avg();
}

inline EncodedImage MustProcess(const std::string& src, const TransformSpec& spec,
                                const PipelineLimits& limits = PipelineLimits{}) {
  auto r = Process(src, spec, limits);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : EncodedImage{};
}

// A resize to w×h with `type`, written as PNG (lossless, so pixel checks stay tight).
inline TransformSpec Resize(ResizingType type, int w, int h) {
  TransformSpec spec;
  spec.resizing_type = type;
  spec.width = w;
  spec.height = h;
  spec.format = ImageFormat::kPng;
  return spec;
}

}  // namespace imgorigin::transforms::test_images
