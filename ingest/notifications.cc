#include "ingest/notifications.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

#include "signing/base64url.h"
#include "storage/digest.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using nlohmann::json;

constexpr std::array<std::pair<EventType, std::string_view>, 4> kEventNames = {{
    {EventType::kImageReady, "image.ready"},
    {EventType::kImageFailed, "image.failed"},
    {EventType::kImageDeleted, "image.deleted"},
    {EventType::kJobDeadLettered, "job.dead_lettered"},
}};

constexpr std::string_view kSecretPrefix = "whsec_";
// The spec's bounds for an HMAC signing secret: 192 to 512 bits.
constexpr size_t kMinSecretBytes = 24;
constexpr size_t kMaxSecretBytes = 64;
constexpr size_t kMaxWebhookUrlBytes = 2048;
constexpr size_t kEventIdHexDigits = 32;
constexpr size_t kMaxPayloadInEvent = 16 * 1024;
constexpr int64_t kMaxAnswerBytes = 64 * 1024;
constexpr std::chrono::minutes kMaxTimeout{5};

// Dumps never throw: text that is not UTF-8 is replaced, not refused.
std::string Compact(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// "msg_" and the first 128 bits of SHA-256 over what identifies the event.
std::string EventId(std::initializer_list<std::string_view> parts) {
  std::string identity;
  for (std::string_view part : parts) {
    identity += part;
    identity += '\n';
  }
  return "msg_" + storage::Sha256Hex(identity).substr(0, kEventIdHexDigits);
}

Event MakeEvent(std::string id, EventType type, Timestamp at, const json& data) {
  // Written by hand so "type" comes first, as in the spec's examples.
  std::string body = "{\"type\":" + Compact(EventTypeName(type)) +
                     ",\"timestamp\":" + Compact(Rfc3339(at)) + ",\"data\":" + Compact(data) + "}";
  return Event{std::move(id), type, std::move(body)};
}

bool IsEventId(std::string_view id) {
  if (!id.starts_with("msg_") || id.size() != 4 + kEventIdHexDigits) return false;
  return std::all_of(id.begin() + 4, id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<void> ValidateWebhookUrl(std::string_view url) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return Fail(ErrorCode::kInvalidArgument, "webhook URL must start with http:// or https://");
  }
  if (url.size() > kMaxWebhookUrlBytes) {
    return Fail(ErrorCode::kInvalidArgument, "webhook URL longer than 2048 bytes");
  }
  if (std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
    return Fail(ErrorCode::kInvalidArgument, "webhook URL holds spaces or control characters");
  }
  return {};
}

// arn:<partition>:sns:<region>:<account>:<topic>
bool IsSnsTopicArn(std::string_view arn) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t colon = arn.find(':', start);
    parts.push_back(arn.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return parts.size() == 6 && parts[0] == "arn" && parts[2] == "sns" &&
         std::none_of(parts.begin(), parts.end(), [](std::string_view p) { return p.empty(); }) &&
         std::none_of(arn.begin(), arn.end(), [](unsigned char c) { return c <= 0x20; });
}

Result<std::vector<std::string>> DecodeSecrets(const std::vector<std::string>& secrets) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < secrets.size(); ++i) {
    auto key = DecodeWebhookSecret(secrets[i]);
    if (!key) {
      return Fail(ErrorCode::kInvalidArgument,
                  "secret #" + std::to_string(i + 1) + ": " + key.error().message);
    }
    keys.push_back(*std::move(key));
  }
  return keys;
}

// scheme://host[:port] of a webhook URL, for messages and logs: the path or query of a webhook
// URL often is its secret (Slack's, Discord's), and so is any user:password@.
std::string Origin(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(malformed URL)";
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return std::string(url.substr(0, scheme_end + 3)) + std::string(authority);
}

std::string RetryAfterNote(const storage::HttpResponse& response) {
  const std::string_view retry_after = response.header("retry-after");
  if (retry_after.empty() || retry_after.size() > 64) return "";
  return " (Retry-After: " + std::string(retry_after) + ")";
}

}  // namespace

std::string_view EventTypeName(EventType type) {
  for (const auto& [t, name] : kEventNames) {
    if (t == type) return name;
  }
  return "unknown";
}

std::optional<EventType> ParseEventType(std::string_view name) {
  for (const auto& [type, n] : kEventNames) {
    if (n == name) return type;
  }
  return std::nullopt;
}

std::vector<EventType> AllEventTypes() {
  std::vector<EventType> types;
  for (const auto& entry : kEventNames) types.push_back(entry.first);
  return types;
}

Result<Event> ImageEvent(const ImageRecord& record) {
  EventType type;
  switch (record.status) {
    case ImageStatus::kReady:
      type = EventType::kImageReady;
      break;
    case ImageStatus::kFailed:
      type = EventType::kImageFailed;
      break;
    case ImageStatus::kDeleted:
      type = EventType::kImageDeleted;
      break;
    default:
      return Fail(ErrorCode::kInvalidArgument,
                  "a pending image has no event yet (image " + record.id + ")");
  }
  const std::string updated = std::to_string(record.updated.time_since_epoch().count());
  return MakeEvent(EventId({EventTypeName(type), record.id, updated}), type, record.updated,
                   ToJson(record));
}

