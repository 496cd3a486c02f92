// Server configuration: one struct with every setting's default, loaded from an optional TOML
// file and then overridden by IMGORIGIN_* environment variables.
//
// Each setting has a dotted file key ("limits.max_src_bytes") and an environment name
// (IMGORIGIN_MAX_SRC_BYTES); both go through the same parser, so a value means the same thing
// wherever it is written. Unknown keys in the file are errors (a typo must not silently fall back
// to a default). Loaded once on the main thread; read-only afterwards, so any thread may read it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/memory_tier.h"
#include "cache/s3_result_tier.h"
#include "cache/tiered_cache.h"
#include "common/logging.h"
#include "common/status.h"
#include "ingest/notifications.h"
#include "ingest/worker.h"
#include "ingest/s3_event.h"
#include "ingest/uploader.h"
#include "signing/signer.h"
#include "sources/http_source.h"
#include "sources/s3_source.h"
#include "sources/source_cache.h"
#include "storage/fetch_config.h"
#include "transforms/parser.h"
#include "origin/access_log.h"
#include "origin/dialects.h"
#include "transforms/pipeline.h"

namespace imgorigin::origin {

struct Config {
  // [server]
  std::string bind = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  size_t loops = 0;                     // event loops; 0 = one per core
  size_t workers = 0;                   // CPU pool threads; 0 = two per core
  size_t queue_size = 64;               // transforms waiting beyond the running ones, then 503
  // Transform threads (and the libvips threads they start) in Linux's idle class (SCHED_IDLE,
  // job workers too): they get only the CPU time the event loops leave, so hits keep their
  // latency while renders saturate every core. Out of it, renders run at `render_nice` (0..19).
  bool render_idle = true;
  int render_nice = 5;
  std::chrono::milliseconds shutdown_timeout{10'000};  // drain limit for in-flight requests
  std::chrono::seconds client_timeout{30};             // idle/slow client read and write timeout
  // A request must have fully arrived this long after its connection was accepted, or after its
  // first byte on a kept-alive connection, however slowly it trickles in.
  std::chrono::milliseconds header_timeout{10'000};
  size_t max_connections = 10'000;  // per process; accepting pauses while this many are open
  // Source fetches wait on the network here, never on the CPU pool or a loop.
  size_t io_threads = 16;
  size_t io_queue_size = 1024;  // fetches waiting beyond the running ones, then 503

  // [log]: application logs on stderr, the access log on stdout (origin/access_log.h).
  spdlog::level::level_enum log_level = spdlog::level::info;
  common::LogFormat log_format = common::LogFormat::kText;
  AccessLogConfig access_log;

  // [metrics]: prefixed to the imgproxy-named metrics ("ns_requests_total"); "" = none, as
  // imgproxy's IMGPROXY_PROMETHEUS_NAMESPACE.
  std::string metrics_namespace;

  // [url]
  size_t max_url_length = 8192;

  // [limits]
  int64_t max_src_bytes = 50ll << 20;
  // What concurrent renders may reserve together (limits.render_memory_budget); 0 = half the
  // memory of the machine or of the container's cgroup, whichever is smaller. LoadConfig puts
  // the budget itself in pipeline.memory_budget.
  int64_t render_memory_budget = 0;

  // [source]
  std::string local_root;  // "" disables local:/// sources

  // [headers]
  std::string cache_control = "public, max-age=31536000, immutable";
  std::string cache_tag_header = "Cache-Tag";
  int not_found_max_age = 60;  // seconds a 404 may be cached; 0 = no-store

  signing::Config signing;              // [signing]
  transforms::ParserConfig parser;      // [url] and [presets]
  transforms::PipelineLimits pipeline;  // [limits]
  cache::MemoryTier::Config memory;     // [cache]

  // [cache] tiers below memory (docs/cache.md). At most one shared tier.
  std::string redis_url;          // redis://[:password@]host:port/db; "" = no Redis tier
  std::string memcached_servers;  // host:port,host:port; "" = no memcached tier
  std::string disk_cache_dir;     // "" = no disk tier
  int64_t disk_cache_size = 1ll << 30;
  std::chrono::milliseconds shared_timeout{250};  // connect and per round trip
  int64_t memcached_max_item = (1 << 20) - 1024;  // larger entries skip memcached
  std::string cache_key_prefix = "imgorigin:";    // namespaces keys in the shared tier
  cache::TieredCache::Config tiers;               // TTL, leases, purge propagation, breaker
  // The S3 result tier below disk; bucket "" = off. Region and endpoint default to [s3]'s.
  cache::S3ResultTier::Config s3_results;

  // [output]
  // Formats offered, in order, to clients whose Accept lists them when the URL names no format;
  // empty = always the source's format (no Vary: Accept).
  transforms::FormatPreferences formats;
  bool client_hints = false;  // honour Sec-CH-DPR/DPR, Sec-CH-Width/Width and Save-Data
  // Format upgrade (README "Format upgrade"): a negotiated format no tier holds whose estimated
  // encode (transforms::TypicalEncodeSeconds) is over this budget is answered at once in a
  // cheaper accepted format, with max-age upgrade_max_age, while it renders in the background.
  // 0 = off.
  int64_t upgrade_budget_ms = 150;
  int64_t upgrade_max_age = 60;  // seconds

  // [api]
  std::string api_key;  // Bearer token for /v1/… (purge, images); "" disables those endpoints

  // [ingest] (docs/ingest.md): POST /v1/images, image records and the originals store.
  struct Ingest {
    bool enabled = false;
    std::string data_dir = "data";  // SQLite records live here (records.sqlite3)
    // "sqlite" = <data_dir>/records.sqlite3; anything else is a PostgreSQL connection string
    // ("postgresql://user@host/db" or "host=… dbname=…"), never logged.
    std::string records = "sqlite";
    // "local": files in originals_dir, rendered as local:///<originals_dir below
    // source.local_root>/<id>; or "s3://bucket/prefix/", rendered as s3://bucket/prefix/<id>.
    std::string originals = "local";
    std::string originals_dir;   // "" = <source.local_root>/uploads
    std::string sse;             // S3 originals: "", "AES256" or "aws:kms"
    std::string sse_kms_key_id;  // with aws:kms; "" = the bucket's default key
    // From the end of an upload's head until its whole body has arrived.
    std::chrono::milliseconds upload_timeout{120'000};
    ingest::Uploader::Config upload;  // max_upload_bytes, max_metadata_bytes, presign expiries
    // Where clients reach this server ("https://img.example.com"), for the upload URLs it signs
    // for itself (local originals); "" = http:// and the Host of the request that asked.
    std::string public_url;
    // Which objects an S3 event notification is acted on for (ingest.events.*).
    ingest::S3EventFilter events;
    // Eager presets (origin/eager.h): preset names rendered right after an image arrives, into
    // the cache tiers and, when variants_store is set, as plain objects <store>/<id>/<preset>.<ext>
    // (a directory, or s3://bucket/prefix/ reached with the s3.* settings). A preset
    // that names no format is rendered as a request without Accept gets it, and also in each of
    // eager_formats (each must be in output.auto_format) as a browser that accepts it gets it.
    std::vector<std::string> eager;
    std::vector<transforms::ImageFormat> eager_formats;
    std::string variants_store;  // "" = cache tiers only

    // The largest body POST /v1/images reads: a base64 document carries 4/3 of its image, plus
    // metadata and JSON around it.
    int64_t max_body_bytes() const {
      return (upload.max_upload_bytes + 2) / 3 * 4 +
             2 * static_cast<int64_t>(upload.max_metadata_bytes) + (64 << 10);
    }
  };
  Ingest ingest;
  DialectConfig dialects;  // [dialects]
  // [notifications]: webhooks and the SNS topic. The SNS client is connected to the Notifier
  // with Notifier::ConnectSns().
  ingest::NotificationsConfig notifications;

  // [jobs] (docs/ingest.md): the queue behind eager presets and notifications, and its workers.
  struct Jobs {
    // "sqlite": a table in the records' SQLite file (<data_dir>/jobs.sqlite3 with PostgreSQL
    // records); "redis://[:password@]host[:port][/db]": Redis Streams; "sqs": the SQS queues
    // below.
    std::string queue = "sqlite";
    // SQS: the queues (URLs, or names looked up with GetQueueUrl), each with a redrive policy
    // naming its dead-letter queue. events_queue: S3 event notifications S3 sends there
    // itself ("" = none read).
    std::string sqs_jobs_queue;
    std::string sqs_notify_queue;
    std::string sqs_events_queue;
    std::string sqs_endpoint;  // "" = AWS's for the region (tests: a stand-in)
    std::string sns_endpoint;  // "" = AWS's for the region
    // Workers inside `imgorigin serve`; `imgorigin worker` runs them without a server.
    bool in_serve = true;
    ingest::Worker::Config worker;  // threads, visibility, max_attempts, backoff, poll
    // Pending records older than this get their job queued again (a job lost between the
    // record and the queue, a queue that was down); 0 = never.
    std::chrono::seconds reconcile_after{600};
  };
  Jobs jobs;

  // [batch] (docs/batch.md): `imgorigin batch`, whose inputs are trusted, so its limits are
  // separate from the server's and much larger.
  struct Batch {
    int64_t max_src_pixels = 10'000'000'000;  // width × height × frames
    int64_t max_src_bytes = int64_t{64} << 30;
    std::chrono::seconds timeout{3600};  // one image, all its outputs
    std::string temp_dir;                // S3 downloads and staged outputs; "" = source.temp_dir
  };
  Batch batch;

  storage::FetchConfig fetch;                 // [source] timeouts, retries; [limits] stream_to_file
  sources::S3Source::Config s3;               // [s3]
  sources::HttpSource::Config http;           // [http]
  sources::SourceCache::Config source_cache;  // [source_cache]

  // Settings given in the file or the environment, by file key: {value as applied, "file" or
  // "env"} (relative paths already resolved). Filled by LoadConfig, for DumpConfig.
  std::map<std::string, std::pair<std::string, std::string>> applied;

  common::Result<void> Validate() const;
  common::Result<void> ValidateEager() const;  // ingest.eager, eager_formats, variants_store
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment.
std::optional<std::string> ProcessEnv(std::string_view name);

// Defaults ← file at `path` (skipped when empty) ← environment, then Validate(). Errors name the
// setting and what is wrong with it.
common::Result<Config> LoadConfig(const std::string& path, const EnvLookup& env = ProcessEnv);

// The IMGORIGIN_* names among `variables` (NAME or NAME=value) that are no setting and none of
// the build and test scripts' own (IMGORIGIN_LIBVIPS, IMGORIGIN_BUILD_DIR, IMGORIGIN_TEST_*):
// most likely typos.
std::vector<std::string> UnknownSettingVariables(const std::vector<std::string>& variables);
// The process environment's variables (NAME=value).
std::vector<std::string> ProcessVariables();

// The effective configuration as TOML: every setting with its value (file, environment, or the
// default from conf/reference.toml) and where it came from; secrets (keys, salts, API key,
// webhook secrets, passwords in URLs and connection strings) masked.
std::string DumpConfig(const Config& config);
// `value` of setting `key` as DumpConfig shows it.
std::string MaskSecret(std::string_view key, std::string_view value);

// Every setting as {file key, environment variable}, in documentation order.
std::vector<std::pair<std::string_view, std::string_view>> SettingNames();

// Parses "host:port" ("[::1]:8080" for IPv6).
common::Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view bind);

// "64MiB", "1GB", "512k", "1048576" → bytes.
common::Result<int64_t> ParseSize(std::string_view text);

}  // namespace imgorigin::origin
