// The seed 002 dialect's image URL (origin/dialects.h reads its query):
//
//   GET|HEAD /get_image?image_id=<uuid>&image_size=<preset>
//
// serves the named preset of a ready image's original as its signed preset URL
// ("/<signature>/pr:<size>/plain/<source>", the one the images API lists) does: through the
// image endpoint, so both share one cache entry, the same headers and the same limits.
//
// When that variant cannot be had now (its render failed or was refused, or the CPU queue is
// full), a stand-in is served instead of the error: the nearest other preset that a cache tier
// holds (FallbackOrder(): smaller ones first), looked up without rendering, else the original
// itself (through the source cache, so within limits.max_src_bytes). A stand-in names itself in
// X-Fallback (the preset's name, or "original") and carries dialects.fallback_cache_control, so
// a CDN soon asks again for the real variant. Only when nothing can stand in is the variant's own
// error answered. While the CPU queue is full no render is even tried here (the check is cheap):
// the variant asked for is served only if a cache holds it, like a stand-in.
//
// Records are read on the I/O pool. Handle() runs on event-loop threads; everything it is given
// outlives it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "ingest/record.h"
#include "origin/config.h"
#include "origin/image_endpoint.h"
#include "origin/ingest_setup.h"
#include "origin/presets.h"
#include "origin/server.h"
#include "signing/signer.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class GetImageEndpoint {
 public:
  // `ingest` null: uploads are off, and so is the dialect (404).
  GetImageEndpoint(const Config& config, const signing::Signer& signer, common::ThreadPool& io,
                   const common::ThreadPool& cpu, const IngestServices* ingest,
                   ImageEndpoint& image, sources::SourceCache& sources)
      : config_(config),
        signer_(signer),
        io_(io),
        cpu_(cpu),
        ingest_(ingest),
        image_(image),
        sources_(sources),
        sizes_(PresetSizes(config.parser)) {}

  static constexpr std::string_view kPath = "/get_image";
  // Names the stand-in an answer is: a preset's name, or kOriginal.
  static constexpr char kFallbackHeader[] = "X-Fallback";
  static constexpr char kOriginal[] = "original";

  void Handle(const ExchangePtr& exchange);

 private:
  // One request's search for something to serve.
  struct Search {
    ingest::ImageRecord record;
    std::vector<std::string> stand_ins;  // FallbackOrder() of the size asked for
    common::Error error;                 // why the size asked for cannot be had
  };
  using SearchPtr = std::shared_ptr<Search>;

  void Serve(const ExchangePtr& exchange, ingest::ImageRecord record, const std::string& size);
  // Serves stand_ins[next] if a cache holds it, else goes on to the next one, then the original.
  void StandIn(const ExchangePtr& exchange, const SearchPtr& search, size_t next);
  void Original(const ExchangePtr& exchange, const SearchPtr& search);

  const Config& config_;
  const signing::Signer& signer_;
  common::ThreadPool& io_;
  const common::ThreadPool& cpu_;
  const IngestServices* ingest_;
  ImageEndpoint& image_;
  sources::SourceCache& sources_;
  const std::vector<PresetSize> sizes_;  // the configured presets, smallest first
};

}  // namespace imgorigin::origin