Event DeadLetterEvent(std::string_view queue, const Job& job, std::string_view error,
                      Timestamp at) {
  json data = {{"queue", queue},
               {"kind", job.kind},
               {"job_id", job.id},
               {"attempts", job.attempt},
               {"error", CleanError(error)}};
  if (job.payload.size() <= kMaxPayloadInEvent) {
    json payload = json::parse(job.payload, nullptr, /*allow_exceptions=*/false);
    if (payload.is_object()) data["payload"] = std::move(payload);
  }
  const EventType type = EventType::kJobDeadLettered;
  return MakeEvent(EventId({EventTypeName(type), queue, job.id, std::to_string(job.attempt)}), type,
                   at, data);
}

Result<std::string> DecodeWebhookSecret(std::string_view secret) {
  if (!secret.starts_with(kSecretPrefix)) {
    return Fail(ErrorCode::kInvalidArgument, "a webhook secret is written whsec_<base64>");
  }
  auto key = signing::Base64Decode(secret.substr(kSecretPrefix.size()));
  if (!key) {
    return Fail(ErrorCode::kInvalidArgument, "the part after whsec_ is not valid base64");
  }
  if (key->size() < kMinSecretBytes || key->size() > kMaxSecretBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "a webhook secret must hold 24 to 64 random bytes, this one holds " +
                    std::to_string(key->size()));
  }
  return *std::move(key);
}

std::string WebhookSignature(std::string_view key, std::string_view id, int64_t timestamp,
                             std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  return "v1," + signing::Base64Encode(storage::HmacSha256(key, content));
}

std::vector<std::string> WebhookHeaders(const Event& event, const std::vector<std::string>& keys,
                                        int64_t timestamp) {
  std::string signatures;
  for (const std::string& key : keys) {
    if (!signatures.empty()) signatures += ' ';
    signatures += WebhookSignature(key, event.id, timestamp, event.body);
  }
  return {"Content-Type: application/json", "webhook-id: " + event.id,
          "webhook-timestamp: " + std::to_string(timestamp), "webhook-signature: " + signatures,
          // libcurl would otherwise wait up to a second for "100 Continue" before a large body.
          "Expect:"};
}

bool NotificationsConfig::Wants(EventType type) const {
  return events.empty() || std::find(events.begin(), events.end(), type) != events.end();
}

Result<void> NotificationsConfig::Validate() const {
  for (size_t i = 0; i < webhook_urls.size(); ++i) {
    if (auto r = ValidateWebhookUrl(webhook_urls[i]); !r) return r;
    if (std::find(webhook_urls.begin(), webhook_urls.begin() + static_cast<ptrdiff_t>(i),
                  webhook_urls[i]) != webhook_urls.begin() + static_cast<ptrdiff_t>(i)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "webhook URL listed twice: " + Origin(webhook_urls[i]) + "/…");
    }
  }
  if (!webhook_urls.empty() && webhook_secrets.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "webhooks need a secret (whsec_<base64>) so receivers can verify them");
  }
  if (auto keys = DecodeSecrets(webhook_secrets); !keys) return std::unexpected(keys.error());
  if (connect_timeout.count() <= 0 || connect_timeout > timeout) {
    return Fail(ErrorCode::kInvalidArgument,
                "the connect timeout must be > 0 and at most the whole timeout");
  }
  if (timeout > kMaxTimeout) {
    return Fail(ErrorCode::kInvalidArgument, "the webhook timeout must be at most 5 minutes");
  }
  if (!sns_topic_arn.empty() && !IsSnsTopicArn(sns_topic_arn)) {
    return Fail(ErrorCode::kInvalidArgument,
                "the SNS topic must be an ARN: arn:aws:sns:<region>:<account>:<topic>");
  }
  return {};
}

WebhookSender::WebhookSender(std::vector<std::string> keys,
                             std::chrono::milliseconds connect_timeout,
                             std::chrono::milliseconds timeout)
    : keys_(std::move(keys)), connect_timeout_(connect_timeout), timeout_(timeout) {}

Result<Delivery> WebhookSender::Send(const Event& event, const std::string& url,
                                     JobClock::time_point now) const {
  const int64_t timestamp =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  storage::HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = WebhookHeaders(event, keys_, timestamp);
  request.body = event.body;
  request.connect_timeout = connect_timeout_;
  request.timeout = timeout_;
  request.max_bytes = kMaxAnswerBytes;
  request.what = "webhook " + Origin(url);
  auto response = curl_.Perform(request);
  if (!response) {
    // Only a 2xx answer's body is held to max_bytes: an endpoint that took the event and then
    // talked too much still took it.
    if (response.error().code == ErrorCode::kTooLarge) {
      return Delivery{DeliveryOutcome::kDelivered, 200, "delivered (answer body cut short)"};
    }
    return std::unexpected(response.error());
  }
  const long status = response->status;
  if (status >= 200 && status <= 299) {
    return Delivery{DeliveryOutcome::kDelivered, status, "delivered"};
  }
  if (status == 410) {
    return Delivery{DeliveryOutcome::kGone, status,
                    "410 Gone: the endpoint asked for no more webhooks"};
  }
  return Fail(ErrorCode::kUpstreamFailed,
              request.what + " answered " + std::to_string(status) + RetryAfterNote(*response));
}

