// ProgressTracker: the pipeline's durable position -- the newest commit at or
// before which every change of every table is loaded in the target.
//
// Changes are somewhere between the source and the target: not yet handed
// downstream (in the parser or the ChangeBatcher), or in a batch that is
// being written, uploaded or loaded. Each of those places holds only changes
// of commits after some "floor" commit, and the durable position is the
// lowest floor among them:
//   - SetUndispatchedFloor: everything not yet dispatched belongs to commits
//     after this one (the batcher's oldest_buffered_position(), else its
//     position()).
//   - Dispatch: a batch whose changes all belong to commits after `floor`
//     went downstream; Complete when it is loaded.
// A floor may be a lower bound (an older commit than the exact one): the
// durable position is then later to advance, never wrong. Floors passed in
// must not decrease over time; the reported position never goes back.
//
// Thread-safe.

#ifndef RE_DMS_LIB_SRC_PROGRESS_TRACKER_H_
#define RE_DMS_LIB_SRC_PROGRESS_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "re_dms/batch.h"

namespace re_dms {

class ProgressTracker {
 public:
  // Identifies one dispatched batch.
  struct Ticket {
    uint64_t floor_sequence = 0;
    uint64_t id = 0;
  };

  void SetUndispatchedFloor(const SourcePosition& floor);
  Ticket Dispatch(const SourcePosition& floor);
  // The batch of `ticket` is loaded (or will never need to be).
  void Complete(const Ticket& ticket);

  // The durable position now; sequence 0 when no commit is durable yet.
  SourcePosition Durable() const;
  // Durable() when it is past what the previous TakeAdvance returned (and
  // past sequence 0); nullopt otherwise.
  std::optional<SourcePosition> TakeAdvance();

  // Batches dispatched and not yet completed.
  size_t in_flight() const;

 private:
  SourcePosition DurableLocked() const ABSL_SHARED_LOCKS_REQUIRED(mutex_);

  mutable absl::Mutex mutex_;
  SourcePosition undispatched_floor_ ABSL_GUARDED_BY(mutex_);
  // Floors of batches in flight, lowest first.
  std::map<std::pair<uint64_t, uint64_t>, SourcePosition> in_flight_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_id_ ABSL_GUARDED_BY(mutex_) = 1;
  uint64_t reported_sequence_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace re_dms

#endif  // RE_DMS_LIB_SRC_PROGRESS_TRACKER_H_
