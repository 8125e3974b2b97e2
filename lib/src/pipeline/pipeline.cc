#include "re_dms/pipeline.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "lib/src/pipeline/progress_tracker.h"
#include "lib/src/pipeline/transaction_spool.h"

namespace re_dms {
namespace {

// "commit #12 (xid 734, at 2024-05-01 10:00:00.1+00)", for error messages.
std::string DescribePosition(const SourcePosition& position) {
  if (position.sequence == 0) return "before the first commit";
  std::string text = absl::StrCat("commit #", position.sequence);
  std::vector<std::string> details;
  if (position.lsn) details.push_back(absl::StrCat("lsn ", *position.lsn));
  if (position.xid) details.push_back(absl::StrCat("xid ", *position.xid));
  if (!position.commit_time.empty()) details.push_back(absl::StrCat("at ", position.commit_time));
  if (!details.empty()) absl::StrAppend(&text, " (", absl::StrJoin(details, ", "), ")");
  return text;
}

// Prefixes `status` with the batch and stage it concerns, keeping its code.
absl::Status InBatch(const absl::Status& status, const Batch& batch, absl::string_view stage) {
  return absl::Status(status.code(),
                      absl::StrCat("table ", batch.schema, ".", batch.table, ", batch ",
                                   batch.sequence, " (through ", DescribePosition(batch.position),
                                   "), ", stage, ": ", status.message()));
}

bool IsChange(RecordKind kind) {
  return kind == RecordKind::kInsert || kind == RecordKind::kUpdate ||
         kind == RecordKind::kDelete || kind == RecordKind::kTruncate;
}

// test_decoding's `(at ...)` text, e.g. `2017-05-10 12:07:21.272494-04`.
std::optional<absl::Time> ParseCommitTime(absl::string_view text) {
  std::string zoned(text);
  // The offset is printed as `-04` or `+05:30`; absl's %Ez wants `hh:mm`.
  const size_t sign = zoned.find_last_of("+-");
  if (sign != std::string::npos && sign > 10 && zoned.size() - sign == 3) zoned += ":00";
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S%Ez", zoned, &time, &error)) return std::nullopt;
  return time;
}

void RemoveLocalFiles(const StagedBatch& staged) {
  for (const StagedFile& file : staged.files) {
    for (const std::string& path : file.local_paths) std::remove(path.c_str());
    if (!file.local_manifest_path.empty()) std::remove(file.local_manifest_path.c_str());
  }
}

}  // namespace

class Pipeline::Impl {
 public:
  Impl(PipelineOptions options, PipelineComponents components,
       std::unique_ptr<ChangeBatcher> batcher, std::vector<std::unique_ptr<Loader>> loaders)
      : options_(std::move(options)),
        components_(std::move(components)),
        batcher_(std::move(batcher)),
        loaders_(std::move(loaders)) {}

  absl::Status Run(StreamSource* source);
  void RequestStop() {
    // The second request also abandons work in flight, once committed work
    // has had stop_grace to load (see pipeline.h and CancelWhenDue).
    if (stop_requests_.fetch_add(1) == 1) {
      absl::MutexLock lock(&cancel_mutex_);
      cancel_at_ = options_.clock() + options_.stop_grace;
    }
  }
  PipelineStats Stats() const;
  // The checkpoint LSN of a target table, for BatcherOptions::applied_through.
  absl::StatusOr<std::optional<uint64_t>> AppliedThrough(const std::string& schema,
                                                         const std::string& table);

