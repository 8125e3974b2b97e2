// Loader: applies staged batches to a target table, each entirely or not at
// all, and remembers per table the last source position it applied.
//
// Contract with the pipeline: batches of one table arrive one at a time and in
// `sequence` order (different tables may be applied concurrently through
// different Loader instances). Apply() either commits the whole batch together
// with its checkpoint or changes nothing.
//
// Exactly once: a batch (or group, see ApplyGroup) whose position has an LSN
// at or before the table's checkpoint LSN is skipped: Apply returns OK
// without touching the table, so replaying batches after a crash is harmless.
// Every position with an LSN is a commit's, and a table's batches of one
// commit form one group, so an LSN identifies what was applied. Positions
// without an LSN (a pg_recvlogical pipe) are not comparable across runs: they
// are recorded but never skip a first attempt. Within one Apply call, a retry
// after a lost COMMIT reply recognises its own checkpoint row and does not
// apply again.

#ifndef RE_DMS_LOADER_H_
#define RE_DMS_LOADER_H_

#include <optional>
#include <string>
#include <vector>

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

  // Applies a group: consecutive batches of one table, in sequence order,
  // each but the last marked Batch::applies_with_next (one source
  // transaction). A loader that can applies them in one target transaction
  // with one checkpoint; this default applies them one by one, so the target
  // may show part of the source transaction in between.
  virtual absl::Status ApplyGroup(const std::vector<const StagedBatch*>& batches) {
    for (const StagedBatch* batch : batches) {
      absl::Status status = Apply(*batch);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  // The checkpoint of `schema`.`table`, or nullopt when none was written.
  virtual absl::StatusOr<std::optional<Checkpoint>> GetCheckpoint(absl::string_view schema,
                                                                  absl::string_view table) = 0;
};

}  // namespace re_dms

#endif  // RE_DMS_LOADER_H_
