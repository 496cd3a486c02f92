// Presigned upload URLs into imgorigin itself, for local originals (the embedded default), where
// there is no S3 to presign for: the same contract as an S3 presigned PUT, answered by the
// origin's own `PUT <prefix><id>/object?expires=<unix seconds>&signature=<hex>`.
//
// The signature is HMAC-SHA256 under the server's secret (the API key) of the method, the id,
// the Content-Type the client must send and the expiry, so a URL works for one id, one type and
// until its time only, and cannot be made from another URL. The PUT writes the id's incoming
// object (originals_store.h), never the original: /complete checks it as it checks an S3 upload.
//
// Values and pure functions over an immutable secret: any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/s3_client.h"

namespace imgorigin::ingest {

class LocalUploadUrls {
 public:
  // `path_prefix`: the path the PUT endpoint serves, ending in "/" ("/v1/uploads/").
  LocalUploadUrls(std::string secret, std::string path_prefix)
      : secret_(std::move(secret)), path_prefix_(std::move(path_prefix)) {}

  // The path and query of a URL for `id` (relative to the server: the origin makes it absolute),
  // the Content-Type header it needs, and its expiry `expires` from `now`.
  storage::S3Client::PresignedUrl Sign(std::string_view id, std::string_view content_type,
                                       std::chrono::seconds expires,
                                       std::chrono::system_clock::time_point now) const;

  // kPermissionDenied unless `signature` is what Sign() made for these values and `expires`
  // (the query's text) is not past `now`.
  common::Result<void> Verify(std::string_view id, std::string_view content_type,
                              std::string_view expires, std::string_view signature,
                              std::chrono::system_clock::time_point now) const;

  const std::string& path_prefix() const { return path_prefix_; }

 private:
  std::string Mac(std::string_view id, std::string_view content_type, int64_t expires) const;

  const std::string secret_;
  const std::string path_prefix_;
};

}  // namespace imgorigin::ingest
