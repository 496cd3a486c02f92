// The router: one handler for every request the server accepts, dispatching by path to one
// endpoint per family: images, /info, /v1/purge, /v1/images, /v1/uploads, the seeds' dialects,
// and the admin endpoints (/health, /ready, /metrics). Requests the server found malformed and
// over-long URLs are refused before any endpoint sees them. Owns the endpoints, the plan maker they
// share and the request counters; everything it is given lives longer than it. Handle() runs on
// event-loop threads.
#pragma once

#include <memory>

#include "cache/memory_tier.h"
#include "cache/tiered_cache.h"
#include "common/logging.h"
#include "common/thread_pool.h"
#include "origin/access_log.h"
#include "origin/admin_endpoint.h"
#include "origin/config.h"
#include "origin/counters.h"
#include "origin/dialect_endpoint.h"
#include "origin/get_image_endpoint.h"
#include "origin/image_endpoint.h"
#include "origin/image_plan.h"
#include "origin/images_endpoint.h"
#include "origin/info_endpoint.h"
#include "origin/ingest_setup.h"
#include "origin/jobs_endpoint.h"
#include "origin/purge_endpoint.h"
#include "origin/server.h"
#include "origin/uploads_endpoint.h"
#include "signing/signer.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class Router {
 public:
  // `ingest` null: ingest is disabled. `url_source`: the HTTP source for uploads by URL, or null.
  Router(const Config& config, const signing::Signer& signer, cache::MemoryTier& memory,
         common::ThreadPool& cpu, common::ThreadPool& io, sources::SourceCache& sources,
         cache::TieredCache& tiers, const IngestServices* ingest,
         const sources::Source* url_source);

  void Handle(const ExchangePtr& exchange);
  // For Server::Options::on_reply: counts the answer and writes its access-log line. Loop threads.
  void OnReply(const Exchange& exchange, const ReplyFacts& reply);
  // See AdminEndpoint::SetLiveFigures(). Before the server starts.
  void SetLiveFigures(AdminEndpoint::LiveFigures figures);

  // See AdminEndpoint::SetDraining(). Any thread.
  void SetDraining() { admin_.SetDraining(); }

  // For Server::Options::streaming: which bodies are streamed, and the policy for their heads.
  // Loop threads.
  static bool StreamsBody(evhttp_cmd_type method, std::string_view path) {
    return ImagesEndpoint::Streams(method, path) || UploadsEndpoint::Streams(method, path);
  }
  common::Result<int64_t> AdmitUpload(std::string_view target, const evkeyvalq* headers) const {
    if (target.starts_with(UploadsEndpoint::kPath)) return uploads_.Admit(target, headers);
    return images_.Admit(target, headers);
  }

 private:
  size_t max_url_length_;
  RequestCounters counters_;
  // Both null while the access log is off.
  std::unique_ptr<common::LineWriter> access_writer_;
  std::unique_ptr<AccessLog> access_log_;
  Planner planner_;
  ImageEndpoint image_;
  InfoEndpoint info_;
  PurgeEndpoint purge_;
  ImagesEndpoint images_;
  UploadsEndpoint uploads_;
  JobsEndpoint jobs_;
  DialectEndpoint dialect_;
  GetImageEndpoint get_image_;
  AdminEndpoint admin_;
};

}  // namespace imgorigin::origin
