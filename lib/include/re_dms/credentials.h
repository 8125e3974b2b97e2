// The standard AWS credential chain, resolved as the AWS SDKs do:
//
//   1. explicit configuration (CredentialChainOptions::explicit_credentials)
//   2. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   3. shared files: the profile (CredentialChainOptions::profile, else
//      AWS_PROFILE, else `default`) of AWS_SHARED_CREDENTIALS_FILE
//      (~/.aws/credentials), then of AWS_CONFIG_FILE (~/.aws/config, where
//      sections read `[profile name]`)
//   4. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI under
//      http://169.254.170.2, or AWS_CONTAINER_CREDENTIALS_FULL_URI, with
//      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / AWS_CONTAINER_AUTHORIZATION_TOKEN
//      sent as the Authorization header
//   5. EC2 instance metadata, IMDSv2 only (a session token first), unless
//      AWS_EC2_METADATA_DISABLED=true; endpoint AWS_EC2_METADATA_SERVICE_ENDPOINT
//      or http://169.254.169.254
//
// A source that is not configured passes to the next one. A source that is
// configured but broken (a named profile that does not exist, a half-set
// environment, a container endpoint that fails) stops the chain with an error
// naming that source: silently falling through to other credentials would
// act as a different identity than the one the operator chose.
//
// Errors name sources, files, variables and URLs, never a secret or token.
//
// The metadata services are only probed when nothing earlier is configured,
// with a short connect timeout so that running off EC2 costs at most about a
// second, once.

#ifndef RE_DMS_CREDENTIALS_H_
#define RE_DMS_CREDENTIALS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "re_dms/aws_credentials.h"

namespace re_dms {

// Returns the value of an environment variable, std::nullopt when unset.
using EnvironmentLookup = std::function<std::optional<std::string>(absl::string_view name)>;

// Reads the process environment.
EnvironmentLookup ProcessEnvironment();

struct CredentialChainOptions {
  // Used before any other source when set.
  std::optional<AwsCredentials> explicit_credentials;
  // Profile of the shared files; empty means AWS_PROFILE, else `default`.
  std::string profile;
  // Every variable named above is read through this seam, so tests (and
  // embedders) need not touch the process environment.
  EnvironmentLookup environment = ProcessEnvironment();
  // Base of AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
  std::string container_endpoint = "http://169.254.170.2";
  // Instance metadata endpoint; empty means AWS_EC2_METADATA_SERVICE_ENDPOINT,
  // else http://169.254.169.254.
  std::string instance_metadata_endpoint;
  // Timeouts of each metadata HTTP request: connecting (short, so a host that
  // is not on EC2 gives up quickly) and the whole exchange.
  absl::Duration metadata_connect_timeout = absl::Seconds(1);
  absl::Duration metadata_request_timeout = absl::Seconds(2);
  // Temporary credentials are fetched again this long before they expire, so
  // a request signed just before expiry still reaches S3 in time.
  absl::Duration refresh_before_expiry = absl::Minutes(5);
};

// The chain above as a thread-safe CredentialsProvider. Resolved credentials
// are cached: permanent ones for the provider's life, temporary ones until
// `refresh_before_expiry` before they expire, when the chain is resolved
// again. If that refresh fails while the cached credentials have not yet
// expired, they are still returned (the next call tries again); once expired,
// the error is returned. Concurrent callers wait for one resolution.
std::unique_ptr<CredentialsProvider> MakeDefaultCredentialsProvider(CredentialChainOptions options);

// The chain's sources, one by one. Each returns NotFoundError when it is not
// configured (the chain then tries the next source), another error when it is
// configured but cannot deliver.
absl::StatusOr<AwsCredentials> CredentialsFromEnvironment(const CredentialChainOptions& options);
absl::StatusOr<AwsCredentials> CredentialsFromSharedFiles(const CredentialChainOptions& options);
absl::StatusOr<AwsCredentials> CredentialsFromContainer(const CredentialChainOptions& options);
absl::StatusOr<AwsCredentials> CredentialsFromInstanceMetadata(
    const CredentialChainOptions& options);

}  // namespace re_dms

#endif  // RE_DMS_CREDENTIALS_H_
