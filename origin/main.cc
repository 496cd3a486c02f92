// imgorigin: the composition root. Parses the command line, loads the configuration, wires the
// modules together and runs until SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <vips/vips.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <spdlog/fmt/ranges.h>
#include <optional>

#include "cache/memory_tier.h"
#include "common/thread_pool.h"
#include "common/thread_priority.h"
#include "origin/batch_command.h"
#include "origin/build_info.h"
#include "origin/cache_tiers.h"
#include "origin/cli.h"
#include "origin/config.h"
#include "origin/images_endpoint.h"
#include "origin/ingest_setup.h"
#include "origin/jobs_setup.h"
#include "origin/router.h"
#include "origin/server.h"
#include "signing/signer.h"
#include "sources/http_source.h"
#include "sources/local_source.h"
#include "sources/s3_source.h"
#include "sources/source_cache.h"
#include "transforms/pipeline.h"

// Read by jemalloc (linked when found) at start-up; MALLOC_CONF in the environment overrides it.
// A background thread hands pages freed for a second back to the kernel, so RSS follows the load
// down instead of staying at its high-water mark (bench/: RSS drift over 20 000 requests went
// from +5…+12 % to below zero). jemalloc starts that thread with every signal blocked, so
// SIGTERM still reaches the sigwait below.
extern "C" {
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000";
}

namespace imgorigin::origin {
namespace {

// What `serve` and `worker` both run on: the sources, the I/O pool and source cache, the cache
// tiers, and with ingest on its stores and jobs. Members are destroyed in reverse order.
struct Services {
  sources::SourceRouter sources;
  std::optional<sources::LocalSource> local;
  std::unique_ptr<sources::S3Source> s3;
  std::unique_ptr<sources::HttpSource> http;
  std::unique_ptr<common::ThreadPool> io;
  std::unique_ptr<sources::SourceCache> source_cache;
  std::unique_ptr<signing::Signer> signer;
  std::unique_ptr<cache::MemoryTier> memory;
  std::unique_ptr<cache::TieredCache> tiers;
  std::optional<IngestServices> ingest;
  std::unique_ptr<Jobs> jobs;

