// `imgorigin batch` (docs/batch.md): every image under a directory or S3 prefix transformed into
// another, with outputs that say what they were made from, so a killed or repeated run does only
// what is left.
//
//   BatchSpec       what a batch does (source, destination, targets, pyramid, mode): built by
//                   the CLI, and carried whole by each job --enqueue queues
//   BatchProcessor  one image: fetch, render each target to a staged file (RenderToFile: bounded
//                   memory whatever the size), store with provenance; also the job handler of
//                   `imgorigin worker` for enqueued items
//   RunBatch        the listing page by page (or the keys of a failures file), shard and include
//                   filters, N threads, progress, failures file, one JSON line per image with its
//                   cost and a summary with the run's
//
// Output names: --options → "<dir>/<stem>.<ext>"; each preset P → "P/<dir>/<stem>.<ext>"; the
// extension is the output format's (f: in the options, else the source's by its extension when
// it can be written, else jpg), "tif" for --pyramid tiff, "dzi" for --pyramid dz.
// Provenance: "<source version> <spec digest>"; --resume skips an output whose provenance is
// current, the default keeps any output that exists, --overwrite renders every one.
//
// Threads: RunBatch blocks its caller and runs `jobs` worker threads plus the caller's, which
// lists and reports. BatchProcessor is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "ingest/batch_store.h"
#include "ingest/job_queue.h"
#include "transforms/pipeline.h"
#include "transforms/render_file.h"

namespace imgorigin::ingest {

inline constexpr std::string_view kBatchJobKind = "batch";

enum class BatchMode { kKeep, kResume, kOverwrite };

struct BatchTarget {
  std::string preset;   // "" for --options: the output goes to the destination's root
  std::string options;  // imgproxy options, presets already expanded: "rs:fit:2048/f:webp"
};

struct BatchSpec {
  std::string from;  // directory or s3://bucket/prefix/
  std::string to;
  std::vector<BatchTarget> targets;
  transforms::Pyramid pyramid = transforms::Pyramid::kNone;
  BatchMode mode = BatchMode::kKeep;

  nlohmann::json ToJson() const;
  static common::Result<BatchSpec> FromJson(const nlohmann::json& json);
};

// What happened to one image.
struct BatchOutcome {
  enum class Status { kRendered, kCurrent, kKept, kFailed } status = Status::kRendered;
  int outputs = 0;  // rendered
  int64_t bytes_read = 0;
  int64_t bytes_written = 0;
  common::Error error;  // kFailed
};

class BatchProcessor {
 public:
  // Opens both stores and parses every target; errors name the bad target or location.
  static common::Result<std::unique_ptr<BatchProcessor>> Open(const BatchSpec& spec,
                                                              const BatchStoreOptions& stores,
                                                              const transforms::PipelineLimits& limits);

  // Renders what `item` needs (nothing when every output is current or kept; with `dry_run`
  // only decides). A failure is an outcome.
  BatchOutcome Process(const BatchItem& item, bool dry_run = false) const;

  // The output names of `item`, in target order (exposed for tests and --dry-run).
  std::vector<std::string> OutputNames(std::string_view item_name) const;

  const BatchSpec& spec() const { return spec_; }
  // Temporary disk in use now and at most so far (downloads and staged outputs), in bytes.
  int64_t temp_bytes_peak() const { return temp_peak_; }
  BatchStore& source() const { return *source_; }
  BatchStore& destination() const { return *destination_; }

 private:
  struct Compiled {
    transforms::TransformSpec spec;
    std::string digest;  // of the canonical spec, format and pyramid
  };
  BatchProcessor(BatchSpec spec, std::unique_ptr<BatchStore> source,
                 std::unique_ptr<BatchStore> destination, std::vector<Compiled> targets,
                 transforms::PipelineLimits limits);
  transforms::ImageFormat OutputFormat(size_t target, std::string_view item_name) const;
  common::Result<int64_t> Render(const BatchCopy& copy, size_t target, std::string_view item_name,
                                 const std::string& name, const std::string& provenance) const;

  const BatchSpec spec_;
  const std::unique_ptr<BatchStore> source_;
  const std::unique_ptr<BatchStore> destination_;
  const std::vector<Compiled> targets_;
  const transforms::PipelineLimits limits_;
  mutable std::atomic<int64_t> temp_now_{0};
  mutable std::atomic<int64_t> temp_peak_{0};
};

// The payload of an enqueued image, and back.
std::string BatchJobPayload(const BatchSpec& spec, const BatchItem& item);
common::Result<std::pair<BatchSpec, BatchItem>> ParseBatchJob(std::string_view payload);

// The handler of kind "batch" jobs in `imgorigin worker`: one processor per distinct spec, opened
// on first use and kept (a few specs at a time). A failed image is an error, so the queue retries
// it and dead-letters it with the reason. Thread-safe.
class BatchJobs {
 public:
  BatchJobs(BatchStoreOptions stores, transforms::PipelineLimits limits)
      : stores_(std::move(stores)), limits_(std::move(limits)) {}
  common::Result<void> Handle(const Job& job);

 private:
  common::Result<const BatchProcessor*> For(const BatchSpec& spec);

  const BatchStoreOptions stores_;
  const transforms::PipelineLimits limits_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<BatchProcessor>> processors_;  // by spec JSON
};

// What the run prints and what it costs. Prices: dollars per vCPU-hour of the machine and per
// 1,000 S3 requests (GET/HEAD; PUT/LIST), as S3 bills them; transfer within a region is free.
struct BatchPrices {
  double vcpu_hour = 0.045;  // e.g. c7i.large $0.0893/h for 2 vCPUs
  double get_1k = 0.0004;
  double put_1k = 0.005;
};

struct BatchRunOptions {
  int jobs = 1;
  int page_size = 1000;
  std::vector<std::string> include;  // globs; one without "/" matches the file name
  int shard_index = 0;               // this run takes the keys whose hash % shard_count is this
  int shard_count = 1;
  std::string retry_failed;   // a failures file: process exactly its keys instead of listing
  std::string failures_path;  // written (JSON lines) when anything fails; "" = none
  bool dry_run = false;
  JobQueue* enqueue = nullptr;  // set: queue each image for `imgorigin worker`s instead
  bool live = false;            // a terminal: one live line on `progress` instead of JSON lines
  std::chrono::milliseconds progress_interval{1000};
  BatchPrices prices;
  FILE* items = stdout;     // one JSON line per image, then the summary
  FILE* progress = stderr;  // live line or JSON progress lines, then a readable summary
};

// Runs the batch; answers the summary (also printed), or an error that stopped the run (the
// listing failed, the failures file cannot be read or written). Images that fail are counted in
// the summary's "failed", not errors.
common::Result<nlohmann::json> RunBatch(const BatchProcessor& processor,
                                        const BatchRunOptions& options);

// True when `name` is in shard `index` of `count` (a stable hash of the name, so shards of one
// listing partition it exactly, whatever order each lists in).
bool InBatchShard(std::string_view name, int index, int count);
// True when `name` matches one of `globs` (all names when there are none).
bool BatchIncludes(std::string_view name, const std::vector<std::string>& globs);

}  // namespace imgorigin::ingest
