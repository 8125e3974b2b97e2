// The libcurl seam: one blocking HTTP exchange at a time per call, many
// calls at once from different threads. Easy handles are pooled, so
// connections (and TLS sessions) are reused across requests.
//
// Transport failures (connection refused or reset, timeouts, a body that
// stalls below the low-speed limit) become kUnavailable so callers retry
// them; TLS verification failures become kFailedPrecondition, never retried.
// Messages name the method and URL the caller passes, so callers must not
// put secrets in URLs.

#ifndef RE_DMS_SRC_HTTP_H_
#define RE_DMS_SRC_HTTP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "re_dms/retry.h"
#include "re_dms/sigv4.h"

namespace re_dms {

// A request body read on demand, so large files are streamed, and re-read
// from any offset when libcurl rewinds (a reused connection that turned out
// dead is retried by libcurl itself). Implementations are not shared between
// concurrent requests.
class HttpBody {
 public:
  virtual ~HttpBody() = default;
  virtual uint64_t size() const = 0;
  // Copies up to `length` bytes at `offset` into `buffer`; returns how many.
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buffer, size_t length) = 0;
};

// A body in memory; `data` must outlive the request.
class MemoryBody : public HttpBody {
 public:
  explicit MemoryBody(absl::string_view data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buffer, size_t length) override;

 private:
  absl::string_view data_;
};

// `length` bytes of an open file descriptor starting at `start` (read with
// pread, so several bodies can share one descriptor).
class FileRangeBody : public HttpBody {
 public:
  FileRangeBody(int fd, std::string path, uint64_t start, uint64_t length)
      : fd_(fd), path_(std::move(path)), start_(start), length_(length) {}
  uint64_t size() const override { return length_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buffer, size_t length) override;

 private:
  int fd_;
  std::string path_;
  uint64_t start_;
  uint64_t length_;
};

struct HttpRequest {
  std::string method;
  std::string url;  // already encoded; sent as is (no dot-segment removal)
  HttpFields headers;
  HttpBody* body = nullptr;  // none when null
  // When set, a 2xx response's body is handed over piece by piece instead
  // of being collected, with the response's status and headers; an error
  // from the sink aborts the transfer and is returned. Error responses are
  // always collected (for their XML).
  std::function<absl::Status(const struct HttpResponse& head, absl::string_view piece)> sink;
};

struct HttpResponse {
  long status = 0;
  HttpFields headers;  // names lowercased
  std::string body;    // empty when streamed to the sink
  // The value of the first header named `lowercase_name`, or "".
  std::string Header(absl::string_view lowercase_name) const;
};

class HttpClient {
 public:
  struct Options {
    bool verify_tls = true;
    std::string ca_file;  // PEM bundle; system default when empty
    absl::Duration connect_timeout = absl::Seconds(10);
    // A transfer slower than low_speed_bytes_per_second for low_speed_time
    // fails (and is retried by the caller): a stalled body never hangs.
    long low_speed_bytes_per_second = 1024;
    absl::Duration low_speed_time = absl::Seconds(30);
    // Not owned. When cancelled, transfers in flight abort within about a
    // second (libcurl's progress callback) and Send returns kCancelled.
    const CancelToken* cancel = nullptr;
  };

  explicit HttpClient(Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs one exchange. A response with any HTTP status is OK here;
  // only transport failures are errors.
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request);

 private:
  void* AcquireHandle();
  void ReleaseHandle(void* handle);

  const Options options_;
  absl::Mutex mutex_;
  std::vector<void*> idle_handles_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace re_dms

#endif  // RE_DMS_SRC_HTTP_H_