std::string EncodeNotifyJob(const NotifyJob& job) {
  return Compact(json{{"to", job.destination},
                      {"id", job.event.id},
                      {"type", EventTypeName(job.event.type)},
                      {"body", job.event.body}});
}

Result<NotifyJob> DecodeNotifyJob(std::string_view payload) {
  const json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  auto text = [&doc](const char* name) -> std::optional<std::string> {
    if (!doc.is_object()) return std::nullopt;
    auto it = doc.find(name);
    if (it == doc.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const auto to = text("to");
  const auto id = text("id");
  const auto type_name = text("type");
  const auto body = text("body");
  const auto type = type_name ? ParseEventType(*type_name) : std::nullopt;
  if (!to || to->empty() || !id || !IsEventId(*id) || !type || !body || body->empty()) {
    return Fail(ErrorCode::kInvalidArgument, "not a notify job payload");
  }
  return NotifyJob{*to, Event{*id, *type, *body}};
}

Result<std::unique_ptr<Notifier>> Notifier::Create(NotificationsConfig config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto keys = DecodeSecrets(config.webhook_secrets);
  if (!keys) return std::unexpected(keys.error());
  return std::unique_ptr<Notifier>(new Notifier(std::move(config), *std::move(keys)));
}

Notifier::Notifier(NotificationsConfig config, std::vector<std::string> keys)
    : config_(std::move(config)),
      sender_(std::move(keys), config_.connect_timeout, config_.timeout) {}

void Notifier::ConnectSns(SnsPublisher publish) { sns_ = std::move(publish); }

std::vector<NewJob> Notifier::Jobs(const Event& event) const {
  std::vector<NewJob> jobs;
  if (!config_.Wants(event.type)) return jobs;
  auto add = [&](const std::string& destination) {
    jobs.push_back(NewJob{std::string(kNotifyJobKind), EncodeNotifyJob({destination, event}), {}});
  };
  for (const std::string& url : config_.webhook_urls) add(url);
  if (!config_.sns_topic_arn.empty()) add(std::string(kSnsDestination));
  return jobs;
}

Result<Delivery> Notifier::Deliver(std::string_view payload) const {
  auto job = DecodeNotifyJob(payload);
  if (!job) return std::unexpected(job.error());
  if (!config_.Wants(job->event.type)) {
    return Delivery{DeliveryOutcome::kSkipped, 0,
                    std::string(EventTypeName(job->event.type)) + " is no longer sent"};
  }
  if (job->destination == kSnsDestination) return DeliverToSns(job->event);
  return DeliverToWebhook(job->event, job->destination);
}

bool Notifier::Gone(const std::string& url) const {
  std::lock_guard lock(mu_);
  return gone_.contains(url);
}

Result<Delivery> Notifier::DeliverToSns(const Event& event) const {
  if (config_.sns_topic_arn.empty()) {
    return Delivery{DeliveryOutcome::kSkipped, 0, "no SNS topic is configured any more"};
  }
  if (!sns_) {
    return Fail(ErrorCode::kUnavailable,
                "notifications.sns_topic_arn is set but no SNS publisher is connected");
  }
  if (auto r = sns_(config_.sns_topic_arn, event); !r) return std::unexpected(r.error());
  return Delivery{DeliveryOutcome::kDelivered, 0, "published to " + config_.sns_topic_arn};
}

Result<Delivery> Notifier::DeliverToWebhook(const Event& event, const std::string& url) const {
  if (std::find(config_.webhook_urls.begin(), config_.webhook_urls.end(), url) ==
      config_.webhook_urls.end()) {
    return Delivery{DeliveryOutcome::kSkipped, 0,
                    "webhook " + Origin(url) + " is no longer configured"};
  }
  if (Gone(url)) {
    return Delivery{DeliveryOutcome::kSkipped, 0,
                    "webhook " + Origin(url) + " answered 410 Gone earlier; not sent"};
  }
  auto delivery = sender_.Send(event, url);
  if (delivery && delivery->outcome == DeliveryOutcome::kGone) {
    std::lock_guard lock(mu_);
    if (gone_.insert(url).second) {
      spdlog::warn(
          "webhook {} answered 410 Gone: no more events are sent to it until restart; remove it "
          "from notifications.webhook_urls",
          Origin(url));
    }
  }
  return delivery;
}

}  // namespace imgorigin::ingest
