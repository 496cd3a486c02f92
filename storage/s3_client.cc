#include "storage/s3_client.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <set>

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
// upload, a fault of the server's setup like any other refusal. A 301 or 307 (or
// AuthorizationHeaderMalformed) says the bucket is in another region than the one signed for.
common::Error RefusedIn(const HttpResponse& response, std::string_view what,
                        std::string_view region, bool read) {
  const std::string detail = S3StatusDetail(response);
  if (response.status == 404 && read) {
    return {ErrorCode::kNotFound, std::string(what) + ": not found in S3 (" + detail + ")"};
  }
  if (response.status == 401 || response.status == 403) {
    return {ErrorCode::kUpstreamFailed,
            std::string(what) + ": S3 refused access (" + detail +
                "): check this server's AWS credentials and the bucket policy"};
  }
  if (response.status == 301 || response.status == 307 ||
      S3ErrorCode(response.body) == "AuthorizationHeaderMalformed") {
    return {ErrorCode::kUpstreamFailed, std::string(what) + ": the S3 bucket is not in region " +
                                            std::string(region) + " (" + detail +
                                            "): set AWS_REGION"};
  }
  return {ErrorCode::kUpstreamFailed, std::string(what) + ": S3 answered " + detail};
}

constexpr std::string_view kMetaPrefix = "x-amz-meta-";
constexpr size_t kMaxMetadataBytes = 2048;  // S3: names and values of user metadata together
constexpr int64_t kMaxListAnswerBytes = int64_t{32} << 20;  // 1000 keys of 1 KiB, escaped, fit

Result<void> ValidateMetadata(const std::vector<std::pair<std::string, std::string>>& metadata) {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  std::set<std::string_view> names;
  size_t total = 0;
  for (const auto& [name, value] : metadata) {
    const bool plain_name =
        !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        });
    if (!plain_name) return bad("S3 metadata names are lowercase [a-z0-9-], not \"" + name + "\"");
    if (!names.insert(name).second) return bad("S3 metadata \"" + name + "\" is given twice");
    const bool printable = std::all_of(value.begin(), value.end(),
                                       [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
    if (value.empty() || !printable || value.front() == ' ' || value.back() == ' ') {
      return bad("S3 metadata \"" + name +
                 "\" must be printable ASCII, not empty, without leading or trailing spaces");
    }
    total += name.size() + value.size();
  }
  if (total > kMaxMetadataBytes) return bad("S3 user metadata is limited to 2 KB in all");
  return {};
}

// The headers that describe a new object: type, encryption and user metadata (on a PUT, or once
// on CreateMultipartUpload).
void AddObjectHeaders(HttpRequest& request, const S3Client::PutOptions& options) {
  request.headers.push_back("Content-Type: " + options.content_type);
  for (const auto& [name, value] : options.encryption.Headers()) {
    request.headers.push_back(name + ": " + value);
  }
  for (const auto& [name, value] : options.metadata) {
    request.headers.push_back(std::string(kMetaPrefix) + name + ": " + value);
  }
}

// What the headers of a HEAD or GET answer say about the object (its size aside).
S3Client::ObjectInfo InfoFromHeaders(const HttpResponse& response) {
  S3Client::ObjectInfo info;
  info.etag = response.header("etag");
  info.content_type = response.header("content-type");
  info.last_modified = response.last_modified;
  info.encryption = response.header("x-amz-server-side-encryption");
  for (const auto& [name, value] : response.headers) {
    if (name.starts_with(kMetaPrefix) && name.size() > kMetaPrefix.size()) {
      info.metadata.emplace(name.substr(kMetaPrefix.size()), value);
    }
  }
  return info;
}

// Appends code point `cp` as UTF-8; false for what XML cannot reference (0, surrogates, beyond
// U+10FFFF).
bool AppendUtf8(uint32_t cp, std::string& out) {
  if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return true;
}