 private:
  struct Lane;
  // One batch on its way from the batcher to the target.
  struct Job {
    Batch batch;  // Its rows are released once written.
    StagedBatch staged;
    Lane* lane = nullptr;
    ProgressTracker::Ticket ticket;
    uint64_t memory_bytes = 0;
    uint64_t rows = 0;
    bool staged_done = false;
    bool applies_with_next = false;  // Batch::applies_with_next.
    // A rename onto a name another lane loaded into (its table dropped
    // since): that lane's jobs dispatched before this one load first.
    Lane* after = nullptr;
  };
  // A target table's batches, in sequence order; the front loads next.
  struct Lane {
    std::string source_schema;
    std::deque<std::unique_ptr<Job>> jobs;
    bool queued = false;      // In ready_lanes_.
    bool loading = false;     // A load worker holds the front jobs.
    bool group_open = false;  // The last job dispatched applies with the next.
    // Jobs at the front that load next, in one transaction: one, or a whole
    // group once its last batch is staged; 0 while not ready.
    size_t LoadableJobs() const {
      size_t count = 0;
      for (const std::unique_ptr<Job>& job : jobs) {
        if (!job->staged_done) return 0;
        if (job->after != nullptr && !job->after->jobs.empty()) return 0;
        ++count;
        if (!job->applies_with_next) return count;
      }
      return 0;
    }
  };

  // Reads, parses and batches until the stream ends, a stop, or a failure;
  // returns how the input ended (OK: completely, or stopped cleanly).
  absl::Status ReadInput(StreamSource* source);
  // A COMMIT of the spooled transaction: hands the transaction to the batcher
  // and dispatches what it completes.
  absl::Status CommitTransaction(TransactionSpool* spool, Record* commit,
                                 const SourcePosition& floor, std::vector<Batch>* ready);
  // The input is over: dispatches what the batcher holds (every committed
  // transaction) and returns `status`, or the reason the spooled transaction
  // was not loaded.
  absl::Status EndInput(absl::Status status, const TransactionSpool& spool, bool stopped);
  // Everything read is loaded: acknowledges the source's read-through position.
  void AcknowledgeIdle(StreamSource* source);
  // Hands `batches` to the workers, waiting for room; clears it.
  void Dispatch(std::vector<Batch>* batches, const SourcePosition& floor);
  // Every change the batcher holds belongs to a commit after this one.
  SourcePosition BatcherFloor() const {
    return batcher_->oldest_buffered_position().value_or(batcher_->position());
  }
  void ReportDurable();
  // The lane of `batch`'s table (Batch::table_id, else its target name),
  // created on first use; nullptr (and the pipeline failed) when another
  // source table already loads into its target table. Sets job->after for a
  // rename onto a name another lane loaded into.
  Lane* LaneForLocked(const Batch& batch, const std::string& source_schema, Job* job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  void StageWorker();
  void LoadWorker(Loader* loader);
  absl::Status Stage(Job* job);
  absl::Status Load(Loader* loader, const std::vector<Job*>& jobs);

  void FailLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!failed_) {
      failed_ = true;
      failure_ = std::move(status);
    }
  }
  void Fail(absl::Status status) {
    absl::MutexLock lock(&mutex_);
    FailLocked(std::move(status));
  }
  bool failed() const {
    absl::MutexLock lock(&mutex_);
    return failed_;
  }
  void MaybeReadyLocked(Lane* lane) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (lane->queued || lane->loading || lane->LoadableJobs() == 0) return;
    lane->queued = true;
    ready_lanes_.push_back(lane);
  }

  // absl::Condition predicates.
  bool HasStageWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return failed_ || shutdown_ || !stage_queue_.empty();
  }
  bool HasLoadWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return failed_ || shutdown_ || !ready_lanes_.empty();
  }
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    // An open group loads only once its last batch arrives: the count limit
    // must not hold that back (bytes are released as batches are staged).
    return failed_ || ((open_groups_ > 0 ||
                        jobs_in_flight_ < static_cast<uint64_t>(options_.max_batches_in_flight)) &&
                       (bytes_in_flight_ == 0 ||
                        bytes_in_flight_ + wanted_bytes_ <= options_.max_bytes_in_flight));
  }
  bool Drained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return failed_ || jobs_in_flight_ == 0;
  }

  const PipelineOptions options_;
  PipelineComponents components_;
  const std::unique_ptr<ChangeBatcher> batcher_;  // Reader thread only.
  const std::vector<std::unique_ptr<Loader>> loaders_;
  // Reads checkpoints for the batcher (reader thread only), made on first use.
  std::unique_ptr<Loader> checkpoint_reader_;
  StreamSource* source_ = nullptr;  // Set by Run(); acknowledged by ReportDurable.

  ProgressTracker tracker_;
  std::atomic<int> stop_requests_{0};
  // When the second stop request cancels the components; until Run ends.
  absl::Mutex cancel_mutex_;
  absl::Time cancel_at_ ABSL_GUARDED_BY(cancel_mutex_) = absl::InfiniteFuture();
  bool run_done_ ABSL_GUARDED_BY(cancel_mutex_) = false;
  // Cancels PipelineComponents::cancel at cancel_at_, unless Run ends first.
  void CancelWhenDue();
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> changes_read_{0};
  std::atomic<uint64_t> commits_read_{0};

  // Serializes TakeAdvance with on_durable, so positions go out in order.
  absl::Mutex report_mutex_;

  mutable absl::Mutex mutex_;
  bool failed_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mutex_);
  bool shutdown_ ABSL_GUARDED_BY(mutex_) = false;
  // Lanes by table id (or `schema\0table`), and which lane loads into each
  // target table (`schema\0table`) now.
  absl::flat_hash_map<std::string, std::unique_ptr<Lane>> lanes_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, Lane*> lane_names_ ABSL_GUARDED_BY(mutex_);
  // Lanes with a job that waits for another lane (Job::after).
  std::vector<Lane*> waiting_lanes_ ABSL_GUARDED_BY(mutex_);
  std::deque<Job*> stage_queue_ ABSL_GUARDED_BY(mutex_);
  std::deque<Lane*> ready_lanes_ ABSL_GUARDED_BY(mutex_);
  uint64_t jobs_in_flight_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t bytes_in_flight_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t wanted_bytes_ ABSL_GUARDED_BY(mutex_) = 0;  // The batch Dispatch waits to add.
  uint64_t open_groups_ ABSL_GUARDED_BY(mutex_) = 0;   // Lanes with group_open.
  uint64_t batches_loaded_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t rows_loaded_ ABSL_GUARDED_BY(mutex_) = 0;
  SourcePosition read_position_ ABSL_GUARDED_BY(mutex_);
  uint64_t batcher_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Time started_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
};

