// Direct (presigned) uploads (API key, docs/ingest.md): the client writes the original itself,
// straight into the S3 originals bucket (or to imgorigin's own signed PUT for local originals);
// imgorigin signs the URL and checks the object afterwards.
//
//   POST /v1/uploads                {"content_type", "metadata"?, "expires_in"?}
//                                   → 201 {id, upload_url, method, headers, expires_at, record}
//   POST /v1/uploads/{id}/complete  checks the object → 200 and the ready record, or the refusal
//                                   (the object deleted, the record failed)
//   POST /upload                    seed 002 (dialects.seed002): {"content_type", "filename"?}
//                                   → 201 {image_id, upload_url, headers, expires_at}
//   POST /upload/{id}/complete      seed 002's name for the same completion
//   PUT  /v1/uploads/{id}/object?expires=&signature=
//                                   the upload URL of local originals (ingest/local_upload_urls.h):
//                                   no API key, the signature is the credential; the body is
//                                   streamed to a file and stored as the id's incoming object
//
// content_type must be an image format this build reads; it is signed into the URL, so the PUT
// must carry exactly the returned headers. The work (signing, record store, fetching and checking
// the object) runs on the I/O pool (ingest::Uploader); Handle() runs on event-loop threads.
// Everything it is given outlives it.
#pragma once

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <string>
#include <string_view>

#include "common/thread_pool.h"
#include "origin/config.h"
#include "origin/images_endpoint.h"
#include "origin/ingest_setup.h"
#include "origin/server.h"

namespace imgorigin::origin {

class UploadsEndpoint {
 public:
  // `ingest` null: ingest is disabled and the endpoints answer 404. `images` shows records.
  UploadsEndpoint(const Config& config, common::ThreadPool& io, const IngestServices* ingest,
                  const ImagesEndpoint& images)
      : config_(config), io_(io), ingest_(ingest), images_(images) {}

  static constexpr std::string_view kPath = "/v1/uploads";
  static constexpr std::string_view kSeed002Path = "/upload";

  // /v1/uploads[/…] whatever the method; seed 002's /upload[/…] only for POST: a GET there is
  // an image URL whose signature segment happens to read "upload" (unsigned mode).
  static bool Handles(std::string_view path, bool is_post);
  void Handle(const ExchangePtr& exchange);

  // Whether the server streams this request's body to a file: the PUT of a local upload URL.
  static bool Streams(evhttp_cmd_type method, std::string_view path);
  // Its streaming policy: a valid signature for the id, the Content-Type it was signed with and
  // an expiry not past (403 otherwise), before any body byte is read; the body may be
  // ingest.max_upload_bytes long.
  common::Result<int64_t> Admit(std::string_view target, const evkeyvalq* headers) const;

 private:
  // Which API the request came through, and so the shape of its answer.
  enum class Dialect { kApi, kSeed002 };

  void Begin(const ExchangePtr& exchange, Dialect dialect);
  void Complete(const ExchangePtr& exchange, std::string id);
  void PutObject(const ExchangePtr& exchange, std::string id);
  // The upload URL's check, for the head (Admit) and again for the request (a body that was not
  // streamed never met Admit).
  common::Result<void> VerifyPut(std::string_view id, std::string_view target,
                                 const char* content_type) const;

  const Config& config_;
  common::ThreadPool& io_;
  const IngestServices* ingest_;
  const ImagesEndpoint& images_;
};

}  // namespace imgorigin::origin
