// What the ingest stores that keep objects (originals, variants) share: an S3 bucket and prefix
// with the encryption and request settings of their writes, and a file written into a local
// directory whole or not at all.
//
// Values and functions of their arguments; any thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/fetch_config.h"
#include "storage/s3_client.h"

namespace imgorigin::ingest {

// "s3://bucket/prefix/": objects are <prefix><name> in one bucket, optionally encrypted at rest
// by S3 (SSE-S3 "AES256", or SSE-KMS "aws:kms" with an optional key id).
struct S3Location {
  std::string bucket;
  std::string prefix;          // "" or ending in "/", e.g. "originals/"
  std::string sse;             // "", "AES256" or "aws:kms"
  std::string sse_kms_key_id;  // with aws:kms only; "" = the account's aws/s3 key

  // "s3://bucket/prefix/" → bucket and prefix (a prefix gets its trailing "/").
  static common::Result<S3Location> Parse(std::string_view url);
  common::Result<void> Validate() const;
  storage::ServerSideEncryption encryption() const { return {sse, sse_kms_key_id}; }
  storage::S3Client::Object Object(std::string_view name) const {
    return {bucket, prefix + std::string(name), ""};
  }
  std::string Url(std::string_view name) const {
    return "s3://" + bucket + "/" + prefix + std::string(name);
  }
  // A PUT's options: `content_type`, the location's encryption, `fetch`'s timeout and retries.
  storage::S3Client::PutOptions PutOptions(std::string_view content_type,
                                           const storage::FetchConfig& fetch) const;
};

// Writes the file `name` (a plain name in the directory `dir`) whole or not at all: `fill`
// writes a new temporary file beside it (false = failed, errno set), which is synced and renamed
// over `name`, then the directory is synced. Concurrent writers of one name each use a temporary
// file of their own; the last rename wins. Errors are kUnavailable, "the <store> could not
// <what>: <errno text>".
common::Result<void> WriteFileAtomically(int dir, const std::string& name,
                                         const std::function<bool(int fd)>& fill,
                                         std::string_view store, std::string_view what);

// kUnavailable "the <store> could not <what>: <errno text>".
common::Error StoreIoError(std::string_view store, std::string_view what);

}  // namespace imgorigin::ingest
