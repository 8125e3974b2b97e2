#include "tests/tools/s3_scratch.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace re_dms::testing {

absl::StatusOr<std::string> TestS3Endpoint() {
  const char* endpoint = std::getenv("RE_DMS_TEST_S3_ENDPOINT");
  if (endpoint == nullptr || *endpoint == '\0') {
    return absl::FailedPreconditionError(
        "RE_DMS_TEST_S3_ENDPOINT is not set: run the tests through ./scripts/test, or "
        "`source /tmp/dev-services.env` first");
  }
  return std::string(endpoint);
}

absl::StatusOr<std::unique_ptr<S3Client>> MakeTestS3Client(S3ClientOptions options) {
  options.region = "us-east-1";
  options.addressing = S3ClientOptions::Addressing::kPathStyle;
  // s3rver does not verify signatures but knows one key pair, its default.
  AwsCredentials credentials{"S3RVER", "S3RVER", "", std::nullopt};
  return S3Client::Create(std::move(options),
                          std::shared_ptr<CredentialsProvider>(
                              MakeStaticCredentialsProvider(std::move(credentials))));
}

std::string UniqueBucketName(absl::string_view prefix) {
  static std::atomic<int> counter{0};
  return absl::AsciiStrToLower(absl::StrCat(prefix, "-", getpid(), "-", counter++));
}

absl::StatusOr<std::string> ReadObject(S3Client& client, absl::string_view bucket,
                                       absl::string_view key) {
  std::string content;
  absl::StatusOr<S3ObjectInfo> info = client.GetObject(bucket, key, [&](absl::string_view piece) {
    content.append(piece.data(), piece.size());
    return absl::OkStatus();
  });
  if (!info.ok()) return info.status();
  return content;
}

absl::StatusOr<std::string> ReadLocalFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace re_dms::testing
