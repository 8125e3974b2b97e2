#include "re_dms/s3_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "lib/src/aws/hashing.h"
#include "lib/src/aws/http.h"
#include "lib/src/aws/s3_xml.h"
#include "lib/src/aws/uri_encode.h"
#include "re_dms/sigv4.h"

namespace re_dms {
namespace {

// S3's multipart limits:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
constexpr uint64_t kMinPartSize = 5ull << 20;
constexpr uint64_t kMaxPartSize = 5ull << 30;
constexpr uint64_t kMaxParts = 10000;
// DeleteObjects takes at most 1,000 keys per request.
constexpr size_t kMaxDeleteBatch = 1000;
// Hashing reads files in pieces this large.
constexpr size_t kHashBufferSize = 1 << 20;

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string Unquote(absl::string_view etag) {
  return std::string(absl::StripSuffix(absl::StripPrefix(etag, "\""), "\""));
}

// S3 error codes that mean "try again later" whatever their HTTP status
// (RequestTimeout and BadDigest arrive as 400s). BadDigest and
// XAmzContentSHA256Mismatch mean the body was corrupted on the way: the
// next attempt re-reads and re-sends it.
bool IsTransientS3Code(absl::string_view code) {
  static constexpr absl::string_view kCodes[] = {
      "SlowDown",
      "RequestTimeout",
      "Throttling",
      "ThrottlingException",
      "RequestThrottled",
      "RequestLimitExceeded",
      "TooManyRequestsException",
      "InternalError",
      "ServiceUnavailable",
      "BadDigest",
      "XAmzContentSHA256Mismatch",
      "IncompleteBody",
  };
  return std::find(std::begin(kCodes), std::end(kCodes), code) != std::end(kCodes);
}

absl::StatusCode StatusCodeFor(long http_status, absl::string_view s3_code) {
  if (IsTransientS3Code(s3_code) || http_status >= 500 || http_status == 429) {
    return absl::StatusCode::kUnavailable;
  }
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StrContains(s3_code, "AlreadyExists") ||
                     absl::StrContains(s3_code, "AlreadyOwned")
                 ? absl::StatusCode::kAlreadyExists
                 : absl::StatusCode::kFailedPrecondition;
    case 412:
      return absl::StatusCode::kFailedPrecondition;
    case 416:
      return absl::StatusCode::kOutOfRange;
    default:
      return absl::StatusCode::kUnknown;
  }
}

bool IsDnsCompatibleBucket(absl::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (const char c : bucket) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) {
      return false;
    }
  }
  return bucket.front() != '-' && bucket.back() != '-';
}

absl::Time ParseS3Time(absl::string_view text) {
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return time;
  }
  // HEAD and GET give RFC 1123 dates.
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(text), &time, &error)) {
    return time;
  }
  return absl::InfinitePast();
}

