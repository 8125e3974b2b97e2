// Retrying transient failures: exponential backoff with full jitter under an
// overall deadline, as the AWS Architecture Blog's "Exponential Backoff And
// Jitter" recommends (delay = uniform(0, min(cap, base * 2^attempt))).
// Used by the S3 client for every request and by the loader for its
// statements; each caller decides which errors are worth another attempt.
//
// Two seams make retries visible and stoppable: RetryPolicy::on_retry hears
// of every retry (so an operator can tell a stall from a quiet source), and
// RetryPolicy::cancel abandons the wait between attempts, and, in the S3
// client and the loader, the attempt itself (a second stop request).

#ifndef RE_DMS_RETRY_H_
#define RE_DMS_RETRY_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace re_dms {

// A one-way switch that asks work in progress to give up at once: retry
// loops stop waiting, HTTP transfers abort, target statements are cancelled
// on the server. Work that notices it returns kCancelled. Thread-safe; the
// owner keeps it alive while any component refers to it.
class CancelToken {
 public:
  void Cancel() {
    if (!cancelled_.exchange(true)) notification_.Notify();
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Sleeps `duration`, or less when cancelled; returns whether it was.
  bool SleepUnlessCancelled(absl::Duration duration) const {
    return notification_.WaitForNotificationWithTimeout(duration);
  }

 private:
  std::atomic<bool> cancelled_{false};
  absl::Notification notification_;
};

// What RetryPolicy::on_retry hears.
struct RetryEvent {
  enum class Kind {
    kRetrying,  // An attempt failed; another follows after next_delay.
    kEnded,     // The operation ended (succeeded, failed or gave up) after
                // at least one retry: whatever stalled is no longer waiting.
  };
  Kind kind = Kind::kRetrying;
  absl::string_view operation;  // e.g. "PutObject s3://bucket/key"
  absl::Status cause;           // The last failed attempt's error.
  int attempts = 0;             // Attempts made so far.
  absl::Duration elapsed;       // Since the first attempt began.
  absl::Duration next_delay;    // kRetrying: the wait before the next one.
  bool succeeded = false;       // kEnded.
};

struct RetryPolicy {
  // Attempts in all, the first included. 1 disables retries.
  int max_attempts = 10;
  // Upper bound of the first delay; doubled each attempt up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(20);
  // No attempt starts after this much time since the first one began, and
  // no delay is chosen that would end past it.
  absl::Duration deadline = absl::Minutes(5);
  // Told of every retry and of the end of an operation that needed one,
  // from the retrying thread. Must not block.
  std::function<void(const RetryEvent&)> on_retry;
  // Not owned. When cancelled, no new attempt starts, the wait between
  // attempts ends at once, and RunWithRetries returns kCancelled naming the
  // last error.
  const CancelToken* cancel = nullptr;
};

// The errors worth another attempt by default: kUnavailable (5xx, throttling,
// dropped connections, stalled transfers), kResourceExhausted, kAborted and
// kDeadlineExceeded. Never kPermissionDenied, kUnauthenticated or
// kInvalidArgument: a bad signature or credential fails the same way again.
bool IsTransientError(const absl::Status& status);

// Runs `attempt` until it returns OK, returns an error `is_retryable` rejects,
// or the policy's attempts or deadline run out; sleeps between attempts.
// Returns the last status; when retries ran out, its message says how many
// attempts were made over how long (the code is kept). `operation` names what
// is retried for RetryPolicy::on_retry. Thread-safe.
absl::Status RunWithRetries(
    const RetryPolicy& policy, absl::string_view operation,
    const std::function<absl::Status()>& attempt,
    const std::function<bool(const absl::Status&)>& is_retryable = IsTransientError);
// The same, for callers whose errors name the operation themselves.
absl::Status RunWithRetries(
    const RetryPolicy& policy, const std::function<absl::Status()>& attempt,
    const std::function<bool(const absl::Status&)>& is_retryable = IsTransientError);

// kCancelled for work abandoned because `token` was cancelled.
absl::Status CancelledWhile(absl::string_view what);

// The delay before retry number `retry` (0 for the first retry), drawn
// uniformly from [0, min(max_backoff, initial_backoff * 2^retry)].
absl::Duration FullJitterBackoff(const RetryPolicy& policy, int retry);

}  // namespace re_dms

#endif  // RE_DMS_RETRY_H_
