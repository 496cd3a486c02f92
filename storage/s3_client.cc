#include "storage/s3_client.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>

#include "common/fd.h"
#include "storage/aws_api_client.h"
#include "storage/digest.h"

namespace imgorigin::storage {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kMinPartBytes = 5 * kMiB;
constexpr int64_t kMaxPartBytes = int64_t{5} << 30;
constexpr int64_t kMaxSinglePutBytes = int64_t{5} << 30;
constexpr int64_t kMaxObjectBytes = int64_t{5} << 40;
constexpr int64_t kMaxParts = 10'000;

// An S3 answer that is not the success the caller wanted, as an Error in domain terms. A 404 is
// the caller's kNotFound only when it reads an object; to a write it means a missing bucket or
// upload, a fault of the server's setup like any other refusal.
common::Error Refused(const HttpResponse& response, std::string_view what, bool read = false) {
  if (response.status == 404 && read) {
    return {ErrorCode::kNotFound, std::string(what) + ": no such object in S3"};
  }
  if (response.status == 401 || response.status == 403) {
    return {ErrorCode::kUpstreamFailed,
            std::string(what) + ": S3 refused access (" + S3StatusDetail(response) +
                "): check this server's AWS credentials and the bucket policy"};
  }
  return {ErrorCode::kUpstreamFailed,
          std::string(what) + ": S3 answered " + S3StatusDetail(response)};
}

// Element text needs only these three escaped; quotes stay as they are, as the AWS SDKs send
// ETags, since some S3-compatible servers compare them without decoding entities.
std::string XmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

bool HasLineBreak(std::string_view text) {
  return text.find_first_of("\r\n") != std::string_view::npos;
}

// Reads exactly `size` bytes at `offset` into `out`; false on a read error or end of file.
bool ReadAt(int fd, int64_t offset, int64_t size, std::string& out) {
  out.resize(static_cast<size_t>(size));
  int64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, static_cast<size_t>(size - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

Result<void> WritableObject(const S3Client::Object& object) {
  if (!IsValidBucketName(object.bucket) || object.key.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "an S3 object needs a valid bucket and a key");
  }
  if (!object.version_id.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "S3 writes a new version: none can be named");
  }
  return {};
}

}  // namespace

Result<void> ServerSideEncryption::Validate() const {
  if (algorithm.empty() || algorithm == "AES256") {
    if (!kms_key_id.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "a KMS key id needs encryption \"aws:kms\"");
    }
    return {};
  }
  if (algorithm != "aws:kms") {
    return Fail(ErrorCode::kInvalidArgument,
                "server-side encryption must be \"AES256\" or "
                "\"aws:kms\", not \"" +
                    algorithm + "\"");
  }
  if (HasLineBreak(kms_key_id) || kms_key_id.size() > 2048) {
    return Fail(ErrorCode::kInvalidArgument, "the KMS key id is not a key id, alias or ARN");
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> ServerSideEncryption::Headers() const {
  std::vector<std::pair<std::string, std::string>> headers;
  if (algorithm.empty()) return headers;
  headers.emplace_back("x-amz-server-side-encryption", algorithm);
  if (!kms_key_id.empty()) {
    headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", kms_key_id);
  }
  return headers;
}

Result<void> S3Client::PutOptions::Validate() const {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  if (content_type.empty() || HasLineBreak(content_type)) return bad("bad S3 content type");
  if (auto r = encryption.Validate(); !r) return r;
  if (multipart_threshold < 0 || multipart_threshold > kMaxSinglePutBytes) {
    return bad("the multipart threshold must be 0 to 5 GiB");
  }
  if (part_size < kMinPartBytes || part_size > kMaxPartBytes) {
    return bad("the multipart part size must be 5 MiB to 5 GiB");
  }
  if (timeout.count() <= 0) return bad("the S3 upload timeout must be > 0");
  return {};
}

std::optional<std::string> S3XmlText(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  size_t start = xml.find(open);
  if (start == std::string_view::npos) return std::nullopt;
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view raw = xml.substr(start, end - start);
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}};
  std::string text;
  while (!raw.empty()) {
    if (raw.front() == '&') {
      bool named = false;
      for (const auto& [entity, c] : kEntities) {
        if (raw.starts_with(entity)) {
          text += c;
          raw.remove_prefix(entity.size());
          named = true;
          break;
        }
      }
      if (named) continue;
      // Numeric references (S3 writes "&#34;" for quotes in some answers); ASCII only.
      size_t semi = raw.find(';');
      if (raw.starts_with("&#") && semi != std::string_view::npos) {
        std::string_view digits = raw.substr(2, semi - 2);
        int base = 10;
        if (digits.starts_with("x") || digits.starts_with("X")) {
          digits.remove_prefix(1);
          base = 16;
        }
        int value = 0;
        auto [end_ptr, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
        if (ec == std::errc() && end_ptr == digits.data() + digits.size() && value > 0 &&
            value < 128) {
          text += static_cast<char>(value);
          raw.remove_prefix(semi + 1);
          continue;
        }
      }
    }
    text += raw.front();
    raw.remove_prefix(1);
  }
  return text;
}

