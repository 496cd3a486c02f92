#include "origin/handlers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "cache/key.h"
#include "transforms/format.h"
#include "transforms/pipeline.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using Clock = std::chrono::steady_clock;

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

std::string Ms(double ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f", ms);
  return buf;
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

}  // namespace

Handlers::Handlers(const Config& config, const signing::Signer& signer, cache::MemoryTier& memory,
                   common::ThreadPool& cpu, const SourceRouter& sources)
    : config_(config),
      signer_(signer),
      memory_(memory),
      cpu_(cpu),
      sources_(sources),
      max_age_(MaxAgeOf(config.cache_control)) {}

void Handlers::Handle(const ExchangePtr& exchange) {
  std::string_view path = exchange->path();
  if (!exchange->is_get_or_head()) {
    exchange->AddHeader("Allow", "GET, HEAD");
    exchange->AddHeader("Cache-Control", "no-store");
    exchange->SendText(405, "method not allowed: use GET or HEAD\n");
    return;
  }
  if (path == "/health") {
    exchange->AddHeader("Cache-Control", "no-store");
    exchange->SendText(200, "ok\n");
    return;
  }
  if (path == "/metrics") return HandleMetrics(*exchange);
  HandleImage(exchange);
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
  counter("imgorigin_cache_hits_total", "Variants answered from a cache tier.", "{tier=\"memory\"}",
          load(counters_.memory_hits));
  counter("imgorigin_cache_misses_total", "Cache tier look-ups that missed.", "{tier=\"memory\"}",
          load(counters_.memory_misses));
  counter("imgorigin_not_modified_total", "304 answers to If-None-Match.", "",
          load(counters_.not_modified));
  counter("imgorigin_coalesced_total", "Requests that waited for another request's render.", "",
          load(counters_.coalesced));
  counter("imgorigin_renders_total", "Source fetch + transform runs.", "", load(counters_.renders));
  counter("imgorigin_render_errors_total", "Renders that ended in an error.", "",
          load(counters_.render_errors));
  counter("imgorigin_overloaded_total", "Requests refused with 503 (transform queue full).", "",
          load(counters_.overloaded));
  out += "# HELP imgorigin_memory_cache_bytes Bytes held by the memory tier.\n"
         "# TYPE imgorigin_memory_cache_bytes gauge\n"
         "imgorigin_memory_cache_bytes " + std::to_string(memory_.size_bytes()) + "\n";
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.AddHeader("Content-Type", "text/plain; version=0.0.4");
  exchange.Send(200, common::MakeShared(std::move(out)));
}

common::Result<Handlers::Plan> Handlers::MakePlan(const Exchange& exchange) const {
  std::string_view path = exchange.path();
  if (exchange.target().size() > config_.max_url_length) {
    return Fail(ErrorCode::kBadRequest,
                "URL is longer than " + std::to_string(config_.max_url_length) + " characters");
  }
  // "/{signature}/{options…}/{source}": the signature covers everything after its segment.
  size_t slash = path.find('/', 1);
  if (path.size() < 2 || slash == std::string_view::npos || slash + 1 >= path.size()) {
    return Fail(ErrorCode::kNotFound, "not found: image URLs look like /{signature}/{options}/{source}");
  }
  std::string_view signature = path.substr(1, slash - 1);
  std::string_view signed_path = path.substr(slash);
  if (!signer_.Verify(signature, signed_path)) {
    return Fail(ErrorCode::kForbidden, "invalid signature");
  }
  auto request = transforms::ParseProcessingPath(signed_path, config_.parser);
  if (!request) return std::unexpected(request.error());

  Plan plan;
  plan.cache_control = config_.cache_control;
  if (request->expires) {
    int64_t remaining = *request->expires - UnixNow();
    if (remaining <= 0) return Fail(ErrorCode::kForbidden, "URL has expired");
    // A CDN must not keep the image past the URL's own expiry.
    plan.cache_control = "public, max-age=" + std::to_string(std::min(remaining, max_age_.value_or(remaining)));
  }
  const auto& spec = request->spec;
  std::string_view format = spec.format == transforms::ImageFormat::kUnknown
                                ? "auto"
                                : transforms::FormatExtension(spec.format);
  plan.key = cache::VariantKey(request->source, 0, spec.Canonical(), format);
  // The key already names everything that decides the bytes, so it doubles as a strong ETag
  // that can be checked before any rendering.
  plan.etag = "\"" + plan.key.substr(0, 32) + "\"";
  plan.request = *std::move(request);
  return plan;
}

