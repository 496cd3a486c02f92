#include "transforms/blurhash.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <vector>

namespace imgorigin::transforms {
namespace {

constexpr std::string_view kBase83 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

void AppendBase83(std::string& out, int value, int length) {
  for (int i = 1; i <= length; ++i) {
    int divisor = 1;
    for (int j = 0; j < length - i; ++j) divisor *= 83;
    out += kBase83[(value / divisor) % 83];
  }
}

double SrgbToLinear(uint8_t value) {
  const double v = value / 255.0;
  return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
}

int LinearToSrgb(double value) {
  const double v = std::clamp(value, 0.0, 1.0);
  return v <= 0.0031308 ? static_cast<int>(v * 12.92 * 255 + 0.5)
                        : static_cast<int>((1.055 * std::pow(v, 1 / 2.4) - 0.055) * 255 + 0.5);
}

double SignPow(double value, double exponent) {
  return std::copysign(std::pow(std::abs(value), exponent), value);
}

using Factor = std::array<double, 3>;

}  // namespace

std::string EncodeBlurhash(std::span<const uint8_t> rgb, int width, int height, int components_x,
                           int components_y) {
  if (width <= 0 || height <= 0 || components_x < 1 || components_x > 9 || components_y < 1 ||
      components_y > 9 || rgb.size() < static_cast<size_t>(width) * height * 3) {
    return "";
  }
  // Linearised once: the basis loop below reads every pixel once per component.
  std::vector<Factor> linear(static_cast<size_t>(width) * height);
  for (size_t i = 0; i < linear.size(); ++i) {
    linear[i] = {SrgbToLinear(rgb[3 * i]), SrgbToLinear(rgb[3 * i + 1]),
                 SrgbToLinear(rgb[3 * i + 2])};
  }

  // Summation order (x outer, y inner) follows the reference, so that floating-point rounding —
  // which decides the digits of near-zero AC terms, e.g. for a flat image — comes out the same.
  std::vector<Factor> factors;
  for (int cy = 0; cy < components_y; ++cy) {
    for (int cx = 0; cx < components_x; ++cx) {
      const double normalisation = cx == 0 && cy == 0 ? 1 : 2;
      Factor sum{0, 0, 0};
      for (int x = 0; x < width; ++x) {
        for (int y = 0; y < height; ++y) {
          const double basis = normalisation * std::cos(std::numbers::pi * cx * x / width) *
                               std::cos(std::numbers::pi * cy * y / height);
          const Factor& pixel = linear[static_cast<size_t>(y) * width + x];
          for (int c = 0; c < 3; ++c) sum[c] += basis * pixel[c];
        }
      }
      const double scale = 1.0 / (width * height);
      factors.push_back({sum[0] * scale, sum[1] * scale, sum[2] * scale});
    }
  }

  std::string hash;
  AppendBase83(hash, components_x - 1 + (components_y - 1) * 9, 1);
  double maximum = 1;
  if (factors.size() > 1) {
    double actual = 0;
    for (size_t i = 1; i < factors.size(); ++i) {
      for (const double v : factors[i]) actual = std::max(actual, std::abs(v));
    }
    const int quantised = std::clamp(static_cast<int>(std::floor(actual * 166 - 0.5)), 0, 82);
    maximum = (quantised + 1) / 166.0;
    AppendBase83(hash, quantised, 1);
  } else {
    AppendBase83(hash, 0, 1);
  }
  const Factor& dc = factors[0];
  AppendBase83(hash, (LinearToSrgb(dc[0]) << 16) + (LinearToSrgb(dc[1]) << 8) + LinearToSrgb(dc[2]),
               4);
  for (size_t i = 1; i < factors.size(); ++i) {
    int value = 0;
    for (const double v : factors[i]) {
      const int q =
          std::clamp(static_cast<int>(std::floor(SignPow(v / maximum, 0.5) * 9 + 9.5)), 0, 18);
      value = value * 19 + q;
    }
    AppendBase83(hash, value, 2);
  }
  return hash;
}

}  // namespace imgorigin::transforms
