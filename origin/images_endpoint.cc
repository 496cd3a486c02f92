#include "origin/images_endpoint.h"

#include <event2/http.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <charconv>

#include "origin/off_loop.h"
#include "origin/presets.h"
#include "origin/replies.h"
#include "origin/upload_body.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr int kDefaultListLimit = 100;

const common::Error kUnsupportedBody{
    ErrorCode::kUnsupported, "send the image as image/*, multipart/form-data or application/json"};

common::Error Disabled() {
  return {ErrorCode::kNotFound, "uploads are disabled on this server: set ingest.enabled"};
}

// The dialect is switched off: as if the path did not exist.
common::Error Seed004Off() { return {ErrorCode::kNotFound, "not found"}; }

}  // namespace

Result<int64_t> ImagesEndpoint::Admit(std::string_view target, const evkeyvalq* headers) const {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == kSeed004Path && !config_.dialects.seed004) return std::unexpected(Seed004Off());
  if (auto refused = ApiKeyError(evhttp_find_header(headers, "Authorization"), config_.api_key)) {
    return std::unexpected(*refused);
  }
  if (ingest_ == nullptr) return std::unexpected(Disabled());
  const char* type = evhttp_find_header(headers, "Content-Type");
  if (type == nullptr || !IsUploadContentType(type)) return std::unexpected(kUnsupportedBody);
  // A raw image is the body itself; the wrapped forms are judged again once unwrapped.
  if (strncasecmp(type, "image/", 6) == 0) return config_.ingest.upload.max_upload_bytes;
  return config_.ingest.max_body_bytes();
}

void ImagesEndpoint::Handle(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  const std::string_view path = ex.path();
  if (!Authorize(ex, config_.api_key)) return;
  if (ingest_ == nullptr) return ReplyJsonError(ex, Disabled());
  if (path == kPath) {
    if (ex.is_post()) return Upload(exchange, UploadReply::kRecord);
    if (ex.is_get_or_head()) return List(exchange);
    return ReplyMethodNotAllowed(ex, "GET, POST");
  }
  std::string id(path.substr(std::string_view(kPath).size() + 1));
  if (!ingest::ValidateId(id)) {
    return ReplyJsonError(ex, {ErrorCode::kNotFound, "no image with this id"});
  }
  if (ex.is_get_or_head()) return Get(exchange, std::move(id));
  if (ex.is_delete()) return Delete(exchange, std::move(id));
  return ReplyMethodNotAllowed(ex, "GET, DELETE");
}

void ImagesEndpoint::HandleSeed004(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  if (!config_.dialects.seed004) return ReplyJsonError(ex, Seed004Off());
  if (!Authorize(ex, config_.api_key)) return;
  if (ingest_ == nullptr) return ReplyJsonError(ex, Disabled());
  if (!ex.is_post()) return ReplyMethodNotAllowed(ex, "POST");
  Upload(exchange, UploadReply::kSeed004);
}

nlohmann::json ImagesEndpoint::View(const ingest::ImageRecord& record) const {
  nlohmann::json view = ingest::ToJson(record);
  nlohmann::json urls = nlohmann::json::object();
  if (ingest::Renderable(record)) {
    for (const auto& [name, options] : config_.parser.presets) {
      if (name == "default") continue;  // applies to every URL; not a variant of its own
      urls[name] = SignedPresetPath(signer_, name, record.source_url);
    }
  }
  view["urls"] = std::move(urls);
  return view;
}

