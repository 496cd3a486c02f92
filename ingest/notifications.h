// Notifications (DESIGN.md §6): the events imgorigin tells other systems about, and their
// delivery as Standard Webhooks (https://www.standardwebhooks.com/, spec 1.0.0) or to SNS.
//
//   image.ready        an original was stored and checked   data: the record, as ToJson() gives it
//   image.failed       its bytes never came or were refused  data: the record
//   image.deleted      the image was deleted                 data: the record (its tombstone)
//   job.dead_lettered  a background job gave up              data: queue, kind, job_id, attempts,
//                                                                  error, payload (when JSON)
//
// An Event is built once, when the thing happened. Its body is the JSON the receiver gets,
// {"type": …, "timestamp": RFC 3339 of when it happened, "data": {…}}, fixed at that moment so
// every retry sends the same bytes. Its id ("msg_" and 32 hex digits) is derived from what
// happened (the record's id and last change; the job's queue, id and attempts), so building the
// same event twice gives the same id: receivers dedupe by webhook-id.
//
// Delivery runs on the "notify" job queue, which gives it retries, backoff and dead letters:
// Notifier::Jobs() turns one event into one job per destination that wants it (each webhook URL,
// the SNS topic), so a failing endpoint never makes a working one receive an event twice, and
// Notifier::Deliver() sends one such job.
//
// A webhook is a POST of the body with Content-Type application/json and
//   webhook-id:        the event's id (the same on every retry)
//   webhook-timestamp: unix seconds of this attempt
//   webhook-signature: "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>", one per configured
//                      secret, space-separated (rotation: receivers accept any that matches)
// Secrets are written as the spec presents them, "whsec_<base64 of 24..64 random bytes>"; the
// decoded bytes are the HMAC key. Redirects are not followed (the spec counts a 3xx as a
// failure); the answer's body is read up to 64 KiB and ignored.
//
// Outcomes of Deliver(): 2xx → kDelivered. 410 Gone → kGone: the endpoint asked for no more
// webhooks, so this process stops sending to it until it restarts (logged as a warning naming the
// URL: remove it from notifications.webhook_urls). A destination no longer configured, or an
// event type its filter no longer takes → kSkipped. Errors, all worth retrying later:
// kUpstreamFailed (any other status, including 3xx and 429, with the status and any Retry-After
// in the message; connection refused or reset), kDeadlineExceeded (no answer within the
// timeout), kUnavailable (the SNS hook is not connected). kInvalidArgument means the job payload
// is not a notify job: retrying cannot help, bury it.
//
// Threads: the Event functions are pure. A Notifier is configured on one thread (Create, then
// ConnectSns); after that Jobs() and Deliver() may be called from any number of threads at once.
// Deliver() blocks on the network for at most the configured timeouts: call it from a worker,
// never from an event loop. Secrets never appear in messages or logs, and webhook URLs appear
// there as scheme://host[:port] only: a webhook URL's path is often a secret itself (Slack's).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ingest/job_queue.h"
#include "ingest/record.h"
#include "storage/curl_client.h"

namespace imgorigin::ingest {

enum class EventType { kImageReady, kImageFailed, kImageDeleted, kJobDeadLettered };

std::string_view EventTypeName(EventType type);  // "image.ready", …
std::optional<EventType> ParseEventType(std::string_view name);
std::vector<EventType> AllEventTypes();

struct Event {
  std::string id;  // "msg_" + 32 lowercase hex digits
  EventType type = EventType::kImageReady;
  std::string body;  // compact JSON: {"type":…,"timestamp":…,"data":…}

