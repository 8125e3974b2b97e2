// Test support for tests against the local S3 server that ./scripts/test
// starts (RE_DMS_TEST_S3_ENDPOINT): clients with throwaway credentials and
// uniquely named buckets.

#ifndef RE_DMS_TESTS_TOOLS_S3_SCRATCH_H_
#define RE_DMS_TESTS_TOOLS_S3_SCRATCH_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/s3_client.h"

namespace re_dms::testing {

// The test server's endpoint, or an error naming the variable when unset.
absl::StatusOr<std::string> TestS3Endpoint();

// A client for `options.endpoint` (path-style, region us-east-1, static
// test credentials); `options`' other fields are kept.
absl::StatusOr<std::unique_ptr<S3Client>> MakeTestS3Client(S3ClientOptions options);

// A bucket name no other test uses: `<prefix>-<pid>-<counter>`, lowercase.
std::string UniqueBucketName(absl::string_view prefix);

// The whole object, read with GetObject.
absl::StatusOr<std::string> ReadObject(S3Client& client, absl::string_view bucket,
                                       absl::string_view key);

// The whole local file.
absl::StatusOr<std::string> ReadLocalFile(const std::string& path);

}  // namespace re_dms::testing

#endif  // RE_DMS_TESTS_TOOLS_S3_SCRATCH_H_
