// ProgressTracker: the durable position is the lowest floor of what is not
// yet loaded -- the undispatched floor and every batch in flight -- and is
// reported once per advance, never backwards.

#include "lib/src/pipeline/progress_tracker.h"

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace re_dms {
namespace {

SourcePosition Commit(uint64_t sequence) {
  SourcePosition position;
  position.sequence = sequence;
  position.xid = static_cast<uint32_t>(1000 + sequence);
  position.commit_time = "2026-01-01 00:00:00+00";
  return position;
}

TEST(ProgressTrackerTest, NothingIsDurableBeforeTheFirstCommit) {
  ProgressTracker tracker;
  EXPECT_EQ(tracker.Durable().sequence, 0u);
  EXPECT_FALSE(tracker.TakeAdvance().has_value());
  tracker.SetUndispatchedFloor(Commit(0));
  EXPECT_FALSE(tracker.TakeAdvance().has_value());
}

TEST(ProgressTrackerTest, WithNothingInFlightTheUndispatchedFloorIsDurable) {
  ProgressTracker tracker;
  tracker.SetUndispatchedFloor(Commit(7));
  SourcePosition durable = tracker.Durable();
  EXPECT_EQ(durable.sequence, 7u);
  EXPECT_EQ(durable.xid, 1007u);  // The whole position, not just its ordinal.
  EXPECT_EQ(durable.commit_time, "2026-01-01 00:00:00+00");
}

TEST(ProgressTrackerTest, ABatchInFlightHoldsThePositionBackUntilLoaded) {
  ProgressTracker tracker;
  ProgressTracker::Ticket ticket = tracker.Dispatch(Commit(3));
  tracker.SetUndispatchedFloor(Commit(10));
  EXPECT_EQ(tracker.Durable().sequence, 3u);
  EXPECT_EQ(tracker.in_flight(), 1u);
  tracker.Complete(ticket);
  EXPECT_EQ(tracker.Durable().sequence, 10u);
  EXPECT_EQ(tracker.in_flight(), 0u);
}

TEST(ProgressTrackerTest, TheUndispatchedFloorHoldsThePositionBackToo) {
  // A table's changes still buffered in the batcher: commit 4's batch of
  // another table is loaded, but nothing past the buffered floor is durable.
  ProgressTracker tracker;
  tracker.SetUndispatchedFloor(Commit(2));
  ProgressTracker::Ticket ticket = tracker.Dispatch(Commit(4));
  tracker.Complete(ticket);
  EXPECT_EQ(tracker.Durable().sequence, 2u);
}

TEST(ProgressTrackerTest, LoadsCompletingOutOfOrderAdvanceOnlyPastTheOldest) {
  // Three tables' batches; the newest loads first, the oldest last.
  ProgressTracker tracker;
  ProgressTracker::Ticket a = tracker.Dispatch(Commit(1));
  ProgressTracker::Ticket b = tracker.Dispatch(Commit(5));
  ProgressTracker::Ticket c = tracker.Dispatch(Commit(9));
  tracker.SetUndispatchedFloor(Commit(12));
  tracker.Complete(c);
  EXPECT_EQ(tracker.Durable().sequence, 1u);
  tracker.Complete(b);
  EXPECT_EQ(tracker.Durable().sequence, 1u);
  tracker.Complete(a);
  EXPECT_EQ(tracker.Durable().sequence, 12u);
}

TEST(ProgressTrackerTest, BatchesWithEqualFloorsAreTrackedSeparately) {
  ProgressTracker tracker;
  ProgressTracker::Ticket first = tracker.Dispatch(Commit(4));
  ProgressTracker::Ticket second = tracker.Dispatch(Commit(4));
  tracker.SetUndispatchedFloor(Commit(6));
  tracker.Complete(first);
  EXPECT_EQ(tracker.Durable().sequence, 4u);
  tracker.Complete(second);
  EXPECT_EQ(tracker.Durable().sequence, 6u);
}

TEST(ProgressTrackerTest, TakeAdvanceReportsEachAdvanceOnce) {
  ProgressTracker tracker;
  tracker.SetUndispatchedFloor(Commit(1));
  ASSERT_TRUE(tracker.TakeAdvance().has_value());
  EXPECT_FALSE(tracker.TakeAdvance().has_value());
  ProgressTracker::Ticket ticket = tracker.Dispatch(Commit(1));
  tracker.SetUndispatchedFloor(Commit(3));
  EXPECT_FALSE(tracker.TakeAdvance().has_value());  // Still 1.
  tracker.Complete(ticket);
  std::optional<SourcePosition> advanced = tracker.TakeAdvance();
  ASSERT_TRUE(advanced.has_value());
  EXPECT_EQ(advanced->sequence, 3u);
  EXPECT_EQ(advanced->xid, 1003u);
  EXPECT_FALSE(tracker.TakeAdvance().has_value());
}

TEST(ProgressTrackerTest, NeverReportsBackwards) {
  // A caller that (wrongly) lowers a floor must not make an acknowledged
  // position go back: the source may already have discarded it.
  ProgressTracker tracker;
  tracker.SetUndispatchedFloor(Commit(8));
  ASSERT_EQ(tracker.TakeAdvance()->sequence, 8u);
  tracker.SetUndispatchedFloor(Commit(5));
  EXPECT_FALSE(tracker.TakeAdvance().has_value());
  tracker.SetUndispatchedFloor(Commit(9));
  EXPECT_EQ(tracker.TakeAdvance()->sequence, 9u);
}

TEST(ProgressTrackerTest, ConcurrentLoadsEndAtTheFinalFloor) {
  // Many workers completing batches while the reader dispatches: every
  // reported position is increasing and the last is the final floor.
  ProgressTracker tracker;
  constexpr int kBatches = 4000;
  std::vector<ProgressTracker::Ticket> tickets;
  for (int i = 0; i < kBatches; ++i) tickets.push_back(tracker.Dispatch(Commit(i / 4)));
  tracker.SetUndispatchedFloor(Commit(kBatches));
  std::shuffle(tickets.begin(), tickets.end(), std::mt19937(42));

  std::vector<std::vector<uint64_t>> reported(4);
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      for (size_t i = w; i < tickets.size(); i += 4) {
        tracker.Complete(tickets[i]);
        if (std::optional<SourcePosition> p = tracker.TakeAdvance()) {
          reported[w].push_back(p->sequence);
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  EXPECT_EQ(tracker.in_flight(), 0u);
  EXPECT_EQ(tracker.Durable().sequence, static_cast<uint64_t>(kBatches));
  uint64_t highest = 0;
  for (const std::vector<uint64_t>& sequences : reported) {
    EXPECT_TRUE(std::is_sorted(sequences.begin(), sequences.end()));
    if (!sequences.empty()) highest = std::max(highest, sequences.back());
  }
  EXPECT_EQ(highest, static_cast<uint64_t>(kBatches));
}

}  // namespace
}  // namespace re_dms
