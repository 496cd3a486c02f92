// The jobs side of ingest (docs/ingest.md), built from [jobs], [notifications] and [ingest]:
//
//   queues    "jobs" (eager presets) and "notify" (webhooks, SNS) on SQLite, Redis Streams or
//             SQS; with SQS, optionally the queue S3 sends its event notifications to
//   Notifier  webhooks, and SNS through the AWS API client
//   Arrivals  what happens after an image arrives (ingest/arrivals.h), rendering through an
//             EagerRenderer over the server's own source cache and cache tiers
//   batch     the images `imgorigin batch --enqueue` queued (ingest/batch.h), on the jobs queue
//   workers   one Worker per queue, and a reconciler thread; Start() runs them (in `serve`
//             when jobs.in_serve, and in `imgorigin worker`), Stop() lets the jobs in hand
//             finish
//
// Built once on the main thread after the cache tiers and the ingest services, before the
// server starts; everything it is given outlives it.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cache/tiered_cache.h"
#include "common/status.h"
#include "ingest/arrivals.h"
#include "ingest/batch.h"
#include "ingest/job_queue.h"
#include "ingest/notifications.h"
#include "ingest/worker.h"
#include "origin/config.h"
#include "origin/eager.h"
#include "origin/image_plan.h"
#include "origin/ingest_setup.h"
#include "signing/signer.h"
#include "sources/source_cache.h"
#include "storage/aws_api_client.h"

namespace imgorigin::origin {

// Opens queue `name` ("jobs", "notify") of the configured backend. SQS queues come from
// jobs.sqs_<name>_queue; "events" is the S3 notifications queue.
common::Result<std::unique_ptr<ingest::JobQueue>> OpenJobQueue(const Config& config,
                                                               std::string_view name,
                                                               const EnvLookup& env = ProcessEnv);

// A dead letter as the API and `imgorigin jobs dlq list` show it.
nlohmann::json DeadLetterJson(const ingest::DeadLetter& letter);

class Jobs {
 public:
  static common::Result<std::unique_ptr<Jobs>> Open(const Config& config, IngestServices& ingest,
                                                    const signing::Signer& signer,
                                                    sources::SourceCache& sources,
                                                    cache::TieredCache& tiers,
                                                    const EnvLookup& env = ProcessEnv);
  ~Jobs();  // Stop()

  void Start();
  void Stop();

  ingest::Arrivals& arrivals() { return *arrivals_; }
  // The queues by name, for the dead-letter API and CLI: "jobs", "notify" (null without
  // notifications), "events" (null unless SQS events are read).
  ingest::JobQueue* queue(std::string_view name);

 private:
  Jobs(const Config& config, IngestServices& ingest, const signing::Signer& signer,
       sources::SourceCache& sources, cache::TieredCache& tiers);
  common::Result<void> ApplyS3Events(const ingest::Job& job);
  void Reconcile();

  const Config& config_;
  IngestServices& ingest_;
  cache::TieredCache& tiers_;
  Planner planner_;
  EagerRenderer eager_;
  std::unique_ptr<ingest::BatchJobs> batch_;  // items `imgorigin batch --enqueue` queued
  std::unique_ptr<ingest::JobQueue> jobs_;
  std::unique_ptr<ingest::JobQueue> notify_;
  std::unique_ptr<ingest::JobQueue> events_;
  std::unique_ptr<storage::AwsApiClient> sns_;
  std::unique_ptr<ingest::Notifier> notifier_;
  std::unique_ptr<ingest::Arrivals> arrivals_;
  std::vector<std::unique_ptr<ingest::Worker>> workers_;

  std::mutex mu_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread reconciler_;
};

}  // namespace imgorigin::origin
