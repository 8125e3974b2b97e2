#include "re_dms/compression.h"
#include "re_dms/redshift_loader.h"

namespace re_dms {
namespace {

class LocalStagedFileSource final : public StagedFileSource {
 public:
  absl::Status Read(const StagedFile& file, Compression compression,
                    const std::function<absl::Status(absl::string_view)>& sink) override {
    for (const std::string& path : file.local_paths) {
      absl::Status status = DecompressFile(path, compression, sink);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<StagedFileSource> MakeLocalStagedFileSource() {
  return std::make_unique<LocalStagedFileSource>();
}

}  // namespace re_dms