// Percent-decoding for ListObjectsV2's encoding-type=url, which (like
// application/x-www-form-urlencoded) writes spaces as '+'.
std::string UrlDecodeListing(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int high = 0, low = 0;
    if (text[i] == '%' && i + 2 < text.size() && absl::ascii_isxdigit(text[i + 1]) &&
        absl::ascii_isxdigit(text[i + 2])) {
      high = absl::ascii_isdigit(text[i + 1]) ? text[i + 1] - '0' : (text[i + 1] | 0x20) - 'a' + 10;
      low = absl::ascii_isdigit(text[i + 2]) ? text[i + 2] - '0' : (text[i + 2] | 0x20) - 'a' + 10;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (text[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

struct Endpoint {
  std::string scheme;  // "https" or "http"
  std::string host;    // Host header value: "host" or "host:port"
  bool is_aws = false;
};

absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view endpoint, absl::string_view region) {
  if (endpoint.empty()) {
    return Endpoint{"https", absl::StrCat("s3.", region, ".amazonaws.com"), true};
  }
  Endpoint parsed;
  absl::string_view rest = endpoint;
  if (absl::ConsumePrefix(&rest, "https://")) {
    parsed.scheme = "https";
  } else if (absl::ConsumePrefix(&rest, "http://")) {
    parsed.scheme = "http";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 endpoint '", endpoint, "' must start with http:// or https://"));
  }
  rest = absl::StripSuffix(rest, "/");
  if (rest.empty() || rest.find_first_of("/?#@ ") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 endpoint '", endpoint, "' must be scheme://host[:port] without a path"));
  }
  // Drop a default port: libcurl leaves it out of the Host header, and the
  // signed Host must be what is sent.
  const absl::string_view default_port = parsed.scheme == "https" ? ":443" : ":80";
  if (absl::EndsWith(rest, default_port)) {
    rest.remove_suffix(default_port.size());
  }
  parsed.host = std::string(rest);
  return parsed;
}

// One S3 request, before signing.
struct S3Call {
  S3Call(absl::string_view operation, absl::string_view bucket, absl::string_view key,
         std::string method)
      : operation(operation), bucket(bucket), key(key), method(std::move(method)) {}

  absl::string_view operation;  // "PutObject", for messages
  absl::string_view bucket;
  absl::string_view key;  // empty for bucket operations
  std::string method;
  HttpFields query;    // decoded
  HttpFields headers;  // besides those the signer adds
  HttpBody* body = nullptr;
  std::string payload_hash = std::string(kEmptyPayloadSha256);
  std::function<absl::Status(const HttpResponse&, absl::string_view)> sink;
};

std::string Describe(const S3Call& call) {
  return absl::StrCat("S3 ", call.operation, " s3://", call.bucket, call.key.empty() ? "" : "/",
                      call.key);
}

absl::Status S3ErrorStatus(const S3Call& call, const HttpResponse& response) {
  const std::string code = XmlText(response.body, "Code").value_or("");
  const std::string message =
      XmlText(response.body, "Message").value_or(response.body.empty() ? "(no body)" : "");
  std::string request_id = XmlText(response.body, "RequestId").value_or("");
  if (request_id.empty()) request_id = response.Header("x-amz-request-id");
  return absl::Status(
      StatusCodeFor(response.status, code),
      absl::StrCat(Describe(call), ": HTTP ", response.status, code.empty() ? "" : " ", code, ": ",
                   message, request_id.empty() ? "" : " (RequestId ", request_id,
                   request_id.empty() ? "" : ")"));
}

// SHA-256 (hex) and MD5 (base64) of `length` bytes of `fd` at `start`.
struct BodyDigests {
  std::string sha256_hex;
  std::string md5;  // raw 16 bytes
  std::string md5_base64;
};

absl::StatusOr<BodyDigests> DigestFileRange(int fd, const std::string& path, uint64_t start,
                                            uint64_t length) {
  StreamingDigest sha256(StreamingDigest::Algorithm::kSha256);
  StreamingDigest md5(StreamingDigest::Algorithm::kMd5);
  FileRangeBody range(fd, path, start, length);
  std::string buffer(std::min<uint64_t>(kHashBufferSize, length), '\0');
  for (uint64_t offset = 0; offset < length;) {
    absl::StatusOr<size_t> read = range.ReadAt(offset, &buffer[0], buffer.size());
    if (!read.ok()) return read.status();
    const absl::string_view piece(buffer.data(), *read);
    sha256.Update(piece);
    md5.Update(piece);
    offset += *read;
  }
  BodyDigests digests;
  digests.sha256_hex = HexEncode(sha256.Finish());
  digests.md5 = md5.Finish();
  digests.md5_base64 = absl::Base64Escape(digests.md5);
  return digests;
}

// An open file, closed on destruction.
class OpenFile {
 public:
  static absl::StatusOr<OpenFile> Open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const std::string message = absl::StrCat("cannot open ", path, ": ", std::strerror(errno));
      return errno == ENOENT   ? absl::NotFoundError(message)
             : errno == EACCES ? absl::PermissionDeniedError(message)
                               : absl::InternalError(message);
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(path, " is not a readable regular file"));
    }
    return OpenFile(fd, static_cast<uint64_t>(info.st_size));
  }
  OpenFile(OpenFile&& other) noexcept : fd_(other.fd_), size_(other.size_) { other.fd_ = -1; }
  OpenFile& operator=(OpenFile&&) = delete;
  ~OpenFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  OpenFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  uint64_t size_;
};

class S3ClientImpl : public S3Client {
 public:
  S3ClientImpl(S3ClientOptions options, Endpoint endpoint,
               std::shared_ptr<CredentialsProvider> credentials)
      : options_(std::move(options)),
        endpoint_(std::move(endpoint)),
        credentials_(std::move(credentials)),
        signer_(SigV4Signer::Options{options_.region, "s3", true}),
        http_(HttpClient::Options{options_.verify_tls, options_.ca_file, options_.connect_timeout,
                                  options_.low_speed_bytes_per_second, options_.low_speed_time,
                                  options_.retry.cancel}) {}

