#include "origin/jobs_setup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "common/thread_name.h"
#include "ingest/redis_job_queue.h"
#include "ingest/sqlite_job_queue.h"
#include "ingest/sqs_job_queue.h"
#include "origin/batch_command.h"
#include "storage/sns.h"

namespace imgorigin::origin {

using common::ErrorCode;
using common::Fail;
using common::Result;

namespace {

// How often the reconciler looks for records left pending, and how many it queues per look.
constexpr std::chrono::seconds kReconcileEvery{60};
constexpr int kReconcileBatch = 500;

Result<std::unique_ptr<storage::AwsApiClient>> OpenAws(const Config& config, std::string service,
                                                       std::string endpoint,
                                                       const EnvLookup& env) {
  return storage::AwsApiClient::Create(
      {.service = std::move(service), .region = config.s3.region, .endpoint = std::move(endpoint)},
      env);
}

}  // namespace

nlohmann::json DeadLetterJson(const ingest::DeadLetter& letter) {
  return {{"id", letter.id},
          {"kind", letter.kind},
          {"payload", letter.payload},
          {"attempts", letter.attempts},
          {"error", letter.error},
          {"buried_at", ingest::Rfc3339(std::chrono::time_point_cast<std::chrono::milliseconds>(
                            letter.buried_at))}};
}

Result<std::unique_ptr<ingest::JobQueue>> OpenJobQueue(const Config& config,
                                                       std::string_view name,
                                                       const EnvLookup& env) {
  const std::string queue(name);
  auto fail = [&](const common::Error& error) {
    return Fail(ErrorCode::kInternal, "jobs.queue (" + queue + "): " + error.message);
  };
  const Config::Jobs& jobs = config.jobs;
  if (jobs.queue == "sqlite") {
    // The records' file when records are SQLite (one file to back up), else one of its own.
    const char* file = config.ingest.records == "sqlite" ? "records.sqlite3" : "jobs.sqlite3";
    auto opened = ingest::SqliteJobQueue::Open(
        {.path = (std::filesystem::path(config.ingest.data_dir) / file).string(), .queue = queue});
    if (!opened) return fail(opened.error());
    return std::unique_ptr<ingest::JobQueue>(*std::move(opened));
  }
  if (jobs.queue.starts_with("redis://")) {
    auto opened = ingest::RedisJobQueue::Create({.url = jobs.queue, .queue = queue});
    if (!opened) return fail(opened.error());
    return std::unique_ptr<ingest::JobQueue>(*std::move(opened));
  }
  const std::string& url = name == "jobs"     ? jobs.sqs_jobs_queue
                           : name == "notify" ? jobs.sqs_notify_queue
                                              : jobs.sqs_events_queue;
  auto sqs = OpenAws(config, "sqs", jobs.sqs_endpoint, env);
  if (!sqs) return fail(sqs.error());
  auto opened = ingest::SqsJobQueue::Open(
      std::shared_ptr<const storage::AwsApiClient>(*std::move(sqs)), {.queue = url});
  if (!opened) return fail(opened.error());
  return std::unique_ptr<ingest::JobQueue>(*std::move(opened));
}

Jobs::Jobs(const Config& config, IngestServices& ingest, const signing::Signer& signer,
           sources::SourceCache& sources, cache::TieredCache& tiers)
    : config_(config),
      ingest_(ingest),
      tiers_(tiers),
      planner_(config, signer),
      eager_(config, planner_, signer, sources, tiers, ingest.variants.get()),
      batch_(std::make_unique<ingest::BatchJobs>(BatchStores(config), BatchPipelineLimits(config))) {}

Jobs::~Jobs() { Stop(); }

Result<std::unique_ptr<Jobs>> Jobs::Open(const Config& config, IngestServices& ingest,
                                         const signing::Signer& signer,
                                         sources::SourceCache& sources, cache::TieredCache& tiers,
                                         const EnvLookup& env) {
  std::unique_ptr<Jobs> jobs(new Jobs(config, ingest, signer, sources, tiers));
  auto queue = OpenJobQueue(config, "jobs", env);
  if (!queue) return std::unexpected(queue.error());
  jobs->jobs_ = *std::move(queue);
  if (!config.jobs.sqs_events_queue.empty()) {
    auto events = OpenJobQueue(config, "events", env);
    if (!events) return std::unexpected(events.error());
    jobs->events_ = *std::move(events);
  }
  if (config.notifications.enabled()) {
    auto notify = OpenJobQueue(config, "notify", env);
    if (!notify) return std::unexpected(notify.error());
    jobs->notify_ = *std::move(notify);
    auto notifier = ingest::Notifier::Create(config.notifications);
    if (!notifier) return std::unexpected(notifier.error());
    jobs->notifier_ = *std::move(notifier);
    if (!config.notifications.sns_topic_arn.empty()) {
      auto sns = OpenAws(config, "sns", config.jobs.sns_endpoint, env);
      if (!sns) return Fail(ErrorCode::kInternal, "notifications.sns_topic_arn: " + sns.error().message);
      jobs->sns_ = *std::move(sns);
      jobs->notifier_->ConnectSns(
          [sns = jobs->sns_.get()](const std::string& topic, const ingest::Event& event)
              -> Result<void> {
            auto published = storage::SnsPublish(
                *sns, {topic, event.body, {{"type", std::string(ingest::EventTypeName(event.type))}}});
            if (!published) return std::unexpected(published.error());
            return {};
          });
    }
  }

  Jobs* self = jobs.get();
  jobs->arrivals_ = std::make_unique<ingest::Arrivals>(
      ingest::Arrivals::Config{
          .eager = config.ingest.eager,
          .reconcile_after = config.jobs.reconcile_after,
          // A direct upload's URL lasts at most presign_max_expiry; then an upload too slow to
          // finish in the time left.
          .give_up_after = config.ingest.upload.presign_max_expiry +
                           std::chrono::duration_cast<std::chrono::seconds>(
                               config.ingest.upload_timeout) +
                           std::chrono::minutes(10)},
      *ingest.records, *jobs->jobs_, jobs->notify_.get(), jobs->notifier_.get(),
      [self](const ingest::ImageRecord& record) -> Result<ingest::Arrivals::Rendered> {
        auto rendered = self->eager_.Render(record.id, record.source_url, self->config_.ingest.eager,
                                            /*inspect=*/!record.facts.known());
        if (!rendered) return std::unexpected(rendered.error());
        return ingest::Arrivals::Rendered{rendered->facts.value_or(record.facts),
                                          std::move(rendered->variants)};
      },
      [self](const ingest::ImageRecord& record) {
        self->tiers_.Purge(record.source_url, [id = record.id](Result<uint64_t> generation) {
          if (!generation) {
            spdlog::warn("image {}: its cache entries could not be purged: {}", id,
                         generation.error().message);
          }
        });
        if (self->ingest_.variants == nullptr) return;
        for (const ingest::Variant& variant : record.variants) {
          if (auto removed = self->ingest_.variants->Remove(record.id, variant.preset, variant.format);
              !removed) {
            spdlog::warn("image {}: variant {}.{} could not be deleted: {}", record.id,
                         variant.preset, variant.format, removed.error().message);
          }
        }
      });
  ingest.uploader->SetArrivals(jobs->arrivals_.get());
  return jobs;
}

ingest::JobQueue* Jobs::queue(std::string_view name) {
  if (name == "jobs") return jobs_.get();
  if (name == "notify") return notify_.get();
  if (name == "events") return events_.get();
  return nullptr;
}

Result<void> Jobs::ApplyS3Events(const ingest::Job& job) {
  auto events = ingest::ParseS3Events(job.payload);
  // A message that is no S3 event will not become one: its attempts fail, then it is buried.
  if (!events) return std::unexpected(events.error());
  for (const ingest::S3Event& event : *events) {
    if (!config_.ingest.events.Matches(event)) continue;
    if (auto applied = arrivals_->ApplyS3Event(event); !applied) {
      return std::unexpected(applied.error());
    }
  }
  return {};
}

void Jobs::Start() {
  if (!workers_.empty()) return;
  ingest::Arrivals* arrivals = arrivals_.get();
  workers_.push_back(std::make_unique<ingest::Worker>(
      config_.jobs.worker, *jobs_,
      std::map<std::string, ingest::Worker::Handler>{
          {std::string(ingest::kEagerJobKind),
           [arrivals](const ingest::Job& job) { return arrivals->HandleEager(job); }},
          {std::string(ingest::kBatchJobKind),
           [batch = batch_.get()](const ingest::Job& job) { return batch->Handle(job); }}},
      [arrivals](const ingest::Job& job, const common::Error& error) {
        arrivals->OnBuried(job, error);
      }));
  if (notify_) {
    const ingest::Notifier* notifier = notifier_.get();
    workers_.push_back(std::make_unique<ingest::Worker>(
        config_.jobs.worker, *notify_,
        std::map<std::string, ingest::Worker::Handler>{
            {std::string(ingest::kNotifyJobKind),
             [notifier](const ingest::Job& job) -> Result<void> {
               auto delivery = notifier->Deliver(job.payload);
               if (!delivery) return std::unexpected(delivery.error());
               spdlog::debug("notification {}: {}", job.id, delivery->detail);
               return {};
             }}}));
  }
  if (events_) {
    // S3 writes these messages itself: they carry no kind.
    workers_.push_back(std::make_unique<ingest::Worker>(
        config_.jobs.worker, *events_,
        std::map<std::string, ingest::Worker::Handler>{
            {"", [this](const ingest::Job& job) { return ApplyS3Events(job); }}}));
  }
  for (auto& worker : workers_) worker->Start();
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  if (config_.jobs.reconcile_after.count() > 0) {
    reconciler_ = common::NamedThread("reconciler", [this] { Reconcile(); });
  }
}

void Jobs::Reconcile() {
  std::unique_lock lock(mu_);
  const auto every = std::min<std::chrono::seconds>(kReconcileEvery, config_.jobs.reconcile_after);
  while (!stop_.wait_for(lock, every, [this] { return stopping_; })) {
    lock.unlock();
    if (auto queued = arrivals_->Reconcile(kReconcileBatch); !queued) {
      spdlog::warn("reconciler: {}", queued.error().message);
    }
    lock.lock();
  }
}

void Jobs::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (reconciler_.joinable()) reconciler_.join();
  for (auto& worker : workers_) worker->Stop();
  workers_.clear();
}

}  // namespace imgorigin::origin
