// Originals from Amazon S3 or an S3-compatible store: "s3://bucket/key[?versionId=ID]".
//
// The key is everything after "bucket/", taken literally (the image URL's own escaping is already
// undone by the URL grammar): spaces, "+", "%", "#", "?" and any UTF-8 are part of the key. Only
// a trailing "?versionId=ID" is split off and sent as the version to read. Addressing, encoding,
// signing, the GET and what its failures mean are S3Client's (s3_client.h: GetObject()), shared
// with the S3 result tier and with downloads to files (GetObjectToFile()).
//
// Region, endpoint and credentials follow the AWS conventions (see aws_credentials.h and
// docs/sources.md); IMGORIGIN_S3_* settings override region and endpoint and add path-style
// addressing and a bucket allowlist. Fetch() blocks on the network: call it from an I/O thread.
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sources/source.h"
#include "storage/aws_credentials.h"
#include "storage/curl_client.h"
#include "storage/fetch_config.h"
#include "storage/s3_client.h"

namespace imgorigin::sources {

class S3Source final : public Source {
 public:
  struct Config {
    bool enabled = false;  // s3:// sources are refused unless set (no credential probing otherwise)
    std::string region;    // "" = AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1
    // "" = AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then https://s3.<region>.amazonaws.com
    std::string endpoint;
    bool path_style = false;                   // endpoint/bucket/key instead of bucket.endpoint/key
    std::vector<std::string> allowed_buckets;  // empty = any bucket

    common::Result<void> Validate() const;
  };

  // The parts of an s3:// source URL.
  using Location = storage::S3Client::Object;
  static common::Result<Location> ParseUrl(std::string_view url);

  // Resolves region and endpoint from `config` and the AWS_* variables in `env`.
  static common::Result<std::unique_ptr<S3Source>> Create(const Config& config,
                                                          const storage::FetchConfig& fetch,
                                                          int64_t max_bytes,
                                                          storage::EnvLookup env);

  common::Result<SourceImage> Fetch(std::string_view url) const override;

  // The request URL for `location` (exposed for tests).
  std::string ObjectUrl(const Location& location) const;
  const std::string& region() const { return s3_->region(); }
  const std::string& endpoint() const { return s3_->endpoint(); }

 private:
  S3Source(const Config& config, const storage::FetchConfig& fetch, int64_t max_bytes,
           std::unique_ptr<storage::S3Client> s3);

  const Config config_;
  const storage::FetchConfig fetch_;
  const int64_t max_bytes_;
  const std::unique_ptr<storage::S3Client> s3_;
};

}  // namespace imgorigin::sources
