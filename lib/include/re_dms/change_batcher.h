// ChangeBatcher: turns the decoding stream into per-table batches that hold
// each row's net effect since the table's previous batch.
//
// Records arrive in stream order (kBegin, changes, kCommit, ...). Per target
// table the batcher keeps, per key, the net change since the last flush:
//   insert, then update       -> insert of the updated row
//   insert, then delete       -> delete (so that a replay of the insert does no harm)
//   update, then update       -> update (later values win)
//   update, then delete       -> delete
//   delete, then insert       -> the inserted row replaces the old one
//   update changing the key   -> delete of the old key, then the new row
// The old key comes from the `old-key:` tuple when the plugin printed one
// (key changed, or REPLICA IDENTITY FULL), from the new row otherwise.
// A column that arrives as unchanged-TOAST takes its value from the old row
// when PostgreSQL logged it (REPLICA IDENTITY FULL) or from an earlier change
// of the row in the same batch; otherwise the row's upsert omits the column
// (RowGroup), so the loader leaves the target's value alone. A TOASTed value
// never becomes NULL. A key change whose unchanged-TOAST value cannot be
// filled moves the row (Batch::moves): the new key has no row in the target
// to leave alone, but the target's row at the old key (as of the previous
// batch, hence moves chained within a batch name their first key) holds the
// value, and the loader copies it from there.
//
// Merging by key relies on keys being unique after every statement, which
// holds for the keys KeyColumns reports (immediate primary keys and replica
// identity indexes; a DEFERRABLE primary key counts as no key, so its table
// is a multiset as below).
//
// Tables without a key (see KeyColumns) are multisets: inserts replicate;
// updates and deletes identify the row by the whole old row, which only
// REPLICA IDENTITY FULL logs; otherwise the error names the table and the fix.
// An insert and a delete of equal rows cancel out.
//
// Barriers. A TRUNCATE yields a kTruncate batch, ordered after the table's
// earlier batches; the rows buffered before it in the batch are dropped, not
// flushed, since the truncate removes them anyway. A change of the column set
// (names or types in an insert's or update's new tuple, which always lists
// every column) flushes the buffered rows with the old columns, then yields a
// kSchemaChange batch with the new ones, and asks KeyColumns again.
// A keyless table's delete is the exception that needs the catalog: its old
// row omits NULL and dropped columns alike, and may show a column added since
// the last insert or update. When the old row does not show exactly the known
// columns, KeyColumns is asked again (once per transaction); if its columns
// differ, that is the same barrier, and the old row is read against them. A
// known column the catalog still has was NULL. The catalog describes the
// table as it is when asked, so a column dropped and re-added under the same
// name and type before the delete is read looks like a NULL one. (An update's
// new tuple already shows the current columns.)
//
// Transactions. The batcher expects whole committed transactions (the
// Pipeline holds each back until its COMMIT) and a kBegin that carries the
// commit's LSN and time when known. A batch emitted inside a transaction (a
// barrier, a cut) is marked Batch::applies_with_next and carries the
// transaction's commit position; the table's first batch emitted at or after
// that commit ends the group (empty if nothing is left), so the loader applies
// the whole transaction in one target transaction.
//
// Flushing. A table's batch is emitted at a commit once it holds max_rows rows
// or max_bytes bytes, by FlushExpired() once its oldest change is max_age old
// (never while the open transaction has touched the table), and by
// FlushAll(). Batches thus end at transaction boundaries, with two
// exceptions: a barrier inside a transaction, and a table whose buffered
// bytes pass max_bytes (or the largest table, when all of them together pass
// max_buffered_bytes) inside a transaction, which is cut into several
// batches so memory stays bounded whatever the transaction's size; those
// form a group as above.
//
// A table whose buffered changes cancel out (insert, then delete) yields no
// batch (sequences count emitted batches only), except when it would be the
// table's first: that one is emitted without rows, so every table the stream
// mentions exists in the target, as it does in the source.
//
// Position. Each batch's SourcePosition is the last commit whose changes to
// the table it (with its group) holds: every change of the table up to that
// commit is in this batch or an earlier one. sequence counts commits from 1
// (0: none completed yet); lsn is the commit's end LSN when the records
// carry one (Record::lsn), so positions compare across runs.
//
// Tables the source no longer has (KeyColumns answers NotFound: dropped or
// renamed after the change was written) never fail the batcher. A table
// seen earlier in the run keeps its key. One met only now is keyless (its
// inserts replicate) until a delete's tuple or an update's old-key tuple
// names its key columns (a barrier, like a new shape; a tuple of every known
// column is a REPLICA IDENTITY FULL row, and the table stays a multiset).
// Changes that cannot be placed (an update that keeps its key while the key
// is unknown, a delete without the learned key) are skipped. on_warning
// hears of each once per table and kind, with the table and position.
// SourceDropPolicy::kDrop emits a kDropTable batch instead and skips the
// table's remaining changes.
//
// Renames. A table met for the first time whose catalog oid is that of a
// table met earlier under another name (which the source no longer has) was
// renamed: the earlier table takes the new name, and a kRenameTable batch
// renames its target table (in the group of the transaction at hand). That
// needs the earlier lookup to predate the rename; DDL capture (below) says
// every rename.
//
// DDL capture (ddl_capture.h): a kMessage with prefix kDdlMessagePrefix
// describes one table after one statement, in stream order. It is a barrier
// like a column change: a rename (kRenameTable), a column set or key
// (kSchemaChange, with Batch::renamed_columns and added_columns told apart
// by attnum), a drop (the table's name then belongs to the next table of that
// name, whose creation replaces the target table: kDropTable), taken from
// the message rather than the catalog. A message that does not parse is an
// error with its position.
//
// Ignored by design: other kMessage records (logical messages carry no rows) and
// changes of tables the filter excludes. Errors: two-phase and streamed
// transactions (kTwoPhase, kStream) cannot be batched correctly from
// test_decoding's text, which omits their contents, so they are errors (create
// the slot without two_phase and read it without stream-changes). Every error
// names the table, the transaction's xid and the record's line and byte
// offset. After an error the batcher's state is undefined; discard it.
//
// Memory: values are copied into per-table arenas (no per-value allocation);
// Datum vectors are built only when a batch is emitted. Not thread-safe.

