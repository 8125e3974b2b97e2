#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "re_dms/compression.h"
#include "re_dms/redshift_loader.h"
#include "re_dms/s3_client.h"

namespace re_dms {
namespace {

class S3StagedFileSource final : public StagedFileSource {
 public:
  explicit S3StagedFileSource(S3Client* client) : client_(client) {}

  absl::Status Read(const StagedFile& file, Compression compression,
                    const std::function<absl::Status(absl::string_view)>& sink) override {
    if (file.s3_uris.empty() && file.rows > 0) {
      return absl::FailedPreconditionError(
          "data set has no S3 objects; upload the batch before loading it");
    }
    for (const std::string& uri : file.s3_uris) {
      absl::string_view rest = uri;
      size_t slash = std::string::npos;
      if (!absl::ConsumePrefix(&rest, "s3://") ||
          (slash = rest.find('/')) == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("not an s3://bucket/key URI: ", uri));
      }
      absl::StatusOr<std::unique_ptr<Decompressor>> decompressor =
          Decompressor::Create(compression);
      if (!decompressor.ok()) return decompressor.status();
      // Each part is an independent compressed stream, decompressed as it
      // arrives: nothing larger than a chunk is held.
      uint64_t received = 0;
      absl::StatusOr<S3ObjectInfo> object = client_->GetObject(
          rest.substr(0, slash), rest.substr(slash + 1), [&](absl::string_view chunk) {
            received += chunk.size();
            return (*decompressor)->Write(chunk, sink);
          });
      if (!object.ok()) return object.status();
      if (received != object->size) {
        return absl::DataLossError(absl::StrCat(uri, ": received ", received, " of ",
                                                object->size, " bytes"));
      }
      absl::Status finished = (*decompressor)->Finish();
      if (!finished.ok()) return absl::Status(finished.code(), absl::StrCat(uri, ": ", finished.message()));
    }
    return absl::OkStatus();
  }

 private:
  S3Client* client_;
};

}  // namespace

std::unique_ptr<StagedFileSource> MakeS3StagedFileSource(S3Client* client) {
  return std::make_unique<S3StagedFileSource>(client);
}

}  // namespace re_dms
