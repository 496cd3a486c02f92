#include "origin/admin_endpoint.h"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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

void AdminEndpoint::Metrics(Exchange& exchange) const {
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
  counter("imgorigin_source_spilled_total",
          "Originals too large for memory, streamed to a temporary file.", "", originals.spilled);
  counter("imgorigin_source_coalesced_total", "Requests that waited for another's fetch.", "",
          originals.coalesced);
  auto gauge = [&out](std::string_view name, std::string_view help, int64_t value) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out += "# TYPE " + std::string(name) + " gauge\n";
    out += std::string(name) + " " + std::to_string(value) + "\n";
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
  exchange.AddHeader("Cache-Control", "no-store");
  exchange.AddHeader("Content-Type", "text/plain; version=0.0.4");
  exchange.Send(200, common::MakeShared(std::move(out)));
}

}  // namespace imgorigin::origin
