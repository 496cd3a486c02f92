// What happens after an image arrives (DESIGN.md §6): its eager job, the job's handler, the
// notifications of what became of it, S3 event notifications, and the reconciler that re-queues
// what a crash or an outage left pending.
//
//   upload, completed direct upload ──► record pending (facts known) ──┐
//   S3 ObjectCreated ──► record pending (no facts yet) ─────────────────┼─► "eager" job
//                                                                       │
//   eager job: render (check the original first when its facts are not known yet), store the
//   variants, SetVariants, MarkReady ──► image.ready
//   its last attempt failed (buried) ──► MarkFailed ──► image.failed, job.dead_lettered
//   S3 ObjectRemoved, DELETE ──► tombstone, variants removed ──► image.deleted
//
// With no eager presets configured, uploads make ready records at once (Uploader) and only S3
// event records take the job, to check their original. Every handler is idempotent: a job
// delivered twice finds its record ready with every eager preset among its variants and renders
// nothing (it notifies again: receivers dedupe by the event id, which is the same); an S3 event
// delivered twice finds the record it made.
//
// Notifications are queued before the job that caused them is acked, so none is lost when the
// process dies between the two (at least once). With no Notifier, nothing is notified.
//
// Threads: every member may be called from any thread (the stores and queues are thread-safe);
// calls block on them, so call from worker or I/O pool threads, never an event loop.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ingest/job_queue.h"
#include "ingest/notifications.h"
#include "ingest/record_store.h"
#include "ingest/s3_event.h"

namespace imgorigin::ingest {

inline constexpr std::string_view kEagerJobKind = "eager";

class Arrivals {
 public:
  struct Config {
    std::vector<std::string> eager;  // preset names; empty = S3 event records are only checked
    // Pending records older than this are queued again by Reconcile(); 0 = never.
    std::chrono::seconds reconcile_after{600};
    // A pending record with no facts (a direct upload that never came) older than this is made
    // failed when its job finds no original.
    std::chrono::seconds give_up_after{3600 + 600};
  };

  // What rendering an image gives: its facts (the record's, or checked now when it has none)
  // and its variants (one per eager preset and format).
  struct Rendered {
    ImageFacts facts;
    std::vector<Variant> variants;
  };
  using Renderer = std::function<common::Result<Rendered>(const ImageRecord& record)>;
  // Removes what the origin made of a deleted image: its variants objects, its cache entries.
  using Remover = std::function<void(const ImageRecord& record)>;

  // `notify` and `notifier` may both be null (no notifications). Everything outlives this.
  Arrivals(Config config, RecordStore& records, JobQueue& jobs, JobQueue* notify,
           const Notifier* notifier, Renderer render, Remover remove);

  const Config& config() const { return config_; }
  bool eager() const { return !config_.eager.empty(); }

  // Queues the eager job of a record that was just created or completed. kUnavailable when the
  // queue is down: the record stays pending and Reconcile() queues it once the queue is back.
  common::Result<void> Arrived(const ImageRecord& record, bool recheck = false);

  // The "eager" job: see above.
  common::Result<void> HandleEager(const Job& job);
  // on_buried of the jobs queue's worker.
  void OnBuried(const Job& job, const common::Error& error);

  // Queues the notifications of the record's current status. kUnavailable when the notify queue
  // is down.
  common::Result<void> Notify(const ImageRecord& record);
  // After a record became a tombstone: removes its variants and cache entries, notifies.
  void Gone(const ImageRecord& deleted);
  // Deletes a record (an S3 object removed), then Gone().
  common::Result<ImageRecord> Removed(const ImageRecord& record);

  enum class S3Outcome { kCreated, kChanged, kRemoved, kUnchanged, kIgnored };
  // Acts on one S3 event (already filtered): ObjectCreated makes the record (source
  // s3://bucket/key) unless one exists and queues its job; an existing record whose size
  // differs from the event's is checked and rendered again; ObjectRemoved deletes the record.
  common::Result<S3Outcome> ApplyS3Event(const S3Event& event);

  // One pass: queues the eager job of up to `limit` records pending for longer than
  // reconcile_after, once the jobs queue has drained (no job ready, delayed or in flight).
  // Returns how many.
  common::Result<int> Reconcile(int limit);

 private:
  common::Result<void> Enqueue(const std::vector<NewJob>& jobs);
  bool Covered(const ImageRecord& record) const;

  const Config config_;
  RecordStore& records_;
  JobQueue& jobs_;
  JobQueue* notify_;
  const Notifier* notifier_;
  const Renderer render_;
  const Remover remove_;
};

// The source URL of an S3 object as records and signed URLs name it: s3://bucket/key.
std::string S3SourceUrl(std::string_view bucket, std::string_view key);

}  // namespace imgorigin::ingest