#ifndef RE_DMS_CHANGE_BATCHER_H_
#define RE_DMS_CHANGE_BATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "re_dms/batch.h"
#include "re_dms/change.h"
#include "re_dms/ddl_capture.h"
#include "re_dms/key_columns.h"
#include "re_dms/table_filter.h"

namespace re_dms {

// What the target table of a source table that no longer exists becomes (see
// "Tables the source no longer has" above).
enum class SourceDropPolicy {
  kKeep,  // Keep it and its rows; apply what the stream identifies exactly.
  kDrop,  // Drop it: the stream's remaining changes to the table are skipped.
};

struct BatcherOptions {
  // Flush a table at a commit once it holds this many rows...
  uint64_t max_rows = 1'000'000;
  // ...or this many bytes: the memory the buffered rows hold (values and
  // bookkeeping) plus the estimated size of the Batch they become, so the
  // batcher's peak memory stays near this figure. Inside a transaction,
  // passing it cuts the batch.
  uint64_t max_bytes = uint64_t{64} << 20;
  // Over all tables: once they hold this many bytes, the largest is emitted,
  // inside a transaction too (a cut, as above), so memory stays bounded
  // however many tables a transaction touches.
  uint64_t max_buffered_bytes = uint64_t{256} << 20;
  // FlushExpired() emits a table whose oldest buffered change is this old.
  absl::Duration max_age = absl::Seconds(60);
  TableFilterOptions tables;
  SourceDropPolicy on_source_drop = SourceDropPolicy::kKeep;
  // Problems that do not stop the batcher, once per table and kind (e.g. the
  // changes of a dropped table that cannot be applied exactly).
  std::function<void(const absl::Status&)> on_warning;
  // When a change was buffered, for max_age.
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Asked once per target table, when the batcher first sees it: the LSN
  // through which the target already holds the table's commits (its
  // checkpoint), or nullopt. Changes of transactions that committed at or
  // before it are skipped, so a replay from the slot's older position applies
  // only what is missing, even to a keyless table. Unset: nothing is skipped.
  std::function<absl::StatusOr<std::optional<uint64_t>>(const std::string& schema,
                                                        const std::string& table)>
      applied_through;
};

class ChangeBatcher {
 public:
  // `keys` must outlive the batcher. Fails on invalid filter options.
  static absl::StatusOr<std::unique_ptr<ChangeBatcher>> Create(BatcherOptions options,
                                                               KeyColumns* keys);
  ~ChangeBatcher();

