// The EC2 instance metadata source of the credential chain, IMDSv2 only: a
// session token from PUT /latest/api/token authorizes the role lookups, which
// defeats request-forgery attacks that IMDSv1 is open to.
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "credentials_http.h"
#include "re_dms/credentials.h"

namespace re_dms {
namespace {

using credentials_internal::MetadataRequest;
using credentials_internal::MetadataResponse;
using credentials_internal::ParseCredentialsDocument;

constexpr absl::string_view kDefaultEndpoint = "http://169.254.169.254";
constexpr absl::string_view kRolesPath = "/latest/meta-data/iam/security-credentials/";

std::string Endpoint(const CredentialChainOptions& options) {
  std::string endpoint = options.instance_metadata_endpoint;
  if (endpoint.empty()) {
    endpoint = options.environment("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("");
  }
  if (endpoint.empty()) endpoint = std::string(kDefaultEndpoint);
  return std::string(absl::StripSuffix(endpoint, "/"));
}

}  // namespace

absl::StatusOr<AwsCredentials> CredentialsFromInstanceMetadata(
    const CredentialChainOptions& options) {
  if (absl::AsciiStrToLower(options.environment("AWS_EC2_METADATA_DISABLED").value_or("")) ==
      "true") {
    return absl::NotFoundError("instance metadata: disabled by AWS_EC2_METADATA_DISABLED");
  }
  const std::string endpoint = Endpoint(options);

  // No answer to the token request is how "not on EC2" looks: that source is
  // then simply absent. One attempt only, so the chain fails fast off EC2.
  absl::StatusOr<MetadataResponse> token = MetadataRequest(
      "PUT", absl::StrCat(endpoint, "/latest/api/token"),
      {"X-aws-ec2-metadata-token-ttl-seconds: 21600"}, options);
  if (!token.ok()) {
    return absl::NotFoundError(absl::StrCat("instance metadata: ", token.status().message()));
  }
  if (token->status != 200 || token->body.empty()) {
    // 403: IMDS is turned off for the instance; 404/405: an IMDSv1-only
    // service, which this client deliberately does not use.
    return absl::NotFoundError(absl::StrCat("instance metadata: PUT ", endpoint,
                                            "/latest/api/token returned HTTP ", token->status));
  }
  const std::vector<std::string> headers = {
      absl::StrCat("X-aws-ec2-metadata-token: ", token->body)};

  // From here on the service exists, so failures are errors, not absence.
  const std::string roles_url = absl::StrCat(endpoint, kRolesPath);
  absl::StatusOr<MetadataResponse> roles =
      MetadataRequest("GET", roles_url, headers, options, /*attempts=*/3);
  if (!roles.ok()) {
    return absl::UnavailableError(absl::StrCat("instance metadata: ", roles.status().message()));
  }
  if (roles->status == 404) {
    return absl::NotFoundError(
        absl::StrCat("instance metadata: no IAM role attached (GET ", roles_url, " returned 404)"));
  }
  if (roles->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("instance metadata: GET ", roles_url, " returned HTTP ", roles->status));
  }
  // One role per instance profile; the listing is one name per line.
  const std::string role(absl::StripAsciiWhitespace(
      absl::string_view(roles->body).substr(0, roles->body.find('\n'))));
  if (role.empty()) {
    return absl::NotFoundError(absl::StrCat("instance metadata: GET ", roles_url, " named no role"));
  }

  const std::string credentials_url = absl::StrCat(roles_url, role);
  const std::string source = absl::StrCat("instance metadata (", credentials_url, ")");
  absl::StatusOr<MetadataResponse> document =
      MetadataRequest("GET", credentials_url, headers, options, /*attempts=*/3);
  if (!document.ok()) {
    return absl::UnavailableError(absl::StrCat("instance metadata: ", document.status().message()));
  }
  if (document->status != 200) {
    return absl::UnavailableError(absl::StrCat(source, ": HTTP ", document->status));
  }
  return ParseCredentialsDocument(document->body, source);
}

}  // namespace re_dms
