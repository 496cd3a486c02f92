#include "ingest/sqs_job_queue.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>
#include <set>
#include <thread>
#include <utility>

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using common::Fail;
using common::Result;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Message attributes (SQS allows 10 per message).
constexpr char kKindAttr[] = "kind";           // String; absent: not sent by imgorigin
constexpr char kJobIdAttr[] = "job_id";        // String; absent: the job id is the MessageId
constexpr char kAttemptsAttr[] = "attempts";   // Number: deliveries before this message
constexpr char kErrorAttr[] = "error";         // String: the last Retry's or the burial's error
constexpr char kEncodingAttr[] = "encoding";   // String: "binary" or "empty"; absent: body
constexpr char kPayloadAttr[] = "payload";     // Binary: the payload when encoding is "binary"
constexpr char kBuriedAtAttr[] = "buried_at";  // Number: unix ms of Bury()
constexpr char kPlaceholderBody[] = "-";       // SQS bodies cannot be empty
constexpr char kHandlePrefix[] = "sqs:";
constexpr size_t kMaxReceiptBytes = 4096;
constexpr int kBatch = 10;  // SQS's batch limit (receive, change visibility)

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

json StringAttr(std::string_view value) {
  return json{{"DataType", "String"}, {"StringValue", value}};
}

json NumberAttr(int64_t value) {
  return json{{"DataType", "Number"}, {"StringValue", std::to_string(value)}};
}

// What SendMessage needs besides QueueUrl: body and attributes for a job's kind and payload.
json MessageFor(std::string_view kind, std::string_view payload) {
  json attrs = json::object();
  if (!kind.empty()) attrs[kKindAttr] = StringAttr(kind);
  json message = json::object();
  // Text beyond the BMP goes binary too: one SQS emulator (fauxqs) refuses it in bodies.
  if (!payload.empty() && storage::IsAwsText(payload, /*beyond_bmp=*/false)) {
    message["MessageBody"] = payload;
  } else {
    message["MessageBody"] = kPlaceholderBody;
    attrs[kEncodingAttr] = StringAttr(payload.empty() ? "empty" : "binary");
    if (!payload.empty()) {
      attrs[kPayloadAttr] = json{{"DataType", "Binary"}, {"BinaryValue", Base64Encode(payload)}};
    }
  }
  message["MessageAttributes"] = std::move(attrs);
  return message;
}

// SQS text for an attribute: CleanJobError() leaves UTF-8 without control characters, which
// SQS takes; an empty value is not allowed, so an empty error is left out.
void SetError(json& message, std::string_view error) {
  std::string cleaned = CleanJobError(error);
  if (!cleaned.empty()) message["MessageAttributes"][kErrorAttr] = StringAttr(cleaned);
}

std::string AttrString(const json& message, std::string_view name) {
  auto attrs = message.find("MessageAttributes");
  if (attrs == message.end() || !attrs->is_object()) return "";
  auto attr = attrs->find(name);
  if (attr == attrs->end() || !attr->is_object()) return "";
  for (const char* field : {"StringValue", "BinaryValue"}) {
    auto value = attr->find(field);
    if (value != attr->end() && value->is_string()) return value->get<std::string>();
  }
  return "";
}

std::string Field(const json& object, std::string_view name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t ToInt(std::string_view text, int64_t fallback = 0) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : fallback;
}

int64_t SystemAttr(const json& message, std::string_view name) {
  auto attrs = message.find("Attributes");
  if (attrs == message.end() || !attrs->is_object()) return 0;
  return ToInt(Field(*attrs, name));
}

struct Decoded {
  std::string kind;
  std::string payload;
};

// A message's kind and payload; a message whose encoding makes no sense is taken as foreign:
// kind "" and the body as it came.
Decoded Decode(const json& message) {
  const std::string encoding = AttrString(message, kEncodingAttr);
  Decoded decoded{AttrString(message, kKindAttr), Field(message, "Body")};
  if (encoding == "empty") {
    decoded.payload.clear();
  } else if (encoding == "binary") {
    auto bytes = Base64Decode(AttrString(message, kPayloadAttr));
    if (!bytes) return {"", Field(message, "Body")};
    decoded.payload = *std::move(bytes);
  } else if (!encoding.empty()) {
    return {"", Field(message, "Body")};
  }
  return decoded;
}

