// The JobQueue contract suite (job_queue_contract.h) run against SqsJobQueue on fauxqs: each
// test's queue name becomes an SQS queue and its dead-letter queue, created with a redrive
// policy (maxReceiveCount 100: high enough that no contract test meets the backstop, which
// sqs_test.cc covers).
#include <gtest/gtest.h>

#include "tests/integration/fauxqs_harness.h"
#include "tests/integration/job_queue_contract.h"

namespace imgorigin::testing {
namespace {

JobQueueBackend SqsBackend() {
  return {
      .name = "Sqs",
      .open = [](const std::string& queue) -> common::Result<std::unique_ptr<ingest::JobQueue>> {
        auto opened = OpenSqsJobQueue(SqsQueueName(queue));
        if (!opened) return std::unexpected(opened.error());
        return std::unique_ptr<ingest::JobQueue>(*std::move(opened));
      }};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Sqs, JobQueueContract, ::testing::Values(SqsBackend()),
                         [](const auto& info) { return info.param.name; });

}  // namespace imgorigin::testing