// Element text with XML's five named entities and numeric references decoded; anything else
// that starts with "&" is kept as it is.
std::string XmlDecode(std::string_view raw) {
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
      // Numeric references (S3 writes "&#34;" for quotes in some answers).
      // At most "&#x10FFFF;": a far ';' is no reference (and is not searched for again and
      // again across a long answer).
      size_t semi = raw.substr(0, 12).find(';');
      if (raw.starts_with("&#") && semi != std::string_view::npos) {
        std::string_view digits = raw.substr(2, semi - 2);
        int base = 10;
        if (digits.starts_with("x") || digits.starts_with("X")) {
          digits.remove_prefix(1);
          base = 16;
        }
        uint32_t value = 0;
        auto [end_ptr, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
        if (ec == std::errc() && end_ptr == digits.data() + digits.size() &&
            AppendUtf8(value, text)) {
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

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// S3's encoding-type=url form: %XX escapes, "+" for a space. nullopt on a broken escape.
std::optional<std::string> UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
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
  return ValidateMetadata(metadata);
}

Result<void> S3Client::GetOptions::Validate() const {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  if (dir.empty()) return bad("a download needs a directory for its temporary file");
  if (max_bytes < 0) return bad("the S3 download limit must be >= 0");
  if (timeout.count() <= 0) return bad("the S3 download timeout must be > 0");
  return {};
}

namespace {

// The raw text between the first <tag> at or after `from` and its </tag>; sets `from` past it.
std::optional<std::string_view> XmlElement(std::string_view xml, std::string_view tag,
                                           size_t& from) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  size_t start = xml.find(open, from);
  if (start == std::string_view::npos) return std::nullopt;
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == std::string_view::npos) return std::nullopt;
  from = end + close.size();
  return xml.substr(start, end - start);
}

}  // namespace

std::optional<std::string> S3XmlText(std::string_view xml, std::string_view tag) {
  size_t from = 0;
  auto raw = XmlElement(xml, tag, from);
  if (!raw) return std::nullopt;
  return XmlDecode(*raw);
}

namespace {

Result<S3Client::ListedObject> ParseListedObject(std::string_view contents, bool url_encoded) {
  auto bad = [](std::string what) {
    return Fail(ErrorCode::kUpstreamFailed, "ListObjectsV2: S3 answered " + std::move(what));
  };
  auto key = S3XmlText(contents, "Key");
  auto size = S3XmlText(contents, "Size");
  auto etag = S3XmlText(contents, "ETag");
  auto modified = S3XmlText(contents, "LastModified");
  if (!key || !size || !etag || !modified) {
    return bad("an entry without its Key, Size, ETag or LastModified");
  }
  S3Client::ListedObject object;
  if (url_encoded) {
    auto decoded = UrlDecode(*key);
    if (!decoded) return bad("a key that is not URL-encoded");
    key = std::move(decoded);
  }
  object.key = *std::move(key);
  if (object.key.empty()) return bad("an empty key");
  const char* end = size->data() + size->size();
  auto parsed = std::from_chars(size->data(), end, object.size);
  if (parsed.ec != std::errc() || parsed.ptr != end || object.size < 0) {
    return bad("a size that is not a number");
  }
  object.etag = *std::move(etag);
  auto time = ParseIso8601(*modified);
  if (!time) return bad("a LastModified that is not a time");
  object.last_modified = std::chrono::system_clock::to_time_t(*time);
  return object;
}

}  // namespace

Result<S3Client::ListPage> ParseListObjectsV2(std::string_view xml) {
  auto bad = [](std::string what) {
    return Fail(ErrorCode::kUpstreamFailed, "ListObjectsV2: S3 answered " + std::move(what));
  };
  if (xml.find("<ListBucketResult") == std::string_view::npos) return bad("no ListBucketResult");
  auto truncated = S3XmlText(xml, "IsTruncated");
  if (!truncated || (*truncated != "true" && *truncated != "false")) {
    return bad("no IsTruncated");
  }
  const bool url_encoded = S3XmlText(xml, "EncodingType") == "url";
  S3Client::ListPage page;
  size_t from = 0;
  while (auto contents = XmlElement(xml, "Contents", from)) {
    auto object = ParseListedObject(*contents, url_encoded);
    if (!object) return std::unexpected(object.error());
    page.objects.push_back(*std::move(object));
  }
  // An opening tag left over is an entry cut short.
  if (xml.find("<Contents>", from) != std::string_view::npos) return bad("a cut-off entry");
  if (*truncated == "true") {
    page.next_token = S3XmlText(xml, "NextContinuationToken").value_or("");
    if (page.next_token.empty()) return bad("a truncated listing without a continuation token");
  }
  return page;
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

std::string UnquotedEtag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
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

bool S3Client::PathStyle(const std::string& bucket) const {
  // Bucket names with dots break the TLS wildcard certificate of virtual-hosted addressing, so
  // they always use path style, as the AWS SDKs do.
  return path_style_ || bucket.find('.') != std::string::npos;
}

std::string S3Client::BucketUrl(const std::string& bucket) const {
  if (PathStyle(bucket)) return endpoint_ + "/" + bucket;
  size_t host = endpoint_.find("://") + 3;
  return endpoint_.substr(0, host) + bucket + "." + endpoint_.substr(host);
}

std::string S3Client::ObjectUrl(const Object& object) const {
  std::string url = BucketUrl(object.bucket) + "/" + UriEncode(object.key, /*keep_slash=*/true);
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

common::Error S3Client::Refused(const HttpResponse& response, std::string_view what,
                                bool read) const {
  return RefusedIn(response, what, region_, read);
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
  AddObjectHeaders(request, options);
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
  // The object's type, encryption and metadata are given here, once; the parts carry only bytes.
  AddObjectHeaders(create, options);
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
  ObjectInfo info = InfoFromHeaders(*response);
  std::string_view length = response->header("content-length");
  if (std::from_chars(length.data(), length.data() + length.size(), info.size).ec != std::errc()) {
    return Fail(ErrorCode::kUpstreamFailed, "HeadObject: S3 answered no Content-Length");
  }
  return info;
}

Result<S3Client::ListPage> S3Client::ListObjects(const std::string& bucket,
                                                 const std::string& prefix,
                                                 const std::string& continuation_token,
                                                 int max_keys, const std::string& start_after,
                                                 const RetryPolicy& retry) const {
  if (!IsValidBucketName(bucket)) {
    return Fail(ErrorCode::kInvalidArgument, "a listing needs a valid bucket name");
  }
  if (max_keys < 1 || max_keys > 1000) {
    return Fail(ErrorCode::kInvalidArgument, "a listing asks for 1 to 1000 keys");
  }
  // In SigV4's canonical (sorted) order; empty parameters are left out.
  std::string query;
  auto add = [&query](std::string_view name, const std::string& value) {
    if (value.empty()) return;
    query += (query.empty() ? "?" : "&") + std::string(name) + "=" + UriEncode(value, false);
  };
  add("continuation-token", continuation_token);
  add("encoding-type", "url");
  add("list-type", "2");
  add("max-keys", std::to_string(max_keys));
  add("prefix", prefix);
  add("start-after", start_after);
  // Path style lists "/bucket?…", virtual-hosted style "/?…", as the AWS SDKs do.
  HttpRequest request =
      Request("GET", BucketUrl(bucket) + (PathStyle(bucket) ? "" : "/") + query, nullptr);
  request.max_bytes = kMaxListAnswerBytes;
  auto response = Send(std::move(request), retry, "ListObjectsV2");
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) {
    return std::unexpected(Refused(*response, "ListObjectsV2", /*read=*/true));
  }
  return ParseListObjectsV2(response->body);
}

Result<HttpResponse> S3Client::GetObject(const Object& object, HttpRequest request,
                                         const RetryPolicy& retry, std::string_view what) const {
  request.method = "GET";
  request.url = ObjectUrl(object);
  auto response = Send(std::move(request), retry, what);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) return std::unexpected(Refused(*response, what, /*read=*/true));
  return response;
}

Result<S3Client::GotFile> S3Client::GetObjectToFile(const Object& object,
                                                    const GetOptions& options) const {
  if (!IsValidBucketName(object.bucket) || object.key.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "an S3 object needs a valid bucket and a key");
  }
  if (auto r = options.Validate(); !r) return std::unexpected(r.error());
  HttpRequest request = Request("GET", "", nullptr);
  request.timeout = options.timeout;
  request.max_bytes = options.max_bytes;
  request.spill_bytes = 0;  // every byte of the body goes to the file
  request.spill_dir = options.dir;
  request.what = "S3 object";
  auto response = GetObject(object, std::move(request), options.retry);
  if (!response) return std::unexpected(response.error());
  GotFile got{.file = std::move(response->file), .info = InfoFromHeaders(*response)};
  if (got.file == nullptr) {
    // An empty object sends no body to spill: its file is made here.
    std::string path = options.dir + "/imgorigin-src-XXXXXX";
    common::UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
    if (!fd.valid()) {
      return Fail(ErrorCode::kInternal, "cannot create a temporary file in " + options.dir);
    }
    got.file = std::make_shared<const SpilledFile>(std::move(path), 0);
  }
  got.info.size = got.file->size();
  return got;
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