Result<std::string> ReceiptOf(const Job& job) {
  std::string_view handle = job.handle;
  if (!handle.starts_with(kHandlePrefix) || handle.size() == sizeof kHandlePrefix - 1 ||
      handle.size() > kMaxReceiptBytes ||
      !std::all_of(handle.begin(), handle.end(),
                   [](unsigned char c) { return c > 0x20 && c < 0x7f; })) {
    return Fail(ErrorCode::kInvalidArgument, "not a handle of an SQS job delivery");
  }
  return std::string(handle.substr(sizeof kHandlePrefix - 1));
}

std::string DeadLetterId(int64_t buried_ms, std::string_view message_id) {
  char time[24];
  std::snprintf(time, sizeof time, "%013lld",
                static_cast<long long>(std::max<int64_t>(buried_ms, 0)));
  return std::string(time) + "-" + std::string(message_id);
}

bool IsDeadLetterId(std::string_view id) {
  return id.size() > 14 && id.size() <= 14 + 128 && id[13] == '-' &&
         std::all_of(id.begin(), id.begin() + 13,
                     [](unsigned char c) { return std::isdigit(c); }) &&
         std::all_of(id.begin() + 14, id.end(),
                     [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(JobClock::now().time_since_epoch()).count();
}

// SQS's answer as the contract's error: stale handles are kConflict (on AWS an expired handle
// is also "InvalidParameterValue … ReceiptHandle … is invalid"), out of reach kUnavailable, our
// own argument checks kInvalidArgument, anything else SQS refuses kInternal.
common::Error ForContract(common::Error error) {
  switch (error.code) {
    case ErrorCode::kConflict:
    case ErrorCode::kUnavailable:
    case ErrorCode::kInvalidArgument:
      return error;
    case ErrorCode::kUpstreamFailed:
      if (error.message.find("InvalidParameterValue") != std::string::npos &&
          error.message.find("ReceiptHandle") != std::string::npos) {
        return {ErrorCode::kConflict, std::move(error.message)};
      }
      [[fallthrough]];
    default:
      return {ErrorCode::kInternal, std::move(error.message)};
  }
}

bool IsUrl(std::string_view text) {
  return text.starts_with("https://") || text.starts_with("http://");
}

// A queue's URL: `queue` itself when it is one, else GetQueueUrl (owned by `account` if given).
Result<std::string> QueueUrl(const storage::AwsApiClient& sqs, const std::string& queue,
                             const std::string& account = "") {
  if (IsUrl(queue)) return queue;
  json request = {{"QueueName", queue}};
  if (!account.empty()) request["QueueOwnerAWSAccountId"] = account;
  auto answer = sqs.CallJson("AmazonSQS.GetQueueUrl", request);
  if (!answer) return std::unexpected(answer.error());
  std::string url = Field(*answer, "QueueUrl");
  if (!IsUrl(url)) {
    return Fail(ErrorCode::kUpstreamFailed, "SQS GetQueueUrl: no URL for queue \"" + queue + "\"");
  }
  return url;
}

struct RedrivePolicy {
  std::string dead_letter_arn;
  int max_receive_count = 0;
};

Result<RedrivePolicy> ReadRedrivePolicy(const storage::AwsApiClient& sqs, const std::string& url) {
  auto answer =
      sqs.CallJson("AmazonSQS.GetQueueAttributes",
                   {{"QueueUrl", url}, {"AttributeNames", json::array({"RedrivePolicy"})}});
  if (!answer) return std::unexpected(answer.error());
  RedrivePolicy policy;
  auto attrs = answer->find("Attributes");
  if (attrs == answer->end() || !attrs->is_object()) return policy;
  auto doc = json::parse(Field(*attrs, "RedrivePolicy"), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return policy;
  policy.dead_letter_arn = Field(doc, "deadLetterTargetArn");
  auto count = doc.find("maxReceiveCount");
  if (count != doc.end() && count->is_number_integer()) {
    policy.max_receive_count = count->get<int>();
  } else if (count != doc.end() && count->is_string()) {
    policy.max_receive_count = static_cast<int>(ToInt(count->get<std::string>()));
  }
  return policy;
}

// arn:aws:sqs:<region>:<account>:<name> → {account, name}.
std::optional<std::pair<std::string, std::string>> SplitQueueArn(std::string_view arn) {
  std::vector<std::string_view> parts;
  while (parts.size() < 5) {
    size_t colon = arn.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    parts.push_back(arn.substr(0, colon));
    arn.remove_prefix(colon + 1);
  }
  if (parts[0] != "arn" || parts[2] != "sqs" || arn.empty()) return std::nullopt;
  return std::pair{std::string(parts[4]), std::string(arn)};
}

}  // namespace

struct SqsJobQueue::Held {
  DeadLetter letter;
  std::string receipt;
  std::string message_id;
};

Result<void> SqsJobQueue::Config::Validate() const {
  auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, std::move(what)); };
  if (queue.empty()) return bad("the SQS job queue needs a queue URL or name");
  if (scan_visibility < seconds(1) || scan_visibility > kMaxVisibility ||
      settle_visibility < seconds(1) || settle_visibility > kMaxVisibility) {
    return bad("SQS visibility timeouts are 1 s to 12 h");
  }
  if (scan_wait < seconds(0) || scan_wait > seconds(20)) {
    return bad("the SQS dead-letter scan wait is 0 to 20 s");
  }
  if (max_scan < 1 || max_scan > 100'000) return bad("the SQS dead-letter scan reads 1 to 100,000");
  return {};
}

Result<std::unique_ptr<SqsJobQueue>> SqsJobQueue::Open(
    std::shared_ptr<const storage::AwsApiClient> sqs, Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  if (!sqs) return Fail(ErrorCode::kInvalidArgument, "the SQS job queue needs an SQS client");
  auto queue_url = QueueUrl(*sqs, config.queue);
  if (!queue_url) return std::unexpected(queue_url.error());
  auto policy = ReadRedrivePolicy(*sqs, *queue_url);
  if (!policy) return std::unexpected(policy.error());
  Result<std::string> dead_url = Fail(
      ErrorCode::kInvalidArgument,
      "SQS queue " + *queue_url + " has no redrive policy and no dead-letter queue is configured");
  if (!config.dead_letter_queue.empty()) {
    dead_url = QueueUrl(*sqs, config.dead_letter_queue);
  } else if (auto arn = SplitQueueArn(policy->dead_letter_arn)) {
    dead_url = QueueUrl(*sqs, arn->second, arn->first);
  }
  if (!dead_url) return std::unexpected(dead_url.error());
  return std::unique_ptr<SqsJobQueue>(new SqsJobQueue(std::move(sqs), std::move(config),
                                                      *std::move(queue_url), *std::move(dead_url),
                                                      policy->max_receive_count));
}

SqsJobQueue::SqsJobQueue(std::shared_ptr<const storage::AwsApiClient> sqs, Config config,
                         std::string queue_url, std::string dead_letter_url, int max_receive_count)
    : sqs_(std::move(sqs)),
      config_(std::move(config)),
      queue_url_(std::move(queue_url)),
      dead_letter_url_(std::move(dead_letter_url)),
      max_receive_count_(max_receive_count) {}

Result<json> SqsJobQueue::Call(std::string_view action, json request, milliseconds wait) const {
  auto answer = sqs_->CallJson("AmazonSQS." + std::string(action), request, wait);
  if (!answer) return std::unexpected(ForContract(answer.error()));
  return answer;
}

Result<std::string> SqsJobQueue::Send(const std::string& url, const json& message) const {
  json request = message;
  request["QueueUrl"] = url;
  auto answer = Call("SendMessage", std::move(request));
  if (!answer) return std::unexpected(answer.error());
  std::string id = Field(*answer, "MessageId");
  if (id.empty()) return Fail(ErrorCode::kInternal, "SQS SendMessage: the answer has no MessageId");
  return id;
}

Result<void> SqsJobQueue::Delete(const std::string& url, const std::string& receipt) const {
  auto answer = Call("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", receipt}});
  if (!answer) return std::unexpected(answer.error());
  return {};
}