  absl::Status CreateBucket(absl::string_view bucket) override {
    // Outside us-east-1, S3 wants the region in the body.
    const std::string configuration =
        options_.region == "us-east-1"
            ? std::string()
            : absl::StrCat(
                  "<CreateBucketConfiguration xmlns=\"http://"
                  "s3.amazonaws.com/doc/2006-03-01/\">"
                  "<LocationConstraint>",
                  XmlEscape(options_.region), "</LocationConstraint></CreateBucketConfiguration>");
    MemoryBody body(configuration);
    S3Call call("CreateBucket", bucket, "", "PUT");
    if (!configuration.empty()) {
      call.body = &body;
      call.payload_hash = HexEncode(Sha256(configuration));
    }
    const absl::StatusOr<HttpResponse> response = Execute(call);
    if (response.ok() ||
        absl::StrContains(response.status().message(), "BucketAlreadyOwnedByYou")) {
      return absl::OkStatus();
    }
    return response.status();
  }

  absl::StatusOr<S3PutResult> PutObject(absl::string_view bucket, absl::string_view key,
                                        absl::string_view data) override {
    MemoryBody body(data);
    S3Call call("PutObject", bucket, key, "PUT");
    call.body = &body;
    call.payload_hash = HexEncode(Sha256(data));
    call.headers.emplace_back("Content-MD5", Base64Encode(Md5(data)));
    absl::StatusOr<HttpResponse> response = Execute(call);
    if (!response.ok()) return response.status();
    return S3PutResult{Unquote(response->Header("etag")), data.size(), 0};
  }

  absl::StatusOr<S3PutResult> PutFile(absl::string_view bucket, absl::string_view key,
                                      const std::string& path) override {
    absl::StatusOr<OpenFile> file = OpenFile::Open(path);
    if (!file.ok()) return file.status();
    // A single PUT carries at most 5 GiB.
    if (file->size() > std::min(options_.multipart_threshold, kMaxPartSize)) {
      return UploadParts(bucket, key, path, *file);
    }
    absl::StatusOr<BodyDigests> digests = DigestFileRange(file->fd(), path, 0, file->size());
    if (!digests.ok()) return digests.status();
    FileRangeBody body(file->fd(), path, 0, file->size());
    S3Call call("PutObject", bucket, key, "PUT");
    call.body = &body;
    call.payload_hash = digests->sha256_hex;
    call.headers.emplace_back("Content-MD5", digests->md5_base64);
    absl::StatusOr<HttpResponse> response = Execute(call);
    if (!response.ok()) return response.status();
    return S3PutResult{Unquote(response->Header("etag")), file->size(), 0};
  }

  absl::StatusOr<S3PutResult> MultipartUploadFile(absl::string_view bucket, absl::string_view key,
                                                  const std::string& path) override {
    absl::StatusOr<OpenFile> file = OpenFile::Open(path);
    if (!file.ok()) return file.status();
    return UploadParts(bucket, key, path, *file);
  }

