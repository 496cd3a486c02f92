// The jobs API (API key, docs/ingest.md):
//
//   POST /v1/events/s3              S3 event notifications (the AWS shape; MinIO's webhook target
//                                   sends it too): objects created under ingest.events.* become
//                                   images and get their eager job, removed ones are deleted
//   GET  /v1/jobs/dlq?queue=&after=&limit=   dead letters of queue "jobs" (default) or "notify"
//   POST /v1/jobs/dlq/redrive       {"queue": "jobs", "ids": [...]} (no ids: all) back to work
//
// Event bodies are read whole (at most Server::kMaxBufferedBody) and parsed on the loop; the
// records and queues are called on the I/O pool. Handle() runs on event-loop threads.
#pragma once

#include <string_view>

#include "common/thread_pool.h"
#include "origin/config.h"
#include "origin/ingest_setup.h"
#include "origin/server.h"

namespace imgorigin::origin {

class JobsEndpoint {
 public:
  // `ingest` null: ingest is disabled and the API answers 404.
  JobsEndpoint(const Config& config, common::ThreadPool& io, const IngestServices* ingest)
      : config_(config), io_(io), ingest_(ingest) {}

  static constexpr std::string_view kEventsPath = "/v1/events/s3";
  static constexpr std::string_view kDeadLettersPath = "/v1/jobs/dlq";
  static constexpr std::string_view kRedrivePath = "/v1/jobs/dlq/redrive";

  static bool Handles(std::string_view path) {
    return path == kEventsPath || path == kDeadLettersPath || path == kRedrivePath;
  }
  void Handle(const ExchangePtr& exchange);

 private:
  void Events(const ExchangePtr& exchange);
  void List(const ExchangePtr& exchange);
  void Redrive(const ExchangePtr& exchange);

  const Config& config_;
  common::ThreadPool& io_;
  const IngestServices* ingest_;
};

}  // namespace imgorigin::origin
