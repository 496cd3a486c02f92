// Builds the ingest services from the configuration: the record store (SQLite under the data
// directory, or PostgreSQL), the originals store (a directory below source.local_root, or an S3
// prefix), the Uploader over both, and the variants store of eager presets (a directory or an S3
// prefix). Called once on the main thread at start; the services
// live until the server has stopped.
#pragma once

#include <memory>

#include "common/status.h"
#include "ingest/local_upload_urls.h"
#include "ingest/originals_store.h"
#include "ingest/record_store.h"
#include "ingest/uploader.h"
#include "ingest/variants_store.h"
#include "origin/config.h"

namespace imgorigin::origin {

class Jobs;  // jobs_setup.h

struct IngestServices {
  // Local originals: signs the presigned URLs imgorigin answers itself (null for S3 originals).
  // Before `originals`, which refers to it, so that it is destroyed after it.
  std::unique_ptr<ingest::LocalUploadUrls> upload_urls;
  std::unique_ptr<ingest::RecordStore> records;
  std::unique_ptr<ingest::OriginalsStore> originals;
  std::unique_ptr<ingest::Uploader> uploader;
  // Eager presets' objects (ingest.variants_store); null when that is "".
  std::unique_ptr<ingest::VariantsStore> variants;
  // The job queues, notifications and workers (jobs_setup.h): set once they are built, before
  // the server starts.
  Jobs* jobs = nullptr;
};

// Fails (with a message naming the setting) when a store cannot be opened: an unreachable
// PostgreSQL server at start, a directory that cannot be created, local originals outside
// source.local_root (they could not be rendered). `env` supplies the AWS_* variables.
common::Result<IngestServices> OpenIngest(const Config& config, const EnvLookup& env = ProcessEnv);

// The variants store of ingest.variants_store; null when that is "".
common::Result<std::unique_ptr<ingest::VariantsStore>> OpenVariantsStore(
    const Config& config, const EnvLookup& env = ProcessEnv);

}  // namespace imgorigin::origin
