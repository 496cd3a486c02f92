// S3 object requests for everything that talks to S3: the s3:// source, the S3 result tier and
// the originals store of uploads. One place resolves region and endpoint the AWS way, addresses
// objects (virtual-hosted or path style), and signs requests (SigV4, sigv4.h) with credentials
// from the AWS chain (aws_credentials.h), the session token of temporary credentials included,
// and the x-amz-content-sha256 payload hash S3 requires (S3 checks the body against it, so a
// part or object corrupted on the way is refused).
//
// Beyond Perform() (any signed request), the object operations callers need:
// - Presign(): a URL a client without credentials can PUT or GET once signed (sigv4.h),
//   with Content-Type and encryption headers signed into it and an expiry of 1 s to 7 days.
// - PutObject() from memory and UploadFile() from a file: files over a threshold go up as a
//   multipart upload in bounded parts (one part in memory at a time), and a multipart upload
//   that fails at any step is aborted, so no parts are left behind (S3 keeps, and bills, the
//   parts of an upload that is neither completed nor aborted). Both can ask for server-side
//   encryption (SSE-S3 "AES256" or SSE-KMS "aws:kms" with an optional key id).
//   User metadata (PutOptions::metadata) goes up as x-amz-meta-* headers with the object.
// - ListObjects(): one ListObjectsV2 page of a prefix, keys sent URL-encoded (encoding-type=url)
//   so that any key survives S3's XML, and decoded here.
// - GetObject() (any GET with the caller's limits, shared with the s3:// source) and
//   GetObjectToFile(): an object streamed into a temporary file, never held in memory.
// - HeadObject(), ReadPrefix() (the first N bytes: enough to check an image header without
//   downloading the object), DeleteObject().
// Failures are Errors in domain terms: a missing object is kNotFound, an S3 refusal or garbage
// answer kUpstreamFailed with S3's status and error code in the message.
//
// Each key segment is percent-encoded once (RFC 3986 unreserved characters and "/" kept), the
// canonical form SigV4 signs. Keys are literal, dot segments included: "s3://b/../c/k" is key
// "../c/k" in bucket "b", and the request path ends in "/../c/k" as sent and as signed
// (CurlClient never resolves dots), so path-style addressing still names bucket "b". Escaping
// the dots ("%2E%2E") would fail: S3 re-encodes each segment with "." unreserved when it checks
// the signature. Each client owns its credentials chain and its connection pool.
// Every method but ObjectUrl() may block on the network: call them from an I/O thread, never an
// event loop. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/aws_credentials.h"
#include "storage/curl_client.h"
#include "storage/sigv4.h"
#include "storage/spilled_file.h"

namespace imgorigin::storage {

// Server-side encryption S3 applies to an object it stores.
struct ServerSideEncryption {
  std::string algorithm;  // "" = none asked for (the bucket's default applies), "AES256", "aws:kms"
  std::string kms_key_id;  // "aws:kms" only: key id, alias or ARN; "" = the account's aws/s3 key

  common::Result<void> Validate() const;
  // The x-amz-server-side-encryption* headers that ask for it; none when algorithm is "".
  std::vector<std::pair<std::string, std::string>> Headers() const;
};

class S3Client {
 public:
  struct Config {
    std::string region;  // "" = AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1
    // "" = AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then https://s3.<region>.amazonaws.com
    std::string endpoint;
    bool path_style = false;  // endpoint/bucket/key instead of bucket.endpoint/key
  };

  struct Object {
    std::string bucket;
    std::string key;         // literal: no escaping of its own
    std::string version_id;  // "" = latest; writes, uploads and presigned PUTs need ""
  };

  struct PutOptions {
    std::string content_type = "application/octet-stream";
    ServerSideEncryption encryption;
    // UploadFile(): files larger than this go up as a multipart upload; at most 5 GiB (S3's
    // limit for one PUT).
    int64_t multipart_threshold = int64_t{16} << 20;
    // Every part but the last: 5 MiB (S3's minimum) to 5 GiB, raised when a file would need
    // more than S3's 10,000 parts. One part is held in memory at a time.
    int64_t part_size = int64_t{8} << 20;
    std::chrono::milliseconds timeout{120'000};  // per request: the single PUT, or one part
    RetryPolicy retry;                           // per request, parts included
    // User metadata, sent as x-amz-meta-<name>: <value> and answered so by HeadObject() and
    // GetObjectToFile(). Names are lowercase [a-z0-9-], each given once; values are printable
    // ASCII, not empty and without leading or trailing spaces (HTTP would trim them); names
    // and values together at most 2 KB (S3's limit).
    std::vector<std::pair<std::string, std::string>> metadata;

    common::Result<void> Validate() const;
  };

