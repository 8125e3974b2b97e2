#include "lib/src/aws/http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace re_dms {
namespace {

// Bodies of error responses are kept for their XML; nothing S3 sends in an
// error comes close to this, so a misbehaving server cannot exhaust memory.
constexpr size_t kMaxCollectedErrorBody = 1 << 20;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  CURL* curl;
  const CancelToken* cancel;
  uint64_t body_offset = 0;
  // Set by a callback that stopped the transfer; returned instead of the
  // libcurl error it causes.
  absl::Status callback_error;
};

// libcurl calls this often while data flows and about once a second while
// it waits (connecting, or for a server that never answers), so a cancel
// ends even a stalled transfer promptly.
int CheckCancelled(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->cancel == nullptr || !transfer->cancel->cancelled()) return 0;
  transfer->callback_error = CancelledWhile(absl::StrCat("HTTP ", transfer->request->method, " ",
                                                         transfer->request->url, " was in flight"));
  return 1;
}

size_t ReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  absl::StatusOr<size_t> read =
      transfer->request->body->ReadAt(transfer->body_offset, buffer, size * count);
  if (!read.ok()) {
    transfer->callback_error = read.status();
    return CURL_READFUNC_ABORT;
  }
  transfer->body_offset += *read;
  return *read;
}

int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* transfer = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 ||
      static_cast<uint64_t>(offset) > transfer->request->body->size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  transfer->body_offset = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t ReceiveHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const absl::string_view line(data, size * count);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after "100 Continue"): forget the previous headers.
    transfer->response->headers.clear();
    return line.size();
  }
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    transfer->response->headers.emplace_back(
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon))),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return line.size();
}

size_t ReceiveBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const absl::string_view piece(data, size * count);
  long status = 0;
  curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (success && transfer->request->sink) {
    transfer->response->status = status;
    absl::Status sunk = transfer->request->sink(*transfer->response, piece);
    if (!sunk.ok()) {
      transfer->callback_error = std::move(sunk);
      return 0;
    }
    return piece.size();
  }
  std::string& body = transfer->response->body;
  if (!success && body.size() + piece.size() > kMaxCollectedErrorBody) {
    return piece.size();  // keep the start, which holds the error's XML
  }
  body.append(piece.data(), piece.size());
  return piece.size();
}

absl::Status TransportError(const HttpRequest& request, CURLcode code, const char* detail) {
  const std::string message =
      absl::StrCat("HTTP ", request.method, " ", request.url, ": ", curl_easy_strerror(code),
                   detail[0] != '\0' ? absl::StrCat(" (", detail, ")") : "");
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
      return absl::FailedPreconditionError(message);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(message);
    default:
      // Refused, reset or dropped connections, timeouts, stalls below the
      // low-speed limit, DNS hiccups: all worth another attempt.
      return absl::UnavailableError(message);
  }
}

}  // namespace

absl::StatusOr<size_t> MemoryBody::ReadAt(uint64_t offset, char* buffer, size_t length) {
  if (offset >= data_.size()) return 0;
  const size_t n = std::min<uint64_t>(length, data_.size() - offset);
  std::memcpy(buffer, data_.data() + offset, n);
  return n;
}

absl::StatusOr<size_t> FileRangeBody::ReadAt(uint64_t offset, char* buffer, size_t length) {
  if (offset >= length_) return 0;
  const size_t wanted = std::min<uint64_t>(length, length_ - offset);
  for (;;) {
    const ssize_t n = pread(fd_, buffer, wanted, start_ + offset);
    if (n >= 0) {
      if (n == 0) {
        return absl::DataLossError(
            absl::StrCat("file ", path_, " ended at byte ", start_ + offset,
                         " while uploading it: was it truncated during the upload?"));
      }
      return static_cast<size_t>(n);
    }
    if (errno != EINTR) {
      return absl::InternalError(absl::StrCat("reading ", path_, " at byte ", start_ + offset, ": ",
                                              std::strerror(errno)));
    }
  }
}

std::string HttpResponse::Header(absl::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return "";
}

HttpClient::HttpClient(Options options) : options_(std::move(options)) { InitCurlOnce(); }

HttpClient::~HttpClient() {
  absl::MutexLock lock(&mutex_);
  for (void* handle : idle_handles_) curl_easy_cleanup(handle);
}

void* HttpClient::AcquireHandle() {
  {
    absl::MutexLock lock(&mutex_);
    if (!idle_handles_.empty()) {
      void* handle = idle_handles_.back();
      idle_handles_.pop_back();
      // Resets options only: the handle's live connections stay for reuse.
      curl_easy_reset(handle);
      return handle;
    }
  }
  return curl_easy_init();
}

void HttpClient::ReleaseHandle(void* handle) {
  absl::MutexLock lock(&mutex_);
  idle_handles_.push_back(handle);
}

absl::StatusOr<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(AcquireHandle());
  if (curl == nullptr) {
    return absl::ResourceExhaustedError("curl_easy_init failed");
  }
  HttpResponse response;
  if (options_.cancel != nullptr && options_.cancel->cancelled()) {
    ReleaseHandle(curl);
    return CancelledWhile(absl::StrCat("HTTP ", request.method, " ", request.url, " was to start"));
  }
  Transfer transfer{&request, &response, curl, options_.cancel, 0, absl::OkStatus()};
  char error_detail[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  // S3 keys may contain "./" and "../", which must reach S3 untouched.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_detail);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes_per_second);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(absl::ToInt64Seconds(options_.low_speed_time)));
  // Larger buffers than libcurl's 16 KiB defaults cut per-call overhead on
  // multi-megabyte bodies.
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
  if (options_.cancel != nullptr) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, CheckCancelled);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  }
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReceiveHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ReceiveBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);

  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body->size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  // No "Expect: 100-continue" round trip before each body: the request is
  // signed and checksummed, and a rejected upload costs one body at most.
  headers = curl_slist_append(headers, "Expect:");
  if (request.body == nullptr && (request.method == "POST" || request.method == "PUT")) {
    headers = curl_slist_append(headers, "Content-Length: 0");
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  // Unset pointers to this call's locals before the handle is pooled.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);

  if (code != CURLE_OK) {
    // A failed transfer may leave the connection in an unknown state;
    // dropping the handle drops its connections too.
    curl_easy_cleanup(curl);
    if (!transfer.callback_error.ok()) return transfer.callback_error;
    return TransportError(request, code, error_detail);
  }
  ReleaseHandle(curl);
  return response;
}

}  // namespace re_dms
