// Private to the credential sources: the small HTTP exchanges with the
// container and instance metadata services, and the credentials document both
// of them serve.

#ifndef RE_DMS_SRC_CREDENTIALS_HTTP_H_
#define RE_DMS_SRC_CREDENTIALS_HTTP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/aws_credentials.h"
#include "re_dms/credentials.h"

namespace re_dms::credentials_internal {

struct MetadataResponse {
  long status = 0;
  std::string body;
};

// One request with the options' timeouts, bypassing any HTTP proxy (metadata
// endpoints are link-local or loopback). `headers` are full `Name: value`
// lines. A transport failure (refused, timed out) or a 5xx is tried again, up
// to `attempts` in all, after a short pause: the services are local and
// usually recover within milliseconds. A transport failure on the last
// attempt is UnavailableError naming the URL; any HTTP status is returned,
// not judged.
absl::StatusOr<MetadataResponse> MetadataRequest(
    absl::string_view method, const std::string& url,
    const std::vector<std::string>& headers,
    const CredentialChainOptions& options, int attempts = 1);

// Parses the JSON the metadata services return: AccessKeyId,
// SecretAccessKey, Token and Expiration (RFC 3339). Errors name `source` and
// the missing field; they never quote the body, which holds secrets.
absl::StatusOr<AwsCredentials> ParseCredentialsDocument(
    absl::string_view body, absl::string_view source);

}  // namespace re_dms::credentials_internal

#endif  // RE_DMS_SRC_CREDENTIALS_HTTP_H_