absl::Status Pipeline::Impl::Run(StreamSource* source) {
  source_ = source;
  {
    absl::MutexLock lock(&mutex_);
    started_ = options_.clock();
  }
  std::vector<std::thread> threads;
  std::thread canceller;
  if (components_.cancel != nullptr) canceller = std::thread([this] { CancelWhenDue(); });
  for (int i = 0; i < options_.workers; ++i) threads.emplace_back([this] { StageWorker(); });
  for (const std::unique_ptr<Loader>& loader : loaders_) {
    threads.emplace_back([this, loader = loader.get()] { LoadWorker(loader); });
  }

  const absl::Status input = ReadInput(source);

  absl::Status failure;
  {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(this, &Impl::Drained));
    shutdown_ = true;
  }
  for (std::thread& thread : threads) thread.join();
  {
    absl::MutexLock lock(&cancel_mutex_);
    run_done_ = true;
  }
  if (canceller.joinable()) canceller.join();
  ReportDurable();
  {
    absl::MutexLock lock(&mutex_);
    failure = failure_;
    // After a failure, batches that never loaded leave no files behind.
    std::vector<std::string> unloaded;
    for (auto& [name, lane] : lanes_) {
      for (const std::unique_ptr<Job>& job : lane->jobs) {
        if (job->staged_done) RemoveLocalFiles(job->staged);
      }
      if (!lane->jobs.empty()) {
        // Writing a batch moves it into `staged`.
        const Job& front = *lane->jobs.front();
        const Batch& first = front.staged.batch.table.empty() ? front.batch : front.staged.batch;
        unloaded.push_back(absl::StrCat(first.schema, ".", first.table, " (", lane->jobs.size(),
                                        lane->jobs.size() == 1 ? " batch" : " batches",
                                        " from batch ", first.sequence, ")"));
      }
    }
    if (absl::IsCancelled(failure) && !unloaded.empty()) {
      std::sort(unloaded.begin(), unloaded.end());
      failure = absl::CancelledError(
          absl::StrCat(failure.message(), "; not loaded: ", absl::StrJoin(unloaded, ", ")));
    }
  }
  if (!failure.ok()) return failure;
  return input;
}

