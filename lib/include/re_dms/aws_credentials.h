// AWS credentials and the interface that supplies them. The signer and the S3
// client take a CredentialsProvider and ask it for credentials per request,
// so temporary credentials can be refreshed while long uploads run.
//
// Credentials are secrets: this header deliberately has no operator<< and no
// AbslStringify; use CredentialsDebugString, which masks them.

#ifndef RE_DMS_AWS_CREDENTIALS_H_
#define RE_DMS_AWS_CREDENTIALS_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace re_dms {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;             // empty unless temporary credentials
  std::optional<absl::Time> expiration;  // when temporary credentials expire
};

// A description for logs: the access key id with all but its last four
// characters masked, whether a secret and a session token are present, and the
// expiration. Never the secret or the token themselves.
std::string CredentialsDebugString(const AwsCredentials& credentials);

// Supplies credentials; thread-safe; may refresh. Implementations: static,
// chain (credentials.h).
class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  virtual absl::StatusOr<AwsCredentials> GetCredentials() = 0;
};

// A provider that always returns `credentials`.
std::unique_ptr<CredentialsProvider> MakeStaticCredentialsProvider(AwsCredentials credentials);

}  // namespace re_dms

#endif  // RE_DMS_AWS_CREDENTIALS_H_
