#include "origin/image_endpoint.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cache/key.h"
#include "origin/replies.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using Clock = std::chrono::steady_clock;

// The hot-path table: byte-bounded, a few thousand typical paths.
constexpr size_t kHotPathBytes = 8u << 20;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// If-None-Match may list several tags, weak ones included. "*" matches any current
// representation (RFC 9110 §13.1.2), which the ETag alone does not prove exists: it matches only
// once the image is at hand.
bool EtagMatches(std::string_view header, std::string_view etag, bool image_at_hand) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if ((tag == "*" && image_at_hand) || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
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

// X-Cache for an answer from a tier below memory ("disk" → "HIT-DISK").
std::string TierHit(std::string_view tier) {
  std::string x_cache = "HIT-" + std::string(tier);
  std::transform(x_cache.begin(), x_cache.end(), x_cache.begin(), ::toupper);
  return x_cache;
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

}  // namespace

ImageEndpoint::ImageEndpoint(const Config& config, const Planner& planner,
                             cache::MemoryTier& memory, common::ThreadPool& cpu,
                             sources::SourceCache& sources, cache::TieredCache& tiers,
                             RequestCounters& counters)
    : config_(config),
      planner_(planner),
      memory_(memory),
      cpu_(cpu),
      sources_(sources),
      tiers_(tiers),
      counters_(counters),
      hot_paths_(kHotPathBytes, 16, [](const HotPath& hot) {
        // Approximate: the plan's strings and spec, the headers, and the structures around them.
        size_t bytes = sizeof(HotPath) + sizeof(Plan) + hot.plan->request.source.size() +
                       hot.plan->key.size() + hot.plan->cache_control.size() +
                       hot.plan->vary.size() + 256;
        return bytes + hot.headers.size();
      }) {}

void ImageEndpoint::Handle(const ExchangePtr& exchange) {
  std::string hot_key = planner_.HotKey(*exchange);
  if (auto hot = hot_key.empty() ? nullptr : hot_paths_.Get(hot_key)) {
    // The same path with the same negotiation inputs was verified and planned before; the plan
    // holds while the source's purge generation is the one its key was made with.
    if (tiers_.CachedGeneration(hot->plan->request.source) == hot->plan->generation) {
      PlanPtr plan = hot->plan;
      return LookUp(exchange, std::move(plan), std::move(hot_key), std::move(hot), nullptr);
    }
  }
  MakePlan(exchange, exchange->path(), std::move(hot_key), nullptr);
}

void ImageEndpoint::Handle(const ExchangePtr& exchange, std::string_view path) {
  MakePlan(exchange, path, "", nullptr);
}

void ImageEndpoint::Handle(const ExchangePtr& exchange, std::string_view path, AttemptPtr attempt) {
  MakePlan(exchange, path, "", std::move(attempt));
}

void ImageEndpoint::MakePlan(const ExchangePtr& exchange, std::string_view path,
                             std::string hot_key, AttemptPtr attempt) {
  auto plan = planner_.Make(*exchange, path);
  if (!plan) return ReplyError(*exchange, plan.error());
  // An expiring URL's plan ages (its max-age shrinks, then it is refused): never remembered.
  if (plan->request.expires) hot_key.clear();
  if (attempt) {
    if (!attempt->cache_control.empty()) plan->cache_control = attempt->cache_control;
    plan->headers = attempt->headers;
  }
  if (auto generation = tiers_.CachedGeneration(plan->request.source)) {
    planner_.SetKey(*plan, *generation);
    return LookUp(exchange, std::make_shared<const Plan>(*std::move(plan)), std::move(hot_key),
                  nullptr, std::move(attempt));
  }
  // Only a source not seen since the last purge anywhere in the fleet gets here: one round trip
  // to the shared tier, off the loop.
  auto pending = std::make_shared<Plan>(*std::move(plan));
  tiers_.FetchGeneration(
      pending->request.source, [this, exchange, pending, hot_key, attempt](uint64_t generation) {
        exchange->loop().Post([this, exchange, pending, generation, hot_key, attempt] {
          planner_.SetKey(*pending, generation);
          LookUp(exchange, pending, hot_key, nullptr, attempt);
        });
      });
}

void ImageEndpoint::LookUp(const ExchangePtr& exchange, PlanPtr plan, std::string hot_key,
                           std::shared_ptr<const HotPath> hot, AttemptPtr attempt) {
  if (const char* inm = exchange->header("If-None-Match");
      inm && EtagMatches(inm, plan->etag, /*image_at_hand=*/false)) {
    return ReplyNotModified(*exchange, *plan);
  }
  const auto memory_start = Clock::now();
  auto hit = memory_.Get(plan->key);
  counters_.metrics.memory_lookup.Record(MsSince(memory_start) / 1000);
  if (hit) {
    Count(counters_.memory_hits);
    const bool same_image = hot && !hot->image.owner_before(hit) && !hit.owner_before(hot->image);
    if (same_image) {
      return ReplyImage(*exchange, *plan, hot->headers, *hit, "HIT-MEMORY", "cache;desc=memory");
    }
    ReplyHeaders headers = ImageHeaders(*plan, *hit);
    ReplyImage(*exchange, *plan, headers, *hit, "HIT-MEMORY", "cache;desc=memory");
    if (!hot_key.empty()) {
      hot_paths_.Put(hot_key,
                     std::make_shared<const HotPath>(HotPath{plan, hit, std::move(headers)}));
    }
    return;
  }

  Count(counters_.memory_misses);
  if (attempt && attempt->cached_only) {
    return LookUpCached(exchange, std::move(plan), std::move(attempt));
  }
  if (plan->fallback_format && !attempt) return Upgrade(exchange, std::move(plan));
  bool leader =
      renders_.Join(plan->key, [this, exchange, plan, attempt](const RenderedPtr& rendered) {
        exchange->loop().Post([this, exchange, plan, rendered, attempt] {
          if (!rendered->image) {
            if (attempt) return attempt->on_failure(rendered->image.error());
            return ReplyError(*exchange, rendered->image.error());
          }
          const cache::CachedImage& image = **rendered->image;
          if (!rendered->tier.empty()) return ReplyFromTier(*exchange, *plan, image, rendered->tier);
          exchange->SetRenderTimes(rendered->fetch_ms, rendered->transform_ms);
          ReplyImage(*exchange, *plan, ImageHeaders(*plan, image), image, "MISS",
                     "fetch;dur=" + FormatMs(rendered->fetch_ms) +
                         ", transform;dur=" + FormatMs(rendered->transform_ms));
        });
      });
  if (!leader) {
    Count(counters_.coalesced);
    return;
  }
  FindOrRender(plan, Priority::kNormal);
}

void ImageEndpoint::FindOrRender(const PlanPtr& plan, Priority priority) {
  const auto lookup_start = Clock::now();
  tiers_.Find(plan->key, [this, plan, priority, lookup_start](cache::TieredCache::Found found) {
    counters_.metrics
        .tier_lookup[static_cast<size_t>(RequestMetrics::TierOf(found.image ? found.tier : ""))]
        .Record(MsSince(lookup_start) / 1000);
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
    Render(plan, priority);
  });
}

void ImageEndpoint::LookUpCached(const ExchangePtr& exchange, PlanPtr plan, AttemptPtr attempt) {
  tiers_.Peek(plan->key, [this, exchange, plan, attempt](cache::TieredCache::Found found) {
    exchange->loop().Post([this, exchange, plan, attempt, found = std::move(found)] {
      if (!found.image) {
        return attempt->on_failure({ErrorCode::kOverloaded, "server is busy, retry shortly"});
      }
      ReplyFromTier(*exchange, *plan, *found.image, found.tier);
    });
  });
}

void ImageEndpoint::Upgrade(const ExchangePtr& exchange, PlanPtr plan) {
  // Peek, not Find: the lease is the background render's to take, and this visitor waits for
  // nobody's render.
  tiers_.Peek(plan->key, [this, exchange, plan](cache::TieredCache::Found found) {
    exchange->loop().Post([this, exchange, plan, found = std::move(found)] {
      if (found.image) return ReplyFromTier(*exchange, *plan, *found.image, found.tier);
      counters_.metrics.upgrade_fallbacks.fetch_add(1, std::memory_order_relaxed);
      // Never remembered as a hot path: the next request must look for the better format again.
      LookUp(exchange, std::make_shared<const Plan>(planner_.FallbackPlan(*plan)), "", nullptr,
             nullptr);
      RenderInBackground(plan);
    });
  });
}

void ImageEndpoint::RenderInBackground(const PlanPtr& plan) {
  const bool leader = renders_.Join(plan->key, [this](const RenderedPtr& rendered) {
    if (rendered->image) counters_.metrics.upgrades.fetch_add(1, std::memory_order_relaxed);
  });
  // Otherwise it is under way already: one background render per variant.
  if (leader) FindOrRender(plan, Priority::kLow);
}

void ImageEndpoint::ReplyFromTier(Exchange& exchange, const Plan& plan,
                                  const cache::CachedImage& image, const std::string& tier) const {
  ReplyImage(exchange, plan, ImageHeaders(plan, image), image, TierHit(tier), "cache;desc=" + tier);
}

void ImageEndpoint::Render(const PlanPtr& plan, Priority priority) {
  Count(counters_.renders);
  counters_.metrics.images_in_progress.fetch_add(1, std::memory_order_relaxed);
  auto start = Clock::now();
  auto fetched = [this, plan, priority, start](const common::Result<sources::SourceImage>& source) {
    const double fetch_ms = MsSince(start);
    counters_.metrics.download.Record(fetch_ms / 1000);
    bool queued = source && cpu_.TrySubmit(
                                [this, plan, image = *source, fetch_ms] {
                                  Transform(*plan, image, fetch_ms);
                                },
                                priority);
    if (queued) return;
    auto error = source ? common::Error{ErrorCode::kOverloaded, "server is busy, retry shortly"}
                        : source.error();
    // A background render refused is no request refused.
    if (error.code == ErrorCode::kOverloaded && priority == Priority::kNormal) {
      Count(counters_.overloaded);
    }
    Finish(*plan, Rendered{std::unexpected(std::move(error)), fetch_ms});
  };
  sources_.Fetch(plan->request.source, plan->request.cachebuster, std::move(fetched));
}

void ImageEndpoint::Transform(const Plan& plan, const sources::SourceImage& source,
                              double fetch_ms) {
  const auto& request = plan.request;
  Rendered rendered;
  rendered.fetch_ms = fetch_ms;
  auto start = Clock::now();
  // Large originals were streamed to a file; libvips reads them from there sequentially.
  auto encoded = source.file
                     ? transforms::ProcessFile(source.file->path(), request.spec, config_.pipeline)
                     : transforms::Process(*source.bytes, request.spec, config_.pipeline);
  rendered.transform_ms = MsSince(start);
  counters_.metrics.processing.Record(rendered.transform_ms / 1000);
  if (!encoded) {
    rendered.image = std::unexpected(encoded.error());
  } else {
    counters_.metrics.encode.Record(encoded->encode_seconds);
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

void ImageEndpoint::Finish(const Plan& plan, Rendered rendered) {
  if (!rendered.image) Count(counters_.render_errors);
  counters_.metrics.images_in_progress.fetch_sub(1, std::memory_order_relaxed);
  renders_.Complete(plan.key, std::make_shared<const Rendered>(std::move(rendered)));
}

ImageEndpoint::ReplyHeaders ImageEndpoint::ImageHeaders(const Plan& plan,
                                                        const cache::CachedImage& image) const {
  ReplyHeaders headers;
  headers.reserve(512);
  auto add = [&headers](std::string_view name, std::string_view value) {
    Exchange::AppendHeader(headers, name, value);
  };
  add("ETag", image.etag);
  add("Cache-Control", plan.cache_control);
  if (image.last_modified > 0) add("Last-Modified", HttpDate(image.last_modified));
  add(config_.cache_tag_header, cache::SourceTag(plan.request.source));
  if (!plan.vary.empty()) add("Vary", plan.vary);
  if (config_.client_hints) add("Accept-CH", "Sec-CH-DPR, Sec-CH-Width");
  if (image.content_type == transforms::FormatMimeType(transforms::ImageFormat::kSvg)) {
    // skip_processing may pass an SVG through: it must not run scripts if opened directly.
    add("Content-Security-Policy", kSvgContentSecurityPolicy);
  }
  add("Content-Disposition",
      ContentDisposition(DownloadName(plan.request, ExtensionOfMime(image.content_type)),
                         plan.request.attachment));
  for (const auto& [name, value] : plan.headers) add(name, value);
  return headers;
}

void ImageEndpoint::ReplyImage(Exchange& exchange, const Plan& plan, const ReplyHeaders& headers,
                               const cache::CachedImage& image, const std::string& x_cache,
                               const std::string& timing) const {
  if (const char* inm = exchange.header("If-None-Match");
      inm && EtagMatches(inm, image.etag, /*image_at_hand=*/true)) {
    return ReplyNotModified(exchange, plan);
  }
  exchange.AddHeader("Content-Type", image.content_type);
  exchange.AddHeaderBlock(headers);
  exchange.SetXCache(x_cache);
  exchange.AddHeader("Server-Timing", timing + ", total;dur=" + FormatMs(exchange.elapsed_ms()));
  exchange.Send(200, image.body);
}

void ImageEndpoint::ReplyNotModified(Exchange& exchange, const Plan& plan) const {
  exchange.AddHeader("ETag", plan.etag);
  exchange.AddHeader("Cache-Control", plan.cache_control);
  if (!plan.vary.empty()) exchange.AddHeader("Vary", plan.vary);
  for (const auto& [name, value] : plan.headers) exchange.AddHeader(name, value);
  exchange.Send(304, nullptr);
  Count(counters_.not_modified);
}

void ImageEndpoint::ReplyError(Exchange& exchange, const common::Error& error) const {
  origin::ReplyError(exchange, error, config_.not_found_max_age);
}

}  // namespace imgorigin::origin
