// BatchWriter: the pipeline's seam for turning a Batch into staged files, so
// a service (or a test) can stage batches its own way. The production writer
// is CsvWriter.

#ifndef RE_DMS_BATCH_WRITER_H_
#define RE_DMS_BATCH_WRITER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "re_dms/batch.h"
#include "re_dms/csv_writer.h"
#include "re_dms/staged_batch.h"

namespace re_dms {

class BatchWriter {
 public:
  virtual ~BatchWriter() = default;

  // As CsvWriter::Write: the StagedBatch describing `batch` (without its
  // rows) and the local files holding them; nothing left behind on error.
  // Called from several threads at once, for batches of different tables and
  // for consecutive batches of one table.
  virtual absl::StatusOr<StagedBatch> Write(const Batch& batch) = 0;
};

// CsvWriter behind the interface.
std::unique_ptr<BatchWriter> MakeCsvBatchWriter(CsvWriterOptions options);

}  // namespace re_dms

#endif  // RE_DMS_BATCH_WRITER_H_
