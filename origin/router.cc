#include "origin/router.h"

#include "origin/replies.h"

namespace imgorigin::origin {

Router::Router(const Config& config, const signing::Signer& signer, cache::MemoryTier& memory,
               common::ThreadPool& cpu, common::ThreadPool& io, sources::SourceCache& sources,
               cache::TieredCache& tiers, const IngestServices* ingest,
               const sources::Source* url_source)
    : max_url_length_(config.max_url_length),
      planner_(config, signer),
      image_(config, planner_, memory, cpu, sources, tiers, counters_),
      info_(config, planner_, cpu, sources, counters_),
      purge_(config, tiers),
      images_(config, signer, io, ingest, url_source, purge_),
      uploads_(config, io, ingest, images_),
      jobs_(config, io, ingest),
      dialect_(config, signer, io, ingest, image_),
      get_image_(config, signer, io, cpu, ingest, image_, sources),
      admin_(memory, tiers, sources, counters_, config.pipeline.memory_budget.get()) {}

void Router::Handle(const ExchangePtr& exchange) {
  using common::ErrorCode;
  if (!exchange->malformed().empty()) {
    return ReplyError(*exchange, {ErrorCode::kInvalidArgument, exchange->malformed()});
  }
  // Before any endpoint, so that no shortcut (the image endpoint's hot paths) can skip it.
  if (exchange->target().size() > max_url_length_) {
    return ReplyError(*exchange,
                      {ErrorCode::kInvalidArgument,
                       "URL is longer than " + std::to_string(max_url_length_) + " characters"});
  }
  std::string_view path = exchange->path();
  if (path == "/v1/purge") return purge_.Handle(exchange);
  if (path == ImagesEndpoint::kPath ||
      (path.starts_with(ImagesEndpoint::kPath) &&
       path[std::string_view(ImagesEndpoint::kPath).size()] == '/')) {
    return images_.Handle(exchange);
  }
  if (path == ImagesEndpoint::kSeed004Path) return images_.HandleSeed004(exchange);
  if (UploadsEndpoint::Handles(path, exchange->is_post())) return uploads_.Handle(exchange);
  if (JobsEndpoint::Handles(path)) return jobs_.Handle(exchange);
  if (DialectEndpoint::Handles(path)) return dialect_.Handle(exchange);
  if (path == GetImageEndpoint::kPath) return get_image_.Handle(exchange);
  if (!exchange->is_get_or_head()) return ReplyMethodNotAllowed(*exchange, "GET, HEAD");
  if (path.starts_with("/info/")) return info_.Handle(exchange);
  if (path == "/health") return admin_.Health(*exchange);
  if (path == "/ready") return admin_.Ready(*exchange);
  if (path == "/metrics") return admin_.Metrics(*exchange);
  image_.Handle(exchange);
}

}  // namespace imgorigin::origin