void ImagesEndpoint::Upload(const ExchangePtr& exchange, UploadReply shape) {
  Exchange& ex = *exchange;
  const auto& streamed = ex.streamed();
  if (streamed && streamed->refused) return ReplyJsonError(ex, *streamed->refused);
  const char* type = ex.header("Content-Type");
  if (type == nullptr || !IsUploadContentType(type)) {
    return ReplyJsonError(ex, kUnsupportedBody);
  }
  std::string content_type(type);
  const char* key = ex.header("Idempotency-Key");
  std::string idempotency_key = key != nullptr ? key : "";
  std::shared_ptr<const storage::SpilledFile> body = streamed ? streamed->body : nullptr;
  // Without the server's request hook (see Server::OnNewRequest) the body arrived in memory.
  std::optional<std::string> buffered;
  if (!streamed) {
    buffered = ex.body(Server::kMaxBufferedBody);
    if (!buffered) return ReplyJsonError(ex, {ErrorCode::kTooLarge, "request body too large"});
  }
  const Config& config = config_;
  const IngestServices& ingest = *ingest_;
  const sources::Source* url_source = url_source_;
  RunOffLoop<ingest::CreateOutcome>(
      io_, exchange,
      [&config, &ingest, url_source, content_type, idempotency_key, body,
       buffered]() -> Result<ingest::CreateOutcome> {
        const std::string temp_dir = config.fetch.TempDir();
        auto file = body;
        if (!file) {
          auto spilled = SpillBytes(*buffered, temp_dir);
          if (!spilled) return std::unexpected(spilled.error());
          file = *std::move(spilled);
        }
        auto parsed =
            ParseUploadBody(file, content_type, temp_dir, config.ingest.upload.max_upload_bytes);
        if (!parsed) return std::unexpected(parsed.error());
        file.reset();  // the body file is not needed once parsed
        ingest::Uploader::Upload upload{parsed->image, std::move(parsed->metadata),
                                        idempotency_key};
        if (!parsed->url.empty()) {
          const std::string& url = parsed->url;
          if (!url.starts_with("http://") && !url.starts_with("https://")) {
            return Fail(ErrorCode::kInvalidArgument, "data must be an http(s) URL for type url");
          }
          if (url_source == nullptr) {
            return Fail(ErrorCode::kInvalidArgument,
                        "uploads by URL need http sources (http.enabled)");
          }
          auto fetched = url_source->Fetch(url);
          if (!fetched) return std::unexpected(fetched.error());
          if (fetched->file) {
            upload.original = fetched->file;
          } else {
            auto spilled = SpillBytes(*fetched->bytes, temp_dir);
            if (!spilled) return std::unexpected(spilled.error());
            upload.original = *std::move(spilled);
          }
        }
        return ingest.uploader->Store(upload);
      },
      [this, shape](Exchange& ex, Result<ingest::CreateOutcome>& outcome) {
        if (!outcome) return ReplyJsonError(ex, outcome.error());
        const ingest::ImageRecord& record = outcome->record;
        if (outcome->created) {
          spdlog::info("uploaded image {} ({}, {}×{}, {} bytes)", record.id, record.facts.format,
                       record.facts.width, record.facts.height, record.facts.bytes);
        } else {
          ex.AddHeader("Idempotent-Replayed", "true");
        }
        ex.AddHeader("Location", std::string(kPath) + "/" + record.id);
        if (shape == UploadReply::kSeed004) return ReplyJson(ex, 201, {{"id", record.id}});
        ReplyJson(ex, 201, View(record));
      });
}

void ImagesEndpoint::List(const ExchangePtr& exchange) {
  const std::string after = QueryParameter(exchange->target(), "after").value_or("");
  int limit = kDefaultListLimit;
  if (auto text = QueryParameter(exchange->target(), "limit")) {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc() || end != text->data() + text->size()) limit = 0;  // refused below
  }
  if (auto valid = ingest::ValidateListArgs(after, limit); !valid) {
    return ReplyJsonError(*exchange, valid.error());
  }
  ingest::RecordStore& records = *ingest_->records;
  RunOffLoop<ingest::Page>(
      io_, exchange, [&records, after, limit] { return records.List(after, limit); },
      [this](Exchange& ex, Result<ingest::Page>& page) {
        if (!page) return ReplyJsonError(ex, page.error());
        nlohmann::json images = nlohmann::json::array();
        for (const auto& record : page->records) images.push_back(View(record));
        ReplyJson(ex, 200,
                  {{"images", std::move(images)},
                   {"next_after", page->next_after.empty() ? nlohmann::json()
                                                           : nlohmann::json(page->next_after)}});
      });
}

void ImagesEndpoint::Get(const ExchangePtr& exchange, std::string id) {
  ingest::RecordStore& records = *ingest_->records;
  RunOffLoop<ingest::ImageRecord>(
      io_, exchange, [&records, id] { return records.Get(id); },
      [this](Exchange& ex, Result<ingest::ImageRecord>& record) {
        if (!record) return ReplyJsonError(ex, record.error());
        ReplyJson(ex, 200, View(*record));
      });
}

void ImagesEndpoint::Delete(const ExchangePtr& exchange, std::string id) {
  ingest::Uploader& uploader = *ingest_->uploader;
  RunOffLoop<ingest::ImageRecord>(
      io_, exchange, [&uploader, id] { return uploader.Delete(id); },
      [this, exchange](Exchange& ex, Result<ingest::ImageRecord>& record) {
        if (!record) return ReplyJsonError(ex, record.error());
        // The variants go as /v1/purge makes them go; the answer names the CDN tag.
        purge_.PurgeAndReply(exchange, record->source_url, 200, {{"image", View(*record)}});
      });
}

}  // namespace imgorigin::origin
