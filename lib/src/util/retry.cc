#include "re_dms/retry.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

namespace re_dms {

bool IsTransientError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

absl::Duration FullJitterBackoff(const RetryPolicy& policy, int retry) {
  absl::Duration ceiling = policy.initial_backoff;
  for (int i = 0; i < retry && ceiling < policy.max_backoff; ++i) {
    ceiling *= 2;
  }
  ceiling = std::min(ceiling, policy.max_backoff);
  // A fresh generator per call: absl::BitGen is not thread-safe, and its
  // seeding cost is negligible next to a failed network request.
  absl::BitGen random;
  return absl::Nanoseconds(
      absl::Uniform<int64_t>(absl::IntervalClosed, random, 0, absl::ToInt64Nanoseconds(ceiling)));
}

absl::Status RunWithRetries(const RetryPolicy& policy, const std::function<absl::Status()>& attempt,
                            const std::function<bool(const absl::Status&)>& is_retryable) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + policy.deadline;
  for (int attempts = 1;; ++attempts) {
    absl::Status status = attempt();
    if (status.ok() || !is_retryable(status)) return status;
    const absl::Duration delay = FullJitterBackoff(policy, attempts - 1);
    if (attempts >= policy.max_attempts || absl::Now() + delay >= deadline) {
      return absl::Status(
          status.code(),
          absl::StrCat(
              status.message(), " (gave up after ", attempts,
              attempts == 1 ? " attempt" : " attempts", " in ",
              absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))), ")"));
    }
    absl::SleepFor(delay);
  }
}

}  // namespace re_dms
