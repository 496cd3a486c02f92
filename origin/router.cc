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
      admin_(memory, tiers, sources, counters_, config.pipeline.memory_budget.get(), cpu, io,
             config.metrics_namespace) {
  if (config.access_log.mode != AccessLogConfig::Mode::kOff) {
    access_writer_ = std::make_unique<common::LineWriter>(common::LineWriter::Options{});
    access_log_ = std::make_unique<AccessLog>(config.access_log, *access_writer_);
  }
}

void Router::SetLiveFigures(AdminEndpoint::LiveFigures figures) {
  if (access_writer_) {
    figures.access_log_dropped = [writer = access_writer_.get()] { return writer->dropped(); };
  }
  admin_.SetLiveFigures(std::move(figures));
}

void Router::OnReply(const Exchange& exchange, const ReplyFacts& reply) {
  counters_.metrics.CountReply(static_cast<Route>(exchange.route()), reply.status,
                               FormatOfContentType(reply.content_type),
                               exchange.elapsed_ms() / 1000.0);
  if (access_log_) access_log_->Record(exchange, reply);
}

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
  auto route = [&exchange](Route r) { exchange->set_route(static_cast<uint8_t>(r)); };
  std::string_view path = exchange->path();
  if (path == "/v1/purge") return route(Route::kPurge), purge_.Handle(exchange);
  if (path == ImagesEndpoint::kPath ||
      (path.starts_with(ImagesEndpoint::kPath) &&
       path[std::string_view(ImagesEndpoint::kPath).size()] == '/')) {
    return route(Route::kImages), images_.Handle(exchange);
  }
  if (path == ImagesEndpoint::kSeed004Path) {
    return route(Route::kImages), images_.HandleSeed004(exchange);
  }
  if (UploadsEndpoint::Handles(path, exchange->is_post())) {
    return route(Route::kUploads), uploads_.Handle(exchange);
  }
  if (JobsEndpoint::Handles(path)) return route(Route::kJobs), jobs_.Handle(exchange);
  if (DialectEndpoint::Handles(path)) return route(Route::kDialect), dialect_.Handle(exchange);
  if (path == GetImageEndpoint::kPath) return route(Route::kGetImage), get_image_.Handle(exchange);
  if (!exchange->is_get_or_head()) return ReplyMethodNotAllowed(*exchange, "GET, HEAD");
  if (path.starts_with("/info/")) return route(Route::kInfo), info_.Handle(exchange);
  if (path == "/health") return route(Route::kHealth), admin_.Health(*exchange);
  if (path == "/ready") return route(Route::kReady), admin_.Ready(*exchange);
  if (path == "/metrics") return route(Route::kMetrics), admin_.Metrics(exchange);
  route(Route::kImage);
  image_.Handle(exchange);
}

}  // namespace imgorigin::origin
