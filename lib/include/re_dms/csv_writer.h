// CsvWriter: writes a Batch's rows as compressed CSV files in a local spool
// directory and describes them as a StagedBatch.
//
// A batch becomes one data set for its deletes and one per RowGroup of
// upserts (empty ones are skipped). Each data set is one or more part files
// plus a Redshift COPY manifest listing them:
//
//   <table>.<sequence>.delete.part00001.csv.zst
//   <table>.<sequence>.upsert-<group>.part00001.csv.zst
//   <table>.<sequence>.upsert-<group>.manifest.json
//
// where <table> is `schema.table` with every byte outside [A-Za-z0-9_] written
// as `-XX` (hex), so names are safe for files and S3 keys and two tables
// never share one; <sequence> is the batch sequence, zero-padded to 12 digits.
// A <table> longer than 150 bytes keeps its first 120 and `-h` plus a 64-bit
// hash of the whole (a `-` before a non-hex letter never occurs otherwise).
//
// Every file is written under a `.tmp` name and renamed when complete, and a
// data set's manifest is written only after all its parts: a manifest's
// presence means its data set is whole. On any error Write removes what it
// wrote for the batch. Rows and columns follow csv_dialect.h; deletes hold the
// key columns, or every column for a table without a key.

#ifndef RE_DMS_CSV_WRITER_H_
#define RE_DMS_CSV_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "re_dms/batch.h"
#include "re_dms/csv_dialect.h"
#include "re_dms/staged_batch.h"
#include "re_dms/value_formatter.h"

namespace re_dms {

struct CsvWriterOptions {
  // Where files go; it must exist.
  std::string spool_directory;
  // The target's dialect: it decides the NULL marker.
  CsvDialect dialect = kRedshiftCsv;
  Compression compression = Compression::kZstd;
  // zstd 1..22 or gzip 1..9. Level 1 keeps compression well ahead of parsing.
  int compression_level = 1;
  // A part is closed once it holds this many bytes of CSV (before
  // compression); a row is never split, so a part may exceed it by one row.
  // Redshift loads the parts of a manifest in parallel.
  uint64_t max_part_bytes = 64 << 20;
  // fsync each file before its rename and the directory after, so that a
  // crash of the machine, too, never leaves a complete-looking partial file.
  bool fsync = true;
  // Per-column formatting; nullptr means PostgreSQL's text unchanged. Not
  // owned; must outlive the writer.
  const ValueFormatter* formatter = nullptr;
};

class CsvWriter {
 public:
  explicit CsvWriter(CsvWriterOptions options);

  // Writes `batch`'s rows and returns the StagedBatch that describes them
  // (`batch` without rows, and one StagedFile per data set). Truncate and
  // schema-change batches have no rows and produce no files.
  //
  // Errors name the table and, as applicable, the file (disk full is
  // ResourceExhausted), or the column and row key of a value that cannot be
  // written (InvalidArgument): a NUL byte, which neither COPY accepts, or a
  // formatter's refusal. Nothing of the batch is left behind on error.
  //
  // Calls are independent: several threads may write different batches (of
  // one table or several) at once.
  absl::StatusOr<StagedBatch> Write(const Batch& batch) const;

 private:
  CsvWriterOptions options_;
};

// The file-name form of `schema.table` described above.
std::string StagedTableName(absl::string_view schema, absl::string_view table);

}  // namespace re_dms

#endif  // RE_DMS_CSV_WRITER_H_
