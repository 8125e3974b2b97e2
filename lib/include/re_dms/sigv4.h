// AWS Signature Version 4, with Amazon S3's rules, written against
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
//
// S3's rules, which differ from other services:
//  - the path is never normalized ("//", "." and ".." are kept) and is
//    URI-encoded exactly once: the request carries the decoded path;
//  - x-amz-content-sha256 (the payload's SHA-256 or UNSIGNED-PAYLOAD) is
//    sent and signed;
//  - with session credentials, x-amz-security-token is signed (added before
//    signing, not after).
//
// The signer is thread-safe: it caches derived signing keys per (secret,
// day), and the cache is guarded.

#ifndef RE_DMS_SIGV4_H_
#define RE_DMS_SIGV4_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "re_dms/aws_credentials.h"

namespace re_dms {

// The payload hash to sign when the body is not hashed: presigned URLs, and
// bodies whose integrity Content-MD5 guards instead.
inline constexpr absl::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty string, the payload hash of bodiless requests.
inline constexpr absl::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

using HttpFields = std::vector<std::pair<std::string, std::string>>;

// An HTTP request as the signer sees it, before signing.
struct SigV4Request {
  std::string method;  // "GET", "PUT", ...
  // The Host header's value: the host name, with ":port" when the port is
  // not the scheme's default (exactly what the client sends).
  std::string host;
  // The decoded path, starting with '/': "/bucket/my key" for path-style
  // addressing. The signer (and the client, for the URL) encodes it once.
  std::string path = "/";
  // Decoded query parameters, in any order; names may repeat; "?lifecycle"
  // is {"lifecycle", ""}.
  HttpFields query;
  // Headers to sign, as sent; names may repeat (their values are joined in
  // order). Must not include Host, Authorization or X-Amz-Date, which the
  // signer owns.
  HttpFields headers;
};

// A header-signed request: the headers to add, and the intermediate strings
// (useful to compare against reference vectors and S3's error responses).
struct SigV4HeaderSignature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lowercase hex
  // Headers to add to the request, in this order: X-Amz-Date,
  // X-Amz-Content-SHA256 (when signed), X-Amz-Security-Token (with session
  // credentials), Authorization.
  HttpFields headers;
};

// A presigned (query-signed) request.
struct SigV4QuerySignature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  // The complete encoded query string to send: the request's own parameters,
  // then X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
  // X-Amz-SignedHeaders, X-Amz-Security-Token (if any), X-Amz-Signature.
  std::string encoded_query;
};

class SigV4Signer {
 public:
  struct Options {
    std::string region;  // "us-east-1"
    std::string service = "s3";
    // Add and sign X-Amz-Content-SHA256 (S3 requires it). Other services,
    // and most cases of AWS's generic test suite, do without.
    bool sign_content_sha256 = true;
  };

  explicit SigV4Signer(Options options);

  SigV4Signer(const SigV4Signer&) = delete;
  SigV4Signer& operator=(const SigV4Signer&) = delete;

  // Signs with an Authorization header. `payload_hash` is the lowercase hex
  // SHA-256 of the body, or kUnsignedPayload. Fails with InvalidArgument on
  // a malformed request or credentials (the error never contains secrets).
  absl::StatusOr<SigV4HeaderSignature> SignHeaders(const SigV4Request& request,
                                                   const AwsCredentials& credentials,
                                                   absl::Time now,
                                                   absl::string_view payload_hash) const;

  // Signs in the query string (a presigned URL valid for `expires`, between
  // one second and seven days). S3 presigned URLs sign kUnsignedPayload.
  absl::StatusOr<SigV4QuerySignature> Presign(
      const SigV4Request& request, const AwsCredentials& credentials, absl::Time now,
      absl::Duration expires, absl::string_view payload_hash = kUnsignedPayload) const;

  const Options& options() const { return options_; }

 private:
  // The key derived from the secret, day, region and service; computed once
  // per day and secret. The cache is keyed by a hash of the secret so the
  // secret itself is not copied.
  std::string SigningKey(absl::string_view secret, absl::string_view day) const;
  std::string Sign(absl::string_view secret, absl::string_view day,
                   absl::string_view string_to_sign) const;

  const Options options_;
  mutable absl::Mutex mutex_;
  mutable absl::flat_hash_map<std::string, std::string> signing_keys_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace re_dms

#endif  // RE_DMS_SIGV4_H_
