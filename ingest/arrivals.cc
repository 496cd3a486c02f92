#include "ingest/arrivals.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace imgorigin::ingest {

using common::Error;
using common::ErrorCode;
using common::Result;

namespace {

struct EagerJob {
  std::string image;
  bool recheck = false;
};

std::string EncodeEagerJob(const EagerJob& job) {
  nlohmann::json payload = {{"image", job.image}};
  if (job.recheck) payload["recheck"] = true;
  return payload.dump();
}

Result<EagerJob> DecodeEagerJob(std::string_view payload) {
  const auto json = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("image") || !json["image"].is_string()) {
    return std::unexpected(Error{ErrorCode::kInvalidArgument, "an eager job names no image"});
  }
  EagerJob job{json["image"].get<std::string>(), json.value("recheck", false)};
  if (auto valid = ValidateId(job.image); !valid) return std::unexpected(valid.error());
  return job;
}

Timestamp Now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace

std::string S3SourceUrl(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + std::string(key);
}

Arrivals::Arrivals(Config config, RecordStore& records, JobQueue& jobs, JobQueue* notify,
                   const Notifier* notifier, Renderer render, Remover remove)
    : config_(std::move(config)),
      records_(records),
      jobs_(jobs),
      notify_(notify),
      notifier_(notifier),
      render_(std::move(render)),
      remove_(std::move(remove)) {}

Result<void> Arrivals::Arrived(const ImageRecord& record, bool recheck) {
  return Enqueue({NewJob{std::string(kEagerJobKind), EncodeEagerJob({record.id, recheck})}});
}

Result<void> Arrivals::Enqueue(const std::vector<NewJob>& jobs) {
  for (const NewJob& job : jobs) {
    JobQueue& queue = job.kind == kEagerJobKind ? jobs_ : *notify_;
    if (auto id = queue.Enqueue(job); !id) return std::unexpected(id.error());
  }
  return {};
}

Result<void> Arrivals::Notify(const ImageRecord& record) {
  if (notifier_ == nullptr || notify_ == nullptr) return {};
  auto event = ImageEvent(record);
  if (!event) return {};  // pending: nothing happened to tell
  return Enqueue(notifier_->Jobs(*event));
}

// Every eager preset is among the record's variants (each in at least one format).
bool Arrivals::Covered(const ImageRecord& record) const {
  return std::ranges::all_of(config_.eager, [&](const std::string& preset) {
    return std::ranges::any_of(record.variants,
                               [&](const Variant& v) { return v.preset == preset; });
  });
}

Result<void> Arrivals::HandleEager(const Job& job) {
  auto eager = DecodeEagerJob(job.payload);
  if (!eager) return std::unexpected(eager.error());
  auto record = records_.Get(eager->image);
  if (!record) {
    // An image deleted for good (or never made: a job queued by hand) has nothing left to do.
    if (record.error().code == ErrorCode::kNotFound) return {};
    return std::unexpected(record.error());
  }
  if (record->status == ImageStatus::kDeleted) return {};
  if (record->status == ImageStatus::kReady && !eager->recheck && Covered(*record)) {
    return Notify(*record);  // a second delivery: the first did the work
  }
  auto rendered = render_(*record);
  if (!rendered) {
    const bool waited_long = Now() - record->created > config_.give_up_after;
    if (rendered.error().code == ErrorCode::kNotFound && !record->facts.known()) {
      // A direct upload not made yet, or an S3 object gone before it was read: the first may
      // still come (its /complete queues the job again); past give_up_after it never will.
      if (!waited_long) return {};
      auto failed = records_.MarkFailed(record->id, "the original never arrived");
      if (!failed) return std::unexpected(failed.error());
      return Notify(*failed);
    }
    return std::unexpected(rendered.error());
  }
  auto stored = records_.SetVariants(record->id, rendered->variants);
  if (!stored) return std::unexpected(stored.error());
  auto ready = records_.MarkReady(record->id, rendered->facts);
  if (!ready) {
    // Deleted while it rendered: its variants go with it.
    if (ready.error().code == ErrorCode::kConflict) {
      if (auto now = records_.Get(record->id); now && now->status == ImageStatus::kDeleted) {
        remove_(*now);
        return {};
      }
    }
    return std::unexpected(ready.error());
  }
  return Notify(*ready);
}