  struct PutResult {
    std::string etag;        // as S3 sends it, quotes included
    int64_t size = 0;        // bytes stored
    int parts = 0;           // 0 = one PutObject; else the number of parts uploaded
    std::string encryption;  // what S3 reports it applied: "AES256", "aws:kms" or ""
  };

  struct ObjectInfo {
    int64_t size = 0;
    std::string etag;  // quotes included
    std::string content_type;
    int64_t last_modified = 0;                    // unix seconds; 0 = not sent
    std::string encryption;                       // "AES256", "aws:kms" or ""
    std::map<std::string, std::string> metadata;  // x-amz-meta-<name> headers, by <name>
  };

  // One object of a listing.
  struct ListedObject {
    std::string key;  // decoded: literal, as Object::key
    int64_t size = 0;
    std::string etag;           // quotes included
    int64_t last_modified = 0;  // unix seconds
  };

  struct ListPage {
    std::vector<ListedObject> objects;  // in S3's order (UTF-8 binary order of the keys)
    std::string next_token;             // "" = this was the last page
  };

  struct GetOptions {
    std::string dir = "/tmp";                                 // where the temporary file is made
    int64_t max_bytes = std::numeric_limits<int64_t>::max();  // larger objects: kTooLarge
    std::chrono::milliseconds timeout{600'000};               // per attempt, whole body included
    RetryPolicy retry;

    common::Result<void> Validate() const;
  };

  struct GotFile {
    std::shared_ptr<const SpilledFile> file;  // unlinked when the last reference goes
    ObjectInfo info;                          // info.size == file->size()
  };

  struct PresignOptions {
    std::string method = "PUT";         // GET, PUT, HEAD or DELETE
    std::chrono::seconds expires{900};  // kMinPresignExpiry .. kMaxPresignExpiry (sigv4.h)
    std::string content_type;           // "" = not signed; else the request must send exactly it
    ServerSideEncryption encryption;    // PUT: signed; the uploader must send its headers
  };

  struct PresignedUrl {
    std::string url;
    // Headers the request must carry with exactly these values (they are signed).
    std::vector<std::pair<std::string, std::string>> headers;
    // When the URL stops working: earlier than asked when temporary credentials expire first
    // (the URL dies with them, so its X-Amz-Expires is shortened to say so).
    std::chrono::system_clock::time_point expires_at;
  };

  // Resolves region and endpoint from `config` and the AWS_* variables in `env`; credentials
  // are looked up on the first request, not here.
  static common::Result<std::unique_ptr<S3Client>> Create(const Config& config, EnvLookup env);

  // The request URL for `object`.
  std::string ObjectUrl(const Object& object) const;

  // Signs `request` (method, URL, body, limits and extra headers already set by the caller) and
  // performs it. Any HTTP status is a response; missing credentials and transport failures are
  // errors (kUpstreamFailed, kDeadlineExceeded …).
  common::Result<HttpResponse> Perform(HttpRequest request, const RetryPolicy& retry) const;

  // A presigned URL for `object`, signed with the current credentials (their session token
  // included). Bad options are kInvalidArgument; missing credentials kUpstreamFailed.
  common::Result<PresignedUrl> Presign(const Object& object, const PresignOptions& options) const;

  // Stores `body` as `object` in one PUT.
  common::Result<PutResult> PutObject(const Object& object, std::string_view body,
                                      const PutOptions& options) const;

  // Stores the regular file at `path` as `object`: one PUT up to options.multipart_threshold,
  // else CreateMultipartUpload, UploadPart per part, CompleteMultipartUpload; any failure after
  // the upload was created aborts it (AbortMultipartUpload) before the error is returned. The
  // file must not change while it is read (a file that shrinks is an error).
  common::Result<PutResult> UploadFile(const Object& object, const std::string& path,
                                       const PutOptions& options) const;

  // One ListObjectsV2 page: the objects of `bucket` whose keys start with `prefix` ("" = all),
  // after `start_after` when it is given, from `continuation_token` (a previous page's
  // next_token; "" = the first page), at most `max_keys` (1 .. 1000, else kInvalidArgument).
  // A missing bucket is kNotFound; an answer that does not parse is kUpstreamFailed.
  common::Result<ListPage> ListObjects(const std::string& bucket, const std::string& prefix,
                                       const std::string& continuation_token, int max_keys = 1000,
                                       const std::string& start_after = "",
                                       const RetryPolicy& retry = {}) const;

