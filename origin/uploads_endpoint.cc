#include "origin/uploads_endpoint.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "ingest/record.h"
#include "origin/off_loop.h"
#include "origin/replies.h"
#include "origin/upload_body.h"
#include "transforms/format.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using nlohmann::json;

constexpr std::string_view kComplete = "/complete";
constexpr std::string_view kObject = "/object";

// The id of "<base>/{id}<suffix>" ("/v1/uploads/{id}/complete"), or "" when `path` is not one.
std::string_view IdOf(std::string_view path, std::string_view base, std::string_view suffix) {
  const size_t start = base.size() + 1;
  if (path.size() <= start + suffix.size() || !path.starts_with(base) || path[base.size()] != '/' ||
      !path.ends_with(suffix)) {
    return {};
  }
  return path.substr(start, path.size() - start - suffix.size());
}

common::Error NotFound() { return {ErrorCode::kNotFound, "not found"}; }

// "image/jpeg, image/png, …": the types content_type may name on this build.
std::string ReadableTypes() {
  using transforms::ImageFormat;
  std::string list;
  for (int i = static_cast<int>(ImageFormat::kJpeg); i <= static_cast<int>(ImageFormat::kIco);
       ++i) {
    const auto format = static_cast<ImageFormat>(i);
    if (!transforms::CanLoad(format)) continue;
    if (!list.empty()) list += ", ";
    list += transforms::FormatMimeType(format);
  }
  return list;
}

// The request body of POST /v1/uploads or POST /upload as the uploader takes it. The content
// type is given back in its canonical spelling ("image/jpg" → "image/jpeg"): it is what the URL
// signs and what the client is told to send.
Result<ingest::Uploader::DirectUpload> ParseBegin(std::string_view body, bool seed002) {
  const json document = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                seed002 ? "expected JSON {\"content_type\": \"image/…\", \"filename\": \"…\"}"
                        : "expected JSON {\"content_type\": \"image/…\", \"metadata\": {…}, "
                          "\"expires_in\": seconds}");
  }
  const auto type = document.find("content_type");
  if (type == document.end() || !type->is_string()) {
    return Fail(ErrorCode::kInvalidArgument,
                "content_type is required: the image's MIME type, e.g. image/jpeg");
  }
  const auto format = transforms::FormatFromMimeType(type->get_ref<const std::string&>());
  if (!format || !transforms::CanLoad(*format)) {
    return Fail(ErrorCode::kUnsupported,
                "content_type must be an image type this server reads: " + ReadableTypes());
  }
  ingest::Uploader::DirectUpload upload;
  upload.content_type = transforms::FormatMimeType(*format);
  if (seed002) {
    if (const auto name = document.find("filename"); name != document.end()) {
      if (!name->is_string()) return Fail(ErrorCode::kInvalidArgument, "filename must be a string");
      upload.metadata["filename"] = *name;
    }
  } else if (const auto metadata = document.find("metadata"); metadata != document.end()) {
    if (!metadata->is_object()) {
      return Fail(ErrorCode::kInvalidArgument, "metadata must be a JSON object");
    }
    upload.metadata = *metadata;
  }
  if (const auto expires = document.find("expires_in"); expires != document.end()) {
    // Out-of-range values (a number past int64 turns negative here) are the uploader's to
    // refuse, with the bounds in the message.
    if (!expires->is_number_integer()) {
      return Fail(ErrorCode::kInvalidArgument, "expires_in must be a whole number of seconds");
    }
    upload.expires = std::chrono::seconds(expires->get<int64_t>());
  }
  return upload;
}

}  // namespace

bool UploadsEndpoint::Handles(std::string_view path, bool is_post) {
  const auto under = [path](std::string_view base) {
    return path == base || (path.starts_with(base) && path[base.size()] == '/');
  };
  return under(kPath) || (is_post && under(kSeed002Path));
}

bool UploadsEndpoint::Streams(evhttp_cmd_type method, std::string_view path) {
  return method == EVHTTP_REQ_PUT && !IdOf(path, kPath, kObject).empty();
}

