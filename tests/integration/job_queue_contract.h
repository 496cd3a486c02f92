// The contract every JobQueue backend keeps (ingest/job_queue.h), written once and run against
// each: job_queue_contract_test.cc defines the tests and instantiates them for SQLite and Redis;
// a backend whose server needs more set-up (SQS through fauxqs) instantiates them from its own
// file linked into the same test binary:
//
//   INSTANTIATE_TEST_SUITE_P(Sqs, JobQueueContract, ::testing::Values(SqsBackend()),
//                            [](const auto& info) { return info.param.name; });
//
// A backend is a name and a factory that opens a fresh, empty queue under the given queue name
// (each test uses its own names, so tests never see each other's jobs). The factory may start
// its server lazily, once per process; when the server cannot be had it returns the error, and
// the test fails under CI and is skipped elsewhere (harness.h's rule).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "ingest/job_queue.h"

namespace imgorigin::testing {

struct JobQueueBackend {
  std::string name;  // a gtest-safe name: "Sqlite", "Redis", "Sqs"
  std::function<common::Result<std::unique_ptr<ingest::JobQueue>>(const std::string& queue)> open;
};

// TEMPORARY (SQS helper): the fixture, until wip-queue's version of this header lands.
class JobQueueContract : public ::testing::TestWithParam<JobQueueBackend> {};

}  // namespace imgorigin::testing