void Pipeline::Impl::CancelWhenDue() {
  absl::MutexLock lock(&cancel_mutex_);
  while (!run_done_) {
    if (options_.clock() >= cancel_at_) {
      components_.cancel->Cancel();
      return;
    }
    // A short poll: cancel_at_ is set from a signal-watching thread and the
    // clock is the caller's, so neither can wake this thread.
    cancel_mutex_.AwaitWithTimeout(absl::Condition(&run_done_), absl::Milliseconds(100));
  }
}

absl::Status Pipeline::Impl::ReadInput(StreamSource* source) {
  Parser parser(options_.parser);
  Record record;
  std::string chunk;
  std::vector<Batch> ready;
  TransactionSpool spool(options_.transaction_spool_directory, options_.max_transaction_memory);
  std::optional<uint64_t> last_commit_lsn;  // The newest commit given to the batcher.
  uint64_t restarts = source->restarts();
  absl::Time last_expiry_check = options_.clock();
  auto stopping = [&] {
    const int stops = stop_requests_.load(std::memory_order_relaxed);
    return stops >= 2 || (stops == 1 && !spool.active());
  };
  auto reached_end = [&] {
    if (!options_.end_lsn || spool.active()) return false;
    std::optional<uint64_t> through = source->ReadThrough();
    return through && *through >= *options_.end_lsn;
  };

  while (!stopping()) {
    if (failed()) return absl::OkStatus();  // Run reports the failure.
    if (reached_end()) return EndInput(absl::OkStatus(), spool, false);
    absl::StatusOr<bool> more = source->Read(&chunk);
    if (!more.ok()) return EndInput(more.status(), spool, false);
    if (!*more) return EndInput(parser.Finish(), spool, false);
    if (source->restarts() != restarts) {
      // The source resends the open transaction from its BEGIN.
      restarts = source->restarts();
      spool.Clear();
    }
    bytes_read_.fetch_add(chunk.size(), std::memory_order_relaxed);
    parser.Feed(chunk);

    // Floors only rise, so the floor before the chunk bounds every batch the
    // chunk's records complete.
    const SourcePosition floor = BatcherFloor();
    while (!stopping()) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) return EndInput(got.status(), spool, false);
      if (!*got) break;
      if (options_.prepare_record) {
        // Checked on the first reading too, so that a bad value stops the
        // input before its transaction reaches the batcher.
        if (absl::Status s = options_.prepare_record(&record); !s.ok()) {
          return EndInput(s, spool, false);
        }
      }
      absl::Status status;
      if (IsChange(record.kind)) changes_read_.fetch_add(1, std::memory_order_relaxed);
      if (record.kind == RecordKind::kBegin) {
        if (spool.active()) {
          status = absl::InvalidArgumentError(
              absl::StrCat("line ", record.line, ", byte offset ", record.offset,
                           ": BEGIN inside the transaction that began at line ", spool.line()));
        } else {
          spool.Begin(record.offset, record.line);
          status = spool.Append(parser.last_record_text());
        }
      } else if (record.kind == RecordKind::kCommit && spool.active()) {
        commits_read_.fetch_add(1, std::memory_order_relaxed);
        record.lsn = source->CommitLsn(record.offset);
        if (record.lsn && last_commit_lsn && *record.lsn <= *last_commit_lsn) {
          spool.Clear();  // Resent after a restart: already given to the batcher.
          continue;
        }
        if (options_.end_lsn && record.lsn && *record.lsn > *options_.end_lsn) {
          spool.Clear();  // Commits after the end position: not ours to load.
          return EndInput(absl::OkStatus(), spool, false);
        }
        status = CommitTransaction(&spool, &record, floor, &ready);
        if (status.ok() && record.lsn) last_commit_lsn = record.lsn;
      } else if (spool.active()) {
        status = spool.Append(parser.last_record_text());
      } else {
        status = batcher_->Add(record, &ready);  // Outside a transaction.
        if (status.ok() && !ready.empty()) Dispatch(&ready, floor);
      }
      if (!status.ok()) {
        // Tables the failed transaction did not touch hold committed changes
        // only: load them, so one bad table does not hold back the others.
        std::vector<std::string> held = batcher_->FlushCommitted(&ready);
        Dispatch(&ready, floor);
        tracker_.SetUndispatchedFloor(BatcherFloor());
        ReportDurable();
        if (held.empty()) return status;
        return absl::Status(
            status.code(),
            absl::StrCat(status.message(), "; changes to ", absl::StrJoin(held, ", "),
                         " after the durable position were not loaded"));
      }
      if (options_.end_lsn && record.kind == RecordKind::kCommit && record.lsn &&
          *record.lsn >= *options_.end_lsn) {
        return EndInput(absl::OkStatus(), spool, false);
      }
    }

    const absl::Time now = options_.clock();
    if (now - last_expiry_check >= absl::Milliseconds(100)) {
      last_expiry_check = now;
      const SourcePosition before_flush = BatcherFloor();
      if (absl::Status flushed = batcher_->FlushExpired(now, &ready); !flushed.ok()) {
        return flushed;
      }
      Dispatch(&ready, before_flush);
    }
    tracker_.SetUndispatchedFloor(BatcherFloor());
    {
      absl::MutexLock lock(&mutex_);
      read_position_ = batcher_->position();
      batcher_bytes_ = batcher_->buffered_bytes();
    }
    ReportDurable();
    if (!spool.active()) AcknowledgeIdle(source);
  }
  return EndInput(absl::OkStatus(), spool, /*stopped=*/true);
}