void Arrivals::OnBuried(const Job& job, const Error& error) {
  if (job.kind == kEagerJobKind) {
    if (auto eager = DecodeEagerJob(job.payload)) {
      auto failed = records_.MarkFailed(eager->image, error.message);
      if (failed) {
        if (auto queued = Notify(*failed); !queued) {
          spdlog::error("image {}: image.failed could not be queued: {}", eager->image,
                        queued.error().message);
        }
      }
    }
  }
  if (notifier_ == nullptr || notify_ == nullptr) return;
  if (auto queued = Enqueue(notifier_->Jobs(DeadLetterEvent("jobs", job, error.message, Now())));
      !queued) {
    spdlog::error("job {}: job.dead_lettered could not be queued: {}", job.id,
                  queued.error().message);
  }
}

void Arrivals::Gone(const ImageRecord& deleted) {
  remove_(deleted);
  if (auto queued = Notify(deleted); !queued) {
    spdlog::error("image {}: image.deleted could not be queued: {}", deleted.id,
                  queued.error().message);
  }
}

Result<ImageRecord> Arrivals::Removed(const ImageRecord& record) {
  auto deleted = records_.MarkDeleted(record.id);
  if (!deleted) return std::unexpected(deleted.error());
  Gone(*deleted);
  return deleted;
}

Result<Arrivals::S3Outcome> Arrivals::ApplyS3Event(const S3Event& event) {
  const std::string source = S3SourceUrl(event.bucket, event.key);
  auto existing = records_.FindBySource(source);
  if (!existing && existing.error().code != ErrorCode::kNotFound) {
    return std::unexpected(existing.error());
  }
  if (event.kind == S3EventKind::kRemoved) {
    if (!existing) return S3Outcome::kUnchanged;  // never seen, or removed already (a replay)
    if (auto deleted = Removed(*existing); !deleted) return std::unexpected(deleted.error());
    return S3Outcome::kRemoved;
  }
  if (existing) {
    // A replay, or the same object written again: only a new size says the bytes changed
    // (S3 ETags of multipart uploads are no content hash to compare with a SHA-256).
    if (!existing->facts.known() || existing->facts.bytes == event.size) {
      return S3Outcome::kUnchanged;
    }
    if (auto queued = Arrived(*existing, /*recheck=*/true); !queued) {
      return std::unexpected(queued.error());
    }
    return S3Outcome::kChanged;
  }
  auto id = NewImageId();
  if (!id) return std::unexpected(id.error());
  ImageRecord record;
  record.id = *id;
  record.source_url = source;
  record.status = ImageStatus::kPending;
  record.metadata = {{"s3", {{"bucket", event.bucket}, {"key", event.key}}}};
  // Two deliveries of one event racing each other make one record: the second finds the key.
  const Idempotency idempotency{S3EventIdempotencyKey(event),
                                event.etag.empty() ? "-" : event.etag};
  auto created = records_.Create(record, idempotency);
  if (!created) return std::unexpected(created.error());
  if (!created->created) return S3Outcome::kUnchanged;
  if (auto queued = Arrived(created->record); !queued) {
    // The record is kept: Reconcile() queues it once the queue answers again.
    spdlog::warn("image {}: its job could not be queued yet: {}", record.id,
                 queued.error().message);
  }
  return S3Outcome::kCreated;
}

Result<int> Arrivals::Reconcile(int limit) {
  if (config_.reconcile_after.count() == 0) return 0;
  // While jobs wait, records pending for long are most likely among them (a backlog): queueing
  // them again would only grow it. Lost jobs show once the queue has drained.
  auto stats = jobs_.Stats();
  if (!stats) return std::unexpected(stats.error());
  if (stats->ready + stats->delayed + stats->in_flight > 0) return 0;
  const Timestamp before = Now() - config_.reconcile_after;
  int queued = 0;
  std::string after;
  while (queued < limit) {
    auto page = records_.ListPending(after, before, std::min(limit - queued, 100));
    if (!page) return std::unexpected(page.error());
    for (const ImageRecord& record : page->records) {
      if (auto enqueued = Arrived(record); !enqueued) return std::unexpected(enqueued.error());
      ++queued;
    }
    if (page->next_after.empty()) break;
    after = page->next_after;
  }
  if (queued > 0) spdlog::info("reconciler: queued the jobs of {} pending image(s)", queued);
  return queued;
}

}  // namespace imgorigin::ingest
