// A Batch: one target table's net changes over a run of whole transactions,
// the unit that is written to CSV, uploaded, and applied atomically.
//
// The ChangeBatcher produces batches; CsvWriter turns a batch into files;
// S3Uploader puts the files on S3; the Loader applies them. Batches of one
// table carry consecutive `sequence` numbers and must be applied in that order.

#ifndef RE_DMS_BATCH_H_
#define RE_DMS_BATCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace re_dms {

// Where a batch ends in the source stream: its last (whole) commit.
struct SourcePosition {
  // End LSN of the commit, when the source provides one (the replication
  // connection). Only LSNs are comparable across runs; see Loader for what
  // that implies.
  std::optional<uint64_t> lsn;
  std::optional<uint32_t> xid;
  // Ordinal of the commit in this stream, from 1. Always present.
  uint64_t sequence = 0;
  // The commit's `(at ...)` timestamp as printed; empty when absent.
  std::string commit_time;
};

// A column of a source table, as the stream reports it.
struct ColumnDef {
  std::string name;  // Unquoted.
  std::string type;  // As test_decoding printed it, e.g. `character varying`.
  // The value, in PostgreSQL's text form, that rows which existed before the
  // column was added show for it (PostgreSQL 11+ stores a non-volatile ADD
  // COLUMN ... DEFAULT in pg_attribute.attmissingval instead of rewriting
  // the table, so the stream carries no change for those rows). nullopt: none
  // known, such rows show NULL. From the source catalog; the loader writes it
  // into the target's existing rows when it adds the column.
  std::optional<std::string> existing_rows_value = std::nullopt;

  // Name and type only: a default does not change the column set.
  friend bool operator==(const ColumnDef& a, const ColumnDef& b) {
    return a.name == b.name && a.type == b.type;
  }
};

// One value in a batch: NULL is std::nullopt, never the empty string.
using Datum = std::optional<std::string>;

// Upserted rows that share one set of present columns. A row whose
// unchanged-TOAST columns could not be filled from earlier changes in the
// batch lands in a group that omits them; the loader updates only the columns
// listed, so a TOASTed value is never overwritten.
struct RowGroup {
  // Indexes into Batch::columns, ascending. All columns for full rows.
  std::vector<int> columns;
  // Each row holds one Datum per entry of `columns`.
  std::vector<std::vector<Datum>> rows;

  bool is_full_row(size_t column_count) const { return columns.size() == column_count; }
};

struct Batch {
  enum class Kind {
    kRows,          // Deletes and upserts.
    kTruncate,      // TRUNCATE of the table, ordered among its batches.
    kSchemaChange,  // The table's column set changed; `columns` is the new set.
    // The source no longer has the table and SourceDropPolicy::kDrop says to
    // drop the target table too.
    kDropTable,
    // The source renamed the table (DDL capture): the target table becomes
    // renamed_schema.renamed_table, its rows and checkpoint with it.
    kRenameTable,
  };

  // The target table (after any partition-to-parent rename), unquoted.
  std::string schema;
  std::string table;
  // Per table, from 1, without gaps.
  uint64_t sequence = 0;
  // The batcher's table within one run, the same across renames: batches with
  // one id apply in sequence order, whatever their name (0: by name).
  uint64_t table_id = 0;
  Kind kind = Kind::kRows;
  // The last commit whose changes to this table the batch includes.
  SourcePosition position;
  // The batch was cut inside a transaction (a TRUNCATE or column change in
  // it, or its size): it must be applied in one target transaction with the
  // table's following batches up to the first one without this flag, which
  // ends at the same commit. All of them carry that commit's position, so the
  // target never shows part of a source transaction, and every position a
  // checkpoint records is a commit's.
  bool applies_with_next = false;

  // The table's columns (as of this batch) and the names of the columns that
  // identify a row. No key columns means the table has no key and the rows
  // are a multiset (REPLICA IDENTITY FULL): deletes then carry whole rows.
  std::vector<ColumnDef> columns;
  std::vector<std::string> key_columns;

  // kRows: apply `deletes` first, then `upserts`. Each delete holds the key
  // values in key_columns order, or, for a table without key, the whole old
  // row in `columns` order (one entry per row removed, duplicates repeated).
  // Keys of upserted rows never need a separate delete entry: upserting a key
  // replaces the row.
  std::vector<std::vector<Datum>> deletes;
  std::vector<RowGroup> upserts;
  // kRows, keyed tables: "move row". A key change whose unchanged-TOAST
  // values the stream never showed (the row's insert was in an earlier batch
  // and the old row was not logged in full): only the target holds them.
  // Each entry is the new key's values, then the old key's (key_columns order
  // each). Before the deletes, the loader copies the target's row at the old
  // key to the new key; the new key's partial upsert then sets what changed,
  // and the old key's delete removes the original.
  std::vector<std::vector<Datum>> moves;

  // kRenameTable: the target table's new name (schema and table name the old).
  std::string renamed_schema;
  std::string renamed_table;
  // kSchemaChange, known from DDL capture only. Columns the source renamed
  // (old name, new name), renamed first. Columns the source added anew: a
  // target column of such a name is a leftover of a dropped source column
  // (removed columns stay in the target by default), whose values the new
  // column does not have.
  std::vector<std::pair<std::string, std::string>> renamed_columns;
  std::vector<std::string> added_columns;

  // kTruncate.
  bool restart_seqs = false;
  bool cascade = false;

  // Bytes of row data held, for flush accounting and memory bounds.
  uint64_t bytes = 0;

  size_t row_count() const;
};

}  // namespace re_dms

#endif  // RE_DMS_BATCH_H_
