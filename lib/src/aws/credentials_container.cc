// The container source of the credential chain (ECS task roles, EKS Pod
// Identity): a GET of a local credentials endpoint.
// https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "credentials_http.h"
#include "re_dms/credentials.h"

namespace re_dms {
namespace {

using credentials_internal::MetadataRequest;
using credentials_internal::MetadataResponse;
using credentials_internal::ParseCredentialsDocument;

// A FULL_URI over plain HTTP may only name the machine itself or the
// link-local addresses of the ECS and EKS agents, so credentials never cross
// a network unencrypted.
bool IsAllowedPlainHttpHost(absl::string_view host) {
  return absl::StartsWith(host, "127.") || host == "localhost" || host == "[::1]" ||
         host == "169.254.170.2" || host == "169.254.170.23" || host == "[fd00:ec2::23]";
}

// The host of `http://host[:port]/...`, brackets kept for IPv6 literals.
absl::string_view HostOf(absl::string_view url) {
  absl::string_view rest = url.substr(url.find("://") + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) rest.remove_prefix(at + 1);
  if (absl::StartsWith(rest, "[")) return rest.substr(0, rest.find(']') + 1);
  return rest.substr(0, rest.find(':'));
}

absl::StatusOr<std::string> AuthorizationToken(const CredentialChainOptions& options) {
  std::string token;
  if (std::optional<std::string> file = options.environment("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      file.has_value() && !file->empty()) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      return absl::FailedPreconditionError(absl::StrCat(
          "container credentials: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ", *file));
    }
    std::ostringstream content;
    content << in.rdbuf();
    token = std::string(absl::StripTrailingAsciiWhitespace(content.str()));
  } else {
    token = options.environment("AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or("");
  }
  // A line break would let the token inject further request headers.
  if (token.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        "container credentials: the authorization token contains a line break");
  }
  return token;
}

}  // namespace

absl::StatusOr<AwsCredentials> CredentialsFromContainer(const CredentialChainOptions& options) {
  const std::string relative =
      options.environment("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").value_or("");
  const std::string full = options.environment("AWS_CONTAINER_CREDENTIALS_FULL_URI").value_or("");
  std::string url;
  if (!relative.empty()) {
    url = absl::StrCat(absl::StripSuffix(options.container_endpoint, "/"),
                       absl::StartsWith(relative, "/") ? "" : "/", relative);
  } else if (!full.empty()) {
    const std::string scheme = absl::AsciiStrToLower(full.substr(0, full.find("://")));
    if (full.find("://") == std::string::npos || (scheme != "https" && scheme != "http")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI `", full, "` is not an http(s) URL"));
    }
    if (scheme == "http" && !IsAllowedPlainHttpHost(HostOf(full))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI `", full,
          "` uses plain http to a host other than loopback or the ECS/EKS agent"));
    }
    url = full;
  } else {
    return absl::NotFoundError(
        "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set");
  }

  absl::StatusOr<std::string> token = AuthorizationToken(options);
  if (!token.ok()) return token.status();
  std::vector<std::string> headers = {"Accept: application/json"};
  if (!token->empty()) headers.push_back(absl::StrCat("Authorization: ", *token));

  const std::string source = absl::StrCat("container credentials (", url, ")");
  absl::StatusOr<MetadataResponse> response =
      MetadataRequest("GET", url, headers, options, /*attempts=*/3);
  if (!response.ok()) {
    return absl::UnavailableError(absl::StrCat("container credentials: ", response.status().message()));
  }
  if (response->status != 200) {
    std::string message = absl::StrCat(source, ": HTTP ", response->status);
    if (response->status == 401 || response->status == 403) {
      return absl::PermissionDeniedError(
          absl::StrCat(message, " (check AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE])"));
    }
    return absl::UnavailableError(message);
  }
  return ParseCredentialsDocument(response->body, source);
}

}  // namespace re_dms
