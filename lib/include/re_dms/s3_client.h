// An Amazon S3 client over libcurl, signed with SigV4 (re_dms/sigv4.h); no
// AWS SDK. Works with AWS and S3-compatible stores (any endpoint).
//
// Every request is retried on transient failures (5xx, SlowDown,
// RequestTimeout, throttling, dropped or stalled connections) with full
// jitter under RetryPolicy's deadline; 403 and other client errors fail at
// once. Errors are absl::Status values whose message names the operation,
// bucket, key, HTTP status, S3 error code, message and request id, and never
// credentials or signatures. Uploads are protected end to end: the body's
// SHA-256 is signed and its MD5 sent as Content-MD5, so S3 rejects a body
// corrupted in transit.
//
// Thread-safe: one client serves many concurrent operations, reusing
// connections between them.

#ifndef RE_DMS_S3_CLIENT_H_
#define RE_DMS_S3_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "re_dms/aws_credentials.h"
#include "re_dms/retry.h"

namespace re_dms {

struct S3ClientOptions {
  // Required (see ResolveS3Region).
  std::string region;
  // "scheme://host[:port]" of an S3-compatible store; empty for AWS
  // (https://s3.<region>.amazonaws.com). See ResolveS3Endpoint.
  std::string endpoint;
  enum class Addressing {
    // Virtual-hosted on AWS when the bucket name is a valid DNS label (no
    // dots over HTTPS, whose wildcard certificate they would break);
    // path-style for custom endpoints and other buckets.
    kAuto,
    kVirtualHosted,
    kPathStyle,
  };
  Addressing addressing = Addressing::kAuto;

  bool verify_tls = true;
  std::string ca_file;  // PEM bundle; the system's when empty
  absl::Duration connect_timeout = absl::Seconds(10);
  // A transfer below this rate for low_speed_time is abandoned and retried.
  long low_speed_bytes_per_second = 1024;
  absl::Duration low_speed_time = absl::Seconds(30);
  RetryPolicy retry;

  // Files larger than this are uploaded in parts.
  uint64_t multipart_threshold = 64ull << 20;
  // Part size; S3 requires at least 5 MiB for every part but the last, and
  // at most 10,000 parts (the size grows to fit larger files).
  uint64_t part_size = 16ull << 20;
  // Parts uploaded at once, per multipart upload.
  int max_parts_in_flight = 8;
};

// The endpoint from, in order: `flag` (--s3-endpoint), AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL; "" (AWS) when none is set.
std::string ResolveS3Endpoint(absl::string_view flag);

// The region from `flag`, AWS_REGION, AWS_DEFAULT_REGION; with none of them
// set, "us-east-1" for a custom endpoint (S3-compatible stores accept it) and
// an InvalidArgument error for AWS, where guessing would sign for the wrong
// region.
absl::StatusOr<std::string> ResolveS3Region(absl::string_view flag, absl::string_view endpoint);

struct S3ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // as S3 returns it, quotes removed
  absl::Time last_modified;
};

struct S3PutResult {
  std::string etag;  // quotes removed; "<md5>-<parts>" for multipart uploads
  uint64_t size = 0;
  int parts = 0;  // 0 for a single PUT
};

struct S3ListPage {
  std::vector<S3ObjectInfo> objects;
  std::vector<std::string> common_prefixes;  // with a delimiter
  // Pass to the next call; empty on the last page.
  std::string next_continuation_token;
};

class S3Client {
 public:
  // Fails on an unparseable endpoint or missing region.
  static absl::StatusOr<std::unique_ptr<S3Client>> Create(
      S3ClientOptions options, std::shared_ptr<CredentialsProvider> credentials);

  virtual ~S3Client() = default;

  // For tests and demos; succeeds if the bucket already exists and is ours.
  virtual absl::Status CreateBucket(absl::string_view bucket) = 0;

  virtual absl::StatusOr<S3PutResult> PutObject(absl::string_view bucket, absl::string_view key,
                                                absl::string_view data) = 0;

  // Uploads a local file without holding it in memory: hashed in a first
  // pass, then streamed. Files above multipart_threshold go in parts,
  // several at once; a failed multipart upload is aborted so no parts linger.
  virtual absl::StatusOr<S3PutResult> PutFile(absl::string_view bucket, absl::string_view key,
                                              const std::string& path) = 0;

  // Always multipart, whatever the size (at least one part).
  virtual absl::StatusOr<S3PutResult> MultipartUploadFile(absl::string_view bucket,
                                                          absl::string_view key,
                                                          const std::string& path) = 0;

  // Streams the object to `sink` in order, each byte exactly once: a
  // transfer that fails midway resumes where it stopped (a Range request
  // pinned to the first response's ETag). An error from `sink` stops the
  // download and is returned.
  virtual absl::StatusOr<S3ObjectInfo> GetObject(
      absl::string_view bucket, absl::string_view key,
      const std::function<absl::Status(absl::string_view)>& sink) = 0;

  // kNotFound when the object does not exist.
  virtual absl::StatusOr<S3ObjectInfo> HeadObject(absl::string_view bucket,
                                                  absl::string_view key) = 0;

  // Succeeds when the object does not exist (as S3 does); kNotFound when
  // the bucket does not.
  virtual absl::Status DeleteObject(absl::string_view bucket, absl::string_view key) = 0;

  // Deletes in batches of 1,000 (S3's limit); fails naming the keys S3
  // could not delete.
  virtual absl::Status DeleteObjects(absl::string_view bucket,
                                     const std::vector<std::string>& keys) = 0;

  // One page of ListObjectsV2 (at most `max_keys`, S3 caps it at 1,000).
  virtual absl::StatusOr<S3ListPage> ListObjectsV2(absl::string_view bucket,
                                                   absl::string_view prefix,
                                                   absl::string_view continuation_token,
                                                   int max_keys = 1000,
                                                   absl::string_view delimiter = "") = 0;

  // Every object under `prefix`, following continuation tokens.
  absl::StatusOr<std::vector<S3ObjectInfo>> ListAllObjects(absl::string_view bucket,
                                                           absl::string_view prefix);
};

}  // namespace re_dms

#endif  // RE_DMS_S3_CLIENT_H_