  // GETs `object` with `request`'s limits (timeouts, max_bytes, spilling; its method and URL are
  // set here). Only a 200 is a response; anything else is an Error: 404 kNotFound, a refusal or
  // the wrong region kUpstreamFailed, each message starting with `what`.
  common::Result<HttpResponse> GetObject(const Object& object, HttpRequest request,
                                         const RetryPolicy& retry,
                                         std::string_view what = "GetObject") const;

  // Streams `object` into a new temporary file in options.dir, never holding the body in
  // memory: kNotFound when it does not exist, kTooLarge past options.max_bytes (as soon as
  // Content-Length or the byte count says so). On any error no file is left behind.
  common::Result<GotFile> GetObjectToFile(const Object& object, const GetOptions& options) const;

  // Size, ETag, type, date, encryption and metadata of `object`; kNotFound when it does not
  // exist.
  common::Result<ObjectInfo> HeadObject(const Object& object, const RetryPolicy& retry = {}) const;

  // The first `bytes` bytes of `object` (all of it when it is shorter), read with a Range
  // request. A server that ignores Range and sends more is cut off with kTooLarge.
  common::Result<std::string> ReadPrefix(const Object& object, int64_t bytes,
                                         const RetryPolicy& retry = {}) const;

  // Removes `object` (or the given version); deleting an object that does not exist succeeds,
  // as in S3.
  common::Result<void> DeleteObject(const Object& object, const RetryPolicy& retry = {}) const;

  const std::string& region() const { return region_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  S3Client(const Config& config, EnvLookup env, std::string region, std::string endpoint);

  HttpRequest Request(std::string method, std::string url, const PutOptions* options) const;
  bool PathStyle(const std::string& bucket) const;
  std::string BucketUrl(const std::string& bucket) const;  // no trailing slash
  // A non-success answer as an Error: kNotFound for a 404 when `read`, else kUpstreamFailed.
  common::Error Refused(const HttpResponse& response, std::string_view what,
                        bool read = false) const;
  common::Result<HttpResponse> Send(HttpRequest request, const RetryPolicy& retry,
                                    std::string_view what) const;
  common::Result<PutResult> UploadParts(const Object& object, int fd, int64_t size,
                                        const PutOptions& options) const;
  common::Result<PutResult> SendParts(const Object& object, const std::string& upload_id, int fd,
                                      int64_t size, int64_t part_size,
                                      const PutOptions& options) const;
  void AbortUpload(const Object& object, const std::string& upload_id,
                   const PutOptions& options) const;

  const bool path_style_;
  const std::string region_;
  const std::string endpoint_;  // scheme://host[:port], no trailing slash
  mutable AwsCredentialsChain credentials_;
  CurlClient http_;  // no address guard: the endpoint is the operator's choice, not a URL's
};

// S3's error code from an XML error body ("<Code>SlowDown</Code>"), or "" when there is none or
// it is not a plain identifier (it is shown to clients and in logs).
std::string S3ErrorCode(std::string_view body);

// "403 AccessDenied", or just "403" when the body names no code: for error messages.
std::string S3StatusDetail(const HttpResponse& response);

// The text of the first <tag>…</tag> element of an S3 XML answer, XML entities decoded; nullopt
// when there is none. S3's answers are flat and small, so finding the element is enough.
std::optional<std::string> S3XmlText(std::string_view xml, std::string_view tag);

// A ListObjectsV2 answer (<ListBucketResult>): its <Contents> in order, keys percent-decoded when
// the answer says <EncodingType>url</EncodingType> ("+" is a space, as S3 encodes), and the
// NextContinuationToken of a truncated listing. An answer that is not a listing, an entry
// without a valid Key, Size, ETag or LastModified, a bad escape, or a truncated listing without
// a token is kUpstreamFailed.
common::Result<S3Client::ListPage> ParseListObjectsV2(std::string_view xml);

// The part size UploadFile() uses for an object of `object_size` bytes when `preferred` is
// asked for: `preferred` within S3's 5 MiB .. 5 GiB, raised (in whole MiB) so that at most
// 10,000 parts are needed. Objects over S3's 5 TiB limit are kTooLarge.
common::Result<int64_t> MultipartPartSize(int64_t object_size, int64_t preferred);

// RFC 1123-ish bucket names; also keeps "/" and ".." out of request paths.
bool IsValidBucketName(std::string_view bucket);

// An ETag without the quotes S3 sends it in ("\"abc\"" → "abc"); unquoted ones unchanged.
std::string UnquotedEtag(std::string_view etag);

}  // namespace imgorigin::storage
