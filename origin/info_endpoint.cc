#include "origin/info_endpoint.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cache/key.h"
#include "common/fd.h"
#include "origin/replies.h"
#include "transforms/format.h"
#include "transforms/inspect.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;

common::Result<transforms::ImageInfo> InspectSource(const sources::SourceImage& source,
                                                    const transforms::PipelineLimits& limits) {
  if (!source.file) return transforms::Inspect(*source.bytes, limits);
  // Large originals were streamed to a file: map it instead of reading it all into memory.
  common::MappedFile file(source.file->path());
  if (!file.ok()) return Fail(ErrorCode::kInternal, "source file could not be read");
  return transforms::Inspect(file.bytes(), limits);
}

std::string HexColour(const transforms::Rgb& c) {
  char buf[8];
  snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

}  // namespace

void InfoEndpoint::Handle(const ExchangePtr& exchange) {
  // "/info/{signature}/{options}/{source}": signed and parsed exactly like an image URL.
  auto plan = planner_.Make(*exchange, exchange->path().substr(std::string_view("/info").size()));
  if (!plan) return ReplyError(*exchange, plan.error(), config_.not_found_max_age);
  auto shared = std::make_shared<const Plan>(*std::move(plan));
  auto fail = [this, exchange](common::Error error) {
    exchange->loop().Post(
        [this, exchange, error] { ReplyError(*exchange, error, config_.not_found_max_age); });
  };
  auto fetched = [this, exchange, shared,
                  fail](const common::Result<sources::SourceImage>& source) {
    if (!source) return fail(source.error());
    bool queued = cpu_.TrySubmit([this, exchange, shared, image = *source] {
      auto info = InspectSource(image, config_.pipeline);
      exchange->loop().Post([this, exchange, shared, info = std::move(info)] {
        if (!info) return ReplyError(*exchange, info.error(), config_.not_found_max_age);
        nlohmann::json body = {
            {"width", info->width},
            {"height", info->height},
            {"format", transforms::FormatExtension(info->format)},
            {"mime_type", transforms::FormatMimeType(info->format)},
            {"bytes", info->bytes},
            {"alpha", info->alpha},
            {"pages", info->pages},
            {"orientation", info->orientation},
            {"colour_space", info->colour_space},
            {"dominant_colour", HexColour(info->dominant_colour)},
            {"blurhash", info->blurhash},
        };
        exchange->AddHeader("Content-Type", "application/json");
        exchange->AddHeader("Cache-Control", shared->cache_control);
        exchange->AddHeader(config_.cache_tag_header.c_str(),
                            cache::SourceTag(shared->request.source));
        exchange->Send(200, common::MakeShared(body.dump() + "\n"));
      });
    });
    if (!queued) {
      Count(counters_.overloaded);
      fail({ErrorCode::kOverloaded, "server is busy, retry shortly"});
    }
  };
  sources_.Fetch(shared->request.source, shared->request.cachebuster, std::move(fetched));
}

}  // namespace imgorigin::origin