std::string S3ErrorCode(std::string_view body) {
  std::string code = S3XmlText(body, "Code").value_or("");
  bool plain =
      std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isalnum(c); });
  return plain && code.size() <= 64 ? code : "";
}

Result<int64_t> MultipartPartSize(int64_t object_size, int64_t preferred) {
  if (object_size > kMaxObjectBytes) {
    return Fail(ErrorCode::kTooLarge, "S3 objects are at most 5 TiB");
  }
  int64_t size = std::clamp(preferred, kMinPartBytes, kMaxPartBytes);
  int64_t needed = (object_size + kMaxParts - 1) / kMaxParts;
  needed = (needed + kMiB - 1) / kMiB * kMiB;
  return std::max(size, needed);
}

std::string S3StatusDetail(const HttpResponse& response) {
  std::string code = S3ErrorCode(response.body);
  return std::to_string(response.status) + (code.empty() ? "" : " " + code);
}

bool IsValidBucketName(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  return std::all_of(bucket.begin(), bucket.end(),
                     [](unsigned char c) {
                       return std::islower(c) || std::isdigit(c) || c == '-' || c == '.' ||
                              c == '_';
                     }) &&
         bucket.find("..") == std::string_view::npos;
}

Result<std::unique_ptr<S3Client>> S3Client::Create(const Config& config, EnvLookup env) {
  std::string region = ResolveAwsRegion(config.region, env);
  auto endpoint = ResolveAwsEndpoint(config.endpoint, "s3", region, env);
  if (!endpoint) return std::unexpected(endpoint.error());
  return std::unique_ptr<S3Client>(
      new S3Client(config, std::move(env), std::move(region), *std::move(endpoint)));
}

S3Client::S3Client(const Config& config, EnvLookup env, std::string region, std::string endpoint)
    : path_style_(config.path_style),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      credentials_(AwsCredentialsChain::Config{}, std::move(env)) {}

std::string S3Client::ObjectUrl(const Object& object) const {
  std::string path = "/" + UriEncode(object.key, /*keep_slash=*/true);
  std::string url;
  // Bucket names with dots break the TLS wildcard certificate of virtual-hosted addressing, so
  // they always use path style, as the AWS SDKs do.
  if (path_style_ || object.bucket.find('.') != std::string::npos) {
    url = endpoint_ + "/" + object.bucket + path;
  } else {
    size_t host = endpoint_.find("://") + 3;
    url = endpoint_.substr(0, host) + object.bucket + "." + endpoint_.substr(host) + path;
  }
  if (!object.version_id.empty()) url += "?versionId=" + UriEncode(object.version_id, false);
  return url;
}

Result<S3Client::PresignedUrl> S3Client::Presign(const Object& object,
                                                 const PresignOptions& options) const {
  if (!IsValidBucketName(object.bucket) || object.key.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "an S3 object needs a valid bucket and a key");
  }
  if (options.method == "PUT" && !object.version_id.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "S3 writes a new version: none can be named");
  }
  if (auto r = options.encryption.Validate(); !r) return std::unexpected(r.error());
  if (HasLineBreak(options.content_type)) {
    return Fail(ErrorCode::kInvalidArgument, "bad S3 content type");
  }
  auto creds = credentials_.Get();
  if (!creds) {
    return Fail(ErrorCode::kUpstreamFailed, "S3 credentials are not available on this server");
  }
  PresignParams params;
  params.method = options.method;
  params.url = ObjectUrl(object);
  params.now = std::chrono::system_clock::now();
  params.expires = options.expires;
  // Temporary credentials take their URLs with them when they expire: say so in the URL. (The
  // bounds are checked on what was asked for, before it is shortened.)
  if (creds->expiration && params.expires >= kMinPresignExpiry &&
      params.expires <= kMaxPresignExpiry) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(*creds->expiration - params.now);
    params.expires = std::max(kMinPresignExpiry, std::min(params.expires, left));
  }
  if (!options.content_type.empty())
    params.headers.emplace_back("Content-Type", options.content_type);
  if (options.method == "PUT") {
    for (auto& header : options.encryption.Headers()) params.headers.push_back(std::move(header));
  }
  auto url = PresignS3Url(params, *creds, region_);
  if (!url) return std::unexpected(url.error());
  return PresignedUrl{.url = *std::move(url),
                      .headers = std::move(params.headers),
                      .expires_at = params.now + params.expires};
}