  ChangeBatcher(const ChangeBatcher&) = delete;
  ChangeBatcher& operator=(const ChangeBatcher&) = delete;

  // Consumes the next record of the stream; appends the batches it completed
  // to *ready, in the order they must be applied per table.
  absl::Status Add(const Record& record, std::vector<Batch>* ready);

  // Appends the batches of tables whose oldest buffered change is at least
  // max_age older than `now`. Tables the open transaction touched wait for
  // its commit.
  absl::Status FlushExpired(absl::Time now, std::vector<Batch>* ready);

  // End of input: appends every buffered batch. FailedPrecondition, emitting
  // nothing, when the input ended inside a transaction.
  absl::Status FlushAll(std::vector<Batch>* ready);

  // After Add() failed inside a transaction: appends the batches of every
  // table the transaction has not changed, which hold committed changes only,
  // and returns the names of the tables whose buffered changes were held back
  // (mixed with the failed transaction's). Then discard the batcher.
  std::vector<std::string> FlushCommitted(std::vector<Batch>* ready);

  // Bytes buffered over all tables, as max_buffered_bytes counts them.
  uint64_t buffered_bytes() const { return buffered_bytes_; }

  // The last commit completed in the stream (sequence 0 before the first).
  const SourcePosition& position() const { return position_; }

  // The last commit that had completed when the oldest change still buffered
  // arrived, so every change up to and including that commit has been
  // emitted; nullopt when nothing is buffered (then position() is that
  // bound). The pipeline's durable position never passes it. O(tables).
  std::optional<SourcePosition> oldest_buffered_position() const;

 private:
  class Table;
  ChangeBatcher(BatcherOptions options, TableFilter filter, KeyColumns* keys);

