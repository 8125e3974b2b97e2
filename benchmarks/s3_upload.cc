// Uploads one local file to S3 with re_dms (S3Uploader over S3Client) and
// prints the throughput, for benchmarks/s3_upload_bench, which runs it side
// by side with `aws s3 cp`. Credentials come from the standard chain
// (re_dms/credentials.h), so the same environment serves both tools.
//
//   s3_upload --endpoint=http://127.0.0.1:PORT --bucket=B --key=K --file=F
//
// Prints one line: `re_dms <bytes> bytes <seconds> s <MB/s> MB/s <parts> parts`.

#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "re_dms/credentials.h"
#include "re_dms/s3_client.h"
#include "re_dms/s3_uploader.h"

ABSL_FLAG(std::string, endpoint, "", "S3 endpoint (empty: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS)");
ABSL_FLAG(std::string, region, "", "Region (empty: AWS_REGION, AWS_DEFAULT_REGION)");
ABSL_FLAG(std::string, bucket, "", "Bucket to upload into");
ABSL_FLAG(std::string, key, "", "Object key");
ABSL_FLAG(std::string, file, "", "Local file to upload");
ABSL_FLAG(int64_t, part_size_mib, 16, "Multipart part size, MiB");
ABSL_FLAG(int64_t, multipart_threshold_mib, 64, "Files above this go in parts, MiB");
ABSL_FLAG(int, parts_in_flight, 8, "Parts uploaded at once");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string endpoint = re_dms::ResolveS3Endpoint(absl::GetFlag(FLAGS_endpoint));
  absl::StatusOr<std::string> region = re_dms::ResolveS3Region(absl::GetFlag(FLAGS_region), endpoint);
  if (!region.ok()) {
    std::fprintf(stderr, "s3_upload: %s\n", region.status().ToString().c_str());
    return 2;
  }
  re_dms::S3ClientOptions options;
  options.endpoint = endpoint;
  options.region = *region;
  options.part_size = static_cast<uint64_t>(absl::GetFlag(FLAGS_part_size_mib)) << 20;
  options.multipart_threshold = static_cast<uint64_t>(absl::GetFlag(FLAGS_multipart_threshold_mib)) << 20;
  options.max_parts_in_flight = absl::GetFlag(FLAGS_parts_in_flight);
  std::shared_ptr<re_dms::CredentialsProvider> credentials =
      re_dms::MakeDefaultCredentialsProvider(re_dms::CredentialChainOptions());
  absl::StatusOr<std::unique_ptr<re_dms::S3Client>> client =
      re_dms::S3Client::Create(options, credentials);
  if (!client.ok()) {
    std::fprintf(stderr, "s3_upload: %s\n", client.status().ToString().c_str());
    return 2;
  }
  re_dms::S3UploaderOptions uploader_options;
  uploader_options.bucket = absl::GetFlag(FLAGS_bucket);
  std::unique_ptr<re_dms::S3Uploader> uploader =
      re_dms::MakeS3Uploader(client->get(), uploader_options);

  const absl::Time start = absl::Now();
  absl::StatusOr<re_dms::UploadedObject> uploaded =
      uploader->UploadFile(absl::GetFlag(FLAGS_file), absl::GetFlag(FLAGS_key));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!uploaded.ok()) {
    std::fprintf(stderr, "s3_upload: %s\n", uploaded.status().ToString().c_str());
    return 1;
  }
  std::printf("re_dms %llu bytes %.3f s %.1f MB/s etag %s\n",
              static_cast<unsigned long long>(uploaded->size), seconds,
              uploaded->size / seconds / 1e6, uploaded->etag.c_str());
  return 0;
}
