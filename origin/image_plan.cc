#include "origin/image_plan.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "cache/key.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"
#include "transforms/render_cost.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;

// Quality for clients that ask to save data (Save-Data: on) when the URL names none.
constexpr int kSaveDataQuality = 50;

// The client-hint request headers Negotiate() reads when client hints are on.
constexpr std::array<const char*, 5> kHintHeaders = {"Sec-CH-DPR", "DPR", "Sec-CH-Width", "Width",
                                                     "Save-Data"};

// Longer hot-path keys (very long URLs or Accept headers) are not remembered.
constexpr size_t kMaxHotKey = 2048;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<int64_t> MaxAgeOf(std::string_view cache_control) {
  size_t at = cache_control.find("max-age=");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digits = cache_control.substr(at + 8);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

// The output's pixels as far as the URL tells before the source is seen: the box it asks for;
// one side given counts as a square; none (the source's own size) as the largest side allowed.
// Meant to be high rather than low: a wrong guess costs a stand-in answer, not a slow one.
int64_t EstimatedOutputPixels(const transforms::TransformSpec& spec, int max_side) {
  const double w = spec.width * spec.dpr * spec.zoom_x;
  const double h = spec.height * spec.dpr * spec.zoom_y;
  const double side = std::max(w, h) > 0 ? std::max(w, h) : max_side;
  const double pixels = w > 0 && h > 0 ? w * h : side * side;
  return static_cast<int64_t>(std::min(pixels, static_cast<double>(max_side) * max_side));
}

// The format the pipeline writes for an auto_format spec left at kUnknown.
transforms::ImageFormat UniversalFormat(transforms::ImageFormat source) {
  return transforms::IsUniversalWebFormat(source) ? source : transforms::ImageFormat::kJpeg;
}

}  // namespace

Planner::Planner(const Config& config, const signing::Signer& signer)
    : config_(config), signer_(signer), max_age_(MaxAgeOf(config.cache_control)) {
  const auto& p = config.pipeline;
  output_fingerprint_ = "e" + std::to_string(transforms::kEncoderRevision) + ";q" +
                        std::to_string(p.quality) + ";";
  for (const auto& [format, quality] : p.format_quality) {
    output_fingerprint_ +=
        std::string(transforms::FormatExtension(format)) + std::to_string(quality) + ",";
  }
  output_fingerprint_ += ";p" + std::to_string(p.jpeg_progressive) + ";i" +
                         std::to_string(p.png_interlaced) + ";a" +
                         std::to_string(p.max_animation_frames);
  if (!p.watermark_data.empty()) output_fingerprint_ += ";wm" + cache::SourceTag(p.watermark_data);
  webp_fingerprint_ = ";we" + std::to_string(p.webp_effort);
  avif_fingerprint_ = ";as" + std::to_string(p.avif_speed) + webp_fingerprint_;
}

common::Result<Plan> Planner::Make(const Exchange& exchange, std::string_view path) const {
  return Make([&exchange](const char* name) { return exchange.header(name); }, path);
}

common::Result<Plan> Planner::Make(const HeaderLookup& headers, std::string_view path) const {
  // "/{signature}/{options…}/{source}": the signature covers everything after its segment.
  size_t slash = path.find('/', 1);
  if (path.size() < 2 || slash == std::string_view::npos || slash + 1 >= path.size()) {
    return Fail(ErrorCode::kNotFound,
                "not found: image URLs look like /{signature}/{options}/{source}");
  }
  std::string_view signature = path.substr(1, slash - 1);
  std::string_view signed_path = path.substr(slash);
  if (!signer_.Verify(signature, signed_path)) {
    return Fail(ErrorCode::kPermissionDenied, "invalid signature");
  }
  auto request = transforms::ParseProcessingPath(signed_path, config_.parser);
  if (!request) return std::unexpected(request.error());

  Plan plan;
  plan.cache_control = config_.cache_control;
  if (request->expires) {
    int64_t remaining = *request->expires - UnixNow();
    if (remaining <= 0) return Fail(ErrorCode::kPermissionDenied, "URL has expired");
    // A CDN must not keep the image past the URL's own expiry.
    plan.cache_control =
        "public, max-age=" + std::to_string(std::min(remaining, max_age_.value_or(remaining)));
  }
  plan.request = *std::move(request);
  Negotiate(headers, plan);
  return plan;
}

