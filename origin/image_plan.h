// Image plans: everything about one image request that the reply needs, fixed before any
// rendering. A Planner verifies the signature, parses the options, negotiates the output format
// and client hints from the request headers, and derives the cache key and ETag.
//
// Shared by the image and /info endpoints. Immutable after construction; its const members run
// on event loops, any number at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "origin/config.h"
#include "origin/server.h"
#include "signing/signer.h"
#include "transforms/format.h"
#include "transforms/parser.h"

namespace imgorigin::origin {

// Headers of a reply by name and value. Names are literals or config strings, which outlive
// every reply.
using ReplyHeaderList = std::vector<std::pair<const char*, std::string>>;

struct Plan {
  transforms::ImageRequest request;
  uint64_t generation = 0;  // the source's purge generation the key was made with
  std::string key;
  std::string etag;
  std::string cache_control;
  std::string vary;  // request headers the response depends on; "" = none
  // Format upgrade: what to answer with at once, while the negotiated request.spec.format (whose
  // encode is estimated over output.upgrade_budget_ms) renders in the background, when no tier
  // holds it yet; kUnknown is the source's universal format (JPEG/PNG/GIF, as negotiation without
  // modern formats gives). nullopt: no upgrade (a format the URL names, raw, or cheap enough).
  std::optional<transforms::ImageFormat> fallback_format;
  // What the endpoint that made the path adds to the answer (a seed 002 stand-in's X-Fallback);
  // not part of the key: the variant is the same whoever asks for it.
  ReplyHeaderList headers;
};
using PlanPtr = std::shared_ptr<const Plan>;

// The request headers a plan reads, by name: nullptr when absent. An Exchange's, or a fixed set
// for renders no client asked for yet (eager presets).
using HeaderLookup = std::function<const char*(const char* name)>;

class Planner {
 public:
  Planner(const Config& config, const signing::Signer& signer);

  // `path` is the request path without any endpoint prefix: "/{signature}/{options}/{source}".
  // The key is left for SetKey(), once the source's purge generation is known.
  common::Result<Plan> Make(const Exchange& exchange, std::string_view path) const;
  common::Result<Plan> Make(const HeaderLookup& headers, std::string_view path) const;
  void SetKey(Plan& plan, uint64_t generation) const;
  // The plan of the stand-in answer for a plan with a fallback_format, keyed: that format, a
  // short max-age (output.upgrade_max_age) and X-Format-Upgrade: pending.
  Plan FallbackPlan(const Plan& plan) const;
  // The hot-path key of an image request: its path, plus the values of the request headers
  // Negotiate() reads when they can change the plan. "" = not to be remembered.
  std::string HotKey(const Exchange& exchange) const;

 private:
  // Content negotiation and client hints: fills in what the URL left open from the request
  // headers, and records those headers in plan.vary.
  void Negotiate(const HeaderLookup& headers, Plan& plan) const;
  // Sets plan.fallback_format when the negotiated format is estimated over the upgrade budget
  // and a cheaper one is acceptable. `source`: the format the source's extension names.
  void ChooseFallback(transforms::ImageFormat source, std::string_view accept, Plan& plan) const;

  const Config& config_;
  const signing::Signer& signer_;
  std::optional<int64_t> max_age_;  // the max-age in config_.cache_control, if any
  // Digest of the settings that change output bytes without being in the URL (default quality,
  // encoder flags, watermark): part of every key, so changing them never serves stale results.
  std::string output_fingerprint_;
  // The encoder efforts, added to the keys of the formats they change (AVIF's include WebP's: an
  // animated source negotiated to AVIF is written as WebP), so that changing them leaves the
  // other formats' cached variants valid.
  std::string avif_fingerprint_;
  std::string webp_fingerprint_;
};

}  // namespace imgorigin::origin
