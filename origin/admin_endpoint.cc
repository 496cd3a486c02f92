#include "origin/admin_endpoint.h"

#include <vips/vips.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "origin/build_info.h"

namespace imgorigin::origin {

void AdminEndpoint::Health(Exchange& exchange) const {
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.SendText(200, "ok\n");
}

void AdminEndpoint::Ready(Exchange& exchange) const {
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

void AdminEndpoint::Metrics(const ExchangePtr& exchange) const {
  std::string text = MetricsText();
  if (!live_.jobs) return SendMetrics(*exchange, std::move(text));
  auto shared = std::make_shared<std::string>(std::move(text));
  const bool queued = io_.TrySubmit([this, exchange, shared] {
    auto stats = live_.jobs();
    exchange->loop().Post([this, exchange, shared, stats] {
      AppendJobQueue(*shared, stats);
      SendMetrics(*exchange, std::move(*shared));
    });
  });
  // The I/O pool is full: the scrape goes without the job queue rather than failing.
  if (!queued) SendMetrics(*exchange, std::move(*shared));
}

void AdminEndpoint::SendMetrics(Exchange& exchange, std::string text) {
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.AddHeader("Content-Type", "text/plain; version=0.0.4");
  exchange.Send(200, common::MakeShared(std::move(text)));
}

void AdminEndpoint::AppendJobQueue(std::string& out,
                                   const std::optional<ingest::QueueStats>& stats) const {
  PromWriter writer(out);
  writer.Family("imgorigin_job_queue_up", "gauge",
                "1 when the job queue answered this scrape's depth query.");
  writer.Sample("imgorigin_job_queue_up", "", int64_t{stats ? 1 : 0});
  if (!stats) return;
  writer.Family("imgorigin_job_queue_jobs", "gauge", "Jobs in the queue by state.");
  writer.Sample("imgorigin_job_queue_jobs", "{state=\"ready\"}", stats->ready);
  writer.Sample("imgorigin_job_queue_jobs", "{state=\"delayed\"}", stats->delayed);
  writer.Sample("imgorigin_job_queue_jobs", "{state=\"in_flight\"}", stats->in_flight);
  writer.Sample("imgorigin_job_queue_jobs", "{state=\"dead\"}", stats->dead);
}

std::string AdminEndpoint::MetricsText() const {
  std::string out;
  PromWriter writer(out);
  auto counter = [&writer](std::string_view name, std::string_view help, std::string_view labels,
                           uint64_t value) {
    writer.Family(name, "counter", help);
    writer.Sample(name, labels, value);
  };
  auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  // One HELP/TYPE per family, then a sample per tier: memory first, then the slower tiers.
  const auto tier_stats = tiers_.Stats();
  auto per_tier = [&](std::string_view name, std::string_view help, uint64_t memory,
                      uint64_t cache::TieredCache::TierStats::*field) {
    writer.Family(name, "counter", help);
    if (field == &cache::TieredCache::TierStats::hits ||
        field == &cache::TieredCache::TierStats::misses) {
      writer.Sample(name, "{tier=\"memory\"}", memory);
    }
    for (const auto& t : tier_stats) writer.Sample(name, "{tier=\"" + t.name + "\"}", t.*field);
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
  writer.Sample("imgorigin_source_cache_hits_total", "{tier=\"disk\"}", originals.disk_hits);
  counter("imgorigin_source_fetches_total", "Originals fetched from their source.", "",
          originals.fetches);
  counter("imgorigin_source_spilled_total",
          "Originals too large for memory, streamed to a temporary file.", "", originals.spilled);
  counter("imgorigin_source_coalesced_total", "Requests that waited for another's fetch.", "",
          originals.coalesced);
  auto gauge = [&writer](std::string_view name, std::string_view help, int64_t value) {
    writer.Family(name, "gauge", help);
    writer.Sample(name, "", value);
  };
  gauge("imgorigin_memory_cache_bytes", "Bytes held by the memory tier.",
        static_cast<int64_t>(memory_.size_bytes()));
  if (render_memory_ != nullptr) {
    gauge("imgorigin_render_memory_budget_bytes",
          "Memory that concurrent renders may reserve together (limits.render_memory_budget).",
          render_memory_->total());
    gauge("imgorigin_render_memory_reserved_bytes", "Memory reserved by the renders running now.",
          render_memory_->in_use());
    gauge("imgorigin_render_memory_peak_bytes", "The most render memory ever reserved at once.",
          render_memory_->peak());
    counter("imgorigin_render_memory_waits_total",
            "Renders that waited for others to release render memory.", "",
            render_memory_->waited());
    counter("imgorigin_render_memory_refused_total",
            "Renders refused because their memory did not fit in the budget (413, or 503 after "
            "waiting).",
            "", render_memory_->refused());
  }
  counters_.metrics.Write(writer, namespace_);
  const std::string in_progress = Namespaced(namespace_, "requests_in_progress");
  writer.Family(in_progress, "gauge", "Requests accepted and not answered yet.");
  writer.Sample(in_progress, "", live_.in_flight ? live_.in_flight() : int64_t{0});
  writer.Family("imgorigin_open_connections", "gauge", "Client connections open now.");
  writer.Sample("imgorigin_open_connections", "",
                live_.open_connections ? live_.open_connections() : int64_t{0});
  const std::string workers = Namespaced(namespace_, "workers");
  writer.Family(workers, "gauge", "Transform threads (the CPU pool).");
  writer.Sample(workers, "", static_cast<int64_t>(cpu_.threads()));
  writer.Family(
      "imgorigin_queue_depth", "gauge",
      "Tasks waiting for a thread: the CPU pool (transforms) and the I/O pool (fetches).");
  writer.Sample("imgorigin_queue_depth", "{pool=\"cpu\"}", static_cast<int64_t>(cpu_.queued()));
  writer.Sample("imgorigin_queue_depth", "{pool=\"io\"}", static_cast<int64_t>(io_.queued()));
  const std::string vips_memory = Namespaced(namespace_, "vips_memory_bytes");
  writer.Family(vips_memory, "gauge", "Memory libvips has allocated now.");
  writer.Sample(vips_memory, "", static_cast<int64_t>(vips_tracked_get_mem()));
  const std::string vips_max = Namespaced(namespace_, "vips_max_memory_bytes");
  writer.Family(vips_max, "gauge", "The most memory libvips ever had allocated at once.");
  writer.Sample(vips_max, "", static_cast<int64_t>(vips_tracked_get_mem_highwater()));
  const std::string vips_allocs = Namespaced(namespace_, "vips_allocs");
  writer.Family(vips_allocs, "gauge", "Allocations libvips holds now.");
  writer.Sample(vips_allocs, "", static_cast<int64_t>(vips_tracked_get_allocs()));
  writer.Family("imgorigin_access_log_dropped_total", "counter",
                "Access-log lines dropped because the log's reader fell behind.");
  writer.Sample("imgorigin_access_log_dropped_total", "",
                live_.access_log_dropped ? live_.access_log_dropped() : uint64_t{0});
  const BuildInfo& build = GetBuildInfo();
  writer.Family("imgorigin_build_info", "gauge", "Always 1; the labels describe the build.");
  writer.Sample("imgorigin_build_info",
                "{version=\"" + build.version + "\",revision=\"" + build.revision +
                    "\",libvips=\"" + build.libvips_version + "\",libvips_build=\"" +
                    build.libvips_build + "\"}",
                int64_t{1});
  return out;
}

}  // namespace imgorigin::origin