void Planner::Negotiate(const HeaderLookup& headers, Plan& plan) const {
  auto& spec = plan.request.spec;
  if (spec.raw) return;  // the source goes out as it is, whatever the client accepts
  std::vector<std::string_view> vary;
  std::optional<transforms::ImageFormat> fallback_source;  // set when the format was negotiated
  std::string_view accepted;
  if (spec.format == transforms::ImageFormat::kUnknown && !config_.formats.preferred.empty()) {
    const char* accept = headers("Accept");
    std::string_view source = plan.request.source;
    source = source.substr(0, source.find_first_of("?#"));
    size_t dot = source.rfind('.');
    auto source_format =
        dot == std::string_view::npos || source.find('/', dot) != std::string_view::npos
            ? std::nullopt
            : transforms::FormatFromExtension(source.substr(dot + 1));
    // Only the chosen format reaches the key, so the endless variety of Accept values folds
    // into a few variants.
    spec.format =
        transforms::ChooseOutputFormat(source_format.value_or(transforms::ImageFormat::kUnknown),
                                       accept ? accept : "", config_.formats);
    spec.auto_format = true;
    vary.push_back("Accept");
    fallback_source = source_format.value_or(transforms::ImageFormat::kUnknown);
    accepted = accept ? accept : "";
  }
  if (config_.client_hints) {
    auto hint = [&headers](const char* modern, const char* legacy) {
      const char* value = headers(modern);
      return value ? value : headers(legacy);
    };
    const int max_side = config_.pipeline.max_result_dimension;
    if (const char* dpr = hint("Sec-CH-DPR", "DPR"); dpr && spec.dpr == 1) {
      // Half steps: device ratios such as 2.625 or 2.75 share the 3× variant.
      double value = std::ceil(std::strtod(dpr, nullptr) * 2) / 2;
      if (value >= 1 && value <= 4) spec.dpr = value;
    }
    if (const char* width = hint("Sec-CH-Width", "Width");
        width && spec.width == 0 && spec.height == 0) {
      // The hint is in device pixels; dpr multiplies the width back up.
      long device = std::strtol(width, nullptr, 10);
      if (device > 0) {
        spec.width = static_cast<int>(std::ceil(std::min<double>(device, max_side) / spec.dpr));
      }
    }
    if (std::max(spec.width, spec.height) * spec.dpr > max_side) spec.dpr = 1;
    if (const char* save = headers("Save-Data");
        save && std::string_view(save) == "on" && spec.quality == 0) {
      spec.quality = kSaveDataQuality;
    }
    vary.insert(vary.end(), kHintHeaders.begin(), kHintHeaders.end());
  }
  for (auto header : vary) {
    if (!plan.vary.empty()) plan.vary += ", ";
    plan.vary += header;
  }
  // After the client hints, which may set the size the estimate reads.
  if (fallback_source) ChooseFallback(*fallback_source, accepted, plan);
}

void Planner::ChooseFallback(transforms::ImageFormat source, std::string_view accept,
                             Plan& plan) const {
  const auto& spec = plan.request.spec;
  if (config_.upgrade_budget_ms <= 0 || spec.format == transforms::ImageFormat::kUnknown) return;
  const int64_t pixels = EstimatedOutputPixels(spec, config_.pipeline.max_result_dimension);
  auto ms = [&](transforms::ImageFormat format) {
    return transforms::TypicalEncodeSeconds(format, pixels, config_.pipeline) * 1000;
  };
  const double best_ms = ms(spec.format);
  const auto budget = static_cast<double>(config_.upgrade_budget_ms);
  if (best_ms <= budget) return;
  // A stand-in is rendered as well as the best format, so it must cost at most half the best's
  // time: AVIF at its default speed costs about what WebP does, and a WebP stand-in would only
  // double the work.
  auto cheap = [&](transforms::ImageFormat format) { return ms(format) * 2 <= best_ms; };
  // The negotiation again, offering only the cheap formats after the best that fit the budget.
  transforms::FormatPreferences cheaper;
  cheaper.preferred.clear();
  const auto& preferred = config_.formats.preferred;
  for (auto it = std::find(preferred.begin(), preferred.end(), spec.format);
       it != preferred.end(); ++it) {
    if (cheap(*it) && ms(*it) <= budget) cheaper.preferred.push_back(*it);
  }
  const auto fallback = transforms::ChooseOutputFormat(source, accept, cheaper);
  // An animated GIF's own format is no cheaper than WebP: nothing to gain.
  const auto written =
      fallback == transforms::ImageFormat::kUnknown ? UniversalFormat(source) : fallback;
  if (cheap(written)) plan.fallback_format = fallback;
}

void Planner::SetKey(Plan& plan, uint64_t generation) const {
  const auto& spec = plan.request.spec;
  std::string_view format = spec.format == transforms::ImageFormat::kUnknown
                                ? "auto"
                                : transforms::FormatExtension(spec.format);
  const std::string& encoder = spec.format == transforms::ImageFormat::kAvif   ? avif_fingerprint_
                              : spec.format == transforms::ImageFormat::kWebp ? webp_fingerprint_
                                                                               : std::string();
  plan.generation = generation;
  plan.key = cache::VariantKey(plan.request.source, generation,
                               spec.Canonical() + "#" + output_fingerprint_ + encoder, format,
                               plan.request.cachebuster);
  // The key already names everything that decides the bytes, so it doubles as a strong ETag
  // that can be checked before any rendering; a purge (new generation) changes it too.
  plan.etag = "\"" + plan.key.substr(0, 32) + "\"";
}

Plan Planner::FallbackPlan(const Plan& plan) const {
  Plan fallback = plan;
  fallback.request.spec.format = *plan.fallback_format;
  fallback.fallback_format.reset();
  SetKey(fallback, plan.generation);
  const int64_t max_age =
      std::min(config_.upgrade_max_age, MaxAgeOf(plan.cache_control).value_or(INT64_MAX));
  fallback.cache_control = "public, max-age=" + std::to_string(max_age);
  fallback.headers.emplace_back("X-Format-Upgrade", "pending");
  return fallback;
}

std::string Planner::HotKey(const Exchange& exchange) const {
  std::string key(exchange.path());
  auto add = [&](const char* name) {
    key += '\n';  // evhttp refuses header values with line breaks, so this separates fields
    if (const char* value = exchange.header(name)) key += value;
  };
  if (!config_.formats.preferred.empty()) add("Accept");
  if (config_.client_hints) {
    for (const char* name : kHintHeaders) add(name);
  }
  return key.size() <= kMaxHotKey ? key : std::string();
}

}  // namespace imgorigin::origin
