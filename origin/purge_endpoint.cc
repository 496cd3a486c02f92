#include "origin/purge_endpoint.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cache/key.h"
#include "origin/replies.h"
#include "transforms/parser.h"

namespace imgorigin::origin {

using common::ErrorCode;

void PurgeEndpoint::Handle(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  if (!ex.is_post() && !config_.api_key.empty()) return ReplyMethodNotAllowed(ex, "POST");
  if (!Authorize(ex, config_.api_key)) return;
  constexpr size_t kMaxBody = 64 << 10;
  auto body = ex.body(kMaxBody);
  if (!body)
    return ReplyJsonError(ex, {ErrorCode::kTooLarge, "request body is larger than 64 KiB"});
  auto json = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("source") ||
      !json["source"].is_string() || json["source"].get<std::string>().empty()) {
    return ReplyJsonError(ex, {ErrorCode::kInvalidArgument,
                               "expected JSON {\"source\": \"<source URL as in image URLs>\"}"});
  }
  // Read as the source of a plain/ image URL (percent-escapes decoded, base URL, scheme case),
  // so the generation bumped is the one the image keys use. Only "@", which marks the output
  // extension there, needs no escape here.
  std::string plain;
  for (char c : json["source"].get<std::string>()) {
    if (c == '@') {
      plain += "%40";
    } else {
      plain += c;
    }
  }
  auto request = transforms::ParseProcessingPath("/plain/" + plain, config_.parser);
  if (!request) return ReplyJsonError(ex, request.error());
  PurgeAndReply(exchange, request->source, 200, nlohmann::json::object());
}

void PurgeEndpoint::PurgeAndReply(const ExchangePtr& exchange, std::string source, int status,
                                  nlohmann::json body) {
  std::string tag = cache::SourceTag(source);
  tiers_.Purge(source, [this, exchange, source, tag, status,
                        body = std::move(body)](common::Result<uint64_t> generation) mutable {
    exchange->loop().Post(
        [this, exchange, source, tag, status, generation, body = std::move(body)]() mutable {
          if (!generation) {
            spdlog::warn("purge of {} failed: {} (request {})", source, generation.error().message,
                         exchange->request_id());
            return ReplyJsonError(*exchange, {ErrorCode::kUnavailable, generation.error().message});
          }
          spdlog::info("purged {} (generation {}, cache tag {})", source, *generation, tag);
          exchange->AddHeader(config_.cache_tag_header.c_str(), tag);
          const bool fleet = tiers_.has_shared();
          body["source"] = source;
          body["generation"] = *generation;
          body["cache_tag"] = tag;
          body["cache_tag_header"] = config_.cache_tag_header;
          body["scope"] = fleet ? "fleet" : "node";
          body["propagation_ms"] = fleet ? tiers_.purge_bound().count() : 0;
          ReplyJson(*exchange, status, body);
        });
  });
}

}  // namespace imgorigin::origin
