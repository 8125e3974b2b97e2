#include "re_dms/retry.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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

TEST(RetryTest, TellsOnRetryOfEachRetryAndOfTheEnd) {
  RetryPolicy policy = FastPolicy(5);
  std::vector<RetryEvent> events;
  std::vector<std::string> operations, causes;
  policy.on_retry = [&](const RetryEvent& event) {
    events.push_back(event);
    operations.emplace_back(event.operation);
    causes.emplace_back(event.cause.message());
  };
  int calls = 0;
  const absl::Status status = RunWithRetries(policy, "PutObject s3://b/k", [&] {
    return ++calls < 3 ? absl::UnavailableError(absl::StrCat("timeout ", calls)) : absl::OkStatus();
  });
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, RetryEvent::Kind::kRetrying);
  EXPECT_EQ(events[0].attempts, 1);
  EXPECT_EQ(causes[0], "timeout 1");
  EXPECT_EQ(events[1].attempts, 2);
  EXPECT_EQ(causes[1], "timeout 2");
  EXPECT_EQ(events[2].kind, RetryEvent::Kind::kEnded);
  EXPECT_TRUE(events[2].succeeded);
  EXPECT_EQ(events[2].attempts, 3);
  for (const std::string& operation : operations) EXPECT_EQ(operation, "PutObject s3://b/k");
}

TEST(RetryTest, NoEventsWithoutARetry) {
  RetryPolicy policy = FastPolicy(5);
  int events = 0;
  policy.on_retry = [&](const RetryEvent&) { ++events; };
  EXPECT_TRUE(RunWithRetries(policy, "op", [] { return absl::OkStatus(); }).ok());
  EXPECT_FALSE(
      RunWithRetries(policy, "op", [] { return absl::PermissionDeniedError("403"); }).ok());
  EXPECT_EQ(events, 0);
}

TEST(RetryTest, CancelEndsTheWaitBetweenAttempts) {
  RetryPolicy policy = FastPolicy(100);
  policy.initial_backoff = absl::Hours(1);
  policy.max_backoff = absl::Hours(1);
  policy.deadline = absl::Hours(10);
  CancelToken cancel;
  policy.cancel = &cancel;
  bool ended = false;
  policy.on_retry = [&](const RetryEvent& event) {
    // Cancel from another thread while the retry loop sleeps.
    if (event.kind == RetryEvent::Kind::kRetrying) {
      std::thread([&cancel] {
        absl::SleepFor(absl::Milliseconds(50));
        cancel.Cancel();
      }).detach();
    } else {
      ended = !event.succeeded;
    }
  };
  int calls = 0;
  const absl::Status status = RunWithRetries(policy, "op", [&] {
    ++calls;
    return absl::UnavailableError("connection reset");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("second stop request"));
  EXPECT_THAT(status.message(), HasSubstr("connection reset"));
  EXPECT_TRUE(ended);  // The stall is over.
}

TEST(RetryTest, NoNewAttemptAfterCancel) {
  RetryPolicy policy = FastPolicy(100);
  CancelToken cancel;
  policy.cancel = &cancel;
  int calls = 0;
  const absl::Status status = RunWithRetries(policy, [&] {
    ++calls;
    cancel.Cancel();
    return absl::UnavailableError("503");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace re_dms
