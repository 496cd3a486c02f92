// Eager presets (DESIGN §6, issue #15): the configured presets of one new image rendered right
// after it arrives, into the result cache tiers under exactly the keys that its signed preset URLs
// (`/<sig>/pr:<name>/plain/<source>`, presets.h) compute in the image endpoint — the Planner makes
// the plan of that very path, purge generation included — so those requests are cache hits at
// once; and, with a variants store, as plain objects `<store>/<id>/<preset>.<ext>`.
//
// One fetch of the original through the source cache (so local, S3 and HTTP originals, the source
// cache and its limits all apply), one RenderMany() (transforms/render_many.h: one decode for the
// presets that allow it, the render limits, memory budget and deadlines of any render).
// Formats: a preset that names its format has that one. For one that does not, the variant a
// request without Accept gets (the source's format, or JPEG/PNG) is always rendered, and for each
// of ingest.eager_formats (which must be in output.auto_format) the variant a browser whose Accept
// lists that format gets, as a separate cache entry and object: AVIF costs the most (its encoder
// runs at 0.5–0.8 Mpx/s here, ~2–3 s for a 1600-px preset), WebP ~4–7 Mpx/s.
//
// All or nothing: every preset is rendered before anything is stored, so a bad original (or a
// preset it cannot be rendered with) is an error that names the preset, and writes nothing.
// Running again for the same image renders and stores the same entries and objects (overwrites).
//
// Render() blocks: the fetch and the purge generation arrive from the I/O pools (each wait bounded
// by the fetch and shared-tier timeouts), the renders run on the calling thread, variants store
// writes are blocking I/O. Call it from a worker thread, never an event loop or a thread of the
// source cache's or the tiers' pools. Thread-safe; everything it is given outlives it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/tiered_cache.h"
#include "common/status.h"
#include "ingest/record.h"
#include "ingest/variants_store.h"
#include "origin/config.h"
#include "origin/image_plan.h"
#include "signing/signer.h"
#include "sources/source_cache.h"

namespace imgorigin::origin {

class EagerRenderer {
 public:
  // `variants` may be null: cache tiers only.
  EagerRenderer(const Config& config, const Planner& planner, const signing::Signer& signer,
                sources::SourceCache& sources, cache::TieredCache& tiers,
                ingest::VariantsStore* variants)
      : config_(config),
        planner_(planner),
        signer_(signer),
        sources_(sources),
        tiers_(tiers),
        variants_(variants) {}

  // Renders `presets` (config.ingest.eager, normally) of the image whose original is at
  // `source_url` (local:///…/<id>, s3://bucket/prefix/<id>: the last segment is the image id).
  // One Variant per preset and format stored, in preset order; its location is the variants
  // store's object, or the signed preset path when there is no store. Errors: the fetch's (404,
  // 502, 504 …), the render's ("preset small: …"), the variants store's (kUnavailable).
  common::Result<std::vector<ingest::Variant>> Render(
      std::string_view source_url, const std::vector<std::string>& presets) const;

  struct Rendered {
    std::optional<ingest::ImageFacts> facts;  // with `inspect`
    std::vector<ingest::Variant> variants;
  };
  // Render() for image `id`, whatever its source URL (an S3 event's object keeps its own key).
  // With `inspect`, the original's facts come too (format and size from a decode of it, its
  // bytes and SHA-256): for a record made before anything read it. `presets` may be empty.
  common::Result<Rendered> Render(std::string_view id, std::string_view source_url,
                                  const std::vector<std::string>& presets, bool inspect) const;

 private:
  // One cache entry to make: a preset as one Accept negotiates it.
  struct Job {
    std::string preset;
    std::string path;  // the signed preset path
    Plan plan;
  };
  common::Result<std::vector<Job>> PlanJobs(std::string_view source_url,
                                            const std::vector<std::string>& presets) const;
  common::Result<sources::SourceImage> Fetch(const std::string& source_url) const;
  common::Result<uint64_t> Generation(const std::string& source_url) const;

  const Config& config_;
  const Planner& planner_;
  const signing::Signer& signer_;
  sources::SourceCache& sources_;
  cache::TieredCache& tiers_;
  ingest::VariantsStore* variants_;
};

}  // namespace imgorigin::origin