  absl::StatusOr<S3ObjectInfo> GetObject(
      absl::string_view bucket, absl::string_view key,
      const std::function<absl::Status(absl::string_view)>& sink) override {
    S3ObjectInfo info;
    info.key = std::string(key);
    // Bytes handed to `sink` so far, and where the current attempt's body
    // starts in the object.
    uint64_t delivered = 0;
    uint64_t attempt_offset = 0;
    bool attempt_has_body = false;
    bool have_version = false;
    absl::Status sink_error;
    auto remember_version = [&](const HttpResponse& head) {
      // The first response fixes which version of the object is read;
      // resumed transfers must match its ETag.
      if (have_version) return;
      have_version = true;
      info.etag = Unquote(head.Header("etag"));
      info.last_modified = ParseS3Time(head.Header("last-modified"));
    };
    S3Call call("GetObject", bucket, key, "GET");
    call.sink = [&](const HttpResponse& head, absl::string_view piece) -> absl::Status {
      remember_version(head);
      if (!attempt_has_body) {
        attempt_has_body = true;
        // A server that ignores Range answers 200 with the whole object:
        // skip what the sink already has rather than hand it over twice.
        if (head.status == 200) attempt_offset = 0;
      }
      const uint64_t piece_start = attempt_offset;
      attempt_offset += piece.size();
      if (attempt_offset <= delivered) return absl::OkStatus();
      piece.remove_prefix(delivered > piece_start ? delivered - piece_start : 0);
      absl::Status status = sink(piece);
      if (!status.ok()) {
        sink_error = status;
        return status;
      }
      delivered += piece.size();
      return absl::OkStatus();
    };
    absl::Status status = RunWithRetries(
        options_.retry, Describe(call),
        [&]() -> absl::Status {
          call.headers.clear();
          attempt_offset = delivered;
          attempt_has_body = false;
          if (delivered > 0) {
            call.headers.emplace_back("Range", absl::StrCat("bytes=", delivered, "-"));
            call.headers.emplace_back("If-Match", absl::StrCat("\"", info.etag, "\""));
          }
          absl::StatusOr<HttpResponse> response = Attempt(call);
          if (!response.ok()) return response.status();
          remember_version(*response);  // an empty object calls no sink
          return absl::OkStatus();
        },
        [&](const absl::Status& s) { return sink_error.ok() && IsTransientError(s); });
    if (!status.ok()) return status;
    info.size = delivered;
    return info;
  }

  absl::StatusOr<S3ObjectInfo> HeadObject(absl::string_view bucket,
                                          absl::string_view key) override {
    S3Call call("HeadObject", bucket, key, "HEAD");
    absl::StatusOr<HttpResponse> response = Execute(call);
    if (!response.ok()) return response.status();
    S3ObjectInfo info;
    info.key = std::string(key);
    info.etag = Unquote(response->Header("etag"));
    info.last_modified = ParseS3Time(response->Header("last-modified"));
    if (!absl::SimpleAtoi(response->Header("content-length"), &info.size)) {
      return absl::InternalError(absl::StrCat(Describe(call), ": response lacks Content-Length"));
    }
    return info;
  }

  absl::Status DeleteObject(absl::string_view bucket, absl::string_view key) override {
    // S3 answers 204 for a key that does not exist; a 404 means the bucket
    // is missing, which is worth reporting.
    S3Call call("DeleteObject", bucket, key, "DELETE");
    return Execute(call).status();
  }

