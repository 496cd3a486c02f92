#include "origin/handlers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cache/key.h"
#include "common/fd.h"
#include "origin/http_status.h"
#include "signing/base64url.h"
#include "transforms/format.h"
#include "transforms/inspect.h"
#include "transforms/pipeline.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using Clock = std::chrono::steady_clock;

// Quality for clients that ask to save data (Save-Data: on) when the URL names none.
constexpr int kSaveDataQuality = 50;

// The client-hint request headers Negotiate() reads when client hints are on.
constexpr std::array<const char*, 5> kHintHeaders = {"Sec-CH-DPR", "DPR", "Sec-CH-Width", "Width",
                                                     "Save-Data"};

// The hot-path table: byte-bounded (a few thousand typical paths); longer keys (very long URLs
// or Accept headers) are not remembered.
constexpr size_t kHotPathBytes = 8u << 20;
constexpr size_t kMaxHotKey = 2048;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string HttpDate(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return buf;
}

std::string Ms(double ms) {  // one decimal; to_chars, as printf's float path costs on every hit
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 1);
  return ec == std::errc() ? std::string(buf, end) : std::string("0.0");
}

// If-None-Match may list several tags, weak ones included; "*" matches anything.
bool EtagMatches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
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

// The name a browser saves the file under: fn: if given, else the source's base name; the
// extension always matches what is served.
std::string DownloadName(const transforms::ImageRequest& request, std::string_view ext) {
  std::string base = request.filename;
  if (base.empty()) {
    std::string_view source = request.source;
    source = source.substr(0, source.find_first_of("?#"));
    base = source.substr(source.rfind('/') + 1);
    if (size_t dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  }
  if (base.empty()) base = "image";
  return base + "." + std::string(ext);
}

std::string ContentDisposition(std::string_view name, bool attachment) {
  // An ASCII fallback for old clients plus RFC 5987 filename* for the exact UTF-8 name.
  std::string ascii;
  std::string encoded;
  bool plain = true;
  for (unsigned char c : name) {
    bool safe = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    ascii += safe ? static_cast<char>(c) : '_';
    plain = plain && safe;
    if (isalnum(c) || c == '.' || c == '-' || c == '_') {
      encoded += static_cast<char>(c);
    } else {
      char buf[4];
      snprintf(buf, sizeof buf, "%%%02X", c);
      encoded += buf;
    }
  }
  std::string value = attachment ? "attachment" : "inline";
  value += "; filename=\"" + ascii + "\"";
  if (!plain) value += "; filename*=UTF-8''" + encoded;
  return value;
}

std::string_view ExtensionOfMime(std::string_view mime) {
  for (auto format : {transforms::ImageFormat::kJpeg, transforms::ImageFormat::kPng,
                      transforms::ImageFormat::kWebp, transforms::ImageFormat::kAvif,
                      transforms::ImageFormat::kGif, transforms::ImageFormat::kTiff,
                      transforms::ImageFormat::kJxl, transforms::ImageFormat::kHeic,
                      transforms::ImageFormat::kSvg, transforms::ImageFormat::kBmp,
                      transforms::ImageFormat::kIco}) {
    if (transforms::FormatMimeType(format) == mime) return transforms::FormatExtension(format);
  }
  return "bin";
}

common::Result<transforms::ImageInfo> InspectSource(const sources::SourceImage& source,
                                                    const transforms::PipelineLimits& limits) {
  if (!source.file) return transforms::Inspect(*source.bytes, limits);
  // Large originals were streamed to a file: map it instead of reading it all into memory.
  common::MappedFile file(source.file->path());
  if (!file.ok()) return Fail(ErrorCode::kInternal, "source file could not be read");
  return transforms::Inspect(file.bytes(), limits);
}

std::string HexColour(const transforms::Rgb& c) {
  char buf[8];
  snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

}  // namespace

Handlers::Handlers(const Config& config, const signing::Signer& signer, cache::MemoryTier& memory,
                   common::ThreadPool& cpu, sources::SourceCache& sources,
                   cache::TieredCache& tiers)
    : config_(config),
      signer_(signer),
      memory_(memory),
      cpu_(cpu),
      sources_(sources),
      tiers_(tiers),
      max_age_(MaxAgeOf(config.cache_control)),
      hot_paths_(kHotPathBytes, 16, [](const HotPath& hot) {
        // Approximate: the plan's strings and spec, the headers, and the structures around them.
        size_t bytes = sizeof(HotPath) + sizeof(Plan) + hot.plan->request.source.size() +
                       hot.plan->key.size() + hot.plan->cache_control.size() +
                       hot.plan->vary.size() + 256;
        for (const auto& header : hot.headers) bytes += sizeof(header) + header.second.size();
        return bytes;
      }) {
  const auto& p = config.pipeline;
  output_fingerprint_ = "q" + std::to_string(p.quality) + ";";
  for (const auto& [format, quality] : p.format_quality) {
    output_fingerprint_ +=
        std::string(transforms::FormatExtension(format)) + std::to_string(quality) + ",";
  }
  output_fingerprint_ += ";p" + std::to_string(p.jpeg_progressive) + ";i" +
                         std::to_string(p.png_interlaced) + ";a" +
                         std::to_string(p.max_animation_frames);
  if (!p.watermark_data.empty()) output_fingerprint_ += ";wm" + cache::SourceTag(p.watermark_data);
}

void Handlers::Handle(const ExchangePtr& exchange) {
  std::string_view path = exchange->path();
  if (path == "/v1/purge") return HandlePurge(exchange);
  if (!exchange->is_get_or_head()) {
    exchange->AddHeader("Allow", "GET, HEAD");
    exchange->AddHeader("Cache-Control", "no-store");
    exchange->SendText(405, "method not allowed: use GET or HEAD\n");
    return;
  }
  if (path.starts_with("/info/")) return HandleInfo(exchange);
  if (path == "/health") {
    exchange->AddHeader("Cache-Control", "no-store");
    exchange->SendText(200, "ok\n");
    return;
  }
  if (path == "/metrics") return HandleMetrics(*exchange);
  if (path == "/ready") return HandleReady(*exchange);
  HandleImage(exchange);
}

void Handlers::HandleReady(Exchange& exchange) const {
  // A cache tier that is down does not make the node unready: requests still succeed by
  // rendering, and pulling every node when Redis fails would turn a slowdown into an outage.
  // It is reported so operators see it.
  nlohmann::json tiers = nlohmann::json::object();
  for (const auto& tier : tiers_.Stats()) tiers[tier.name] = tier.available ? "up" : "down";
  const bool draining = draining_.load();
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.AddHeader("Content-Type", "application/json");
  exchange.Send(
      draining ? 503 : 200,
      common::MakeShared(
          nlohmann::json{{"ready", !draining}, {"draining", draining}, {"tiers", tiers}}.dump() +
          "\n"));
}

void Handlers::HandleMetrics(Exchange& exchange) const {
  std::string out;
  auto counter = [&out](std::string_view name, std::string_view help, std::string_view labels,
                        uint64_t value) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out += "# TYPE " + std::string(name) + " counter\n";
    out += std::string(name) + std::string(labels) + " " + std::to_string(value) + "\n";
  };
  auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  // One HELP/TYPE per family, then a sample per tier: memory first, then the slower tiers.
  const auto tier_stats = tiers_.Stats();
  auto per_tier = [&](std::string_view name, std::string_view help, uint64_t memory,
                      uint64_t cache::TieredCache::TierStats::*field) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out += "# TYPE " + std::string(name) + " counter\n";
    if (field == &cache::TieredCache::TierStats::hits ||
        field == &cache::TieredCache::TierStats::misses) {
      out += std::string(name) + "{tier=\"memory\"} " + std::to_string(memory) + "\n";
    }
    for (const auto& t : tier_stats) {
      out += std::string(name) + "{tier=\"" + t.name + "\"} " + std::to_string(t.*field) + "\n";
    }
  };
  using Stats = cache::TieredCache::TierStats;
  per_tier("imgorigin_cache_hits_total", "Variants answered from a cache tier.",
           load(counters_.memory_hits), &Stats::hits);
  per_tier("imgorigin_cache_misses_total", "Cache tier look-ups that missed.",
           load(counters_.memory_misses), &Stats::misses);
  per_tier("imgorigin_cache_errors_total",
           "Cache tier calls that failed, timed out or returned undecodable entries.", 0,
           &Stats::errors);
  per_tier("imgorigin_cache_skipped_total", "Cache tier calls skipped by an open circuit breaker.",
           0, &Stats::skipped);
  per_tier("imgorigin_cache_writes_total", "Entries written to a cache tier (write-behind).", 0,
           &Stats::writes);
  per_tier("imgorigin_cache_declined_total",
           "Entries a tier would not hold (larger than its item or size limit).", 0,
           &Stats::declined);
  const auto fleet = tiers_.fleet_stats();
  counter("imgorigin_render_leases_total", "Fleet-wide render leases this node took.", "",
          fleet.leases);
  counter("imgorigin_lease_waits_total", "Misses that waited for another node's render.", "",
          fleet.lease_waits);
  counter("imgorigin_lease_timeouts_total",
          "Waits for another node's render that timed out (rendered here instead).", "",
          fleet.lease_timeouts);
  counter("imgorigin_purges_total", "Sources purged through this node.", "", fleet.purges);
  counter("imgorigin_cache_io_rejected_total",
          "Cache I/O tasks refused because the I/O queue was full.", "", fleet.io_rejected);
  counter("imgorigin_not_modified_total", "304 answers to If-None-Match.", "",
          load(counters_.not_modified));
  counter("imgorigin_coalesced_total", "Requests that waited for another request's render.", "",
          load(counters_.coalesced));
  counter("imgorigin_renders_total", "Source fetch + transform runs.", "", load(counters_.renders));
  counter("imgorigin_render_errors_total", "Renders that ended in an error.", "",
          load(counters_.render_errors));
  counter("imgorigin_overloaded_total", "Requests refused with 503 (transform queue full).", "",
          load(counters_.overloaded));
  const auto originals = sources_.stats();
  counter("imgorigin_source_cache_hits_total", "Originals answered from the source cache.",
          "{tier=\"memory\"}", originals.memory_hits);
  // Same family as the line above: one HELP/TYPE header per metric name.
  out += "imgorigin_source_cache_hits_total{tier=\"disk\"} " + std::to_string(originals.disk_hits) +
         "\n";
  counter("imgorigin_source_fetches_total", "Originals fetched from their source.", "",
          originals.fetches);
  counter("imgorigin_source_coalesced_total", "Requests that waited for another's fetch.", "",
          originals.coalesced);
  out +=
      "# HELP imgorigin_memory_cache_bytes Bytes held by the memory tier.\n"
      "# TYPE imgorigin_memory_cache_bytes gauge\n"
      "imgorigin_memory_cache_bytes " +
      std::to_string(memory_.size_bytes()) + "\n";
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.AddHeader("Content-Type", "text/plain; version=0.0.4");
  exchange.Send(200, common::MakeShared(std::move(out)));
}