absl::Status Pipeline::Impl::CommitTransaction(TransactionSpool* spool, Record* commit,
                                               const SourcePosition& floor,
                                               std::vector<Batch>* ready) {
  ParserOptions parser_options = options_.parser;
  parser_options.first_offset = spool->offset();
  parser_options.first_line = spool->line();
  Parser parser(parser_options);
  Record record;
  absl::Status status = spool->Replay([&](absl::string_view text) -> absl::Status {
    parser.Feed(text);
    for (;;) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) return got.status();
      if (!*got) return absl::OkStatus();
      if (options_.prepare_record) {
        absl::Status prepared = options_.prepare_record(&record);
        if (!prepared.ok()) return prepared;
      }
      if (record.kind == RecordKind::kBegin) {
        // The batcher learns the commit's position when the transaction begins.
        record.lsn = commit->lsn;
        record.commit_time = commit->commit_time;
      }
      absl::Status added = batcher_->Add(record, ready);
      if (!added.ok()) return added;
      if (!ready->empty()) Dispatch(ready, floor);
    }
  });
  spool->Clear();
  if (!status.ok()) return status;
  status = parser.Finish();
  if (!status.ok()) return status;
  status = batcher_->Add(*commit, ready);
  if (status.ok() && !ready->empty()) Dispatch(ready, floor);
  return status;
}

