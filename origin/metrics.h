// Request metrics for /metrics: request counts by route, status class and output format, status
// codes, and latency histograms (whole request, fetch, transform, cache look-ups), plus the
// Prometheus text writer the admin endpoint prints every family with.
//
// Names follow imgproxy's Prometheus metrics where it has the same metric (requests_total,
// status_codes_total, request_duration_seconds, download_duration_seconds,
// processing_duration_seconds, requests_in_progress, images_in_progress, vips_*), with its
// namespace option (metrics.namespace), so its dashboards work; the rest are imgorigin_*.
//
// Recording is lock-free: every figure is a relaxed atomic in one of kShards cache-line-aligned
// shards, picked per thread, so loops and workers never write the same line; a scrape sums the
// shards. Any thread may record and scrape at once.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace imgorigin::origin {

// What the router dispatched a request to: the `route` label.
enum class Route : uint8_t {
  kOther,  // refused before any endpoint (malformed, too long, wrong method)
  kImage,
  kInfo,
  kHealth,
  kReady,
  kMetrics,
  kPurge,
  kImages,
  kUploads,
  kJobs,
  kDialect,
  kGetImage,
  kCount,
};
std::string_view RouteName(Route route);

// The `format` label: the reply's image format from its Content-Type, or "none".
enum class ReplyFormat : uint8_t {
  kNone,
  kJpeg,
  kPng,
  kWebp,
  kAvif,
  kGif,
  kTiff,
  kJxl,
  kSvg,
  kOther,
  kCount
};
ReplyFormat FormatOfContentType(std::string_view content_type);
std::string_view ReplyFormatName(ReplyFormat format);

// Prometheus text exposition, one family at a time.
class PromWriter {
 public:
  explicit PromWriter(std::string& out) : out_(out) {}
  // Starts a family: HELP and TYPE lines.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // One sample; `labels` is "" or "{a=\"x\",…}".
  void Sample(std::string_view name, std::string_view labels, double value);
  void Sample(std::string_view name, std::string_view labels, uint64_t value);
  void Sample(std::string_view name, std::string_view labels, int64_t value);

 private:
  std::string& out_;
};

inline constexpr size_t kShards = 8;
// This thread's shard.
size_t ShardIndex();

// Cumulative buckets in seconds, shared by every histogram (1 ms … 10 s, then +Inf).
inline constexpr std::array<double, 13> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,  0.5,    1,     2.5,  5,     10};

class Histogram {
 public:
  void Record(double seconds);
  // Writes the _bucket, _sum and _count samples (the family header is the caller's).
  void Write(PromWriter& writer, std::string_view name, std::string_view labels) const;
  uint64_t count() const;

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // last = over the top
    std::atomic<uint64_t> sum_ns{0};
  };
  std::array<Shard, kShards> shards_;
};

class RequestMetrics {
 public:
  // One answered request (Exchange::Send). `seconds`: from arrival to the reply.
  void CountReply(Route route, int status, ReplyFormat format, double seconds);
  Histogram download;       // fetching an original (source cache misses included)
  Histogram processing;     // decode + transform + encode on the CPU pool
  Histogram encode;         // the encoder call (libvips pulls the pixels it encodes through it)
  Histogram memory_lookup;  // memory tier look-up, on the loop
  // The tiers below memory, one Find each, by the tier that answered (a miss went through all).
  enum class Tier { kRedis, kMemcached, kDisk, kS3, kMiss, kCount };
  std::array<Histogram, static_cast<size_t>(Tier::kCount)> tier_lookup;
  static Tier TierOf(std::string_view answered);
  std::atomic<int64_t> images_in_progress{0};  // renders between fetch and reply
  // Format upgrade (origin/image_endpoint.h): answers in the cheaper format while the negotiated
  // one renders in the background, and those background renders stored.
  std::atomic<uint64_t> upgrade_fallbacks{0};
  std::atomic<uint64_t> upgrades{0};

  // Writes every family above, names prefixed with `ns` + "_" where imgproxy's are used.
  void Write(PromWriter& writer, std::string_view ns) const;

 private:
  static constexpr size_t kRoutes = static_cast<size_t>(Route::kCount);
  static constexpr size_t kFormats = static_cast<size_t>(ReplyFormat::kCount);
  static constexpr size_t kClasses = 5;  // 1xx … 5xx
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kRoutes * kClasses * kFormats> requests{};
    std::array<std::atomic<uint64_t>, 600> statuses{};
  };
  std::array<Shard, kShards> shards_;
  std::array<Histogram, kRoutes> duration_;
};

// imgproxy's namespace rule: "ns_name", or "name" when ns is empty.
std::string Namespaced(std::string_view ns, std::string_view name);

}  // namespace imgorigin::origin