  absl::Status Begin(const Record& record);
  absl::Status Commit(const Record& record, std::vector<Batch>* ready);
  absl::Status Truncate(const Record& record, std::vector<Batch>* ready);
  absl::Status Change(const Record& record, std::vector<Batch>* ready);
  // Learns the table's columns from an insert's or update's new row, emitting
  // the schema-change barrier when they changed.
  absl::Status Shape(const Record& record, Table* table, std::vector<Batch>* ready);
  // A keyless table's delete whose old row does not show exactly the known
  // columns: asks the catalog whether the missing ones are NULL or dropped
  // (and whether an unknown one was added), emitting the schema-change
  // barrier when its columns differ from the known ones.
  absl::Status ConfirmColumns(const Record& record, Table* table, std::vector<Batch>* ready);
  // The schema-change barrier: flushes the rows buffered with the old
  // columns, then sets the new columns and key and emits kSchemaChange.
  using ColumnRenames = std::vector<std::pair<std::string, std::string>>;
  absl::Status ChangeColumns(std::vector<ColumnDef> columns, TableKey key, Table* table,
                             std::vector<Batch>* ready, ColumnRenames renamed = {},
                             std::vector<std::string> added = {});
  absl::Status ApplyToKeyed(const Record& record, Table* table, absl::Time now);
  absl::Status ApplyToMultiset(const Record& record, Table* table, absl::Time now);
  // Encodes an old row (NULL columns omitted) as a whole row of `table`.
  static absl::Status EncodeOldRow(const std::vector<Column>& tuple, const Table& table,
                                   std::string* out);
  // The table the record's changes go to, its key known (or the table gone);
  // nullptr when filtered out.
  absl::StatusOr<Table*> Resolve(const Record& record, TableRef source, std::vector<Batch>* ready);
  // Whether `source`'s changes go to the target: the filter includes it, and
  // it is not DDL capture's log.
  bool Replicated(TableRef source) const;
  // The table of `source`, created (without its key) when new; nullptr when
  // filtered out.
  absl::StatusOr<Table*> Find(const Record& record, TableRef source);
  // A DDL capture message (ddl_capture.h); other messages are ignored.
  absl::Status Ddl(const Record& record, std::vector<Batch>* ready);
  absl::Status DdlDrop(const Record& record, TableRef name, std::vector<Batch>* ready);
  // The renamed table, under its new name; nullptr when no longer replicated.
  absl::StatusOr<Table*> DdlRename(const Record& record, TableRef from, TableRef to,
                                   std::vector<Batch>* ready);
  // Takes the message's columns and key, emitting the schema change.
  absl::Status DdlShape(const DdlEvent& event, Table* table, std::vector<Batch>* ready);
  // Without DDL capture: whether the catalog's `oid` for `source`, met for
  // the first time, belongs to a table met earlier under another name that
  // the source no longer has: then that table was renamed, and is returned
  // under the new name (kRenameTable emitted). Otherwise `fresh`.
  absl::StatusOr<Table*> RenamedTo(const Record& record, TableRef source, Table* fresh,
                                   uint32_t oid, std::vector<Batch>* ready);
  // The source's table of this name is a new one: the target's is dropped
  // (unless already), and nothing known of the old one is kept.
  void NewSourceTable(Table* table, std::vector<Batch>* ready);
  // Emits the table's buffered rows (see Table::Emit) and updates
  // buffered_bytes_.
  void Flush(Table* table, bool busy, std::vector<Batch>* ready);
  // Remembers a table that emitted a batch inside the open transaction
  // without being changed by it, so its commit closes the table's group.
  void NoteGroup(Table* table);
  // Whether the open transaction's changes to `table` are already applied.
  bool Replayed(const Table& table) const;
  // The position of a batch emitted now: inside a transaction, that of its
  // commit (the batch is applied with the rest of the transaction).
  const SourcePosition& batch_position() const {
    return in_transaction_ ? open_position_ : position_;
  }
  // KeyColumns does not know the table any more (dropped or renamed since):
  // marks it gone (keyless until the stream names its key) and warns.
  void SourceGone(const Record& record, TableRef source, Table* table);
  // Whether a gone table's change can be applied exactly, learning the key
  // from the tuples that name it; kDrop emits the target's drop instead. A
  // change that cannot be applied is skipped (false) with a warning.
  absl::StatusOr<bool> ApplicableToGone(const Record& record, Table* table,
                                        std::vector<Batch>* ready);
  // options_.on_warning, once per table and `kind` (a kWarned* bit).
  static constexpr uint32_t kWarnedGone = 1, kWarnedUpdate = 2, kWarnedDelete = 4,
                            kWarnedKeylessWithoutLsn = 8, kWarnedRenamed = 16;
  void Warn(Table* table, uint32_t kind, std::string message);
  // Error context: table, xid, line and byte offset of `record`.
  std::string Where(const Record& record, TableRef table) const;

  const BatcherOptions options_;
  const TableFilter filter_;
  KeyColumns* const keys_;

  // Target tables by `schema\0table`, and the source tables that map to them
  // (nullptr: filtered out).
  absl::flat_hash_map<std::string, std::unique_ptr<Table>> tables_;
  absl::flat_hash_map<std::string, Table*> sources_;
  std::vector<Table*> table_order_;  // Creation order, so flushes are deterministic.
  // Tables a rename took the name of (DDL capture); kept, as table_order_,
  // touched_ and grouped_ may point at them.
  std::vector<std::unique_ptr<Table>> displaced_;
  uint64_t tables_created_ = 0;  // Table ids, from 1 (Batch::table_id).
  // Tables by the oid the catalog gave when they were first looked up.
  absl::flat_hash_map<uint32_t, Table*> by_oid_;
  // The last source table resolved, which the next record usually repeats.
  std::string last_source_;
  Table* last_table_ = nullptr;

  bool in_transaction_ = false;
  std::optional<uint32_t> transaction_xid_;
  uint64_t transaction_line_ = 0;
  uint64_t transaction_ordinal_ = 0;  // Begins seen; marks tables touched.
  std::vector<Table*> touched_;       // Tables the open transaction changed.
  std::vector<Table*> grouped_;       // See NoteGroup().
  // The open transaction's commit, as its BEGIN record announced it.
  SourcePosition open_position_;
  SourcePosition position_;      // The last completed commit.
  uint64_t buffered_bytes_ = 0;  // Sum of the tables' bytes().

  // Scratch encodings of the current record's key and old key.
  std::string key_;
  std::string old_key_;
};

}  // namespace re_dms

#endif  // RE_DMS_CHANGE_BATCHER_H_
