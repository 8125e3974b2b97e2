#include "lib/src/pipeline/progress_tracker.h"

namespace re_dms {

void ProgressTracker::SetUndispatchedFloor(const SourcePosition& floor) {
  absl::MutexLock lock(&mutex_);
  undispatched_floor_ = floor;
}

ProgressTracker::Ticket ProgressTracker::Dispatch(const SourcePosition& floor) {
  absl::MutexLock lock(&mutex_);
  Ticket ticket{floor.sequence, next_id_++};
  in_flight_.emplace(std::make_pair(ticket.floor_sequence, ticket.id), floor);
  return ticket;
}

void ProgressTracker::Complete(const Ticket& ticket) {
  absl::MutexLock lock(&mutex_);
  in_flight_.erase(std::make_pair(ticket.floor_sequence, ticket.id));
}

SourcePosition ProgressTracker::DurableLocked() const {
  if (!in_flight_.empty() && in_flight_.begin()->second.sequence < undispatched_floor_.sequence) {
    return in_flight_.begin()->second;
  }
  return undispatched_floor_;
}

SourcePosition ProgressTracker::Durable() const {
  absl::ReaderMutexLock lock(&mutex_);
  return DurableLocked();
}

std::optional<SourcePosition> ProgressTracker::TakeAdvance() {
  absl::MutexLock lock(&mutex_);
  SourcePosition durable = DurableLocked();
  if (durable.sequence <= reported_sequence_) return std::nullopt;
  reported_sequence_ = durable.sequence;
  return durable;
}

size_t ProgressTracker::in_flight() const {
  absl::ReaderMutexLock lock(&mutex_);
  return in_flight_.size();
}

}  // namespace re_dms
