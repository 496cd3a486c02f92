// The images API (API key, docs/ingest.md):
//
//   POST   /v1/images                 upload: image/*, multipart/form-data or JSON (base64, url)
//   GET    /v1/images?after=&limit=   keyset listing, oldest first
//   GET    /v1/images/{id}            one record (a deleted one too, as a tombstone)
//   DELETE /v1/images/{id}            tombstone + original deleted + variants purged
//   POST   /api/v1/img                seed 004's upload (dialects.seed004): the same upload,
//                                     answered {"id": …}
//
// Records come with `urls`: the signed path of every configured preset for the record's source
// ("/<signature>/pr:small/plain/<source>"), to be put behind the CDN's host.
//
// Upload bodies are streamed to a file by the server (Server::Options::streaming, with Admit()
// judging the head), parsed, fetched (`type: url`, through the HTTP source and its SSRF guard)
// and stored on the I/O pool; record reads and deletes run there too, so no loop waits on a
// store. Handle() and Admit() run on event-loop threads. Everything it is given outlives it.
#pragma once

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/thread_pool.h"
#include "ingest/record.h"
#include "origin/config.h"
#include "origin/ingest_setup.h"
#include "origin/purge_endpoint.h"
#include "origin/server.h"
#include "signing/signer.h"
#include "sources/source.h"

namespace imgorigin::origin {

class ImagesEndpoint {
 public:
  // `ingest` null: ingest is disabled and the API answers 404. `url_source` null: http sources
  // are disabled and `type: url` uploads are refused.
  ImagesEndpoint(const Config& config, const signing::Signer& signer, common::ThreadPool& io,
                 const IngestServices* ingest, const sources::Source* url_source,
                 PurgeEndpoint& purge)
      : config_(config),
        signer_(signer),
        io_(io),
        ingest_(ingest),
        url_source_(url_source),
        purge_(purge) {}

  static constexpr const char* kPath = "/v1/images";
  static constexpr const char* kSeed004Path = "/api/v1/img";

  void Handle(const ExchangePtr& exchange);
  // POST /api/v1/img; 404 while dialects.seed004 is off.
  void HandleSeed004(const ExchangePtr& exchange);

  // Whether the server streams this request's body to a file (Server::Options::Streaming::
  // streams): uploads to either path.
  static bool Streams(evhttp_cmd_type method, std::string_view path) {
    return method == EVHTTP_REQ_POST && (path == kPath || path == kSeed004Path);
  }
  // The streaming policy for upload heads (Server::Options::Streaming::admit): refuses a missing
  // or wrong API key, a disabled endpoint and a body type the endpoint does not take, before any
  // body byte is read, and answers the body limit: ingest.max_upload_bytes for a raw image, room
  // for base64 and metadata (Config::Ingest::max_body_bytes()) for the wrapped forms.
  common::Result<int64_t> Admit(std::string_view target, const evkeyvalq* headers) const;

  // The record as the API shows it: ToJson() plus `urls` (none unless ingest::Renderable()).
  nlohmann::json View(const ingest::ImageRecord& record) const;

 private:
  // How an upload is answered: the record (POST /v1/images) or seed 004's {"id": …}.
  enum class UploadReply { kRecord, kSeed004 };

  void Upload(const ExchangePtr& exchange, UploadReply shape);
  void List(const ExchangePtr& exchange);
  void Get(const ExchangePtr& exchange, std::string id);
  void Delete(const ExchangePtr& exchange, std::string id);

  const Config& config_;
  const signing::Signer& signer_;
  common::ThreadPool& io_;
  const IngestServices* ingest_;
  const sources::Source* url_source_;
  PurgeEndpoint& purge_;
};

}  // namespace imgorigin::origin
