// The environment source of the credential chain.

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "re_dms/credentials.h"

namespace re_dms {

EnvironmentLookup ProcessEnvironment() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<AwsCredentials> CredentialsFromEnvironment(
    const CredentialChainOptions& options) {
  // An empty variable counts as unset, as in the AWS SDKs.
  auto get = [&](absl::string_view name) {
    std::optional<std::string> value = options.environment(name);
    return value.value_or("");
  };
  AwsCredentials credentials;
  credentials.access_key_id = get("AWS_ACCESS_KEY_ID");
  credentials.secret_access_key = get("AWS_SECRET_ACCESS_KEY");
  credentials.session_token = get("AWS_SESSION_TOKEN");
  if (credentials.access_key_id.empty() && credentials.secret_access_key.empty()) {
    return absl::NotFoundError("environment: AWS_ACCESS_KEY_ID is not set");
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "environment: ",
        credentials.access_key_id.empty() ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID",
        " is set but ",
        credentials.access_key_id.empty() ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
        " is not"));
  }
  return credentials;
}

}  // namespace re_dms
