// The JobQueue (job_queue.h) on Amazon SQS: one standard queue per JobQueue, and the
// dead-letter queue its redrive policy names. Operators create both (with Terraform, say); this
// class only uses them. The queue's redrive policy (maxReceiveCount) is the backstop job_queue.h
// allows: a job received that many times without an Ack, Retry or Bury (a poison job that kills
// its workers) is moved to the dead-letter queue by SQS itself.
//
// How the contract maps onto SQS:
// - A job is one message: the payload is the body when it is XML-safe text of the Basic
//   Multilingual Plane (SQS refuses other bytes), else it travels in a Binary message attribute
//   (an empty payload is marked as such: SQS bodies cannot be empty). The kind, the job's id,
//   the attempts before this message and the last error are message attributes.
// - Receive = ReceiveMessage (long polling: `wait` in whole seconds, rounded down); attempt =
//   the attempts the message carries + its ApproximateReceiveCount, so a delivery after a
//   worker died counts too. Job::handle is "sqs:" + the receipt handle.
// - Extend = ChangeMessageVisibility.
// - Ack, Retry and Bury first check the handle with ChangeMessageVisibility (SQS refuses the
//   receipt handle of a delivery that is over, MessageNotInflight / ReceiptHandleIsInvalid:
//   kConflict; DeleteMessage alone would not say), then:
//     Ack   DeleteMessage;
//     Retry SendMessage of a copy (DelaySeconds = the delay rounded up to whole seconds, the
//           error and attempts so far as attributes, the same job id), then DeleteMessage: SQS
//           cannot change a message, and a copy is how the next delivery gets its last_error
//           and how a delayed job counts as delayed. The redrive policy then counts deliveries
//           since the last Retry;
//     Bury  SendMessage to the dead-letter queue (error, attempts, burial time), then
//           DeleteMessage.
//   A process that dies between the send and the delete leaves the job twice (at least once).
// - Dead letters (ListDead, Redrive, Purge) are read the only way SQS allows: received from the
//   dead-letter queue, hidden for `scan_visibility` while a call looks at them, and released
//   again (visibility 0) when it is done. Best effort, bounded by `max_scan` messages per call:
//   a letter another reader holds at that moment is missed. DeadLetter::id is
//   "<13-digit burial time in ms>-<SQS MessageId>", so ids sort oldest first and a page cursor
//   stays valid while letters come and go. A letter SQS moved itself carries no burial time:
//   its SentTimestamp stands in, its attempts are those before its last Retry + the policy's
//   maxReceiveCount, and its error says the redrive policy moved it.
//   Redrive sends new jobs (new ids, attempt 1) and deletes the letters; Purge deletes them.
//   Either checks every id it is given is there before it changes anything (kNotFound).
// - Stats = GetQueueAttributes: ApproximateNumberOfMessages (ready), …Delayed (delayed),
//   …NotVisible (in flight), and the dead-letter queue's three counts added up (dead). SQS's
//   counts are approximate and lag by up to a minute on AWS.
// - A message imgorigin did not send (no kind attribute: an S3 event notification, say) is
//   received as a Job with kind "" and the body as payload; Retry and Bury keep it that way.
//
// Errors as job_queue.h says: kInvalidArgument for bad arguments or handles, kConflict for a
// stale handle, kNotFound for dead letters not there, kUnavailable for SQS throttling, 5xx,
// timeouts and missing credentials (aws_api_client.h), kInternal for anything else SQS refuses
// (access denied, a queue deleted under us …). Thread-safe; every call blocks on the network,
// each request bounded by the client's timeouts (plus the long-poll wait).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ingest/job_queue.h"
#include "storage/aws_api_client.h"

namespace imgorigin::ingest {

class SqsJobQueue : public JobQueue {
 public:
  struct Config {
    // The queue: its URL (https://sqs.<region>.amazonaws.com/<account>/<name>) or its name,
    // looked up with GetQueueUrl.
    std::string queue;
    // Its dead-letter queue, URL or name; "" = the one the queue's redrive policy names.
    std::string dead_letter_queue;
    // How long ListDead/Redrive/Purge hide the dead letters they read (1 s..kMaxVisibility);
    // they release them when done, so this only matters when a process dies mid-call.
    std::chrono::seconds scan_visibility{30};
    // Long-poll wait of each dead-letter read (0..20 s): SQS answers a 0 s (short) poll from a
    // sample of its servers, so an empty answer is only trusted after a long poll.
    std::chrono::seconds scan_wait{1};
    int max_scan = 2000;  // dead letters read per call at most (1..100,000)
    // How long Ack/Retry/Bury's handle check hides the job while it finishes (1 s..kMaxVisibility).
    std::chrono::seconds settle_visibility{30};

    common::Result<void> Validate() const;
  };

  // Resolves the queues (GetQueueUrl for names) and reads the queue's redrive policy
  // (GetQueueAttributes). A queue without a dead-letter queue (no redrive policy and none
  // configured) is kInvalidArgument; a missing queue kNotFound; SQS out of reach kUnavailable.
  // `sqs` is an AwsApiClient for service "sqs", shared by every queue of a process.
  static common::Result<std::unique_ptr<SqsJobQueue>> Open(
      std::shared_ptr<const storage::AwsApiClient> sqs, Config config);

  common::Result<std::string> Enqueue(const NewJob& job) override;
  common::Result<std::vector<Job>> Receive(int max, std::chrono::milliseconds wait,
                                           std::chrono::seconds visibility) override;
  common::Result<void> Ack(const Job& job) override;
  common::Result<void> Extend(const Job& job, std::chrono::seconds visibility) override;
  common::Result<void> Retry(const Job& job, std::chrono::milliseconds delay,
                             std::string_view error) override;
  common::Result<void> Bury(const Job& job, std::string_view error) override;
  common::Result<DeadLetterPage> ListDead(std::string_view after, int limit) override;
  common::Result<int64_t> Redrive(const std::vector<std::string>& ids) override;
  common::Result<int64_t> Purge(const std::vector<std::string>& ids) override;
  common::Result<QueueStats> Stats() override;

  const std::string& queue_url() const { return queue_url_; }
  const std::string& dead_letter_url() const { return dead_letter_url_; }
  int max_receive_count() const { return max_receive_count_; }  // 0 = no redrive policy

 private:
  struct Held;  // a dead letter read by a scan, and its receipt handle

  SqsJobQueue(std::shared_ptr<const storage::AwsApiClient> sqs, Config config,
              std::string queue_url, std::string dead_letter_url, int max_receive_count);

  common::Result<nlohmann::json> Call(std::string_view action, nlohmann::json request,
                                      std::chrono::milliseconds wait = {}) const;
  common::Result<std::string> Send(const std::string& url, const nlohmann::json& message) const;
  common::Result<std::string> Settle(const Job& job) const;
  common::Result<void> Delete(const std::string& url, const std::string& receipt) const;
  common::Result<std::vector<Held>> ScanDead() const;
  void Release(const std::vector<Held>& held) const;
  common::Result<std::vector<Held>> Select(const std::vector<std::string>& ids,
                                           std::vector<Held>& held) const;
  DeadLetter Letter(const nlohmann::json& message) const;
  common::Result<std::array<int64_t, 3>> Counts(const std::string& url) const;

  const std::shared_ptr<const storage::AwsApiClient> sqs_;
  const Config config_;
  const std::string queue_url_;
  const std::string dead_letter_url_;
  const int max_receive_count_;
};

}  // namespace imgorigin::ingest
