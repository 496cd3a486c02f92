#include "origin/get_image_endpoint.h"

#include <fcntl.h>

#include "cache/key.h"
#include "common/fd.h"
#include "origin/dialects.h"
#include "origin/replies.h"
#include "transforms/format.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;

// The original's bytes: in memory already, or read back from the file a large one was streamed
// to (the source checked it against limits.max_src_bytes).
common::Result<common::SharedBytes> OriginalBytes(const sources::SourceImage& original) {
  if (!original.file) return original.bytes;
  common::UniqueFd fd(::open(original.file->path().c_str(), O_RDONLY | O_CLOEXEC));
  auto bytes = fd.valid() ? common::ReadUpTo(fd.get(), static_cast<size_t>(original.file->size()))
                          : std::nullopt;
  if (!bytes) return common::Fail(ErrorCode::kInternal, "original could not be read");
  return common::MakeShared(*std::move(bytes));
}

}  // namespace

void GetImageEndpoint::Handle(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  if (ingest_ == nullptr || !config_.dialects.seed002) {
    return ReplyError(ex, {ErrorCode::kNotFound, "not found"});
  }
  if (!ex.is_get_or_head()) return ReplyMethodNotAllowed(ex, "GET, HEAD");
  const std::string_view target = ex.target();
  const size_t question = target.find('?');
  auto request = ParseSeed002(
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1),
      config_.parser.presets);
  if (!request) return ReplyError(ex, request.error());

  const bool queued = io_.TrySubmit([this, exchange, request = *std::move(request)] {
    auto record = ingest_->records->Get(request.id);
    exchange->loop().Post([this, exchange, request, record = std::move(record)]() mutable {
      if (!record) return ReplyError(*exchange, record.error(), config_.not_found_max_age);
      const std::string status(ingest::StatusName(record->status));
      if (ingest::Renderable(*record)) return Serve(exchange, *std::move(record), request.size);
      switch (record->status) {
        case ingest::ImageStatus::kDeleted:
          return ReplyError(*exchange,
                            {ErrorCode::kNotFound, "image " + request.id + " is deleted"},
                            config_.not_found_max_age);
        default:
          // Pending (its upload is under way) or failed: a state that may change, never cached.
          return ReplyError(*exchange,
                            {ErrorCode::kConflict, "image " + request.id + " is " + status});
      }
    });
  });
  if (!queued) ReplyError(ex, {ErrorCode::kOverloaded, "server is busy, retry shortly"});
}

void GetImageEndpoint::Serve(const ExchangePtr& exchange, ingest::ImageRecord record,
                             const std::string& size) {
  auto search = std::make_shared<Search>(
      Search{std::move(record), FallbackOrder(sizes_, size), {ErrorCode::kInternal, ""}});
  auto attempt = std::make_shared<ImageEndpoint::Attempt>();
  attempt->on_failure = [this, exchange, search](const common::Error& error) {
    search->error = error;
    StandIn(exchange, search, 0);
  };
  // Overloaded, the render would be refused anyway, after the look-ups and the fetch of the
  // original that precede it.
  attempt->cached_only = cpu_.full();
  image_.Handle(exchange, SignedPresetPath(signer_, size, search->record.source_url),
                std::move(attempt));
}

void GetImageEndpoint::StandIn(const ExchangePtr& exchange, const SearchPtr& search, size_t next) {
  if (next == search->stand_ins.size()) return Original(exchange, search);
  const std::string& name = search->stand_ins[next];
  auto attempt = std::make_shared<ImageEndpoint::Attempt>();
  attempt->on_failure = [this, exchange, search, next](const common::Error&) {
    StandIn(exchange, search, next + 1);
  };
  attempt->cached_only = true;
  attempt->cache_control = config_.dialects.fallback_cache_control;
  attempt->headers = {{kFallbackHeader, name}};
  image_.Handle(exchange, SignedPresetPath(signer_, name, search->record.source_url),
                std::move(attempt));
}

void GetImageEndpoint::Original(const ExchangePtr& exchange, const SearchPtr& search) {
  // Answers at once from memory (on this loop), else on an I/O thread; originals streamed to a
  // file are never held in memory, so they are read back there, never on the loop.
  sources_.Fetch(
      search->record.source_url, "",
      [this, exchange, search](const common::Result<sources::SourceImage>& original) {
        auto bytes = original
                         ? OriginalBytes(*original)
                         : common::Result<common::SharedBytes>(std::unexpected(original.error()));
        const int64_t last_modified = original ? original->last_modified : 0;
        exchange->loop().Post([this, exchange, search, bytes = std::move(bytes), last_modified] {
          // The stand-ins were a courtesy: without one, the variant's own error is the answer.
          if (!bytes) return ReplyError(*exchange, search->error, config_.not_found_max_age);
          const ingest::ImageFacts& facts = search->record.facts;
          const auto format = transforms::FormatFromExtension(facts.format);
          Exchange& ex = *exchange;
          ex.AddHeader("Content-Type", format ? std::string(transforms::FormatMimeType(*format))
                                              : std::string("application/octet-stream"));
          if (format == transforms::ImageFormat::kSvg) {
            ex.AddHeader("Content-Security-Policy", kSvgContentSecurityPolicy);
          }
          if (!facts.sha256.empty()) ex.AddHeader("ETag", "\"" + facts.sha256 + "\"");
          if (last_modified > 0) ex.AddHeader("Last-Modified", HttpDate(last_modified));
          ex.AddHeader("Cache-Control", config_.dialects.fallback_cache_control);
          ex.AddHeader(config_.cache_tag_header.c_str(),
                       cache::SourceTag(search->record.source_url));
          ex.AddHeader(kFallbackHeader, kOriginal);
          ex.Send(200, *bytes);
        });
      });
}

}  // namespace imgorigin::origin
