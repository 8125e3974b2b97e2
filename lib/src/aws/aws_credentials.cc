#include "re_dms/aws_credentials.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace re_dms {
namespace {

class StaticCredentialsProvider : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(AwsCredentials credentials)
      : credentials_(std::move(credentials)) {}

  absl::StatusOr<AwsCredentials> GetCredentials() override { return credentials_; }

 private:
  const AwsCredentials credentials_;
};

}  // namespace

std::string CredentialsDebugString(const AwsCredentials& credentials) {
  const std::string& id = credentials.access_key_id;
  // The last four characters identify a key in the IAM console without
  // revealing it, as the AWS console itself does.
  const size_t shown = id.size() > 4 ? 4 : 0;
  std::string masked = std::string(id.size() - shown, '*');
  masked.append(id, id.size() - shown, shown);
  return absl::StrCat(
      "AwsCredentials{access_key_id=", masked,
      ", secret=", credentials.secret_access_key.empty() ? "absent" : "present",
      ", session_token=", credentials.session_token.empty() ? "absent" : "present", ", expiration=",
      credentials.expiration.has_value()
          ? absl::FormatTime(absl::RFC3339_sec, *credentials.expiration, absl::UTCTimeZone())
          : std::string("none"),
      "}");
}

std::unique_ptr<CredentialsProvider> MakeStaticCredentialsProvider(AwsCredentials credentials) {
  return std::make_unique<StaticCredentialsProvider>(std::move(credentials));
}

}  // namespace re_dms
