// A StagedBatch: a Batch after CsvWriter wrote its rows to files (and, once
// S3Uploader has run, after those files reached S3). It is what the Loader
// applies: everything about the batch except the rows themselves.

#ifndef RE_DMS_STAGED_BATCH_H_
#define RE_DMS_STAGED_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "re_dms/batch.h"

namespace re_dms {

enum class Compression { kNone, kGzip, kZstd };

// One data set of a batch: the deletes, one RowGroup of upserts, or the
// moves, as CSV split into one or more parts.
struct StagedFile {
  // kMove: the key columns (new key), then each key column again prefixed
  // with kMoveFromPrefix (old key); see Batch::moves.
  enum class Role { kUpsert, kDelete, kMove };
  static constexpr const char* kMoveFromPrefix = "re_dms_from_";
  Role role = Role::kUpsert;
  // Column names in the order the CSV holds them (no header line).
  std::vector<std::string> columns;
  uint64_t rows = 0;
  // Size of all parts together, compressed, as written.
  uint64_t bytes = 0;

  // Local files written by CsvWriter, in order.
  std::vector<std::string> local_paths;
  // A Redshift COPY manifest (JSON) listing the parts, written beside them.
  std::string local_manifest_path;

  // Filled by S3Uploader: `s3://bucket/key` of each part, in order, and of
  // the manifest (whose entries name those part URIs).
  std::vector<std::string> s3_uris;
  std::string s3_manifest_uri;
};

struct StagedBatch {
  // The batch without its rows: table, sequence, kind, position, columns,
  // key columns and truncate flags.
  Batch batch;
  std::vector<StagedFile> files;
  Compression compression = Compression::kZstd;
};

}  // namespace re_dms

#endif  // RE_DMS_STAGED_BATCH_H_
