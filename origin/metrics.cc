#include "origin/metrics.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <thread>

namespace imgorigin::origin {
namespace {

constexpr std::string_view kRouteNames[] = {"other",   "image",   "info",    "health",
                                            "ready",   "metrics", "purge",   "images",
                                            "uploads", "jobs",    "dialect", "get_image"};
static_assert(std::size(kRouteNames) == static_cast<size_t>(Route::kCount));

constexpr std::string_view kFormatNames[] = {"none", "jpeg", "png", "webp", "avif",
                                             "gif",  "tiff", "jxl", "svg",  "other"};
static_assert(std::size(kFormatNames) == static_cast<size_t>(ReplyFormat::kCount));

constexpr std::string_view kClassNames[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

std::string FormatDouble(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

uint64_t Load(const std::atomic<uint64_t>& value) { return value.load(std::memory_order_relaxed); }

void Add(std::atomic<uint64_t>& value, uint64_t n = 1) {
  value.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

std::string_view RouteName(Route route) { return kRouteNames[static_cast<size_t>(route)]; }

std::string_view ReplyFormatName(ReplyFormat format) {
  return kFormatNames[static_cast<size_t>(format)];
}

ReplyFormat FormatOfContentType(std::string_view type) {
  if (type.empty()) return ReplyFormat::kNone;
  if (!type.starts_with("image/")) return ReplyFormat::kNone;
  type.remove_prefix(6);
  if (type == "jpeg") return ReplyFormat::kJpeg;
  if (type == "png") return ReplyFormat::kPng;
  if (type == "webp") return ReplyFormat::kWebp;
  if (type == "avif") return ReplyFormat::kAvif;
  if (type == "gif") return ReplyFormat::kGif;
  if (type == "tiff") return ReplyFormat::kTiff;
  if (type == "jxl") return ReplyFormat::kJxl;
  if (type.starts_with("svg")) return ReplyFormat::kSvg;
  return ReplyFormat::kOther;
}

std::string Namespaced(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string out(ns);
  out += '_';
  out += name;
  return out;
}

void PromWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PromWriter::Sample(std::string_view name, std::string_view labels, double value) {
  out_.append(name).append(labels).append(" ").append(FormatDouble(value)).append("\n");
}

void PromWriter::Sample(std::string_view name, std::string_view labels, uint64_t value) {
  out_.append(name).append(labels).append(" ").append(std::to_string(value)).append("\n");
}

void PromWriter::Sample(std::string_view name, std::string_view labels, int64_t value) {
  out_.append(name).append(labels).append(" ").append(std::to_string(value)).append("\n");
}

size_t ShardIndex() {
  thread_local const size_t index =
      std::hash<std::thread::id>{}(std::this_thread::get_id()) % kShards;
  return index;
}

void Histogram::Record(double seconds) {
  Shard& shard = shards_[ShardIndex()];
  size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  Add(shard.buckets[bucket]);
  Add(shard.sum_ns, static_cast<uint64_t>(std::max(0.0, seconds) * 1e9));
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    for (const auto& bucket : shard.buckets) total += Load(bucket);
  }
  return total;
}

void Histogram::Write(PromWriter& writer, std::string_view name, std::string_view labels) const {
  std::array<uint64_t, kBuckets.size() + 1> counts{};
  uint64_t sum_ns = 0;
  for (const auto& shard : shards_) {
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += Load(shard.buckets[i]);
    sum_ns += Load(shard.sum_ns);
  }
  // `labels` is "" or "{a=\"x\"}": le joins the others inside the braces.
  const std::string inner =
      labels.empty() ? std::string() : std::string(labels.substr(1, labels.size() - 2)) + ",";
  const std::string bucket_name = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const double bound = i < kBuckets.size() ? kBuckets[i] : INFINITY;
    writer.Sample(bucket_name, "{" + inner + "le=\"" + FormatDouble(bound) + "\"}", cumulative);
  }
  writer.Sample(std::string(name) + "_sum", labels, static_cast<double>(sum_ns) / 1e9);
  writer.Sample(std::string(name) + "_count", labels, cumulative);
}

void RequestMetrics::CountReply(Route route, int status, ReplyFormat format, double seconds) {
  Shard& shard = shards_[ShardIndex()];
  const size_t status_class = status >= 100 && status < 600 ? status / 100 - 1 : 4;
  Add(shard.requests[(static_cast<size_t>(route) * kClasses + status_class) * kFormats +
                     static_cast<size_t>(format)]);
  if (status >= 100 && status < 600) Add(shard.statuses[static_cast<size_t>(status)]);
  duration_[static_cast<size_t>(route)].Record(seconds);
}

namespace {
// Labels of RequestMetrics::Tier, in its order.
constexpr std::array<std::string_view, static_cast<size_t>(RequestMetrics::Tier::kCount)>
    kTierNames = {"redis", "memcached", "disk", "s3", "miss"};
}  // namespace

RequestMetrics::Tier RequestMetrics::TierOf(std::string_view answered) {
  for (size_t t = 0; t + 1 < kTierNames.size(); ++t) {
    if (kTierNames[t] == answered) return static_cast<Tier>(t);
  }
  return Tier::kMiss;
}

void RequestMetrics::Write(PromWriter& writer, std::string_view ns) const {
  std::array<uint64_t, kRoutes * kClasses * kFormats> requests{};
  std::array<uint64_t, 600> statuses{};
  for (const auto& shard : shards_) {
    for (size_t i = 0; i < requests.size(); ++i) requests[i] += Load(shard.requests[i]);
    for (size_t i = 0; i < statuses.size(); ++i) statuses[i] += Load(shard.statuses[i]);
  }
  const std::string requests_total = Namespaced(ns, "requests_total");
  writer.Family(requests_total, "counter",
                "HTTP requests answered, by route, status class and output format.");
  for (size_t r = 0; r < kRoutes; ++r) {
    for (size_t c = 0; c < kClasses; ++c) {
      for (size_t f = 0; f < kFormats; ++f) {
        const uint64_t n = requests[(r * kClasses + c) * kFormats + f];
        if (n == 0) continue;
        writer.Sample(requests_total,
                      "{route=\"" + std::string(kRouteNames[r]) + "\",status_class=\"" +
                          std::string(kClassNames[c]) + "\",format=\"" +
                          std::string(kFormatNames[f]) + "\"}",
                      n);
      }
    }
  }
  const std::string status_codes = Namespaced(ns, "status_codes_total");
  writer.Family(status_codes, "counter", "HTTP answers by status code.");
  for (size_t s = 0; s < statuses.size(); ++s) {
    if (statuses[s] > 0) {
      writer.Sample(status_codes, "{status=\"" + std::to_string(s) + "\"}", statuses[s]);
    }
  }
  const std::string duration = Namespaced(ns, "request_duration_seconds");
  writer.Family(duration, "histogram", "Time from a request's arrival to its answer, by route.");
  for (size_t r = 0; r < kRoutes; ++r) {
    if (duration_[r].count() == 0) continue;
    duration_[r].Write(writer, duration, "{route=\"" + std::string(kRouteNames[r]) + "\"}");
  }
  const std::string download_name = Namespaced(ns, "download_duration_seconds");
  writer.Family(download_name, "histogram",
                "Time to get an original for a render (source cache, then its source).");
  download.Write(writer, download_name, "");
  const std::string processing_name = Namespaced(ns, "processing_duration_seconds");
  writer.Family(processing_name, "histogram",
                "Time to decode, transform and encode a variant on the CPU pool.");
  processing.Write(writer, processing_name, "");
  writer.Family("imgorigin_cache_lookup_duration_seconds", "histogram",
                "Time of a cache look-up: the memory tier, then the tiers below it together.");
  memory_lookup.Write(writer, "imgorigin_cache_lookup_duration_seconds", "{tier=\"memory\"}");
  for (size_t t = 0; t < tier_lookup.size(); ++t) {
    if (tier_lookup[t].count() == 0) continue;
    tier_lookup[t].Write(writer, "imgorigin_cache_lookup_duration_seconds",
                         "{tier=\"" + std::string(kTierNames[t]) + "\"}");
  }
  writer.Family("imgorigin_encode_duration_seconds", "histogram",
                "Time in the encoder; libvips computes the pixels as the encoder pulls them, so "
                "this includes the decode and transform of the rows it encodes.");
  encode.Write(writer, "imgorigin_encode_duration_seconds", "");
  const std::string images = Namespaced(ns, "images_in_progress");
  writer.Family(images, "gauge", "Renders under way (fetch, transform, encode).");
  writer.Sample(images, "", images_in_progress.load(std::memory_order_relaxed));
  writer.Family("imgorigin_format_upgrades_total", "counter",
                "Format upgrade: answers in a cheaper format while the negotiated one renders in "
                "the background (fallback), and those background renders stored (upgraded).");
  writer.Sample("imgorigin_format_upgrades_total", "{result=\"fallback\"}",
                upgrade_fallbacks.load(std::memory_order_relaxed));
  writer.Sample("imgorigin_format_upgrades_total", "{result=\"upgraded\"}",
                upgrades.load(std::memory_order_relaxed));
}

}  // namespace imgorigin::origin
