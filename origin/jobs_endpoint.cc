#include "origin/jobs_endpoint.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "ingest/s3_event.h"
#include "origin/jobs_setup.h"
#include "origin/off_loop.h"
#include "origin/replies.h"

namespace imgorigin::origin {

using common::ErrorCode;
using common::Result;
using nlohmann::json;

namespace {

constexpr int kDefaultDeadLetterLimit = 100;

// The queue a request names ("jobs" when it names none); null when there is no such queue here.
ingest::JobQueue* QueueNamed(const IngestServices& ingest, std::string_view name) {
  return ingest.jobs == nullptr ? nullptr : ingest.jobs->queue(name.empty() ? "jobs" : name);
}

json Outcome(ingest::Arrivals::S3Outcome outcome) {
  switch (outcome) {
    case ingest::Arrivals::S3Outcome::kCreated:
      return "created";
    case ingest::Arrivals::S3Outcome::kChanged:
      return "changed";
    case ingest::Arrivals::S3Outcome::kRemoved:
      return "removed";
    case ingest::Arrivals::S3Outcome::kUnchanged:
      return "unchanged";
    case ingest::Arrivals::S3Outcome::kIgnored:
      return "ignored";
  }
  return "unchanged";
}

}  // namespace

void JobsEndpoint::Handle(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  if (!Authorize(ex, config_.api_key)) return;
  if (ingest_ == nullptr || ingest_->jobs == nullptr) {
    return ReplyJsonError(
        ex, {ErrorCode::kNotFound, "jobs are off on this server: set ingest.enabled"});
  }
  const std::string_view path = ex.path();
  if (path == kDeadLettersPath) {
    if (!ex.is_get_or_head()) return ReplyMethodNotAllowed(ex, "GET, HEAD");
    return List(exchange);
  }
  if (!ex.is_post()) return ReplyMethodNotAllowed(ex, "POST");
  if (path == kEventsPath) return Events(exchange);
  Redrive(exchange);
}

void JobsEndpoint::Events(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  auto body = ex.body(Server::kMaxBufferedBody);
  if (!body) return ReplyJsonError(ex, {ErrorCode::kTooLarge, "request body too large"});
  auto events = ingest::ParseS3Events(*body);
  if (!events) return ReplyJsonError(ex, events.error());
  ingest::Arrivals& arrivals = ingest_->jobs->arrivals();
  const ingest::S3EventFilter& filter = config_.ingest.events;
  RunOffLoop<json>(
      io_, exchange,
      [&arrivals, &filter, events = *std::move(events)]() -> Result<json> {
        json results = json::array();
        for (const ingest::S3Event& event : events) {
          json result = {{"bucket", event.bucket}, {"key", event.key}};
          if (!filter.Matches(event)) {
            result["outcome"] = Outcome(ingest::Arrivals::S3Outcome::kIgnored);
          } else {
            // A failure stops here: S3 (or the sender) delivers the document again, and the
            // records already acted on find what they made.
            auto outcome = arrivals.ApplyS3Event(event);
            if (!outcome) return std::unexpected(outcome.error());
            result["outcome"] = Outcome(*outcome);
          }
          results.push_back(std::move(result));
        }
        return json{{"records", std::move(results)}};
      },
      [](Exchange& ex, Result<json>& answer) {
        if (!answer) return ReplyJsonError(ex, answer.error());
        ReplyJson(ex, 200, *answer);
      });
}

void JobsEndpoint::List(const ExchangePtr& exchange) {
  const std::string target(exchange->target());
  ingest::JobQueue* queue = QueueNamed(*ingest_, QueryParameter(target, "queue").value_or(""));
  if (queue == nullptr) return ReplyJsonError(*exchange, {ErrorCode::kNotFound, "no such queue"});
  const std::string after = QueryParameter(target, "after").value_or("");
  int limit = kDefaultDeadLetterLimit;
  if (auto text = QueryParameter(target, "limit")) {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc() || end != text->data() + text->size()) limit = 0;  // refused below
  }
  if (auto valid = ingest::ValidateDeadLetterPage(limit); !valid) {
    return ReplyJsonError(*exchange, valid.error());
  }
  RunOffLoop<ingest::DeadLetterPage>(
      io_, exchange, [queue, after, limit] { return queue->ListDead(after, limit); },
      [](Exchange& ex, Result<ingest::DeadLetterPage>& page) {
        if (!page) return ReplyJsonError(ex, page.error());
        json letters = json::array();
        for (const auto& letter : page->letters) letters.push_back(DeadLetterJson(letter));
        ReplyJson(ex, 200,
                  {{"dead_letters", std::move(letters)},
                   {"next_after", page->next_after.empty() ? json() : json(page->next_after)}});
      });
}

void JobsEndpoint::Redrive(const ExchangePtr& exchange) {
  Exchange& ex = *exchange;
  auto body = ex.body(Server::kMaxBufferedBody);
  if (!body) return ReplyJsonError(ex, {ErrorCode::kTooLarge, "request body too large"});
  const json request = body->empty() ? json::object() : json::parse(*body, nullptr, false);
  if (!request.is_object()) {
    return ReplyJsonError(ex, {ErrorCode::kInvalidArgument, "the body must be a JSON object"});
  }
  std::string name;
  std::vector<std::string> ids;
  if (request.contains("queue")) {
    if (!request["queue"].is_string()) {
      return ReplyJsonError(ex, {ErrorCode::kInvalidArgument, "queue must be a string"});
    }
    name = request["queue"].get<std::string>();
  }
  if (request.contains("ids")) {
    if (!request["ids"].is_array()) {
      return ReplyJsonError(ex, {ErrorCode::kInvalidArgument, "ids must be an array of strings"});
    }
    for (const json& id : request["ids"]) {
      if (!id.is_string()) {
        return ReplyJsonError(ex, {ErrorCode::kInvalidArgument, "ids must be an array of strings"});
      }
      ids.push_back(id.get<std::string>());
    }
    if (ids.empty()) {
      // An empty list must not mean "all" by accident: leave "ids" out for that.
      return ReplyJsonError(ex, {ErrorCode::kInvalidArgument, "ids is empty; omit it to redrive all"});
    }
  }
  if (auto valid = ingest::ValidateDeadLetterIds(ids); !valid) return ReplyJsonError(ex, valid.error());
  ingest::JobQueue* queue = QueueNamed(*ingest_, name);
  if (queue == nullptr) return ReplyJsonError(ex, {ErrorCode::kNotFound, "no such queue"});
  RunOffLoop<int64_t>(
      io_, exchange, [queue, ids] { return queue->Redrive(ids); },
      [](Exchange& ex, Result<int64_t>& count) {
        if (!count) return ReplyJsonError(ex, count.error());
        ReplyJson(ex, 200, {{"redriven", *count}});
      });
}

}  // namespace imgorigin::origin