Result<void> UploadsEndpoint::VerifyPut(std::string_view id, std::string_view target,
                                        const char* content_type) const {
  if (ingest_ == nullptr || ingest_->upload_urls == nullptr) return std::unexpected(NotFound());
  if (!ingest::ValidateId(id)) {
    return Fail(ErrorCode::kNotFound, "no upload with this id");
  }
  const auto expires = QueryParameter(target, "expires");
  const auto signature = QueryParameter(target, "signature");
  if (!expires || !signature) {
    return Fail(ErrorCode::kPermissionDenied, "the upload URL must carry expires and signature");
  }
  return ingest_->upload_urls->Verify(id, content_type != nullptr ? content_type : "", *expires,
                                      *signature, std::chrono::system_clock::now());
}

Result<int64_t> UploadsEndpoint::Admit(std::string_view target, const evkeyvalq* headers) const {
  const std::string_view id = IdOf(target.substr(0, target.find('?')), kPath, kObject);
  if (auto valid = VerifyPut(id, target, evhttp_find_header(headers, "Content-Type")); !valid) {
    return std::unexpected(valid.error());
  }
  return config_.ingest.upload.max_upload_bytes;
}

void UploadsEndpoint::Handle(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  const std::string_view path = ex.path();
  // Before the API key: the URL's signature is this request's credential.
  if (const std::string_view id = IdOf(path, kPath, kObject); !id.empty()) {
    if (!ex.is_put()) return ReplyMethodNotAllowed(ex, "PUT");
    return PutObject(exchange, std::string(id));
  }
  const bool seed002 = !path.starts_with(kPath);
  if (seed002 && !config_.dialects.seed002) return ReplyJsonError(ex, NotFound());
  if (!Authorize(ex, config_.api_key)) return;
  if (ingest_ == nullptr) {
    return ReplyJsonError(
        ex, {ErrorCode::kNotFound, "uploads are disabled on this server: set ingest.enabled"});
  }
  const std::string_view base = seed002 ? kSeed002Path : kPath;
  if (path == base) {
    if (!ex.is_post()) return ReplyMethodNotAllowed(ex, "POST");
    return Begin(exchange, seed002 ? Dialect::kSeed002 : Dialect::kApi);
  }
  std::string id(IdOf(path, base, kComplete));
  if (id.empty()) return ReplyJsonError(ex, NotFound());
  if (!ingest::ValidateId(id)) {
    return ReplyJsonError(ex, {ErrorCode::kNotFound, "no image with this id"});
  }
  if (!ex.is_post()) return ReplyMethodNotAllowed(ex, "POST");
  Complete(exchange, std::move(id));
}

void UploadsEndpoint::Begin(const ExchangePtr& exchange, Dialect dialect) {
  Exchange& ex = *exchange;
  auto body = ex.body(Server::kMaxBufferedBody);
  if (!body) return ReplyJsonError(ex, {ErrorCode::kTooLarge, "request body too large"});
  auto upload = ParseBegin(*body, dialect == Dialect::kSeed002);
  if (!upload) return ReplyJsonError(ex, upload.error());
  ingest::Uploader& uploader = *ingest_->uploader;
  RunOffLoop<ingest::Uploader::DirectUploadGrant>(
      io_, exchange,
      [&uploader, upload = *std::move(upload)] { return uploader.BeginDirect(upload); },
      [this, dialect](Exchange& ex, Result<ingest::Uploader::DirectUploadGrant>& grant) {
        if (!grant) return ReplyJsonError(ex, grant.error());
        const ingest::ImageRecord& record = grant->record;
        json headers = json::object();
        for (const auto& [name, value] : grant->url.headers) headers[name] = value;
        // A URL to this server itself (local originals) comes as a path.
        std::string url = grant->url.url;
        if (url.starts_with("/")) {
          const char* host = ex.header("Host");
          url = (config_.ingest.public_url.empty()
                     ? "http://" + std::string(host != nullptr ? host : "127.0.0.1")
                     : config_.ingest.public_url) +
                url;
        }
        const std::string expires_at =
            ingest::Rfc3339(std::chrono::floor<std::chrono::milliseconds>(grant->url.expires_at));
        spdlog::info("direct upload {} begun, URL valid until {}", record.id, expires_at);
        ex.AddHeader("Location", std::string(ImagesEndpoint::kPath) + "/" + record.id);
        if (dialect == Dialect::kSeed002) {
          return ReplyJson(ex, 201,
                           {{"image_id", record.id},
                            {"upload_url", url},
                            {"headers", std::move(headers)},
                            {"expires_at", expires_at}});
        }
        ReplyJson(ex, 201,
                  {{"id", record.id},
                   {"upload_url", url},
                   {"method", "PUT"},
                   {"headers", std::move(headers)},
                   {"expires_at", expires_at},
                   {"complete_url", std::string(kPath) + "/" + record.id + std::string(kComplete)},
                   {"record", images_.View(record)}});
      });
}

