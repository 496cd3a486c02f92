// The bounds every JobQueue backend checks (ingest/job_queue.h) and CleanJobError.
#include <gtest/gtest.h>

#include "ingest/job_queue.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using std::chrono::milliseconds;
using std::chrono::seconds;

template <typename T>
void ExpectInvalid(const common::Result<T>& r) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(r.error().message.empty());
}

TEST(JobQueueValidation, QueueNames) {
  EXPECT_TRUE(ValidateQueueName("jobs"));
  EXPECT_TRUE(ValidateQueueName("notify-2_x"));
  EXPECT_TRUE(ValidateQueueName(std::string(kMaxQueueNameBytes, 'q')));
  ExpectInvalid(ValidateQueueName(""));
  ExpectInvalid(ValidateQueueName(std::string(kMaxQueueNameBytes + 1, 'q')));
  for (const char* bad : {"Jobs", "a.b", "a b", "a:b", "a{b}", "é"}) {
    ExpectInvalid(ValidateQueueName(bad));
  }
}

TEST(JobQueueValidation, NewJobKindPayloadAndDelay) {
  NewJob job{.kind = "eager.v2", .payload = std::string(kMaxJobPayloadBytes, '\0')};
  EXPECT_TRUE(ValidateNewJob(job));
  job.delay = kMaxDelay;
  EXPECT_TRUE(ValidateNewJob(job));

  ExpectInvalid(ValidateNewJob({.kind = "", .payload = "{}"}));
  ExpectInvalid(ValidateNewJob({.kind = "Eager", .payload = "{}"}));
  ExpectInvalid(ValidateNewJob({.kind = std::string(kMaxJobKindBytes + 1, 'k'), .payload = ""}));
  ExpectInvalid(
      ValidateNewJob({.kind = "eager", .payload = std::string(kMaxJobPayloadBytes + 1, 'x')}));
  ExpectInvalid(ValidateNewJob({.kind = "eager", .payload = "", .delay = milliseconds(-1)}));
  ExpectInvalid(
      ValidateNewJob({.kind = "eager", .payload = "", .delay = kMaxDelay + milliseconds(1)}));
}

TEST(JobQueueValidation, ReceiveBounds) {
  EXPECT_TRUE(ValidateReceive(1, milliseconds(0), seconds(1)));
  EXPECT_TRUE(ValidateReceive(kMaxReceiveBatch, kMaxReceiveWait, kMaxVisibility));
  ExpectInvalid(ValidateReceive(0, milliseconds(0), seconds(1)));
  ExpectInvalid(ValidateReceive(kMaxReceiveBatch + 1, milliseconds(0), seconds(1)));
  ExpectInvalid(ValidateReceive(1, milliseconds(-1), seconds(1)));
  ExpectInvalid(ValidateReceive(1, kMaxReceiveWait + milliseconds(1), seconds(1)));
  ExpectInvalid(ValidateReceive(1, milliseconds(0), seconds(0)));
  ExpectInvalid(ValidateReceive(1, milliseconds(0), kMaxVisibility + seconds(1)));
}

TEST(JobQueueValidation, VisibilityDelayPageAndIds) {
  EXPECT_TRUE(ValidateVisibility(seconds(1)));
  ExpectInvalid(ValidateVisibility(seconds(-5)));
  EXPECT_TRUE(ValidateDelay(milliseconds(0)));
  ExpectInvalid(ValidateDelay(milliseconds(-1)));
  EXPECT_TRUE(ValidateDeadLetterPage(1));
  EXPECT_TRUE(ValidateDeadLetterPage(kMaxDeadLetterPage));
  ExpectInvalid(ValidateDeadLetterPage(0));
  ExpectInvalid(ValidateDeadLetterPage(kMaxDeadLetterPage + 1));
  EXPECT_TRUE(ValidateDeadLetterIds({}));
  EXPECT_TRUE(ValidateDeadLetterIds(std::vector<std::string>(kMaxDeadLetterPage, "1")));
  ExpectInvalid(ValidateDeadLetterIds(std::vector<std::string>(kMaxDeadLetterPage + 1, "1")));
}

TEST(JobQueueValidation, CleanJobErrorCutsOnUtf8BoundaryAndCleansBytes) {
  EXPECT_EQ(CleanJobError("timeout: 504"), "timeout: 504");
  EXPECT_EQ(CleanJobError("line\nbreak\x01"), "line break ");
  EXPECT_EQ(CleanJobError("bad \xff byte"), "bad ? byte");
  // 1023 ASCII bytes then a 2-byte character: the character does not fit and is left out whole.
  const std::string cut = std::string(kMaxJobErrorBytes - 1, 'a') + "\xc3\xa9" + "tail";
  EXPECT_EQ(CleanJobError(cut), std::string(kMaxJobErrorBytes - 1, 'a'));
  EXPECT_EQ(CleanJobError(std::string(5000, 'e')).size(), kMaxJobErrorBytes);
}

}  // namespace
}  // namespace imgorigin::ingest