void Handlers::HandleImage(const ExchangePtr& exchange) {
  auto plan = MakePlan(*exchange);
  if (!plan) return ReplyError(*exchange, plan.error());

  if (const char* inm = exchange->header("If-None-Match"); inm && EtagMatches(inm, plan->etag)) {
    exchange->AddHeader("ETag", plan->etag);
    exchange->AddHeader("Cache-Control", plan->cache_control);
    exchange->Send(304, nullptr);
    counters_.not_modified.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (auto hit = memory_.Get(plan->key)) {
    counters_.memory_hits.fetch_add(1, std::memory_order_relaxed);
    return ReplyImage(*exchange, *plan, *hit, "HIT-MEMORY", "cache;desc=memory");
  }

  counters_.memory_misses.fetch_add(1, std::memory_order_relaxed);
  auto shared_plan = std::make_shared<const Plan>(*std::move(plan));
  bool leader = renders_.Join(shared_plan->key, [this, exchange, shared_plan](
                                                    const RenderedPtr& rendered) {
    exchange->loop().Post([this, exchange, shared_plan, rendered] {
      if (!rendered->image) return ReplyError(*exchange, rendered->image.error());
      ReplyImage(*exchange, *shared_plan, **rendered->image, "MISS",
                 "fetch;dur=" + Ms(rendered->fetch_ms) + ", transform;dur=" +
                     Ms(rendered->transform_ms));
    });
  });
  if (!leader) {
    counters_.coalesced.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bool queued = cpu_.TrySubmit([this, shared_plan] { Render(*shared_plan); });
  if (!queued) {
    counters_.overloaded.fetch_add(1, std::memory_order_relaxed);
    renders_.Complete(shared_plan->key,
                      std::make_shared<const Rendered>(Rendered{
                          Fail(ErrorCode::kOverloaded, "server is busy, retry shortly")}));
  }
}

void Handlers::Render(const Plan& plan) {
  const auto& request = plan.request;
  counters_.renders.fetch_add(1, std::memory_order_relaxed);
  Rendered rendered;
  auto start = Clock::now();
  auto source = sources_.Fetch(request.source);
  rendered.fetch_ms = MsSince(start);
  if (!source) {
    rendered.image = std::unexpected(source.error());
  } else {
    start = Clock::now();
    auto encoded = transforms::Process(*source->bytes, request.spec, config_.pipeline);
    rendered.transform_ms = MsSince(start);
    if (!encoded) {
      rendered.image = std::unexpected(encoded.error());
    } else {
      auto image = std::make_shared<cache::CachedImage>();
      image->content_type = transforms::FormatMimeType(encoded->format);
      image->etag = plan.etag;
      image->last_modified = source->last_modified;
      image->width = encoded->width;
      image->height = encoded->height;
      image->body = common::MakeShared(std::move(encoded->bytes));
      memory_.Put(plan.key, image);
      rendered.image = std::move(image);
    }
  }
  if (!rendered.image) counters_.render_errors.fetch_add(1, std::memory_order_relaxed);
  renders_.Complete(plan.key, std::make_shared<const Rendered>(std::move(rendered)));
}

void Handlers::ReplyImage(Exchange& exchange, const Plan& plan, const cache::CachedImage& image,
                          const std::string& x_cache, const std::string& timing) const {
  exchange.AddHeader("Content-Type", image.content_type);
  exchange.AddHeader("ETag", image.etag);
  exchange.AddHeader("Cache-Control", plan.cache_control);
  if (image.last_modified > 0) exchange.AddHeader("Last-Modified", HttpDate(image.last_modified));
  exchange.AddHeader(config_.cache_tag_header.c_str(), cache::SourceTag(plan.request.source));
  exchange.AddHeader("X-Cache", x_cache);
  exchange.AddHeader("Content-Disposition",
                     ContentDisposition(DownloadName(plan.request, ExtensionOfMime(image.content_type)),
                                        plan.request.attachment));
  exchange.AddHeader("Server-Timing", timing + ", total;dur=" + Ms(exchange.elapsed_ms()));
  exchange.Send(200, image.body);
}

void Handlers::ReplyError(Exchange& exchange, const common::Error& error) const {
  int status = common::HttpStatus(error.code);
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

}  // namespace imgorigin::origin
