// The /info endpoint: GET /info/{signature}/{options}/{source} answers JSON facts about the
// source (size, format, alpha, pages, orientation, colour space, dominant colour, blurhash).
// Signed and planned exactly like an image URL; the source comes through the source cache, the
// inspection runs on the CPU pool. Handle() runs on event-loop threads.
#pragma once

#include "common/thread_pool.h"
#include "origin/config.h"
#include "origin/counters.h"
#include "origin/image_plan.h"
#include "origin/server.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class InfoEndpoint {
 public:
  InfoEndpoint(const Config& config, const Planner& planner, common::ThreadPool& cpu,
               sources::SourceCache& sources, RequestCounters& counters)
      : config_(config), planner_(planner), cpu_(cpu), sources_(sources), counters_(counters) {}

  void Handle(const ExchangePtr& exchange);

 private:
  const Config& config_;
  const Planner& planner_;
  common::ThreadPool& cpu_;
  sources::SourceCache& sources_;
  RequestCounters& counters_;
};

}  // namespace imgorigin::origin