absl::Status Pipeline::Impl::EndInput(absl::Status status, const TransactionSpool& spool,
                                      bool stopped) {
  std::vector<Batch> ready;
  const SourcePosition floor = BatcherFloor();
  // The batcher holds committed transactions only: all of it can go.
  absl::Status flushed = batcher_->FlushAll(&ready);
  Dispatch(&ready, floor);
  tracker_.SetUndispatchedFloor(BatcherFloor());
  {
    absl::MutexLock lock(&mutex_);
    read_position_ = batcher_->position();
  }
  ReportDurable();
  if (!status.ok()) return status;
  if (!flushed.ok()) return flushed;
  if (spool.active()) {
    const std::string open = absl::StrCat(
        "the transaction that began at line ", spool.line(), " (byte offset ", spool.offset(),
        ") had not committed; its changes were not loaded, every transaction committed before "
        "it was");
    if (stopped) return absl::AbortedError(absl::StrCat("stopped by a second request: ", open));
    return absl::FailedPreconditionError(
        absl::StrCat("the input ended inside a transaction: ", open));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<uint64_t>> Pipeline::Impl::AppliedThrough(const std::string& schema,
                                                                       const std::string& table) {
  if (checkpoint_reader_ == nullptr) {
    absl::StatusOr<std::unique_ptr<Loader>> loader = components_.make_loader();
    if (!loader.ok()) return loader.status();
    checkpoint_reader_ = *std::move(loader);
  }
  const std::string& target_schema =
      options_.target_schema.empty() ? schema : options_.target_schema;
  absl::StatusOr<std::optional<Checkpoint>> checkpoint =
      checkpoint_reader_->GetCheckpoint(target_schema, table);
  if (!checkpoint.ok()) return checkpoint.status();
  if (!checkpoint->has_value()) return std::nullopt;
  return (*checkpoint)->position.lsn;
}

void Pipeline::Impl::AcknowledgeIdle(StreamSource* source) {
  {
    absl::MutexLock lock(&mutex_);
    if (jobs_in_flight_ > 0 || failed_) return;
  }
  if (batcher_->oldest_buffered_position().has_value()) return;
  std::optional<uint64_t> through = source->ReadThrough();
  if (through) source->Acknowledge(*through);
}

void Pipeline::Impl::Dispatch(std::vector<Batch>* batches, const SourcePosition& floor) {
  for (Batch& batch : *batches) {
    std::string source_schema = batch.schema;
    if (!options_.target_schema.empty()) batch.schema = options_.target_schema;
    auto job = std::make_unique<Job>();
    job->memory_bytes = batch.bytes;
    job->rows = batch.row_count();
    job->applies_with_next = batch.applies_with_next;

    absl::MutexLock lock(&mutex_);
    wanted_bytes_ = job->memory_bytes;
    mutex_.Await(absl::Condition(this, &Impl::HasRoom));
    Lane* lane = failed_ ? nullptr : LaneForLocked(batch, source_schema, job.get());
    if (lane == nullptr) {
      // Dropped after a failure, never loaded: its ticket stays open so that
      // the durable position never passes it.
      tracker_.Dispatch(floor);
      continue;
    }
    job->batch = std::move(batch);
    job->lane = lane;
    job->ticket = tracker_.Dispatch(floor);
    if (lane->group_open != job->applies_with_next) {
      lane->group_open = job->applies_with_next;
      if (lane->group_open) {
        ++open_groups_;
      } else {
        --open_groups_;
      }
    }
    ++jobs_in_flight_;
    bytes_in_flight_ += job->memory_bytes;
    stage_queue_.push_back(job.get());
    lane->jobs.push_back(std::move(job));
  }
  batches->clear();
}

Pipeline::Impl::Lane* Pipeline::Impl::LaneForLocked(const Batch& batch,
                                                    const std::string& source_schema, Job* job) {
  auto name_of = [](absl::string_view schema, absl::string_view table) {
    return absl::StrCat(schema, absl::string_view("\0", 1), table);
  };
  const std::string name = name_of(batch.schema, batch.table);
  std::unique_ptr<Lane>& lane =
      lanes_[batch.table_id != 0 ? absl::StrCat("#", batch.table_id) : name];
  if (lane == nullptr) {
    lane = std::make_unique<Lane>();
    lane->source_schema = source_schema;
  }
  Lane*& owner = lane_names_[name];
  if (owner == nullptr) owner = lane.get();
  if (owner != lane.get()) {
    FailLocked(absl::InvalidArgumentError(
        absl::StrCat("source tables ", owner->source_schema, ".", batch.table, " and ",
                     source_schema, ".", batch.table, " would both load into ", batch.schema, ".",
                     batch.table, " (the target schema is ", options_.target_schema,
                     " for all tables); exclude one of them or drop the target schema override")));
    return nullptr;
  }
  if (batch.kind == Batch::Kind::kRenameTable) {
    std::string renamed_schema = batch.renamed_schema;
    if (!options_.target_schema.empty()) renamed_schema = options_.target_schema;
    lane_names_.erase(name);
    Lane*& previous = lane_names_[name_of(renamed_schema, batch.renamed_table)];
    if (previous != nullptr && previous != lane.get() && !previous->jobs.empty()) {
      job->after = previous;
      waiting_lanes_.push_back(lane.get());
    }
    previous = lane.get();
  }
  return lane.get();
}

void Pipeline::Impl::ReportDurable() {
  absl::MutexLock lock(&report_mutex_);
  std::optional<SourcePosition> advanced = tracker_.TakeAdvance();
  if (!advanced) return;
  if (advanced->lsn && source_ != nullptr) source_->Acknowledge(*advanced->lsn);
  if (options_.on_durable) options_.on_durable(*advanced);
}

void Pipeline::Impl::StageWorker() {
  for (;;) {
    Job* job;
    {
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(this, &Impl::HasStageWork));
      if (failed_ || stage_queue_.empty()) return;
      job = stage_queue_.front();
      stage_queue_.pop_front();
    }
    absl::Status status = Stage(job);
    absl::MutexLock lock(&mutex_);
    bytes_in_flight_ -= job->memory_bytes;
    if (!status.ok()) {
      FailLocked(std::move(status));
      return;
    }
    job->staged_done = true;
    MaybeReadyLocked(job->lane);
  }
}

absl::Status Pipeline::Impl::Stage(Job* job) {
  absl::StatusOr<StagedBatch> staged = components_.writer->Write(job->batch);
  if (!staged.ok()) return InBatch(staged.status(), job->batch, "writing its files");
  job->batch = Batch();  // The rows are in the files now.
  job->staged = *std::move(staged);
  if (components_.uploader != nullptr && !job->staged.files.empty()) {
    absl::Status uploaded = components_.uploader->Upload(&job->staged);
    if (!uploaded.ok()) {
      RemoveLocalFiles(job->staged);
      return InBatch(uploaded, job->staged.batch, "uploading to S3");
    }
  }
  return absl::OkStatus();
}

void Pipeline::Impl::LoadWorker(Loader* loader) {
  std::vector<Job*> jobs;
  for (;;) {
    Lane* lane;
    {
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(this, &Impl::HasLoadWork));
      if (failed_ || ready_lanes_.empty()) return;
      lane = ready_lanes_.front();
      ready_lanes_.pop_front();
      lane->queued = false;
      lane->loading = true;
      jobs.clear();
      const size_t count = lane->LoadableJobs();
      for (size_t i = 0; i < count; ++i) jobs.push_back(lane->jobs[i].get());
    }
    absl::Status status = Load(loader, jobs);
    {
      absl::MutexLock lock(&mutex_);
      lane->loading = false;
      if (!status.ok()) {
        FailLocked(std::move(status));
        return;
      }
      for (Job* job : jobs) {
        tracker_.Complete(job->ticket);
        ++batches_loaded_;
        rows_loaded_ += job->rows;
        --jobs_in_flight_;
        lane->jobs.pop_front();
      }
      MaybeReadyLocked(lane);
      if (lane->jobs.empty() && !waiting_lanes_.empty()) {
        for (Lane* waiting : waiting_lanes_) MaybeReadyLocked(waiting);
        auto done_waiting = [](Lane* waiting) {
          for (const std::unique_ptr<Job>& job : waiting->jobs) {
            if (job->after != nullptr && !job->after->jobs.empty()) return false;
          }
          return true;
        };
        waiting_lanes_.erase(
            std::remove_if(waiting_lanes_.begin(), waiting_lanes_.end(), done_waiting),
            waiting_lanes_.end());
      }
    }
    ReportDurable();
  }
}

