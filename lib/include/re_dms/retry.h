// Retrying transient failures: exponential backoff with full jitter under an
// overall deadline, as the AWS Architecture Blog's "Exponential Backoff And
// Jitter" recommends (delay = uniform(0, min(cap, base * 2^attempt))).
// Used by the S3 client for every request and by the loader for its
// statements; each caller decides which errors are worth another attempt.

#ifndef RE_DMS_RETRY_H_
#define RE_DMS_RETRY_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace re_dms {

struct RetryPolicy {
  // Attempts in all, the first included. 1 disables retries.
  int max_attempts = 10;
  // Upper bound of the first delay; doubled each attempt up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(20);
  // No attempt starts after this much time since the first one began, and
  // no delay is chosen that would end past it.
  absl::Duration deadline = absl::Minutes(5);
};

// The errors worth another attempt by default: kUnavailable (5xx, throttling,
// dropped connections, stalled transfers), kResourceExhausted, kAborted and
// kDeadlineExceeded. Never kPermissionDenied, kUnauthenticated or
// kInvalidArgument: a bad signature or credential fails the same way again.
bool IsTransientError(const absl::Status& status);

// Runs `attempt` until it returns OK, returns an error `is_retryable` rejects,
// or the policy's attempts or deadline run out; sleeps between attempts.
// Returns the last status; when retries ran out, its message says how many
// attempts were made over how long (the code is kept). Thread-safe.
absl::Status RunWithRetries(
    const RetryPolicy& policy, const std::function<absl::Status()>& attempt,
    const std::function<bool(const absl::Status&)>& is_retryable = IsTransientError);

// The delay before retry number `retry` (0 for the first retry), drawn
// uniformly from [0, min(max_backoff, initial_backoff * 2^retry)].
absl::Duration FullJitterBackoff(const RetryPolicy& policy, int retry);

}  // namespace re_dms

#endif  // RE_DMS_RETRY_H_
