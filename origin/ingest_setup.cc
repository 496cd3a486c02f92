#include "origin/ingest_setup.h"

#include <filesystem>

#include "ingest/postgres_record_store.h"
#include "ingest/sqlite_record_store.h"
#include "origin/uploads_endpoint.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

Result<std::unique_ptr<ingest::RecordStore>> OpenRecords(const Config::Ingest& config) {
  auto fail = [](const common::Error& error) {
    return Fail(ErrorCode::kInternal, "ingest.records: " + error.message);
  };
  if (config.records == "sqlite") {
    auto store = ingest::SqliteRecordStore::Open(
        {.path = (std::filesystem::path(config.data_dir) / "records.sqlite3").string()});
    if (!store) return fail(store.error());
    return std::unique_ptr<ingest::RecordStore>(*std::move(store));
  }
  auto store = ingest::PostgresRecordStore::Open({.conninfo = config.records});
  if (!store) return fail(store.error());
  return std::unique_ptr<ingest::RecordStore>(*std::move(store));
}

Result<std::unique_ptr<storage::S3Client>> OpenS3(const Config& config, const EnvLookup& env) {
  return storage::S3Client::Create({.region = config.s3.region,
                                    .endpoint = config.s3.endpoint,
                                    .path_style = config.s3.path_style},
                                   env);
}

Result<std::unique_ptr<ingest::OriginalsStore>> OpenOriginals(
    const Config& config, const EnvLookup& env, const ingest::LocalUploadUrls* upload_urls) {
  namespace fs = std::filesystem;
  const Config::Ingest& ingest = config.ingest;
  if (ingest.originals != "local") {
    auto location = ingest::S3OriginalsStore::ParseLocation(ingest.originals);
    if (!location)
      return Fail(ErrorCode::kInternal, "ingest.originals: " + location.error().message);
    location->sse = ingest.sse;
    location->sse_kms_key_id = ingest.sse_kms_key_id;
    auto s3 = OpenS3(config, env);
    if (!s3) return Fail(ErrorCode::kInternal, "ingest.originals: " + s3.error().message);
    return std::unique_ptr<ingest::OriginalsStore>(
        std::make_unique<ingest::S3OriginalsStore>(*location, *std::move(s3), config.fetch));
  }
  // Local originals are rendered through the local source, so they must lie below its root; the
  // source URL names the directory as that source sees it.
  const fs::path dir = ingest.originals_dir.empty() ? fs::path(config.local_root) / "uploads"
                                                    : fs::path(ingest.originals_dir);
  std::error_code error;
  fs::create_directories(dir, error);
  const fs::path root = fs::canonical(config.local_root, error);
  if (error) return Fail(ErrorCode::kInternal, "source.local_root: not a directory");
  const fs::path canonical = fs::canonical(dir, error);
  if (error) {
    return Fail(ErrorCode::kInternal,
                "ingest.originals_dir: \"" + dir.string() + "\" cannot be created");
  }
  const fs::path relative = canonical.lexically_relative(root);
  if (relative.empty() || *relative.begin() == "..") {
    return Fail(ErrorCode::kInternal, "ingest.originals_dir: \"" + dir.string() +
                                          "\" must be source.local_root or below it, so "
                                          "that uploads can be rendered as local:/// sources");
  }
  const std::string prefix =
      relative == "." ? "local:///" : "local:///" + relative.generic_string() + "/";
  auto store = ingest::LocalOriginalsStore::Open(
      {.dir = canonical.string(), .url_prefix = prefix, .upload_urls = upload_urls});
  if (!store) return Fail(ErrorCode::kInternal, "ingest.originals_dir: " + store.error().message);
  return std::unique_ptr<ingest::OriginalsStore>(*std::move(store));
}

}  // namespace

Result<std::unique_ptr<ingest::VariantsStore>> OpenVariantsStore(const Config& config,
                                                                 const EnvLookup& env) {
  const std::string& where = config.ingest.variants_store;
  auto fail = [](const common::Error& error) {
    return Fail(ErrorCode::kInternal, "ingest.variants_store: " + error.message);
  };
  if (where.empty()) return nullptr;
  if (!where.starts_with("s3://")) {
    auto store = ingest::LocalVariantsStore::Open(where);
    if (!store) return fail(store.error());
    return std::unique_ptr<ingest::VariantsStore>(*std::move(store));
  }
  auto location = ingest::S3Location::Parse(where);
  if (!location) return fail(location.error());
  auto s3 = OpenS3(config, env);
  if (!s3) return fail(s3.error());
  return std::unique_ptr<ingest::VariantsStore>(
      std::make_unique<ingest::S3VariantsStore>(*location, *std::move(s3), config.fetch));
}

Result<IngestServices> OpenIngest(const Config& config, const EnvLookup& env) {
  IngestServices services;
  auto records = OpenRecords(config.ingest);
  if (!records) return std::unexpected(records.error());
  services.records = *std::move(records);
  if (config.ingest.originals == "local") {
    // The API key signs them: whoever may begin an upload may be given its URL.
    services.upload_urls = std::make_unique<ingest::LocalUploadUrls>(
        config.api_key, std::string(UploadsEndpoint::kPath) + "/");
  }
  auto originals = OpenOriginals(config, env, services.upload_urls.get());
  if (!originals) return std::unexpected(originals.error());
  services.originals = *std::move(originals);
  auto variants = OpenVariantsStore(config, env);
  if (!variants) return std::unexpected(variants.error());
  services.variants = *std::move(variants);
  services.uploader = std::make_unique<ingest::Uploader>(config.ingest.upload, config.pipeline,
                                                         *services.originals, *services.records);
  return services;
}

}  // namespace imgorigin::origin
