// Pipeline: the library's main class. Reads a test_decoding stream and keeps
// target tables equal to their source:
//
//   StreamSource -> Parser -> ChangeBatcher -> BatchWriter -> S3Uploader -> Loader
//   (reader thread, bounded)                    (stage workers)     (load workers)
//
// Stages. The calling thread of Run() reads, parses and batches. Each batch
// then goes to the stage workers (write files, upload them; batches of any
// table in parallel) and to the load workers, which apply the batches of one
// table strictly in sequence order and never two of one table at once, while
// different tables load in parallel. Between the reader and the workers the
// batches in flight are bounded by count and by the bytes of rows held in
// memory: when the target is slow, reading waits (backpressure), so memory is
// bounded whatever the stream holds. The ChangeBatcher bounds its own buffers
// (BatcherOptions::max_bytes per table, max_buffered_bytes over all), so the
// pipeline's memory is about max_buffered_bytes + max_bytes_in_flight plus
// the writers' buffers.
//
// Transactions. The reader keeps each transaction's text apart (in memory,
// spilling to a file past max_transaction_memory) until its COMMIT, and only
// then hands it to the batcher, with the commit's LSN when the source knows
// it. So whatever stops reading -- an end, a stop, malformed input, a failure
// in one table -- every transaction committed before it is loaded, and the
// one left open is dropped whole. A source transaction is applied to each
// target table in one target transaction (Batch::applies_with_next).
//
// Progress. The durable position is the newest commit at or before which
// every change of every table is loaded; changes still in the batcher and
// batches in flight hold it back. It is reported through on_durable, in
// increasing order, and acknowledged to the source (StreamSource::Acknowledge)
// when it has an LSN: a replication slot then confirms exactly that. When
// everything read is loaded, the source's read-through position is
// acknowledged too, so an idle slot does not hold WAL. (A pg_recvlogical pipe
// cannot do either: it confirms what it wrote to the pipe.)
//
// Replays. With LSNs, a table's changes from transactions its checkpoint
// already covers are skipped (the checkpoint is read when the table is first
// seen), so restarting from the slot's older confirmed position applies
// exactly what is missing.
//
// Endings. Run() returns when:
//   - the stream ends: everything is flushed, staged and loaded; OK. If it
//     ends inside a record (DataLoss) or a transaction (FailedPrecondition),
//     every committed transaction is loaded and the error returned.
//   - end_lsn is reached: every transaction that committed at or before it
//     is loaded; OK.
//   - RequestStop(): reading stops at the next transaction boundary, what was
//     read is loaded; OK. A second RequestStop() stops at once, even inside a
//     transaction: what committed is loaded and Aborted names what was not.
//     Committed work in flight gets stop_grace to load; then
//     PipelineComponents::cancel is cancelled, which the components were
//     given (S3 requests and target statements still in flight are abandoned
//     and rolled back within seconds), and Run() returns kCancelled naming
//     the batches that were not loaded.
//   - malformed input, or a change one table cannot take: the error (byte
//     offset, line, table), after the committed transactions read before it
//     are loaded (for the failing transaction's tables, up to the durable
//     position).
//   - a permanent failure of a stage (components retry what is transient
//     themselves): reading stops, no new work starts, work already running
//     finishes (each load commits or rolls back whole), and the error names
//     the stage, table, batch sequence and position, and the component's
//     detail (S3 key, statement, file).

#ifndef RE_DMS_PIPELINE_H_
#define RE_DMS_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "re_dms/batch.h"
#include "re_dms/batch_writer.h"
#include "re_dms/change_batcher.h"
#include "re_dms/key_columns.h"
#include "re_dms/loader.h"
#include "re_dms/parser.h"
#include "re_dms/retry.h"
#include "re_dms/s3_uploader.h"
#include "re_dms/staged_batch.h"
#include "re_dms/stream_source.h"

namespace re_dms {

struct PipelineOptions {
  ParserOptions parser;
  BatcherOptions batcher;

  // Tables staged at once, and tables loaded at once (one Loader each).
  int workers = 4;
  // Batches dispatched and not yet loaded. Each keeps files in the spool
  // directory until it is loaded.
  int max_batches_in_flight = 32;
  // Bytes of rows held by dispatched batches not yet written to files. A
  // batch larger than this alone still passes, alone.
  uint64_t max_bytes_in_flight = uint64_t{256} << 20;

