// The imgproxy URL grammar: "/{options…}/{source}" → ImageRequest.
//
// Follows imgproxy's open-source processing URL format option by option, so URLs built by its
// client libraries work unchanged: options are "name:arg:arg" (long or short names), then either
// "plain/<percent-escaped url>[@ext]" or an unpadded base64url source (which may be split by "/")
// with an optional ".ext". Parsing is strict: an unknown option or a bad argument is an error that
// names the option. Stateless; ParseProcessingPath may be called from any thread with a shared
// const ParserConfig.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "transforms/spec.h"

namespace imgorigin::transforms {

struct ParserConfig {
  // Named option lists, e.g. {"small", "rs:fit:200:200/q:70"}. A preset named "default" is
  // applied before the URL's own options.
  std::map<std::string, std::string> presets;
  // When set, the URL may only name presets ("pr:name" or "preset:name"); any other option is a
  // 400. Used for unsigned presets-only deployments.
  bool only_presets = false;
  // Prefixed to sources that have no scheme, e.g. "local:///" or "s3://bucket/".
  std::string base_url;
  // Upper bound for width, height and each side after dpr; larger values are a 400.
  int max_dimension = 8192;
  // Whether the pipeline has a watermark image (PipelineLimits::watermark); without one,
  // "wm:<opacity>" with a non-zero opacity is a 400.
  bool watermark_configured = false;

  // Checks the presets parse. Error message names the bad preset.
  common::Result<void> Validate() const;
};

struct ImageRequest {
  TransformSpec spec;
  std::string source;  // absolute source URL after base_url: "local:///a.jpg", "s3://b/k", …
  std::optional<int64_t> expires;  // exp: unix seconds; exp:0 (never, in imgproxy) is unset
  std::string filename;            // fn: (already decoded), "" = derive from the source
  bool attachment = false;         // att:
  std::string cachebuster;         // cb: part of the cache keys, so a new one renders again
};

// Parses `path`, the part of the URL after the signature segment, starting with "/"
// (e.g. "/rs:fill:300:300/plain/local:///a.jpg@webp"). Query strings must already be removed.
common::Result<ImageRequest> ParseProcessingPath(std::string_view path, const ParserConfig& config);

}  // namespace imgorigin::transforms
