#include "origin/batch_command.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <thread>

#include "origin/jobs_setup.h"
#include "transforms/render_file.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;

Result<int> ParseIndex(std::string_view text, std::string_view what) {
  int value = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": expected a whole number, got \"" +
                                                 std::string(text) + "\"");
  }
  return value;
}

// {index, count} from --shard "I/N", else the job runner's index (a Kubernetes Indexed Job's
// JOB_COMPLETION_INDEX, an AWS Batch array child's AWS_BATCH_JOB_ARRAY_INDEX) with the count from
// --shards or JOB_COMPLETIONS; {0, 1} when none is set.
Result<std::pair<int, int>> Shard(const std::string& flag, int shards, const EnvLookup& env) {
  std::string index, count = shards > 0 ? std::to_string(shards) : "", what = "--shard";
  if (!flag.empty()) {
    const size_t slash = flag.find('/');
    if (slash == std::string::npos) return Fail(ErrorCode::kInvalidArgument, "--shard: expected I/N, e.g. 0/4");
    index = flag.substr(0, slash);
    count = flag.substr(slash + 1);
  } else if (auto k8s = env("JOB_COMPLETION_INDEX")) {
    index = *k8s;
    if (count.empty()) count = env("JOB_COMPLETIONS").value_or("");
    what = "JOB_COMPLETION_INDEX with --shards or JOB_COMPLETIONS";
  } else if (auto aws = env("AWS_BATCH_JOB_ARRAY_INDEX")) {
    index = *aws;
    what = "AWS_BATCH_JOB_ARRAY_INDEX with --shards (the array size)";
  } else {
    if (shards > 1) return Fail(ErrorCode::kInvalidArgument, "--shards without an index: give --shard I/N");
    return std::pair{0, 1};
  }
  if (count.empty()) return Fail(ErrorCode::kInvalidArgument, what + ": the shard count is not set");
  auto i = ParseIndex(index, what);
  auto n = ParseIndex(count, what);
  if (!i || !n) return std::unexpected(!i ? i.error() : n.error());
  if (*n < 1 || *i >= *n) {
    return Fail(ErrorCode::kInvalidArgument, what + ": the index must be below the count (" +
                                                 index + "/" + count + ")");
  }
  return std::pair{*i, *n};
}

Result<ingest::BatchSpec> Spec(const Config& config, const BatchCommand& command) {
  ingest::BatchSpec spec{.from = command.from, .to = command.to};
  if (command.presets.empty() == command.options.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "give --preset NAME… or --options, not both");
  }
  for (const auto& name : command.presets) {
    auto preset = config.parser.presets.find(name);
    if (preset == config.parser.presets.end()) {
      return Fail(ErrorCode::kInvalidArgument, "no preset \"" + name + "\" in [presets]");
    }
    spec.targets.push_back({name, preset->second});
  }
  if (!command.options.empty()) spec.targets.push_back({"", command.options});
  if (command.resume && command.overwrite) {
    return Fail(ErrorCode::kInvalidArgument, "--resume and --overwrite exclude each other");
  }
  spec.mode = command.overwrite ? ingest::BatchMode::kOverwrite
              : command.resume  ? ingest::BatchMode::kResume
                                : ingest::BatchMode::kKeep;
  spec.pyramid = command.pyramid == "tiff" ? transforms::Pyramid::kTiff
                 : command.pyramid == "dz" ? transforms::Pyramid::kDeepZoom
                                           : transforms::Pyramid::kNone;
  return spec;
}

int Refuse(const std::string& message) {
  std::fprintf(stderr, "imgorigin batch: %s\n", message.c_str());
  return 2;
}

}  // namespace