  // Stop once every transaction that committed at or before this LSN is
  // loaded (a source that knows LSNs; `--endpos`).
  std::optional<uint64_t> end_lsn;

  // After a second RequestStop(), how long committed work in flight may take
  // to load before the components are cancelled.
  absl::Duration stop_grace = absl::Seconds(5);

  // Where a transaction's text goes past max_transaction_memory bytes.
  std::string transaction_spool_directory = "/tmp";
  uint64_t max_transaction_memory = uint64_t{64} << 20;

  // Every batch goes to this target schema instead of its source schema
  // (checked: two source tables must not meet in one target table). Empty:
  // the source schema.
  std::string target_schema;

  // After a batch is loaded: remove its local files (always), and its S3
  // objects when set (otherwise leave them to a bucket lifecycle rule).
  bool delete_uploaded = false;

  // Called with each record the parser yields, before the batcher sees it,
  // on the reading thread. It may rewrite the record's text (new text goes
  // into record->owned, see change.h) or reject the record: an error ends
  // the input as malformed input does (the complete transactions read
  // before it are loaded, then the error is returned). re_dms's command
  // checks the value styles and converts the source encoding here
  // (value_styles.h, source_encoding.h).
  std::function<absl::Status(Record* record)> prepare_record;

  // Called with each new durable position, in increasing order, from any of
  // the pipeline's threads (one call at a time).
  std::function<void(const SourcePosition&)> on_durable;
  // Called after each batch is loaded, from a load worker.
  std::function<void(const StagedBatch&, absl::Duration load_time)> on_loaded;
  // Problems that do not stop the pipeline (e.g. deleting uploaded objects,
  // changes of a dropped table that are skipped; the latter from the reading
  // thread, unless BatcherOptions::on_warning is set).
  std::function<void(const absl::Status&)> on_warning;

  // The clock for flush ages and lag.
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

// The components the pipeline composes; each can be a service's own.
struct PipelineComponents {
  // Keys of source tables, for the batcher. Not owned; must outlive the
  // pipeline. Must be thread-safe only if shared with other users.
  KeyColumns* keys = nullptr;
  // Writes batches to local files. Required.
  std::unique_ptr<BatchWriter> writer;
  // Puts the files on S3 before loading. Not owned. Null: batches are loaded
  // from the local files (a loader reading StagedFile::local_paths).
  S3Uploader* uploader = nullptr;
  // Makes one Loader per load worker (called `workers` times by Create), and
  // one more, on first need, that reads checkpoints for the batcher.
  std::function<absl::StatusOr<std::unique_ptr<Loader>>()> make_loader;
  // Not owned. Cancelled stop_grace after the second RequestStop(); give the same token to
  // the components (RetryPolicy::cancel of the S3 client and the loaders) so
  // that work in flight stops at once instead of finishing or retrying.
  CancelToken* cancel = nullptr;
};

// A snapshot for status lines.
struct PipelineStats {
  uint64_t bytes_read = 0;
  uint64_t changes_read = 0;  // Inserts, updates, deletes and truncates.
  uint64_t commits_read = 0;
  uint64_t batches_loaded = 0;
  uint64_t rows_loaded = 0;
  uint64_t tables = 0;  // Target tables that received a batch.
  uint64_t batches_in_flight = 0;
  uint64_t bytes_in_flight = 0;  // Rows in memory between batcher and writer.
  uint64_t batcher_bytes = 0;
  SourcePosition read;     // The last commit read.
  SourcePosition durable;  // See above.
  // How far the durable position trails: zero when everything read is
  // loaded, otherwise the age of the durable commit's timestamp (or of the
  // moment reading began, before any commit is durable).
  absl::Duration lag;
};

class Pipeline {
 public:
  // Checks the options and creates the loaders (so a target that cannot be
  // reached fails here, before anything is read).
  static absl::StatusOr<std::unique_ptr<Pipeline>> Create(PipelineOptions options,
                                                          PipelineComponents components);
  ~Pipeline();

  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Reads `source` to its end (or a stop) and loads everything; see the
  // header comment for what it returns. Call once.
  absl::Status Run(StreamSource* source);

  // Asks Run() to stop (see above). Thread-safe; not async-signal-safe.
  void RequestStop();

  PipelineStats stats() const;

 private:
  class Impl;
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace re_dms

#endif  // RE_DMS_PIPELINE_H_