HttpRequest S3Client::Request(std::string method, std::string url,
                              const PutOptions* options) const {
  HttpRequest request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.what = "S3";
  if (options != nullptr) request.timeout = options->timeout;
  return request;
}

Result<HttpResponse> S3Client::Send(HttpRequest request, const RetryPolicy& retry,
                                    std::string_view what) const {
  auto response = Perform(std::move(request), retry);
  if (!response) {
    return Fail(response.error().code, std::string(what) + ": " + response.error().message);
  }
  return response;
}

Result<S3Client::PutResult> S3Client::PutObject(const Object& object, std::string_view body,
                                                const PutOptions& options) const {
  if (auto r = WritableObject(object); !r) return std::unexpected(r.error());
  if (auto r = options.Validate(); !r) return std::unexpected(r.error());
  if (static_cast<int64_t>(body.size()) > kMaxSinglePutBytes) {
    return Fail(ErrorCode::kTooLarge, "one S3 PUT carries at most 5 GiB");
  }
  HttpRequest request = Request("PUT", ObjectUrl(object), &options);
  request.headers.push_back("Content-Type: " + options.content_type);
  for (const auto& [name, value] : options.encryption.Headers()) {
    request.headers.push_back(name + ": " + value);
  }
  request.body = body;
  auto response = Send(std::move(request), options.retry, "PutObject");
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) return std::unexpected(Refused(*response, "PutObject"));
  return PutResult{.etag = std::string(response->header("etag")),
                   .size = static_cast<int64_t>(body.size()),
                   .parts = 0,
                   .encryption = std::string(response->header("x-amz-server-side-encryption"))};
}

Result<S3Client::PutResult> S3Client::UploadFile(const Object& object, const std::string& path,
                                                 const PutOptions& options) const {
  if (auto r = WritableObject(object); !r) return std::unexpected(r.error());
  if (auto r = options.Validate(); !r) return std::unexpected(r.error());
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInternal, "cannot read the file to upload to S3");
  }
  const int64_t size = st.st_size;
  if (size > options.multipart_threshold) {
    return UploadParts(object, fd.get(), size, options);
  }
  std::string body;
  if (!ReadAt(fd.get(), 0, size, body)) {
    return Fail(ErrorCode::kInternal, "the file to upload to S3 could not be read in full");
  }
  return PutObject(object, body, options);
}

Result<S3Client::PutResult> S3Client::UploadParts(const Object& object, int fd, int64_t size,
                                                  const PutOptions& options) const {
  auto part_size = MultipartPartSize(size, options.part_size);
  if (!part_size) return std::unexpected(part_size.error());
  if (*part_size > kMaxPartBytes) {
    return Fail(ErrorCode::kTooLarge, "the file needs parts over S3's 5 GiB limit");
  }
  HttpRequest create = Request("POST", ObjectUrl(object) + "?uploads=", &options);
  // The object's type and encryption are given here, once; the parts carry only bytes.
  create.headers.push_back("Content-Type: " + options.content_type);
  for (const auto& [name, value] : options.encryption.Headers()) {
    create.headers.push_back(name + ": " + value);
  }
  auto created = Send(std::move(create), options.retry, "CreateMultipartUpload");
  if (!created) return std::unexpected(created.error());
  if (created->status != 200) return std::unexpected(Refused(*created, "CreateMultipartUpload"));
  std::optional<std::string> upload_id = S3XmlText(created->body, "UploadId");
  if (!upload_id || upload_id->empty()) {
    return Fail(ErrorCode::kUpstreamFailed, "CreateMultipartUpload: S3 answered no UploadId");
  }
  auto result = SendParts(object, *upload_id, fd, size, *part_size, options);
  if (!result) AbortUpload(object, *upload_id, options);
  if (result) result->encryption = created->header("x-amz-server-side-encryption");
  return result;
}