CLI::App* AddBatchCommand(CLI::App& app, BatchCommand& c) {
  auto* batch = app.add_subcommand("batch", "Transform every image of a directory or S3 prefix");
  batch->add_option("--from", c.from, "source: a directory or s3://bucket/prefix/")->required();
  batch->add_option("--to", c.to, "destination: a directory or s3://bucket/prefix/")->required();
  batch->add_option("--preset", c.presets, "a [presets] name; outputs go to <to>/<name>/…");
  batch->add_option("--options", c.options, "imgproxy options, e.g. rs:fit:2048/f:webp");
  batch->add_option("--pyramid", c.pyramid, "write a tiled pyramidal TIFF or a DeepZoom set")
      ->check(CLI::IsMember({"none", "tiff", "dz"}));
  batch->add_option("--jobs", c.jobs, "images at once (default: one per core)")
      ->check(CLI::Range(1, 256));
  batch->add_option("--include", c.include, "only names matching this glob (a glob without / matches the file name)");
  batch->add_option("--shard", c.shard, "I/N: this run takes shard I of N (default: from the job runner)");
  batch->add_option("--shards", c.shards, "N, with the index from the job runner (the array size)")
      ->check(CLI::Range(1, 1'000'000));
  batch->add_flag("--resume", c.resume, "skip outputs made from the same source and options");
  batch->add_flag("--overwrite", c.overwrite, "render every output, replacing any");
  batch->add_flag("--dry-run", c.dry_run, "list what would be rendered, render nothing");
  batch->add_flag("--enqueue", c.enqueue, "queue each image for `imgorigin worker`s instead");
  batch->add_option("--retry-failed", c.retry_failed, "redo exactly the images of a failures file");
  batch->add_option("--failures", c.failures, "where failures go (JSON lines)");
  batch->add_option("--progress", c.progress, "auto | live | json")
      ->check(CLI::IsMember({"auto", "live", "json"}));
  batch->add_option("--page-size", c.page_size, "listing page size")->check(CLI::Range(1, 1000));
  batch->add_option("--price-vcpu-hour", c.prices.vcpu_hour, "dollars per vCPU-hour");
  batch->add_option("--price-get", c.prices.get_1k, "dollars per 1,000 S3 GET/HEAD");
  batch->add_option("--price-put", c.prices.put_1k, "dollars per 1,000 S3 PUT/LIST");
  return batch;
}

ingest::BatchStoreOptions BatchStores(const Config& config, const EnvLookup& env) {
  ingest::BatchStoreOptions stores;
  stores.temp_dir = config.batch.temp_dir.empty() ? config.fetch.TempDir() : config.batch.temp_dir;
  stores.max_bytes = config.batch.max_src_bytes;
  stores.fetch = config.fetch;
  stores.s3 = {.region = config.s3.region, .endpoint = config.s3.endpoint, .path_style = config.s3.path_style};
  stores.env = env;
  return stores;
}

transforms::PipelineLimits BatchPipelineLimits(const Config& config) {
  transforms::PipelineLimits limits = transforms::BatchLimits();
  limits.max_src_pixels = config.batch.max_src_pixels;
  limits.timeout = config.batch.timeout;
  // The server's encoder settings and watermark apply to batch outputs too.
  limits.quality = config.pipeline.quality;
  limits.format_quality = config.pipeline.format_quality;
  limits.jpeg_progressive = config.pipeline.jpeg_progressive;
  limits.png_interlaced = config.pipeline.png_interlaced;
  limits.watermark_path = config.pipeline.watermark_path;
  limits.watermark_data = config.pipeline.watermark_data;
  return limits;
}

int RunBatchCommand(const Config& config, const BatchCommand& command, const EnvLookup& env) {
  auto spec = Spec(config, command);
  if (!spec) return Refuse(spec.error().message);
  auto shard = Shard(command.shard, command.shards, env);
  if (!shard) return Refuse(shard.error().message);
  auto processor = ingest::BatchProcessor::Open(*spec, BatchStores(config, env), BatchPipelineLimits(config));
  if (!processor) return Refuse(processor.error().message);
  std::unique_ptr<ingest::JobQueue> queue;
  if (command.enqueue) {
    if (!config.ingest.enabled) return Refuse("--enqueue needs ingest.enabled (the job queue)");
    auto opened = OpenJobQueue(config, "jobs", env);
    if (!opened) return Refuse(opened.error().message);
    queue = *std::move(opened);
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ingest::BatchRunOptions run;
  run.jobs = command.jobs > 0 ? command.jobs : cores;
  // Images at once × libvips threads per image ≈ the cores, as the vips command line uses them.
  transforms::SetVipsConcurrency(std::max(1, cores / run.jobs));
  run.page_size = command.page_size;
  run.include = command.include;
  run.shard_index = shard->first;
  run.shard_count = shard->second;
  run.retry_failed = command.retry_failed;
  run.failures_path = command.failures;
  run.dry_run = command.dry_run;
  run.enqueue = queue.get();
  run.live = command.progress == "live" || (command.progress == "auto" && ::isatty(STDERR_FILENO));
  run.prices = command.prices;
  auto summary = ingest::RunBatch(**processor, run);
  if (!summary) return Refuse(summary.error().message);
  return (*summary)["failed"].get<int64_t>() > 0 ? 1 : 0;
}

}  // namespace imgorigin::origin