absl::Status Pipeline::Impl::Load(Loader* loader, const std::vector<Job*>& jobs) {
  const absl::Time start = absl::Now();
  absl::Status applied;
  if (jobs.size() == 1) {
    applied = loader->Apply(jobs[0]->staged);
  } else {
    std::vector<const StagedBatch*> group;
    for (const Job* job : jobs) group.push_back(&job->staged);
    applied = loader->ApplyGroup(group);
  }
  for (const Job* job : jobs) RemoveLocalFiles(job->staged);
  if (!applied.ok()) return InBatch(applied, jobs.back()->staged.batch, "loading into the target");
  const absl::Duration load_time = absl::Now() - start;
  for (const Job* job : jobs) {
    if (options_.delete_uploaded && components_.uploader != nullptr && !job->staged.files.empty()) {
      absl::Status deleted = components_.uploader->Delete(job->staged);
      if (!deleted.ok() && options_.on_warning) {
        options_.on_warning(InBatch(deleted, job->staged.batch, "deleting its uploaded objects"));
      }
    }
    if (options_.on_loaded) options_.on_loaded(job->staged, load_time / jobs.size());
  }
  return absl::OkStatus();
}

PipelineStats Pipeline::Impl::Stats() const {
  PipelineStats stats;
  stats.bytes_read = bytes_read_.load();
  stats.changes_read = changes_read_.load();
  stats.commits_read = commits_read_.load();
  stats.durable = tracker_.Durable();
  absl::Time started;
  {
    absl::MutexLock lock(&mutex_);
    stats.batches_loaded = batches_loaded_;
    stats.rows_loaded = rows_loaded_;
    stats.tables = lanes_.size();
    stats.batches_in_flight = jobs_in_flight_;
    stats.bytes_in_flight = bytes_in_flight_;
    stats.read = read_position_;
    stats.batcher_bytes = batcher_bytes_;
    started = started_;
  }
  if (stats.durable.sequence < stats.read.sequence || stats.batches_in_flight > 0) {
    std::optional<absl::Time> since;
    if (stats.durable.sequence == 0) {
      since = started;
    } else {
      since = ParseCommitTime(stats.durable.commit_time);
    }
    if (since) stats.lag = std::max(absl::ZeroDuration(), options_.clock() - *since);
  }
  return stats;
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Create(PipelineOptions options,
                                                           PipelineComponents components) {
  if (components.keys == nullptr) return absl::InvalidArgumentError("Pipeline: no KeyColumns");
  if (components.writer == nullptr) return absl::InvalidArgumentError("Pipeline: no BatchWriter");
  if (!components.make_loader) return absl::InvalidArgumentError("Pipeline: no loader factory");
  if (options.workers < 1 || options.max_batches_in_flight < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Pipeline: workers (", options.workers, ") and max_batches_in_flight (",
                     options.max_batches_in_flight, ") must be at least 1"));
  }
  BatcherOptions batcher_options = options.batcher;
  // The batcher's warnings (tables the source no longer has) go where the
  // pipeline's own do, unless the caller routed them elsewhere.
  if (!batcher_options.on_warning) batcher_options.on_warning = options.on_warning;
  // The batcher asks through the Impl, which exists only once it is made.
  auto impl_slot = std::make_shared<Impl*>(nullptr);
  if (!batcher_options.applied_through) {
    batcher_options.applied_through = [impl_slot](const std::string& schema,
                                                  const std::string& table) {
      return (*impl_slot)->AppliedThrough(schema, table);
    };
  }
  absl::StatusOr<std::unique_ptr<ChangeBatcher>> batcher =
      ChangeBatcher::Create(std::move(batcher_options), components.keys);
  if (!batcher.ok()) return batcher.status();
  std::vector<std::unique_ptr<Loader>> loaders;
  for (int i = 0; i < options.workers; ++i) {
    absl::StatusOr<std::unique_ptr<Loader>> loader = components.make_loader();
    if (!loader.ok()) return loader.status();
    loaders.push_back(*std::move(loader));
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(components), *std::move(batcher),
                                     std::move(loaders));
  *impl_slot = impl.get();
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::~Pipeline() = default;

absl::Status Pipeline::Run(StreamSource* source) { return impl_->Run(source); }
void Pipeline::RequestStop() { impl_->RequestStop(); }
PipelineStats Pipeline::stats() const { return impl_->Stats(); }

}  // namespace re_dms