common::Result<Handlers::Plan> Handlers::MakePlan(const Exchange& exchange,
                                                  std::string_view path) const {
  if (exchange.target().size() > config_.max_url_length) {
    return Fail(ErrorCode::kInvalidArgument,
                "URL is longer than " + std::to_string(config_.max_url_length) + " characters");
  }
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
  Negotiate(exchange, plan);
  return plan;
}

void Handlers::Negotiate(const Exchange& exchange, Plan& plan) const {
  auto& spec = plan.request.spec;
  if (spec.raw) return;  // the source goes out as it is, whatever the client accepts
  std::vector<std::string_view> vary;
  if (spec.format == transforms::ImageFormat::kUnknown && !config_.formats.preferred.empty()) {
    const char* accept = exchange.header("Accept");
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
  }
  if (config_.client_hints) {
    auto hint = [&exchange](const char* modern, const char* legacy) {
      const char* value = exchange.header(modern);
      return value ? value : exchange.header(legacy);
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
    if (const char* save = exchange.header("Save-Data");
        save && std::string_view(save) == "on" && spec.quality == 0) {
      spec.quality = kSaveDataQuality;
    }
    vary.insert(vary.end(), kHintHeaders.begin(), kHintHeaders.end());
  }
  for (auto header : vary) {
    if (!plan.vary.empty()) plan.vary += ", ";
    plan.vary += header;
  }
}

void Handlers::SetKey(Plan& plan, uint64_t generation) const {
  const auto& spec = plan.request.spec;
  std::string_view format = spec.format == transforms::ImageFormat::kUnknown
                                ? "auto"
                                : transforms::FormatExtension(spec.format);
  plan.generation = generation;
  plan.key = cache::VariantKey(plan.request.source, generation,
                               spec.Canonical() + "#" + output_fingerprint_, format);
  // The key already names everything that decides the bytes, so it doubles as a strong ETag
  // that can be checked before any rendering; a purge (new generation) changes it too.
  plan.etag = "\"" + plan.key.substr(0, 32) + "\"";
}

std::string Handlers::HotKey(const Exchange& exchange) const {
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

void Handlers::HandleImage(const ExchangePtr& exchange) {
  std::string hot_key = HotKey(*exchange);
  if (auto hot = hot_key.empty() ? nullptr : hot_paths_.Get(hot_key)) {
    // The same path with the same negotiation inputs was verified and planned before; the plan
    // holds while the source's purge generation is the one its key was made with.
    if (tiers_.CachedGeneration(hot->plan->request.source) == hot->plan->generation) {
      PlanPtr plan = hot->plan;
      return LookUp(exchange, std::move(plan), std::move(hot_key), std::move(hot));
    }
  }
  auto plan = MakePlan(*exchange, exchange->path());
  if (!plan) return ReplyError(*exchange, plan.error());
  // An expiring URL's plan ages (its max-age shrinks, then it is refused): never remembered.
  if (plan->request.expires) hot_key.clear();
  if (auto generation = tiers_.CachedGeneration(plan->request.source)) {
    SetKey(*plan, *generation);
    return LookUp(exchange, std::make_shared<const Plan>(*std::move(plan)), std::move(hot_key),
                  nullptr);
  }
  // Only a source not seen since the last purge anywhere in the fleet gets here: one round trip
  // to the shared tier, off the loop.
  auto pending = std::make_shared<Plan>(*std::move(plan));
  tiers_.FetchGeneration(pending->request.source,
                         [this, exchange, pending, hot_key](uint64_t generation) {
                           exchange->loop().Post([this, exchange, pending, generation, hot_key] {
                             SetKey(*pending, generation);
                             LookUp(exchange, pending, hot_key, nullptr);
                           });
                         });
}

void Handlers::LookUp(const ExchangePtr& exchange, PlanPtr plan, std::string hot_key,
                      std::shared_ptr<const HotPath> hot) {
  if (const char* inm = exchange->header("If-None-Match"); inm && EtagMatches(inm, plan->etag)) {
    exchange->AddHeader("ETag", plan->etag);
    exchange->AddHeader("Cache-Control", plan->cache_control);
    if (!plan->vary.empty()) exchange->AddHeader("Vary", plan->vary);
    exchange->Send(304, nullptr);
    counters_.not_modified.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (auto hit = memory_.Get(plan->key)) {
    counters_.memory_hits.fetch_add(1, std::memory_order_relaxed);
    const bool same_image = hot && !hot->image.owner_before(hit) && !hit.owner_before(hot->image);
    if (same_image) {
      return ReplyImage(*exchange, hot->headers, *hit, "HIT-MEMORY", "cache;desc=memory");
    }
    ReplyHeaders headers = ImageHeaders(*plan, *hit);
    ReplyImage(*exchange, headers, *hit, "HIT-MEMORY", "cache;desc=memory");
    if (!hot_key.empty()) {
      hot_paths_.Put(hot_key,
                     std::make_shared<const HotPath>(HotPath{plan, hit, std::move(headers)}));
    }
    return;
  }

  counters_.memory_misses.fetch_add(1, std::memory_order_relaxed);
  bool leader = renders_.Join(plan->key, [this, exchange, plan](const RenderedPtr& rendered) {
    exchange->loop().Post([this, exchange, plan, rendered] {
      if (!rendered->image) return ReplyError(*exchange, rendered->image.error());
      const cache::CachedImage& image = **rendered->image;
      if (!rendered->tier.empty()) {
        std::string x_cache = "HIT-" + rendered->tier;
        std::transform(x_cache.begin(), x_cache.end(), x_cache.begin(), ::toupper);
        return ReplyImage(*exchange, ImageHeaders(*plan, image), image, x_cache,
                          "cache;desc=" + rendered->tier);
      }
      ReplyImage(
          *exchange, ImageHeaders(*plan, image), image, "MISS",
          "fetch;dur=" + Ms(rendered->fetch_ms) + ", transform;dur=" + Ms(rendered->transform_ms));
    });
  });
  if (!leader) {
    counters_.coalesced.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  tiers_.Find(plan->key, [this, plan](cache::TieredCache::Found found) {
    const std::string& key = plan->key;
    if (found.image) {
      Rendered hit;
      hit.image = std::move(found.image);
      hit.tier = std::move(found.tier);
      renders_.Complete(key, std::make_shared<const Rendered>(std::move(hit)));
      return;
    }
    if (found.lease_held) {
      // Success stores the variant, which releases the lease with it; a failure must release
      // it alone, or other nodes would wait for the lease to expire.
      renders_.Join(key, [this, key](const RenderedPtr& rendered) {
        if (!rendered->image) tiers_.Abandon(key);
      });
    }
    Render(plan);
  });
}

void Handlers::Render(const std::shared_ptr<const Plan>& plan) {
  counters_.renders.fetch_add(1, std::memory_order_relaxed);
  auto start = Clock::now();
  sources_.Fetch(plan->request.source, [this, plan,
                                        start](const common::Result<sources::SourceImage>& source) {
    const double fetch_ms = MsSince(start);
    bool queued = source && cpu_.TrySubmit([this, plan, image = *source, fetch_ms] {
      Transform(*plan, image, fetch_ms);
    });
    if (queued) return;
    auto error = source ? common::Error{ErrorCode::kOverloaded, "server is busy, retry shortly"}
                        : source.error();
    if (error.code == ErrorCode::kOverloaded) {
      counters_.overloaded.fetch_add(1, std::memory_order_relaxed);
    }
    Finish(*plan, Rendered{std::unexpected(std::move(error)), fetch_ms});
  });
}

void Handlers::Transform(const Plan& plan, const sources::SourceImage& source, double fetch_ms) {
  const auto& request = plan.request;
  Rendered rendered;
  rendered.fetch_ms = fetch_ms;
  auto start = Clock::now();
  // Large originals were streamed to a file; libvips reads them from there sequentially.
  auto encoded = source.file
                     ? transforms::ProcessFile(source.file->path(), request.spec, config_.pipeline)
                     : transforms::Process(*source.bytes, request.spec, config_.pipeline);
  rendered.transform_ms = MsSince(start);
  if (!encoded) {
    rendered.image = std::unexpected(encoded.error());
  } else {
    auto image = std::make_shared<cache::CachedImage>();
    image->content_type = transforms::FormatMimeType(encoded->format);
    image->etag = plan.etag;
    image->last_modified = source.last_modified;
    image->width = encoded->width;
    image->height = encoded->height;
    image->body = common::MakeShared(std::move(encoded->bytes));
    tiers_.Store(plan.key, image);
    rendered.image = std::move(image);
  }
  Finish(plan, std::move(rendered));
}

void Handlers::Finish(const Plan& plan, Rendered rendered) {
  if (!rendered.image) counters_.render_errors.fetch_add(1, std::memory_order_relaxed);
  renders_.Complete(plan.key, std::make_shared<const Rendered>(std::move(rendered)));
}

void Handlers::HandleInfo(const ExchangePtr& exchange) {
  // "/info/{signature}/{options}/{source}": signed and parsed exactly like an image URL.
  auto plan = MakePlan(*exchange, exchange->path().substr(std::string_view("/info").size()));
  if (!plan) return ReplyError(*exchange, plan.error());
  auto shared = std::make_shared<const Plan>(*std::move(plan));
  auto fail = [this, exchange](common::Error error) {
    exchange->loop().Post([this, exchange, error] { ReplyError(*exchange, error); });
  };
  sources_.Fetch(shared->request.source, [this, exchange, shared, fail](
                                             const common::Result<sources::SourceImage>& source) {
    if (!source) return fail(source.error());
    bool queued = cpu_.TrySubmit([this, exchange, shared, image = *source] {
      auto info = InspectSource(image, config_.pipeline);
      exchange->loop().Post([this, exchange, shared, info = std::move(info)] {
        if (!info) return ReplyError(*exchange, info.error());
        nlohmann::json body = {
            {"width", info->width},
            {"height", info->height},
            {"format", transforms::FormatExtension(info->format)},
            {"mime_type", transforms::FormatMimeType(info->format)},
            {"bytes", info->bytes},
            {"alpha", info->alpha},
            {"pages", info->pages},
            {"orientation", info->orientation},
            {"colour_space", info->colour_space},
            {"dominant_colour", HexColour(info->dominant_colour)},
            {"blurhash", info->blurhash},
        };
        exchange->AddHeader("Content-Type", "application/json");
        exchange->AddHeader("Cache-Control", shared->cache_control);
        exchange->AddHeader(config_.cache_tag_header.c_str(),
                            cache::SourceTag(shared->request.source));
        exchange->Send(200, common::MakeShared(body.dump() + "\n"));
      });
    });
    if (!queued) {
      counters_.overloaded.fetch_add(1, std::memory_order_relaxed);
      fail({ErrorCode::kOverloaded, "server is busy, retry shortly"});
    }
  });
}

Handlers::ReplyHeaders Handlers::ImageHeaders(const Plan& plan,
                                              const cache::CachedImage& image) const {
  ReplyHeaders headers = {
      {"Content-Type", image.content_type},
      {"ETag", image.etag},
      {"Cache-Control", plan.cache_control},
  };
  if (image.last_modified > 0) headers.emplace_back("Last-Modified", HttpDate(image.last_modified));
  headers.emplace_back(config_.cache_tag_header.c_str(), cache::SourceTag(plan.request.source));
  if (!plan.vary.empty()) headers.emplace_back("Vary", plan.vary);
  if (config_.client_hints) headers.emplace_back("Accept-CH", "Sec-CH-DPR, Sec-CH-Width");
  if (image.content_type == transforms::FormatMimeType(transforms::ImageFormat::kSvg)) {
    // skip_processing may pass an SVG through: it must not run scripts if opened directly.
    headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; style-src 'unsafe-inline'; sandbox");
  }
  headers.emplace_back(
      "Content-Disposition",
      ContentDisposition(DownloadName(plan.request, ExtensionOfMime(image.content_type)),
                         plan.request.attachment));
  return headers;
}

void Handlers::ReplyImage(Exchange& exchange, const ReplyHeaders& headers,
                          const cache::CachedImage& image, const std::string& x_cache,
                          const std::string& timing) const {
  for (const auto& [name, value] : headers) exchange.AddHeader(name, value);
  exchange.AddHeader("X-Cache", x_cache);
  exchange.AddHeader("Server-Timing", timing + ", total;dur=" + Ms(exchange.elapsed_ms()));
  exchange.Send(200, image.body);
}

void Handlers::ReplyError(Exchange& exchange, const common::Error& error) const {
  int status = HttpStatus(error.code);
  if (status == 404 && config_.not_found_max_age > 0) {
    exchange.AddHeader("Cache-Control",
                       "public, max-age=" + std::to_string(config_.not_found_max_age));
  } else {
    exchange.AddHeader("Cache-Control", "no-store");
  }
  if (status == 503) exchange.AddHeader("Retry-After", "1");
  if (status >= 500) {
    spdlog::warn("{} {} -> {} {} (request {})", exchange.is_head() ? "HEAD" : "GET",
                 exchange.path(), status, error.message, exchange.request_id());
  }
  exchange.SendText(status, error.message + "\nrequest id: " + exchange.request_id() + "\n");
}

namespace {

void SendJson(Exchange& exchange, int status, const nlohmann::json& body) {
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.AddHeader("Content-Type", "application/json");
  exchange.Send(status, common::MakeShared(body.dump() + "\n"));
}

void SendJsonError(Exchange& exchange, int status, const std::string& message) {
  SendJson(exchange, status, {{"error", message}, {"request_id", exchange.request_id()}});
}

// "Bearer <key>", compared in constant time so the key cannot be guessed byte by byte.
bool BearerMatches(std::string_view header, std::string_view key) {
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), header.begin(),
                  [](char a, char b) { return tolower(a) == tolower(b); })) {
    return false;
  }
  std::string_view token = header.substr(kScheme.size());
  unsigned char diff = token.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < key.size(); ++i) {
    diff |= static_cast<unsigned char>(key[i] ^ (i < token.size() ? token[i] : 0));
  }
  return diff == 0;
}

}  // namespace

