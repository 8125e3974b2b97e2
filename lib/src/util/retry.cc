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

absl::Status CancelledWhile(absl::string_view what) {
  return absl::CancelledError(absl::StrCat("cancelled by a second stop request while ", what));
}

absl::Status RunWithRetries(const RetryPolicy& policy, absl::string_view operation,
                            const std::function<absl::Status()>& attempt,
                            const std::function<bool(const absl::Status&)>& is_retryable) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + policy.deadline;
  RetryEvent event;
  event.operation = operation;
  bool retried = false;
  // Tells on_retry that a stall is over, however it ended.
  auto ended = [&](const absl::Status& status, int attempts) {
    if (retried && policy.on_retry) {
      event.kind = RetryEvent::Kind::kEnded;
      event.succeeded = status.ok();
      if (!status.ok()) event.cause = status;
      event.attempts = attempts;
      event.elapsed = absl::Now() - start;
      event.next_delay = absl::ZeroDuration();
      policy.on_retry(event);
    }
    return status;
  };
  for (int attempts = 1;; ++attempts) {
    absl::Status status = attempt();
    if (status.ok() || !is_retryable(status)) return ended(status, attempts);
    const bool cancelled = policy.cancel != nullptr && policy.cancel->cancelled();
    const absl::Duration delay = FullJitterBackoff(policy, attempts - 1);
    if (cancelled || attempts >= policy.max_attempts || absl::Now() + delay >= deadline) {
      const std::string spent = absl::StrCat(
          attempts, attempts == 1 ? " attempt" : " attempts", " in ",
          absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))));
      if (cancelled) {
        return ended(absl::CancelledError(absl::StrCat("cancelled by a second stop request after ",
                                                       spent, "; last error: ", status.message())),
                     attempts);
      }
      return ended(absl::Status(status.code(),
                                absl::StrCat(status.message(), " (gave up after ", spent, ")")),
                   attempts);
    }
    retried = true;
    if (policy.on_retry) {
      event.kind = RetryEvent::Kind::kRetrying;
      event.cause = status;
      event.attempts = attempts;
      event.elapsed = absl::Now() - start;
      event.next_delay = delay;
      policy.on_retry(event);
    }
    if (policy.cancel != nullptr) {
      if (policy.cancel->SleepUnlessCancelled(delay)) {
        return ended(
            absl::CancelledError(absl::StrCat("cancelled by a second stop request after ", attempts,
                                              attempts == 1 ? " attempt" : " attempts",
                                              "; last error: ", status.message())),
            attempts);
      }
    } else {
      absl::SleepFor(delay);
    }
  }
}

absl::Status RunWithRetries(const RetryPolicy& policy, const std::function<absl::Status()>& attempt,
                            const std::function<bool(const absl::Status&)>& is_retryable) {
  return RunWithRetries(policy, "", attempt, is_retryable);
}

}  // namespace re_dms
