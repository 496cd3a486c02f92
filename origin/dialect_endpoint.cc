#include "origin/dialect_endpoint.h"

#include "origin/dialects.h"
#include "origin/replies.h"
#include "signing/base64url.h"

namespace imgorigin::origin {

using common::ErrorCode;

void DialectEndpoint::Handle(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  if (ingest_ == nullptr || !config_.dialects.seed004) {
    return ReplyError(ex, {ErrorCode::kNotFound, "not found"});
  }
  if (!ex.is_get_or_head()) return ReplyMethodNotAllowed(ex, "GET, HEAD");
  const std::string_view target = ex.target();
  const size_t question = target.find('?');
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  auto request = ParseSeed004(ex.path(), query, config_.dialects, signer_);
  if (!request) return ReplyError(ex, request.error());

  const bool queued = io_.TrySubmit([this, exchange, request = *std::move(request)] {
    auto record = ingest_->records->Get(request.id);
    exchange->loop().Post([this, exchange, request, record = std::move(record)] {
      if (!record) return ReplyError(*exchange, record.error());
      if (!ingest::Renderable(*record)) {
        return ReplyError(*exchange, {ErrorCode::kNotFound, "image " + request.id +
                                                                " is " +
                                                                std::string(ingest::StatusName(
                                                                    record->status))});
      }
      const std::string signed_path =
          request.options + "/" + signing::Base64UrlEncode(record->source_url);
      image_.Handle(exchange, "/" + signer_.Sign(signed_path) + signed_path);
    });
  });
  if (!queued) ReplyError(ex, {ErrorCode::kOverloaded, "server is busy, retry shortly"});
}

}  // namespace imgorigin::origin