  bool operator==(const Event&) const = default;
};

// The event for a record's current status: ready → image.ready, failed → image.failed,
// deleted → image.deleted; pending (nothing happened yet) is kInvalidArgument. The timestamp is
// the record's last change.
common::Result<Event> ImageEvent(const ImageRecord& record);

// job.dead_lettered for `job`, taken from queue `queue` and buried at `at` with `error` (cut to
// kMaxErrorBytes as a record keeps it). The payload is included when it is a JSON object of at
// most 16 KiB (eager jobs name their image there), omitted otherwise.
Event DeadLetterEvent(std::string_view queue, const Job& job, std::string_view error, Timestamp at);

// ---- Standard Webhooks signatures

// The HMAC key of a "whsec_<base64>" secret; kInvalidArgument (never quoting the secret) when the
// prefix is missing, the base64 is malformed or the key is not 24..64 bytes long.
common::Result<std::string> DecodeWebhookSecret(std::string_view secret);

// "v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>".
std::string WebhookSignature(std::string_view key, std::string_view id, int64_t timestamp,
                             std::string_view body);

// The headers of one attempt ("Name: value"): Content-Type, webhook-id, webhook-timestamp,
// webhook-signature (one v1 signature per key, space-separated).
std::vector<std::string> WebhookHeaders(const Event& event, const std::vector<std::string>& keys,
                                        int64_t timestamp);

// ---- Configuration ([notifications] in the server config)

struct NotificationsConfig {
  std::vector<std::string> webhook_urls;     // http(s)://…; empty = no webhooks
  std::vector<std::string> webhook_secrets;  // whsec_…; each signs every delivery
  std::vector<EventType> events;             // types sent; empty = every type
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds timeout{15'000};  // one attempt, answer included (spec: 15–30 s)
  // The SNS topic events are also published to (arn:aws:sns:region:account:name); "" = none.
  std::string sns_topic_arn;

  bool enabled() const { return !webhook_urls.empty() || !sns_topic_arn.empty(); }
  bool Wants(EventType type) const;
  // Webhook URLs need at least one secret; every secret must decode; timeouts 1 ms..5 min with
  // the connect timeout at most the whole; URLs unique, http(s), without spaces.
  common::Result<void> Validate() const;
};

// ---- Delivery

enum class DeliveryOutcome {
  kDelivered,  // a 2xx answer, or SNS accepted it
  kGone,       // 410 Gone: the endpoint is disabled for this process; the event is dropped
  kSkipped,    // the destination or the event type is no longer configured; dropped
};

struct Delivery {
  DeliveryOutcome outcome = DeliveryOutcome::kDelivered;
  long status = 0;     // the HTTP status, 0 for SNS and skipped jobs
  std::string detail;  // a line for the worker's log
};

// POSTs signed events to webhook endpoints, one attempt per call (the queue retries).
class WebhookSender {
 public:
  // `keys` are decoded secrets (DecodeWebhookSecret). Endpoints are the operator's own
  // configuration, so no SSRF guard applies; environment proxies are honoured.
  WebhookSender(std::vector<std::string> keys, std::chrono::milliseconds connect_timeout,
                std::chrono::milliseconds timeout);

  // kDelivered or kGone, or an error as described at the top of this file.
  common::Result<Delivery> Send(const Event& event, const std::string& url,
                                JobClock::time_point now = JobClock::now()) const;

 private:
  std::vector<std::string> keys_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds timeout_;
  storage::CurlClient curl_;
};

// The kind of the jobs Notifier::Jobs() makes, for the worker's dispatch.
inline constexpr std::string_view kNotifyJobKind = "notify";

// One event for one destination: a webhook URL, or kSnsDestination.
struct NotifyJob {
  std::string destination;
  Event event;

  bool operator==(const NotifyJob&) const = default;
};
inline constexpr std::string_view kSnsDestination = "sns";

std::string EncodeNotifyJob(const NotifyJob& job);
// kInvalidArgument unless `payload` is what EncodeNotifyJob writes.
common::Result<NotifyJob> DecodeNotifyJob(std::string_view payload);

class Notifier {
 public:
  // Publishes one event to the SNS topic: the SNS client's job. Errors are retried like a
  // webhook's.
  using SnsPublisher =
      std::function<common::Result<void>(const std::string& topic_arn, const Event& event)>;

  // kInvalidArgument when `config` does not Validate().
  static common::Result<std::unique_ptr<Notifier>> Create(NotificationsConfig config);

  // The hook the SNS client is connected to, before the first Deliver(). Until it is, jobs for
  // the topic fail with kUnavailable (and so wait in the queue, then in its dead letters).
  void ConnectSns(SnsPublisher publish);

  // The notify jobs for `event`: one per webhook URL and one for the SNS topic when the event
  // type is wanted; none otherwise. Enqueue each on the "notify" queue.
  std::vector<NewJob> Jobs(const Event& event) const;

  // Delivers one notify job's payload.
  common::Result<Delivery> Deliver(std::string_view payload) const;

 private:
  explicit Notifier(NotificationsConfig config, std::vector<std::string> keys);

  bool Gone(const std::string& url) const;
  common::Result<Delivery> DeliverToSns(const Event& event) const;
  common::Result<Delivery> DeliverToWebhook(const Event& event, const std::string& url) const;

  NotificationsConfig config_;
  WebhookSender sender_;
  SnsPublisher sns_;
  mutable std::mutex mu_;
  mutable std::set<std::string> gone_;  // URLs that answered 410, guarded by mu_
};

}  // namespace imgorigin::ingest