  absl::Status DeleteObjects(absl::string_view bucket,
                             const std::vector<std::string>& keys) override {
    for (size_t begin = 0; begin < keys.size(); begin += kMaxDeleteBatch) {
      const size_t end = std::min(keys.size(), begin + kMaxDeleteBatch);
      std::string xml = "<Delete><Quiet>true</Quiet>";
      for (size_t i = begin; i < end; ++i) {
        absl::StrAppend(&xml, "<Object><Key>", XmlEscape(keys[i]), "</Key></Object>");
      }
      xml += "</Delete>";
      MemoryBody body(xml);
      S3Call call("DeleteObjects", bucket, "", "POST");
      call.query.emplace_back("delete", "");
      call.body = &body;
      call.payload_hash = HexEncode(Sha256(xml));
      // S3 requires a checksum on DeleteObjects.
      call.headers.emplace_back("Content-MD5", Base64Encode(Md5(xml)));
      absl::Status status = RunWithRetries(options_.retry, Describe(call), [&]() -> absl::Status {
        absl::StatusOr<HttpResponse> response = Attempt(call);
        if (!response.ok()) return response.status();
        return PerKeyDeleteErrors(call, response->body);
      });
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<S3ListPage> ListObjectsV2(absl::string_view bucket, absl::string_view prefix,
                                           absl::string_view continuation_token, int max_keys,
                                           absl::string_view delimiter) override {
    S3Call call("ListObjectsV2", bucket, "", "GET");
    call.query = {{"list-type", "2"},
                  {"encoding-type", "url"},
                  {"max-keys", absl::StrCat(max_keys)},
                  {"prefix", std::string(prefix)}};
    if (!continuation_token.empty()) {
      call.query.emplace_back("continuation-token", std::string(continuation_token));
    }
    if (!delimiter.empty()) {
      call.query.emplace_back("delimiter", std::string(delimiter));
    }
    absl::StatusOr<HttpResponse> response = Execute(call);
    if (!response.ok()) return response.status();
    const std::string& xml = response->body;
    // Keys are URL-encoded only when the server honoured encoding-type
    // (which lets keys hold characters XML 1.0 cannot).
    const bool url_encoded = XmlText(xml, "EncodingType").value_or("") == "url";
    auto decode = [&](absl::string_view raw) {
      std::string text = XmlUnescape(raw);
      return url_encoded ? UrlDecodeListing(text) : text;
    };
    S3ListPage page;
    for (absl::string_view contents : XmlElements(xml, "Contents")) {
      S3ObjectInfo object;
      const std::vector<absl::string_view> key = XmlElements(contents, "Key");
      if (key.empty()) {
        return absl::InternalError(
            absl::StrCat(Describe(call), ": listing entry without a Key: ", contents));
      }
      object.key = decode(key.front());
      const std::string size = XmlText(contents, "Size").value_or("");
      if (!absl::SimpleAtoi(size, &object.size)) {
        return absl::InternalError(
            absl::StrCat(Describe(call), ": bad Size '", size, "' for key ", object.key));
      }
      object.etag = Unquote(XmlText(contents, "ETag").value_or(""));
      object.last_modified = ParseS3Time(XmlText(contents, "LastModified").value_or(""));
      page.objects.push_back(std::move(object));
    }
    for (absl::string_view common : XmlElements(xml, "CommonPrefixes")) {
      const std::vector<absl::string_view> p = XmlElements(common, "Prefix");
      if (!p.empty()) page.common_prefixes.push_back(decode(p.front()));
    }
    if (XmlText(xml, "IsTruncated").value_or("false") == "true") {
      page.next_continuation_token = XmlText(xml, "NextContinuationToken").value_or("");
      if (page.next_continuation_token.empty()) {
        return absl::InternalError(
            absl::StrCat(Describe(call), ": truncated listing without a NextContinuationToken"));
      }
    }
    return page;
  }

 private:
  // Signs and sends one attempt; non-2xx responses become errors.
  absl::StatusOr<HttpResponse> Attempt(const S3Call& call) {
    absl::StatusOr<AwsCredentials> credentials = credentials_->GetCredentials();
    if (!credentials.ok()) {
      return absl::Status(
          credentials.status().code(),
          absl::StrCat(Describe(call), ": no credentials: ", credentials.status().message()));
    }
    const bool virtual_hosted = UseVirtualHosting(call.bucket);
    SigV4Request request;
    request.method = call.method;
    request.host = virtual_hosted ? absl::StrCat(call.bucket, ".", endpoint_.host) : endpoint_.host;
    request.path = virtual_hosted
                       ? absl::StrCat("/", call.key)
                       : absl::StrCat("/", call.bucket, call.key.empty() ? "" : "/", call.key);
    request.query = call.query;
    request.headers = call.headers;
    absl::StatusOr<SigV4HeaderSignature> signature =
        signer_.SignHeaders(request, *credentials, absl::Now(), call.payload_hash);
    if (!signature.ok()) {
      return absl::Status(signature.status().code(),
                          absl::StrCat(Describe(call), ": ", signature.status().message()));
    }

    HttpRequest http;
    http.method = call.method;
    http.url = absl::StrCat(endpoint_.scheme, "://", request.host, UriEncodePath(request.path));
    for (size_t i = 0; i < call.query.size(); ++i) {
      absl::StrAppend(&http.url, i == 0 ? "?" : "&", UriEncode(call.query[i].first), "=",
                      UriEncode(call.query[i].second));
    }
    http.headers = call.headers;
    http.headers.insert(http.headers.end(), signature->headers.begin(), signature->headers.end());
    http.body = call.body;
    http.sink = call.sink;
    absl::StatusOr<HttpResponse> response = http_.Send(http);
    if (!response.ok()) {
      return absl::Status(response.status().code(),
                          absl::StrCat(Describe(call), ": ", response.status().message()));
    }
    if (response->status < 200 || response->status >= 300) {
      return S3ErrorStatus(call, *response);
    }
    return response;
  }

  // Attempt, retried under the policy.
  absl::StatusOr<HttpResponse> Execute(const S3Call& call) {
    absl::StatusOr<HttpResponse> result;
    absl::Status status = RunWithRetries(options_.retry, Describe(call), [&] {
      result = Attempt(call);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }

  bool UseVirtualHosting(absl::string_view bucket) const {
    switch (options_.addressing) {
      case S3ClientOptions::Addressing::kVirtualHosted:
        return true;
      case S3ClientOptions::Addressing::kPathStyle:
        return false;
      case S3ClientOptions::Addressing::kAuto:
        return endpoint_.is_aws && IsDnsCompatibleBucket(bucket);
    }
    return false;
  }

  // DeleteObjects answers 200 even when some keys failed; they are listed
  // as <Error> elements.
  absl::Status PerKeyDeleteErrors(const S3Call& call, absl::string_view xml) {
    const std::vector<absl::string_view> errors = XmlElements(xml, "Error");
    if (errors.empty()) return absl::OkStatus();
    bool transient = true;
    std::vector<std::string> described;
    for (absl::string_view error : errors) {
      const std::string code = XmlText(error, "Code").value_or("");
      transient = transient && IsTransientS3Code(code);
      if (described.size() < 5) {
        described.push_back(absl::StrCat(XmlText(error, "Key").value_or("?"), " (", code, ": ",
                                         XmlText(error, "Message").value_or(""), ")"));
      }
    }
    return absl::Status(
        transient ? absl::StatusCode::kUnavailable : absl::StatusCode::kFailedPrecondition,
        absl::StrCat(Describe(call), ": ", errors.size(),
                     " keys not deleted, including: ", absl::StrJoin(described, ", ")));
  }

  // A multipart upload of `file`: initiate, parts, complete; aborted on
  // failure.
  absl::StatusOr<S3PutResult> UploadParts(absl::string_view bucket, absl::string_view key,
                                          const std::string& path, const OpenFile& file);

  // The parts a multipart upload has sent: S3's ETag and the MD5 of each.
  struct UploadedParts {
    std::vector<std::string> etags;
    std::vector<std::string> md5s;  // raw
  };
  absl::StatusOr<UploadedParts> UploadAllParts(absl::string_view bucket, absl::string_view key,
                                               const std::string& path, const OpenFile& file,
                                               const std::string& upload_id, uint64_t part_size);
  absl::StatusOr<S3PutResult> CompleteUpload(absl::string_view bucket, absl::string_view key,
                                             const std::string& path, const OpenFile& file,
                                             const std::string& upload_id,
                                             const UploadedParts& parts);
  // After a CompleteMultipartUpload whose outcome is unknown (its response
  // was lost) and whose retries failed (the upload no longer exists): the
  // object, if it is there and is exactly this file.
  absl::StatusOr<S3PutResult> FindCompletedUpload(absl::string_view bucket, absl::string_view key,
                                                  const std::string& path, const OpenFile& file,
                                                  const UploadedParts& parts);

  const S3ClientOptions options_;
  const Endpoint endpoint_;
  const std::shared_ptr<CredentialsProvider> credentials_;
  const SigV4Signer signer_;
  HttpClient http_;
};

absl::StatusOr<S3PutResult> S3ClientImpl::UploadParts(absl::string_view bucket,
                                                      absl::string_view key,
                                                      const std::string& path,
                                                      const OpenFile& file) {
  uint64_t part_size = std::clamp<uint64_t>(options_.part_size, kMinPartSize, kMaxPartSize);
  // Grow parts to stay within S3's 10,000 (rounded up to whole MiB).
  const uint64_t needed = (file.size() + kMaxParts - 1) / kMaxParts;
  if (needed > part_size) part_size = ((needed + (1 << 20) - 1) >> 20) << 20;
  if (part_size > kMaxPartSize) {
    return absl::InvalidArgumentError(absl::StrCat("S3 multipart upload of ", path, " (",
                                                   file.size(), " bytes) to s3://", bucket, "/",
                                                   key, " exceeds S3's 5 TiB limit"));
  }

  S3Call initiate("CreateMultipartUpload", bucket, key, "POST");
  initiate.query.emplace_back("uploads", "");
  absl::StatusOr<HttpResponse> initiated = Execute(initiate);
  if (!initiated.ok()) return initiated.status();
  const std::string upload_id = XmlText(initiated->body, "UploadId").value_or("");
  if (upload_id.empty()) {
    return absl::InternalError(
        absl::StrCat(Describe(initiate), ": response has no UploadId: ", initiated->body));
  }

  absl::StatusOr<UploadedParts> parts =
      UploadAllParts(bucket, key, path, file, upload_id, part_size);
  absl::StatusOr<S3PutResult> result =
      parts.ok() ? CompleteUpload(bucket, key, path, file, upload_id, *parts) : parts.status();
  if (result.ok()) return result;

  // Abort so the parts stop costing storage; the original error is what
  // the caller needs, with the abort's outcome appended if it failed too.
  S3Call abort("AbortMultipartUpload", bucket, key, "DELETE");
  abort.query.emplace_back("uploadId", upload_id);
  absl::StatusOr<HttpResponse> aborted = Execute(abort);
  const absl::Status& error = result.status();
  return absl::Status(
      error.code(),
      absl::StrCat(error.message(), aborted.ok() ? "; upload aborted"
                                                 : absl::StrCat("; abort failed too: ",
                                                                aborted.status().message())));
}

absl::StatusOr<S3ClientImpl::UploadedParts> S3ClientImpl::UploadAllParts(
    absl::string_view bucket, absl::string_view key, const std::string& path, const OpenFile& file,
    const std::string& upload_id, uint64_t part_size) {
  const uint64_t count = std::max<uint64_t>(1, (file.size() + part_size - 1) / part_size);
  UploadedParts parts;
  parts.etags.resize(count);
  parts.md5s.resize(count);
  std::atomic<uint64_t> next_part{0};
  std::atomic<bool> failed{false};
  absl::Mutex failure_mutex;
  absl::Status failure;
  auto upload_one = [&](uint64_t index) -> absl::Status {
    const uint64_t start = index * part_size;
    const uint64_t length = std::min(part_size, file.size() - start);
    // Each part is hashed, then streamed from the file: memory stays at one
    // hashing buffer per part in flight.
    absl::StatusOr<BodyDigests> digests = DigestFileRange(file.fd(), path, start, length);
    if (!digests.ok()) return digests.status();
    FileRangeBody body(file.fd(), path, start, length);
    S3Call call("UploadPart", bucket, key, "PUT");
    call.query = {{"partNumber", absl::StrCat(index + 1)}, {"uploadId", upload_id}};
    call.body = &body;
    call.payload_hash = digests->sha256_hex;
    call.headers.emplace_back("Content-MD5", digests->md5_base64);
    absl::StatusOr<HttpResponse> response = Execute(call);
    if (!response.ok()) return response.status();
    parts.etags[index] = response->Header("etag");
    parts.md5s[index] = digests->md5;
    if (parts.etags[index].empty()) {
      return absl::InternalError(absl::StrCat(Describe(call), ": no ETag returned"));
    }
    return absl::OkStatus();
  };
  auto worker = [&] {
    for (uint64_t index; (index = next_part.fetch_add(1)) < count && !failed.load();) {
      absl::Status status = upload_one(index);
      if (status.ok()) continue;
      absl::MutexLock lock(&failure_mutex);
      if (failure.ok()) {
        failure = absl::Status(
            status.code(), absl::StrCat("part ", index + 1, " of ", count, ": ", status.message()));
      }
      failed.store(true);
      return;
    }
  };
  const uint64_t workers =
      std::min<uint64_t>(count, static_cast<uint64_t>(std::max(1, options_.max_parts_in_flight)));
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (uint64_t i = 0; i < workers; ++i) threads.emplace_back(worker);
  for (std::thread& thread : threads) thread.join();
  if (failed.load()) return failure;
  return parts;
}

absl::StatusOr<S3PutResult> S3ClientImpl::CompleteUpload(
    absl::string_view bucket, absl::string_view key, const std::string& path, const OpenFile& file,
    const std::string& upload_id, const UploadedParts& parts) {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < parts.etags.size(); ++i) {
    absl::StrAppend(&xml, "<Part><PartNumber>", i + 1, "</PartNumber><ETag>",
                    XmlEscape(parts.etags[i]), "</ETag></Part>");
  }
  xml += "</CompleteMultipartUpload>";
  MemoryBody body(xml);
  S3Call complete("CompleteMultipartUpload", bucket, key, "POST");
  complete.query.emplace_back("uploadId", upload_id);
  complete.body = &body;
  complete.payload_hash = HexEncode(Sha256(xml));
  complete.headers.emplace_back("Content-MD5", Base64Encode(Md5(xml)));
  absl::StatusOr<HttpResponse> completed;
  // Set once an attempt failed in a way that may have completed the upload
  // anyway (a lost response, a 5xx after the work was done).
  bool outcome_unknown = false;
  absl::Status status = RunWithRetries(options_.retry, Describe(complete), [&]() -> absl::Status {
    completed = Attempt(complete);
    absl::Status attempt = completed.status();
    // CompleteMultipartUpload can fail after answering 200: the error is
    // then in the body.
    if (attempt.ok() && !XmlElements(completed->body, "Error").empty() &&
        XmlElements(completed->body, "CompleteMultipartUploadResult").empty()) {
      attempt = S3ErrorStatus(complete, HttpResponse{500, {}, completed->body});
    }
    outcome_unknown = outcome_unknown || IsTransientError(attempt);
    return attempt;
  });
  if (status.ok()) {
    return S3PutResult{Unquote(XmlText(completed->body, "ETag").value_or("")), file.size(),
                       static_cast<int>(parts.etags.size())};
  }
  if (outcome_unknown) {
    absl::StatusOr<S3PutResult> found = FindCompletedUpload(bucket, key, path, file, parts);
    if (found.ok()) return found;
    return absl::Status(status.code(),
                        absl::StrCat(status.message(), "; ", found.status().message()));
  }
  return status;
}

absl::StatusOr<S3PutResult> S3ClientImpl::FindCompletedUpload(absl::string_view bucket,
                                                              absl::string_view key,
                                                              const std::string& path,
                                                              const OpenFile& file,
                                                              const UploadedParts& parts) {
  absl::StatusOr<S3ObjectInfo> head = HeadObject(bucket, key);
  if (!head.ok()) return head.status();
  const S3PutResult found{head->etag, file.size(), static_cast<int>(parts.etags.size())};
  if (head->size != file.size()) {
    return absl::NotFoundError(absl::StrCat("the object has ", head->size, " bytes, not ",
                                            file.size(), ": the upload did not complete"));
  }
  // S3's ETag for a multipart object: the MD5 of the parts' MD5s, and the
  // part count.
  if (head->etag ==
      absl::StrCat(HexEncode(Md5(absl::StrJoin(parts.md5s, ""))), "-", parts.md5s.size())) {
    return found;
  }
  // Some stores (s3rver) give the whole object's MD5 instead.
  absl::StatusOr<BodyDigests> whole = DigestFileRange(file.fd(), path, 0, file.size());
  if (!whole.ok()) return whole.status();
  if (head->etag == HexEncode(whole->md5)) return found;
  return absl::NotFoundError(absl::StrCat("the object's ETag ", head->etag,
                                          " is not this file's: the upload did not complete"));
}

}  // namespace

std::string ResolveS3Endpoint(absl::string_view flag) {
  if (!flag.empty()) return std::string(flag);
  std::string endpoint = Getenv("AWS_ENDPOINT_URL_S3");
  if (!endpoint.empty()) return endpoint;
  return Getenv("AWS_ENDPOINT_URL");
}

absl::StatusOr<std::string> ResolveS3Region(absl::string_view flag, absl::string_view endpoint) {
  if (!flag.empty()) return std::string(flag);
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    std::string region = Getenv(name);
    if (!region.empty()) return region;
  }
  if (!endpoint.empty()) return std::string("us-east-1");
  return absl::InvalidArgumentError(
      "no AWS region: pass --s3-region or set AWS_REGION or "
      "AWS_DEFAULT_REGION");
}

absl::StatusOr<std::vector<S3ObjectInfo>> S3Client::ListAllObjects(absl::string_view bucket,
                                                                   absl::string_view prefix) {
  std::vector<S3ObjectInfo> objects;
  std::string token;
  do {
    absl::StatusOr<S3ListPage> page = ListObjectsV2(bucket, prefix, token);
    if (!page.ok()) return page.status();
    for (S3ObjectInfo& object : page->objects) {
      objects.push_back(std::move(object));
    }
    token = std::move(page->next_continuation_token);
  } while (!token.empty());
  return objects;
}

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Create(
    S3ClientOptions options, std::shared_ptr<CredentialsProvider> credentials) {
  if (options.region.empty()) {
    return absl::InvalidArgumentError("S3 client: no region configured");
  }
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("S3 client: no credentials provider");
  }
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(options.endpoint, options.region);
  if (!endpoint.ok()) return endpoint.status();
  return std::unique_ptr<S3Client>(
      new S3ClientImpl(std::move(options), *std::move(endpoint), std::move(credentials)));
}

}  // namespace re_dms
