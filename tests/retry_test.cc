#include "re_dms/retry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;

RetryPolicy FastPolicy(int max_attempts) {
  RetryPolicy policy;
  policy.max_attempts = max_attempts;
  policy.initial_backoff = absl::Microseconds(10);
  policy.max_backoff = absl::Microseconds(100);
  policy.deadline = absl::Minutes(1);
  return policy;
}

TEST(RetryTest, RetriesTransientErrorsUntilSuccess) {
  int calls = 0;
  const absl::Status status = RunWithRetries(FastPolicy(5), [&] {
    return ++calls < 3 ? absl::UnavailableError("503 SlowDown") : absl::OkStatus();
  });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 3);
}

TEST(RetryTest, NeverRetriesPermissionErrors) {
  int calls = 0;
  const absl::Status status = RunWithRetries(FastPolicy(5), [&] {
    ++calls;
    return absl::PermissionDeniedError("403 SignatureDoesNotMatch");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "403 SignatureDoesNotMatch");
  EXPECT_EQ(calls, 1);
}

TEST(RetryTest, GivesUpAfterMaxAttemptsKeepingTheCode) {
  int calls = 0;
  const absl::Status status = RunWithRetries(FastPolicy(4), [&] {
    ++calls;
    return absl::UnavailableError("connection reset");
  });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("connection reset (gave up after 4 attempts"));
}

TEST(RetryTest, DeadlineStopsRetriesBeforeMaxAttempts) {
  RetryPolicy policy = FastPolicy(1000);
  policy.initial_backoff = absl::Seconds(10);
  policy.max_backoff = absl::Seconds(10);
  policy.deadline = absl::ZeroDuration();
  int calls = 0;
  const absl::Status status = RunWithRetries(policy, [&] {
    ++calls;
    return absl::UnavailableError("timeout");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(status.ok());
}

TEST(RetryTest, CallerDecidesWhatIsRetryable) {
  int calls = 0;
  const absl::Status status = RunWithRetries(
      FastPolicy(3),
      [&] {
        ++calls;
        return absl::InternalError("serialization failure");
      },
      [](const absl::Status& s) { return s.code() == absl::StatusCode::kInternal; });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
}

TEST(RetryTest, FullJitterStaysWithinTheCappedExponentialBound) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(100);
  policy.max_backoff = absl::Seconds(1);
  for (int retry = 0; retry < 40; ++retry) {
    const absl::Duration bound =
        std::min(absl::Milliseconds(100) * (int64_t{1} << std::min(retry, 20)), absl::Seconds(1));
    for (int i = 0; i < 50; ++i) {
      const absl::Duration delay = FullJitterBackoff(policy, retry);
      EXPECT_GE(delay, absl::ZeroDuration());
      EXPECT_LE(delay, bound);
    }
  }
}

}  // namespace
}  // namespace re_dms
