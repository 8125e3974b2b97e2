// Loader: applies staged batches to a target table, each entirely or not at
// all, and remembers per table the last source position it applied.
//
// Contract with the pipeline: batches of one table arrive one at a time and in
// `sequence` order (different tables may be applied concurrently through
// different Loader instances). Apply() either commits the whole batch together
// with its checkpoint or changes nothing.
//
// Exactly once: a batch whose position has an LSN older than the table's
// checkpoint LSN, or equal to it with a batch sequence not past the recorded
// one (TRUNCATE, schema-change and cut batches share their predecessor's
// position), is skipped: Apply returns OK without touching the table, so
// replaying batches after a crash is harmless. Positions without an LSN (a
// pg_recvlogical pipe) are not comparable across runs: they are recorded but
// never skip a first attempt. Within one Apply call, a retry after a lost
// COMMIT reply recognises its own checkpoint row and does not apply again.

#ifndef RE_DMS_LOADER_H_
#define RE_DMS_LOADER_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/batch.h"
#include "re_dms/staged_batch.h"

namespace re_dms {

// The last batch applied to one target table.
struct Checkpoint {
  SourcePosition position;
  // When the applying transaction ran, as the target printed it (UTC).
  std::string applied_at;
};

class Loader {
 public:
  virtual ~Loader() = default;

  // Applies one batch atomically (see above). Errors name the table, the
  // batch position, the statement kind and, for COPY, the S3 key.
  virtual absl::Status Apply(const StagedBatch& batch) = 0;

  // The checkpoint of `schema`.`table`, or nullopt when none was written.
  virtual absl::StatusOr<std::optional<Checkpoint>> GetCheckpoint(absl::string_view schema,
                                                                  absl::string_view table) = 0;
};

}  // namespace re_dms

#endif  // RE_DMS_LOADER_H_