void Handlers::HandlePurge(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  if (config_.api_key.empty()) {
    return SendJsonError(ex, 404, "the /v1 API is disabled: set IMGORIGIN_API_KEY to enable it");
  }
  if (!ex.is_post()) {
    ex.AddHeader("Allow", "POST");
    return SendJsonError(ex, 405, "use POST");
  }
  const char* auth = ex.header("Authorization");
  if (auth == nullptr || !BearerMatches(auth, config_.api_key)) {
    ex.AddHeader("WWW-Authenticate", "Bearer");
    return SendJsonError(ex, 401, "missing or wrong API key: send Authorization: Bearer <key>");
  }
  constexpr size_t kMaxBody = 64 << 10;
  auto body = ex.body(kMaxBody);
  if (!body) return SendJsonError(ex, 413, "request body is larger than 64 KiB");
  auto json = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("source") ||
      !json["source"].is_string() || json["source"].get<std::string>().empty()) {
    return SendJsonError(ex, 400, "expected JSON {\"source\": \"<source URL as in image URLs>\"}");
  }
  // Resolved exactly as an image URL's source is (base URL, scheme case), so the generation
  // bumped is the one the image keys use.
  auto request = transforms::ParseProcessingPath(
      "/" + signing::Base64UrlEncode(json["source"].get<std::string>()), config_.parser);
  if (!request) return SendJsonError(ex, 400, request.error().message);
  std::string source = request->source;
  std::string tag = cache::SourceTag(source);
  tiers_.Purge(source, [this, exchange, source, tag](common::Result<uint64_t> generation) {
    exchange->loop().Post([this, exchange, source, tag, generation] {
      if (!generation) {
        spdlog::warn("purge of {} failed: {} (request {})", source, generation.error().message,
                     exchange->request_id());
        exchange->AddHeader("Retry-After", "1");
        return SendJsonError(*exchange, 503, generation.error().message);
      }
      spdlog::info("purged {} (generation {}, cache tag {})", source, *generation, tag);
      exchange->AddHeader(config_.cache_tag_header.c_str(), tag);
      const bool fleet = tiers_.has_shared();
      SendJson(*exchange, 200,
               {{"source", source},
                {"generation", *generation},
                {"cache_tag", tag},
                {"cache_tag_header", config_.cache_tag_header},
                {"scope", fleet ? "fleet" : "node"},
                {"propagation_ms", fleet ? tiers_.purge_bound().count() : 0}});
    });
  });
}

}  // namespace imgorigin::origin
