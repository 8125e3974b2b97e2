// The credential chain: sources in order, and the cache that refreshes
// temporary credentials before they expire.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "re_dms/credentials.h"

namespace re_dms {
namespace {

using Source = absl::StatusOr<AwsCredentials> (*)(const CredentialChainOptions&);

class DefaultCredentialsProvider : public CredentialsProvider {
 public:
  explicit DefaultCredentialsProvider(CredentialChainOptions options)
      : options_(std::move(options)) {}

  absl::StatusOr<AwsCredentials> GetCredentials() override {
    absl::MutexLock lock(&mutex_);
    const absl::Time now = absl::Now();
    if (cached_.has_value() && !DueForRefresh(*cached_, now)) return *cached_;
    absl::StatusOr<AwsCredentials> resolved = Resolve();
    if (resolved.ok()) {
      cached_ = *resolved;
      return resolved;
    }
    // A metadata service hiccup inside the refresh window must not fail
    // requests that the cached credentials can still sign.
    if (cached_.has_value() && *cached_->expiration > now) return *cached_;
    return resolved.status();
  }

 private:
  bool DueForRefresh(const AwsCredentials& credentials, absl::Time now) const {
    return credentials.expiration.has_value() &&
           *credentials.expiration - options_.refresh_before_expiry <= now;
  }

  absl::StatusOr<AwsCredentials> Resolve() const {
    if (options_.explicit_credentials.has_value()) {
      const AwsCredentials& explicit_credentials = *options_.explicit_credentials;
      if (explicit_credentials.access_key_id.empty() ||
          explicit_credentials.secret_access_key.empty()) {
        return absl::InvalidArgumentError(
            "explicit configuration: both an access key id and a secret access key are required");
      }
      return explicit_credentials;
    }
    static constexpr Source kSources[] = {
        CredentialsFromEnvironment,
        CredentialsFromSharedFiles,
        CredentialsFromContainer,
        CredentialsFromInstanceMetadata,
    };
    std::vector<std::string> absent;
    for (Source source : kSources) {
      absl::StatusOr<AwsCredentials> credentials = source(options_);
      if (credentials.ok() || !absl::IsNotFound(credentials.status())) return credentials;
      absent.emplace_back(credentials.status().message());
    }
    return absl::NotFoundError(
        absl::StrCat("no AWS credentials found; tried ", absl::StrJoin(absent, "; ")));
  }

  const CredentialChainOptions options_;
  absl::Mutex mutex_;
  std::optional<AwsCredentials> cached_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace

std::unique_ptr<CredentialsProvider> MakeDefaultCredentialsProvider(
    CredentialChainOptions options) {
  return std::make_unique<DefaultCredentialsProvider>(std::move(options));
}

}  // namespace re_dms
