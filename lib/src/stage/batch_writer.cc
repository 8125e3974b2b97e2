#include "re_dms/batch_writer.h"

#include <utility>

namespace re_dms {
namespace {

// CsvWriter keeps nothing between calls but its options, so one instance
// serves every thread.
class CsvBatchWriter final : public BatchWriter {
 public:
  explicit CsvBatchWriter(CsvWriterOptions options) : writer_(std::move(options)) {}

  absl::StatusOr<StagedBatch> Write(const Batch& batch) override { return writer_.Write(batch); }

 private:
  CsvWriter writer_;
};

}  // namespace

std::unique_ptr<BatchWriter> MakeCsvBatchWriter(CsvWriterOptions options) {
  return std::make_unique<CsvBatchWriter>(std::move(options));
}

}  // namespace re_dms
