// Direct (presigned) uploads (API key, docs/ingest.md): the client writes the original straight
// into the S3 originals bucket, imgorigin only signs the URL and checks the object afterwards.
//
//   POST /v1/uploads                {"content_type", "metadata"?, "expires_in"?}
//                                   → 201 {id, upload_url, method, headers, expires_at, record}
//   POST /v1/uploads/{id}/complete  checks the object → 200 and the ready record, or the refusal
//                                   (the object deleted, the record failed)
//   POST /upload                    seed 002 (dialects.seed002): {"content_type", "filename"?}
//                                   → 201 {image_id, upload_url, headers, expires_at}
//   POST /upload/{id}/complete      seed 002's name for the same completion
//
// content_type must be an image format this build reads; it is signed into the URL, so the PUT
// must carry exactly the returned headers. The work (signing, record store, fetching and checking
// the object) runs on the I/O pool (ingest::Uploader); Handle() runs on event-loop threads.
// Everything it is given outlives it.
#pragma once

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

 private:
  // Which API the request came through, and so the shape of its answer.
  enum class Dialect { kApi, kSeed002 };

  void Begin(const ExchangePtr& exchange, Dialect dialect);
  void Complete(const ExchangePtr& exchange, std::string id);

  const Config& config_;
  common::ThreadPool& io_;
  const IngestServices* ingest_;
  const ImagesEndpoint& images_;
};

}  // namespace imgorigin::origin