Result<S3Client::PutResult> S3Client::SendParts(const Object& object, const std::string& upload_id,
                                                int fd, int64_t size, int64_t part_size,
                                                const PutOptions& options) const {
  const std::string url = ObjectUrl(object);
  const std::string id = UriEncode(upload_id, false);
  std::string complete = "<CompleteMultipartUpload>";
  std::string buffer;  // one part at a time: memory stays at part_size whatever the file size
  int parts = 0;
  for (int64_t offset = 0; offset < size; offset += part_size) {
    const int number = ++parts;
    if (!ReadAt(fd, offset, std::min(part_size, size - offset), buffer)) {
      return Fail(ErrorCode::kInternal,
                  "the file being uploaded to S3 shrank or could not be read");
    }
    // Query parameters in SigV4's canonical order (sorted), as libcurl signs them as written.
    HttpRequest request =
        Request("PUT", url + "?partNumber=" + std::to_string(number) + "&uploadId=" + id, &options);
    request.headers.push_back("Content-Type: application/octet-stream");
    request.body = buffer;
    auto response = Send(std::move(request), options.retry, "UploadPart");
    if (!response) return std::unexpected(response.error());
    if (response->status != 200) return std::unexpected(Refused(*response, "UploadPart"));
    std::string_view etag = response->header("etag");
    if (etag.empty()) return Fail(ErrorCode::kUpstreamFailed, "UploadPart: S3 answered no ETag");
    complete += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" +
                XmlEscape(etag) + "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  std::string().swap(buffer);

  HttpRequest request = Request("POST", url + "?uploadId=" + id, &options);
  request.headers.push_back("Content-Type: application/xml");
  request.body = complete;
  auto response = Send(std::move(request), options.retry, "CompleteMultipartUpload");
  if (!response) return std::unexpected(response.error());
  // S3 may answer 200 and still fail: the error then comes in the body, after the 200 status
  // line it sent to keep the connection alive while it assembled the parts.
  if (response->status != 200 || response->body.find("<Error>") != std::string::npos) {
    return std::unexpected(Refused(*response, "CompleteMultipartUpload"));
  }
  return PutResult{.etag = S3XmlText(response->body, "ETag").value_or(""),
                   .size = size,
                   .parts = parts,
                   .encryption = ""};
}

void S3Client::AbortUpload(const Object& object, const std::string& upload_id,
                           const PutOptions& options) const {
  HttpRequest request =
      Request("DELETE", ObjectUrl(object) + "?uploadId=" + UriEncode(upload_id, false), &options);
  auto response = Perform(std::move(request), options.retry);
  // 404: the upload is already gone (completed or aborted by a retry that S3 did see).
  if (response && (response->status == 204 || response->status == 200 || response->status == 404)) {
    return;
  }
  // Nothing more can be done here; a bucket lifecycle rule (AbortIncompleteMultipartUpload)
  // is the backstop for parts left behind.
  spdlog::warn("S3 AbortMultipartUpload of {}/{} failed: {}", object.bucket, object.key,
               response ? S3StatusDetail(*response) : response.error().message);
}

Result<S3Client::ObjectInfo> S3Client::HeadObject(const Object& object,
                                                  const RetryPolicy& retry) const {
  auto response = Send(Request("HEAD", ObjectUrl(object), nullptr), retry, "HeadObject");
  if (!response) return std::unexpected(response.error());
  if (response->status != 200)
    return std::unexpected(Refused(*response, "HeadObject", /*read=*/true));
  ObjectInfo info;
  std::string_view length = response->header("content-length");
  if (std::from_chars(length.data(), length.data() + length.size(), info.size).ec != std::errc()) {
    return Fail(ErrorCode::kUpstreamFailed, "HeadObject: S3 answered no Content-Length");
  }
  info.etag = response->header("etag");
  info.content_type = response->header("content-type");
  info.last_modified = response->last_modified;
  info.encryption = response->header("x-amz-server-side-encryption");
  return info;
}

Result<std::string> S3Client::ReadPrefix(const Object& object, int64_t bytes,
                                         const RetryPolicy& retry) const {
  if (bytes <= 0) return Fail(ErrorCode::kInvalidArgument, "a prefix read needs bytes > 0");
  HttpRequest request = Request("GET", ObjectUrl(object), nullptr);
  request.headers.push_back("Range: bytes=0-" + std::to_string(bytes - 1));
  request.max_bytes = bytes;
  auto response = Send(std::move(request), retry, "GetObject");
  if (!response) return std::unexpected(response.error());
  // 416: the range starts past the end, which only an empty object does to "bytes=0-".
  if (response->status == 416) return std::string();
  if (response->status != 206 && response->status != 200) {
    return std::unexpected(Refused(*response, "GetObject", /*read=*/true));
  }
  return std::move(response->body);
}

Result<void> S3Client::DeleteObject(const Object& object, const RetryPolicy& retry) const {
  auto response = Send(Request("DELETE", ObjectUrl(object), nullptr), retry, "DeleteObject");
  if (!response) return std::unexpected(response.error());
  if (response->status != 204 && response->status != 200 && response->status != 404) {
    return std::unexpected(Refused(*response, "DeleteObject"));
  }
  return {};
}

Result<HttpResponse> S3Client::Perform(HttpRequest request, const RetryPolicy& retry) const {
  auto creds = credentials_.Get();
  if (!creds) {
    return Fail(ErrorCode::kUpstreamFailed, "S3 credentials are not available on this server");
  }
  // S3 requires the payload hash on every SigV4 request (an empty body has one too), and checks
  // the body against it.
  auto signed_request =
      SignS3Request(request.method, request.url, request.headers, Sha256Hex(request.body), *creds,
                    region_, std::chrono::system_clock::now());
  if (!signed_request) return std::unexpected(signed_request.error());
  return http_.PerformWithRetry(request, retry);
}

}  // namespace imgorigin::storage