  // The pools first (finished fetches hand work on), then the tiers' write-behind work.
  void Shutdown() {
    if (jobs) jobs->Stop();
    io->Shutdown();
  }
};

// Logs what failed; false when the process should exit with status 2.
bool OpenServices(const Config& config, Services& services) {
  if (!config.local_root.empty()) {
    auto opened = sources::LocalSource::Open(config.local_root, config.max_src_bytes);
    if (!opened) {
      spdlog::error("{}", opened.error().message);
      return false;
    }
    services.local.emplace(*std::move(opened));
    services.sources.Add("local", &*services.local);
    spdlog::info("local sources from {}", config.local_root);
  }
  if (config.s3.enabled) {
    auto created =
        sources::S3Source::Create(config.s3, config.fetch, config.max_src_bytes, ProcessEnv);
    if (!created) {
      spdlog::error("{}", created.error().message);
      return false;
    }
    services.s3 = *std::move(created);
    services.sources.Add("s3", services.s3.get());
    spdlog::info("s3 sources: region {}, endpoint {}{}", services.s3->region(),
                 services.s3->endpoint(), config.s3.path_style ? ", path-style" : "");
  }
  if (config.http.enabled) {
    auto created = sources::HttpSource::Create(config.http, config.fetch, config.max_src_bytes);
    if (!created) {
      spdlog::error("{}", created.error().message);
      return false;
    }
    services.http = *std::move(created);
    services.sources.Add("http", services.http.get());
    services.sources.Add("https", services.http.get());
    if (config.http.allow_private_networks) {
      spdlog::warn(
          "http sources may reach private and loopback networks "
          "(IMGORIGIN_HTTP_ALLOW_PRIVATE_NETWORKS): never in production");
    }
  }
  services.io = std::make_unique<common::ThreadPool>(common::ThreadPool::Config{
      .threads = config.io_threads, .queue_capacity = config.io_queue_size, .name = "io"});
  auto source_cache =
      sources::SourceCache::Open(config.source_cache, services.sources, *services.io,
                                 config.fetch.stream_to_file_bytes, config.max_src_bytes);
  if (!source_cache) {
    spdlog::error("{}", source_cache.error().message);
    return false;
  }
  services.source_cache = *std::move(source_cache);
  services.signer = std::make_unique<signing::Signer>(config.signing);
  services.memory = std::make_unique<cache::MemoryTier>(config.memory);
  auto tiers = OpenTieredCache(config, *services.memory);
  if (!tiers) {
    spdlog::error("{}", tiers.error().message);
    return false;
  }
  services.tiers = *std::move(tiers);
  if (!config.ingest.enabled) return true;
  auto opened = OpenIngest(config);
  if (!opened) {
    spdlog::error("{}", opened.error().message);
    return false;
  }
  services.ingest.emplace(*std::move(opened));
  spdlog::info("uploads on: {} records, originals {} (up to {} bytes each)",
               config.ingest.records == "sqlite" ? "SQLite" : "PostgreSQL",
               services.ingest->originals->SourceUrl("<id>"), config.ingest.upload.max_upload_bytes);
  auto jobs = Jobs::Open(config, *services.ingest, *services.signer, *services.source_cache,
                         *services.tiers);
  if (!jobs) {
    spdlog::error("{}", jobs.error().message);
    return false;
  }
  services.jobs = *std::move(jobs);
  services.ingest->jobs = services.jobs.get();
  spdlog::info("jobs: queue {}, eager presets [{}]",
               config.jobs.queue.starts_with("redis://") ? "redis" : config.jobs.queue,
               fmt::join(config.ingest.eager, ", "));
  return true;
}

// Signals are taken synchronously by the main thread (WaitForStop); every thread created after
// this inherits the mask, so none of them is interrupted.
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

// What /metrics reads from the server and the job queue.
AdminEndpoint::LiveFigures LiveFigures(const Server& server, const Services& services) {
  AdminEndpoint::LiveFigures figures;
  figures.in_flight = [&server] { return server.in_flight(); };
  figures.open_connections = [&server] { return server.open_connections(); };
  if (services.jobs) {
    figures.jobs = [jobs = services.jobs.get()]() -> std::optional<ingest::QueueStats> {
      auto stats = jobs->queue("jobs")->Stats();
      return stats ? std::optional(*stats) : std::nullopt;
    };
  }
  return figures;
}

int Serve(const Config& config) {
  if (!config.signing.keys.empty()) {
    spdlog::info("signing: {} key pair(s), signature size {}", config.signing.keys.size(),
                 config.signing.signature_size);
  } else {
    spdlog::warn(
        "!!! UNSIGNED MODE: any URL is accepted. For development only; set "
        "IMGORIGIN_KEY and IMGORIGIN_SALT in production !!!");
  }
  sigset_t stop_signals = BlockStopSignals();
  Services services;
  if (!OpenServices(config, services)) return 2;
  // Two transforms per core by default: with libvips at concurrency 1, one transform per core
  // leaves a core idle ~15 % of the time (hand-offs inside libvips' sinks); two fill it, +18 %
  // cold renders/s in bench/load (2 cores: 216 → 255 req/s).
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t workers = config.workers ? config.workers : 2 * cores;
  // Background renders (format upgrades) run in the same scheduling class as the renders visitors
  // wait for, so once started they take CPU from them as equals: at most half the cores' worth at
  // once leaves the other half to the visitors (bench/load accept-mix).
  common::ThreadPool cpu(
      {.threads = workers,
       .queue_capacity = config.queue_size,
       .max_low_running = std::max<size_t>(1, cores / 2),
       .name = "render"},
      [&config] {
        if (!common::LowerThisThreadPriority(
                {.nice = config.render_nice, .idle = config.render_idle})) {
          spdlog::warn("a transform thread keeps a higher CPU priority: the kernel refused {}",
                       config.render_idle ? "SCHED_IDLE" : "the niceness");
        }
      });
  Router router(config, *services.signer, *services.memory, cpu, *services.io,
                *services.source_cache, *services.tiers,
                services.ingest ? &*services.ingest : nullptr, services.http.get());

  auto host_port = ParseHostPort(config.bind);  // validated with the config
  Server server(
      {.host = host_port->first,
       .port = host_port->second,
       .loops = config.loops ? config.loops : cores,
       .client_timeout = config.client_timeout,
       .header_timeout = config.header_timeout,
       .max_connections = config.max_connections,
       .streaming = {.streams = config.ingest.enabled ? &Router::StreamsBody : nullptr,
                     .timeout = config.ingest.upload_timeout,
                     .temp_dir = config.fetch.TempDir(),
                     .admit =
                         [&router](std::string_view target, const evkeyvalq* headers) {
                           return router.AdmitUpload(target, headers);
                         }},
       .on_reply = [&router](const Exchange& exchange,
                             const ReplyFacts& reply) { router.OnReply(exchange, reply); }},
      [&router](const ExchangePtr& exchange) { router.Handle(exchange); });
  router.SetLiveFigures(LiveFigures(server, services));
  auto port = server.Start();
  if (!port) {
    spdlog::error("{}", port.error().message);
    return 1;
  }
  // Tests and scripts read the bound port from this line.
  std::printf("imgorigin listening on http://%s:%u\n", host_port->first.c_str(), *port);
  std::fflush(stdout);
  spdlog::info("{} workers, queue {}, memory cache {} MiB", cpu.threads(), config.queue_size,
               config.memory.capacity_bytes >> 20);
  if (services.jobs && config.jobs.in_serve) services.jobs->Start();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("{} received: finishing {} in-flight request(s)", strsignal(sig),
               server.in_flight());
  router.SetDraining();
  server.StopAccepting();
  if (!server.WaitIdle(config.shutdown_timeout)) {
    spdlog::warn("shutdown timeout: {} request(s) still in flight", server.in_flight());
  }
  services.Shutdown();  // jobs, then I/O: before the CPU pool, which finished fetches feed
  cpu.Shutdown();
  services.tiers->Shutdown();  // after the CPU pool: finished renders queue write-behind work
  server.Stop();
  vips_shutdown();
  spdlog::info("stopped");
  return 0;
}

// `imgorigin worker`: the job workers without the HTTP server, for fleets (docs/ingest.md).
// SIGTERM lets the jobs in hand finish; SIGKILL loses none (their visibility runs out and another
// worker takes them).
int Work(const Config& config) {
  if (!config.ingest.enabled) {
    std::fprintf(stderr, "imgorigin worker: jobs need ingest.enabled\n");
    return 2;
  }
  sigset_t stop_signals = BlockStopSignals();
  Services services;
  if (!OpenServices(config, services)) return 2;
  services.jobs->Start();
  std::printf("imgorigin worker running\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("{} received: finishing the jobs in hand", strsignal(sig));
  services.Shutdown();
  services.tiers->Shutdown();
  vips_shutdown();
  spdlog::info("stopped");
  return 0;
}

// `imgorigin jobs dlq list|redrive|purge [--queue jobs|notify] [ids…]`.
int DeadLetters(const Config& config, const std::string& action, const std::string& queue_name,
                const std::vector<std::string>& ids) {
  if (!config.ingest.enabled) {
    std::fprintf(stderr, "imgorigin jobs: jobs need ingest.enabled\n");
    return 2;
  }
  auto queue = OpenJobQueue(config, queue_name);
  if (!queue) {
    std::fprintf(stderr, "imgorigin jobs: %s\n", queue.error().message.c_str());
    return 2;
  }
  if (action == "list") {
    std::string after;
    do {
      auto page = (*queue)->ListDead(after, ingest::kMaxDeadLetterPage);
      if (!page) {
        std::fprintf(stderr, "imgorigin jobs: %s\n", page.error().message.c_str());
        return 1;
      }
      for (const auto& letter : page->letters) std::printf("%s\n", DeadLetterJson(letter).dump().c_str());
      after = page->next_after;
    } while (!after.empty());
    return 0;
  }
  auto done = action == "redrive" ? (*queue)->Redrive(ids) : (*queue)->Purge(ids);
  if (!done) {
    std::fprintf(stderr, "imgorigin jobs: %s\n", done.error().message.c_str());
    return 1;
  }
  std::printf("%s %lld dead letter(s)\n", action == "redrive" ? "redrove" : "purged",
              static_cast<long long>(*done));
  return 0;
}

}  // namespace
}  // namespace imgorigin::origin

int main(int argc, char** argv) {
  using namespace imgorigin::origin;
  spdlog::set_default_logger(spdlog::stderr_color_mt("imgorigin"));

  CLI::App app{"imgorigin: an on-the-fly image origin for CDNs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return VersionText(); });
  std::string config_path;
  app.add_option("-c,--config", config_path, "TOML config file (IMGORIGIN_* variables override it)")
      ->check(CLI::ExistingFile);
  auto* serve = app.add_subcommand("serve", "Run the HTTP server");
  auto* worker = app.add_subcommand("worker", "Run the job workers without the HTTP server");
  auto* sign = app.add_subcommand("sign", "Print a signed path for an imgproxy-style URL path");
  std::string path;
  std::string base_url;
  sign->add_option("path", path, "e.g. /rs:fill:300:300/plain/local:///photo.jpg@webp")->required();
  sign->add_option("--base-url", base_url, "print a full URL: e.g. https://img.example.com");
  auto* healthcheck = app.add_subcommand("healthcheck", "Exit 0 when /health answers 200, else 1");
  std::string health_url;
  int health_timeout_ms = 3000;
  healthcheck->add_option("--url", health_url, "default: http://<server.bind>/health");
  healthcheck->add_option("--timeout-ms", health_timeout_ms, "connect + answer limit")
      ->check(CLI::Range(1, 60000));
  auto* config_command = app.add_subcommand("config", "Check or show the configuration");
  config_command->require_subcommand(1);
  auto* config_check = config_command->add_subcommand("check", "Validate it; exit 2 on an error");
  auto* config_dump =
      config_command->add_subcommand("dump", "Print the effective configuration, secrets masked");
  auto* jobs = app.add_subcommand("jobs", "Inspect the job queue");
  jobs->require_subcommand(1);
  auto* dlq = jobs->add_subcommand("dlq", "Dead letters: list, redrive or purge them");
  std::string dlq_action;
  std::string dlq_queue = "jobs";
  std::vector<std::string> dlq_ids;
  dlq->add_option("action", dlq_action, "list | redrive | purge")
      ->required()
      ->check(CLI::IsMember({"list", "redrive", "purge"}));
  dlq->add_option("ids", dlq_ids, "dead letter ids (redrive, purge); none = all");
  dlq->add_option("--queue", dlq_queue, "jobs | notify")->check(CLI::IsMember({"jobs", "notify"}));
  BatchCommand batch_command;
  auto* batch = AddBatchCommand(app, batch_command);
  for (auto* sub : {serve, worker, sign, dlq, healthcheck, config_check, config_dump, batch}) {
    sub->add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  }
  CLI11_PARSE(app, argc, argv);

  // An explicit URL needs no configuration: a probe must not fail on the server's settings.
  if (*healthcheck && !health_url.empty()) {
    return Healthcheck(health_url, std::chrono::milliseconds(health_timeout_ms));
  }
  // Before the config: checking a configured watermark decodes it.
  imgorigin::transforms::InitVips(argv[0]);
  // Batch signs and verifies nothing: it runs without signing keys.
  auto config = LoadConfig(config_path, *batch ? EnvLookup([](std::string_view name) {
    auto value = ProcessEnv(name);
    return value || name != "IMGORIGIN_ALLOW_UNSIGNED" ? value : std::optional<std::string>("true");
  })
                                               : EnvLookup(ProcessEnv));
  if (!config) {
    std::fprintf(stderr, "imgorigin: configuration error: %s\n", config.error().message.c_str());
    return 2;
  }
  imgorigin::common::SetUpLogging(config->log_level, config->log_format);
  if (*config_check) return CheckConfig(*config, ProcessVariables());
  if (*config_dump) return std::printf("%s", DumpConfig(*config).c_str()) < 0 ? 1 : 0;
  if (*healthcheck) {
    return Healthcheck(DefaultHealthUrl(*config), std::chrono::milliseconds(health_timeout_ms));
  }
  if (*sign) return SignPath(*config, path, base_url);
  WarnUnknownVariables(ProcessVariables());
  if (*worker) return Work(*config);
  if (*jobs) return DeadLetters(*config, dlq_action, dlq_queue, dlq_ids);
  if (*batch) return RunBatchCommand(*config, batch_command);
  return Serve(*config);
}