// Proves the handle is the current delivery's (SQS refuses a stale one) and keeps the job
// hidden while the caller finishes with it; returns the receipt handle.
Result<std::string> SqsJobQueue::Settle(const Job& job) const {
  auto receipt = ReceiptOf(job);
  if (!receipt) return std::unexpected(receipt.error());
  auto answer =
      Call("ChangeMessageVisibility", {{"QueueUrl", queue_url_},
                                       {"ReceiptHandle", *receipt},
                                       {"VisibilityTimeout", config_.settle_visibility.count()}});
  if (!answer) return std::unexpected(answer.error());
  return receipt;
}

Result<std::string> SqsJobQueue::Enqueue(const NewJob& job) {
  if (auto r = ValidateNewJob(job); !r) return std::unexpected(r.error());
  json message = MessageFor(job.kind, job.payload);
  message["DelaySeconds"] = (job.delay.count() + 999) / 1000;
  return Send(queue_url_, message);
}

Result<std::vector<Job>> SqsJobQueue::Receive(int max, milliseconds wait, seconds visibility) {
  if (auto r = ValidateReceive(max, wait, visibility); !r) return std::unexpected(r.error());
  // SQS long-polls in whole seconds: the whole ones first, then (still empty) the rest of the
  // wait slept and one short poll, so a 400 ms wait neither returns at once nor lasts 1 s.
  const auto wait_seconds = std::chrono::duration_cast<seconds>(wait);
  auto receive = [&](seconds long_poll) {
    return Call("ReceiveMessage",
                {{"QueueUrl", queue_url_},
                 {"MaxNumberOfMessages", max},
                 {"WaitTimeSeconds", long_poll.count()},
                 {"VisibilityTimeout", visibility.count()},
                 {"AttributeNames", json::array({"ApproximateReceiveCount"})},
                 {"MessageAttributeNames", json::array({"All"})}},
                long_poll);
  };
  auto answer = receive(wait_seconds);
  if (answer && !answer->contains("Messages") && wait > wait_seconds) {
    std::this_thread::sleep_for(wait - wait_seconds);
    answer = receive(seconds(0));
  }
  if (!answer) return std::unexpected(answer.error());
  std::vector<Job> jobs;
  auto messages = answer->find("Messages");
  if (messages == answer->end() || !messages->is_array()) return jobs;
  for (const json& message : *messages) {
    const std::string receipt = Field(message, "ReceiptHandle");
    if (!message.is_object() || receipt.empty()) continue;
    Decoded decoded = Decode(message);
    Job job;
    job.id = AttrString(message, kJobIdAttr);
    if (job.id.empty()) job.id = Field(message, "MessageId");
    job.kind = std::move(decoded.kind);
    job.payload = std::move(decoded.payload);
    job.attempt =
        static_cast<int>(ToInt(AttrString(message, kAttemptsAttr)) +
                         std::max<int64_t>(SystemAttr(message, "ApproximateReceiveCount"), 1));
    job.last_error = AttrString(message, kErrorAttr);
    job.handle = kHandlePrefix + receipt;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<void> SqsJobQueue::Ack(const Job& job) {
  auto receipt = Settle(job);
  if (!receipt) return std::unexpected(receipt.error());
  return Delete(queue_url_, *receipt);
}

Result<void> SqsJobQueue::Extend(const Job& job, seconds visibility) {
  if (auto r = ValidateVisibility(visibility); !r) return r;
  auto receipt = ReceiptOf(job);
  if (!receipt) return std::unexpected(receipt.error());
  auto answer = Call("ChangeMessageVisibility", {{"QueueUrl", queue_url_},
                                                 {"ReceiptHandle", *receipt},
                                                 {"VisibilityTimeout", visibility.count()}});
  if (!answer) return std::unexpected(answer.error());
  return {};
}

Result<void> SqsJobQueue::Retry(const Job& job, milliseconds delay, std::string_view error) {
  if (auto r = ValidateDelay(delay); !r) return r;
  auto receipt = Settle(job);
  if (!receipt) return std::unexpected(receipt.error());
  json copy = MessageFor(job.kind, job.payload);
  copy["MessageAttributes"][kJobIdAttr] = StringAttr(job.id);
  copy["MessageAttributes"][kAttemptsAttr] = NumberAttr(job.attempt);
  SetError(copy, error);
  copy["DelaySeconds"] = (delay.count() + 999) / 1000;
  if (auto sent = Send(queue_url_, copy); !sent) return std::unexpected(sent.error());
  return Delete(queue_url_, *receipt);
}

Result<void> SqsJobQueue::Bury(const Job& job, std::string_view error) {
  auto receipt = Settle(job);
  if (!receipt) return std::unexpected(receipt.error());
  json letter = MessageFor(job.kind, job.payload);
  letter["MessageAttributes"][kJobIdAttr] = StringAttr(job.id);
  letter["MessageAttributes"][kAttemptsAttr] = NumberAttr(job.attempt);
  letter["MessageAttributes"][kBuriedAtAttr] = NumberAttr(NowMs());
  SetError(letter, error);
  if (auto sent = Send(dead_letter_url_, letter); !sent) return std::unexpected(sent.error());
  return Delete(queue_url_, *receipt);
}

DeadLetter SqsJobQueue::Letter(const json& message) const {
  Decoded decoded = Decode(message);
  const std::string buried_at = AttrString(message, kBuriedAtAttr);
  const int64_t attempts_before = ToInt(AttrString(message, kAttemptsAttr));
  std::string error = AttrString(message, kErrorAttr);
  DeadLetter letter;
  letter.kind = std::move(decoded.kind);
  letter.payload = std::move(decoded.payload);
  int64_t buried_ms = ToInt(buried_at, -1);
  if (buried_ms >= 0) {
    letter.attempts = static_cast<int>(attempts_before);
    letter.error = std::move(error);
  } else {  // moved by the redrive policy, after max_receive_count_ deliveries of this message
    buried_ms = SystemAttr(message, "SentTimestamp");
    letter.attempts = static_cast<int>(attempts_before + max_receive_count_);
    letter.error = CleanJobError("delivered " + std::to_string(letter.attempts) +
                                 " times without an ack: the queue's redrive policy moved it" +
                                 (error.empty() ? "" : " (last error: " + error + ")"));
  }
  letter.id = DeadLetterId(buried_ms, Field(message, "MessageId"));
  letter.buried_at = JobClock::time_point(milliseconds(buried_ms));
  return letter;
}

// Reads dead letters until the queue answers none, max_scan were read or half the scan
// visibility has passed (so none of them shows up again); oldest first.
Result<std::vector<SqsJobQueue::Held>> SqsJobQueue::ScanDead() const {
  std::vector<Held> held;
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + config_.scan_visibility / 2;
  while (static_cast<int>(held.size()) < config_.max_scan &&
         std::chrono::steady_clock::now() < deadline) {
    const int max = std::min(kBatch, config_.max_scan - static_cast<int>(held.size()));
    auto answer = Call("ReceiveMessage",
                       {{"QueueUrl", dead_letter_url_},
                        {"MaxNumberOfMessages", max},
                        {"WaitTimeSeconds", config_.scan_wait.count()},
                        {"VisibilityTimeout", config_.scan_visibility.count()},
                        {"AttributeNames", json::array({"SentTimestamp"})},
                        {"MessageAttributeNames", json::array({"All"})}},
                       config_.scan_wait);
    if (!answer) {
      Release(held);
      return std::unexpected(answer.error());
    }
    auto messages = answer->find("Messages");
    if (messages == answer->end() || !messages->is_array() || messages->empty()) break;
    for (const json& message : *messages) {
      Held one{Letter(message), Field(message, "ReceiptHandle"), Field(message, "MessageId")};
      if (one.receipt.empty() || !seen.insert(one.message_id).second) continue;
      held.push_back(std::move(one));
    }
  }
  std::sort(held.begin(), held.end(),
            [](const Held& a, const Held& b) { return a.letter.id < b.letter.id; });
  return held;
}

// Makes letters a scan read visible again; best effort (they come back after the scan
// visibility anyway).
void SqsJobQueue::Release(const std::vector<Held>& held) const {
  for (size_t start = 0; start < held.size(); start += kBatch) {
    json entries = json::array();
    for (size_t i = start; i < std::min(held.size(), start + kBatch); ++i) {
      entries.push_back({{"Id", std::to_string(i)},
                         {"ReceiptHandle", held[i].receipt},
                         {"VisibilityTimeout", 0}});
    }
    (void)Call("ChangeMessageVisibilityBatch",
               {{"QueueUrl", dead_letter_url_}, {"Entries", std::move(entries)}});
  }
}

// Moves the letters named by `ids` (all of them when `ids` is empty) out of `held`; kNotFound
// (and `held` untouched) when one is not there, kInvalidArgument for an id that cannot be one.
Result<std::vector<SqsJobQueue::Held>> SqsJobQueue::Select(const std::vector<std::string>& ids,
                                                           std::vector<Held>& held) const {
  if (ids.empty()) return std::exchange(held, {});
  std::set<std::string_view> wanted(ids.begin(), ids.end());
  for (std::string_view id : wanted) {
    if (!IsDeadLetterId(id)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "\"" + std::string(id) + "\" is not a dead letter id");
    }
    if (std::none_of(held.begin(), held.end(), [&](const Held& h) { return h.letter.id == id; })) {
      return Fail(ErrorCode::kNotFound, "no dead letter " + std::string(id));
    }
  }
  std::vector<Held> chosen;
  std::vector<Held> rest;
  for (Held& h : held) (wanted.contains(h.letter.id) ? chosen : rest).push_back(std::move(h));
  held = std::move(rest);
  return chosen;
}

Result<DeadLetterPage> SqsJobQueue::ListDead(std::string_view after, int limit) {
  if (auto r = ValidateDeadLetterPage(limit); !r) return std::unexpected(r.error());
  if (!after.empty() && !IsDeadLetterId(after)) {
    return Fail(ErrorCode::kInvalidArgument,
                "\"" + std::string(after) + "\" is not a dead letter id");
  }
  auto held = ScanDead();
  if (!held) return std::unexpected(held.error());
  Release(*held);
  DeadLetterPage page;
  for (Held& h : *held) {
    if (h.letter.id <= after) continue;
    if (static_cast<int>(page.letters.size()) == limit) {
      page.next_after = page.letters.back().id;
      break;
    }
    page.letters.push_back(std::move(h.letter));
  }
  return page;
}

Result<int64_t> SqsJobQueue::Redrive(const std::vector<std::string>& ids) {
  auto held = ScanDead();
  if (!held) return std::unexpected(held.error());
  auto chosen = Select(ids, *held);
  Release(*held);
  if (!chosen) return std::unexpected(chosen.error());
  int64_t moved = 0;
  for (size_t i = 0; i < chosen->size(); ++i) {
    const Held& h = (*chosen)[i];
    auto sent = Send(queue_url_, MessageFor(h.letter.kind, h.letter.payload));
    Result<void> done =
        sent ? Delete(dead_letter_url_, h.receipt) : Result<void>(std::unexpected(sent.error()));
    if (!done) {
      Release(std::vector<Held>(chosen->begin() + static_cast<ptrdiff_t>(i), chosen->end()));
      return std::unexpected(done.error());
    }
    ++moved;
  }
  return moved;
}

Result<int64_t> SqsJobQueue::Purge(const std::vector<std::string>& ids) {
  auto held = ScanDead();
  if (!held) return std::unexpected(held.error());
  auto chosen = Select(ids, *held);
  Release(*held);
  if (!chosen) return std::unexpected(chosen.error());
  int64_t deleted = 0;
  for (size_t i = 0; i < chosen->size(); ++i) {
    if (auto done = Delete(dead_letter_url_, (*chosen)[i].receipt); !done) {
      Release(std::vector<Held>(chosen->begin() + static_cast<ptrdiff_t>(i), chosen->end()));
      return std::unexpected(done.error());
    }
    ++deleted;
  }
  return deleted;
}

// {ready, delayed, in flight} as SQS counts them (approximately).
Result<std::array<int64_t, 3>> SqsJobQueue::Counts(const std::string& url) const {
  static constexpr std::array<const char*, 3> kNames = {"ApproximateNumberOfMessages",
                                                        "ApproximateNumberOfMessagesDelayed",
                                                        "ApproximateNumberOfMessagesNotVisible"};
  auto answer = Call("GetQueueAttributes", {{"QueueUrl", url}, {"AttributeNames", kNames}});
  if (!answer) return std::unexpected(answer.error());
  auto attrs = answer->find("Attributes");
  std::array<int64_t, 3> counts{};
  if (attrs == answer->end()) return counts;
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = ToInt(Field(*attrs, kNames[i]));
  return counts;
}

Result<QueueStats> SqsJobQueue::Stats() {
  auto queue = Counts(queue_url_);
  if (!queue) return std::unexpected(queue.error());
  auto dead = Counts(dead_letter_url_);
  if (!dead) return std::unexpected(dead.error());
  return QueueStats{.ready = (*queue)[0],
                    .delayed = (*queue)[1],
                    .in_flight = (*queue)[2],
                    .dead = (*dead)[0] + (*dead)[1] + (*dead)[2]};
}

}  // namespace imgorigin::ingest