void UploadsEndpoint::PutObject(const ExchangePtr& exchange, std::string id) {
  Exchange& ex = *exchange;
  const auto& streamed = ex.streamed();
  if (streamed && streamed->refused) return ReplyJsonError(ex, *streamed->refused);
  const char* type = ex.header("Content-Type");
  if (auto valid = VerifyPut(id, ex.target(), type); !valid) {
    return ReplyJsonError(ex, valid.error());
  }
  std::shared_ptr<const storage::SpilledFile> body = streamed ? streamed->body : nullptr;
  // Without the server's request hook (see Server::OnNewRequest) the body arrived in memory.
  std::optional<std::string> buffered;
  if (!streamed) {
    buffered = ex.body(Server::kMaxBufferedBody);
    if (!buffered) return ReplyJsonError(ex, {ErrorCode::kTooLarge, "request body too large"});
  }
  ingest::OriginalsStore& originals = *ingest_->originals;
  ingest::RecordStore& records = *ingest_->records;
  RunOffLoop<int64_t>(
      io_, exchange,
      [&originals, &records, id, content_type = std::string(type), body, buffered,
       temp_dir = config_.fetch.TempDir()]() -> Result<int64_t> {
        // Once the image is ready or deleted its upload is over: a URL still valid must not
        // leave files behind that nothing would ever remove.
        auto record = records.Get(id);
        if (!record) return std::unexpected(record.error());
        if (record->status == ingest::ImageStatus::kReady ||
            record->status == ingest::ImageStatus::kDeleted) {
          return Fail(ErrorCode::kConflict, "image " + id + " is " +
                                                std::string(ingest::StatusName(record->status)) +
                                                ": its upload is over");
        }
        auto file = body;
        if (!file) {
          auto spilled = SpillBytes(*buffered, temp_dir);
          if (!spilled) return std::unexpected(spilled.error());
          file = *std::move(spilled);
        }
        if (auto put = originals.PutIncoming(id, file->path(), content_type); !put) {
          return std::unexpected(put.error());
        }
        return file->size();
      },
      [id](Exchange& ex, Result<int64_t>& size) {
        if (!size) return ReplyJsonError(ex, size.error());
        ReplyJson(ex, 200, {{"id", id}, {"bytes", *size}});
      });
}

void UploadsEndpoint::Complete(const ExchangePtr& exchange, std::string id) {
  ingest::Uploader& uploader = *ingest_->uploader;
  RunOffLoop<ingest::Uploader::Completion>(
      io_, exchange,
      [&uploader, id, temp_dir = config_.fetch.TempDir()] {
        return uploader.Complete(id, temp_dir);
      },
      [this](Exchange& ex, Result<ingest::Uploader::Completion>& completion) {
        if (!completion) return ReplyJsonError(ex, completion.error());
        const ingest::ImageRecord& record = completion->record;
        if (completion->completed) {
          spdlog::info("direct upload {} completed ({}, {}×{}, {} bytes)", record.id,
                       record.facts.format, record.facts.width, record.facts.height,
                       record.facts.bytes);
        }
        ReplyJson(ex, 200, images_.View(record));
      });
}

}  // namespace imgorigin::origin
