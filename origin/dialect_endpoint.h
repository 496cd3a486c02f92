// The seeds' dialects as endpoints (origin/dialects.h reads their URLs):
//
//   GET /api/v1/img/{id}.{format}?thumbnail=&width=&height=&rotate=&quality=[&s=]   (seed 004)
//
// The image record's id is looked up on the I/O pool (the record store may be PostgreSQL); a
// ready record's source then goes through the image endpoint as the equivalent signed imgproxy
// URL, so both URLs share one cache entry, the same headers and the same limits. Handle() runs
// on event-loop threads; everything it is given outlives it.
#pragma once

#include <string_view>

#include "common/thread_pool.h"
#include "origin/config.h"
#include "origin/image_endpoint.h"
#include "origin/ingest_setup.h"
#include "origin/server.h"
#include "signing/signer.h"

namespace imgorigin::origin {

class DialectEndpoint {
 public:
  // `ingest` null: uploads are off, and so are the dialects (404).
  DialectEndpoint(const Config& config, const signing::Signer& signer, common::ThreadPool& io,
                  const IngestServices* ingest, ImageEndpoint& image)
      : config_(config), signer_(signer), io_(io), ingest_(ingest), image_(image) {}

  static bool Handles(std::string_view path) { return path.starts_with("/api/v1/img/"); }
  void Handle(const ExchangePtr& exchange);

 private:
  const Config& config_;
  const signing::Signer& signer_;
  common::ThreadPool& io_;
  const IngestServices* ingest_;
  ImageEndpoint& image_;
};

}  // namespace imgorigin::origin
