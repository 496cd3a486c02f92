// `imgorigin batch` (docs/batch.md): the command line over ingest/batch.h, and the settings it
// shares with the "batch" job handler of `imgorigin worker` (for --enqueue).
//
// The shard comes from --shard I/N, else from the job runner's index — a Kubernetes Indexed
// Job's JOB_COMPLETION_INDEX, an AWS Batch array child's AWS_BATCH_JOB_ARRAY_INDEX — with the
// count from --shards N or, on Kubernetes, JOB_COMPLETIONS (neither runner sets the count: the
// manifest or job definition passes it; AWS Batch reserves AWS_BATCH_* names). Runs on the calling thread; exit status 0 when every image succeeded, 1 when
// any failed, 2 when the batch could not run.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "ingest/batch.h"
#include "origin/config.h"

namespace imgorigin::origin {

struct BatchCommand {
  std::string from;
  std::string to;
  std::vector<std::string> presets;
  std::string options;
  std::string pyramid = "none";
  int jobs = 0;  // 0 = one per core
  std::vector<std::string> include;
  std::string shard;  // "I/N"
  int shards = 0;     // N with the runner's index; 0 = JOB_COMPLETIONS
  bool resume = false;
  bool overwrite = false;
  bool dry_run = false;
  bool enqueue = false;
  std::string retry_failed;
  std::string failures = "batch-failures.jsonl";
  std::string progress = "auto";  // auto (live on a terminal), live, json
  int page_size = 1000;
  ingest::BatchPrices prices;
};

// Registers the subcommand, its options bound to `command`.
CLI::App* AddBatchCommand(CLI::App& app, BatchCommand& command);

int RunBatchCommand(const Config& config, const BatchCommand& command,
                    const EnvLookup& env = ProcessEnv);

// Where batch stores read and write, and the pipeline limits of trusted batch inputs, from
// [batch], [s3], [source] and [limits]' encoder settings.
ingest::BatchStoreOptions BatchStores(const Config& config, const EnvLookup& env = ProcessEnv);
transforms::PipelineLimits BatchPipelineLimits(const Config& config);

}  // namespace imgorigin::origin
