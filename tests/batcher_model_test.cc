// Model check of the ChangeBatcher: random transactions on a simulated source
// (inserts, updates with and without key changes and with unchanged TOAST,
// deletes, TRUNCATE, ADD COLUMN; keyed tables with REPLICA IDENTITY DEFAULT
// and FULL, a keyless REPLICA IDENTITY FULL table) become the Records
// test_decoding would print. They go through the batcher with random flush
// limits, and its batches are applied, strictly in order, to an in-memory
// target in the loader's semantics (merge_sql.cc: deletes, then each upsert
// group; a full row replaces, a partial one updates its columns; truncate;
// schema change adds columns). The result must equal the same target after
// applying every change on its own, and the source itself.
//
// Only the final state is compared, never the batches: how changes merge, and
// where batches are cut, may change as long as the target ends up exact.
//
// RE_DMS_MODEL_SEED picks the seed (printed; random otherwise),
// RE_DMS_MODEL_SEQUENCES how many sequences run. A failure prints the
// smallest failing sequence found by dropping transactions and operations.

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "re_dms/change_batcher.h"
#include "re_dms/key_columns.h"

namespace re_dms {
namespace {

constexpr char kSchema[] = "public";

// A row by column name; an absent column is NULL.
using Row = std::map<std::string, std::string>;

// ---------------------------------------------------------------- operations

// One statement, as an intent the simulator resolves against the source's
// state, so that any subset of a failing sequence is still a valid one.
struct Op {
  enum Kind { kInsert, kUpdate, kKeyChange, kDelete, kTruncate, kAddColumn } kind;
  int table = 0;      // Index into kTables; for kTruncate a bit set of tables.
  uint32_t pick = 0;  // Which existing row (modulo their number).
  int new_id = 0;     // kInsert/kKeyChange: the key (ids collide on purpose).
  std::string a;      // New value of `a` (empty string: NULL).
  std::string b;      // New value of `b`, the TOASTable column; "=": unchanged.
  std::string extra;  // New value for the added columns.
  bool restart_seqs = false;
};

using Transaction = std::vector<Op>;

struct Case {
  std::vector<Transaction> transactions;
  BatcherOptions options;
  // Between transactions: call FlushExpired with the clock moved this far.
  std::vector<bool> expire_after;
};

struct TableSpec {
  const char* name;
  bool keyed;
  ReplicaIdentity identity;
};

// t: keyed, REPLICA IDENTITY DEFAULT (old-key only on key changes, key only on
// deletes). f: keyed, FULL (whole old row every time). n: no key, FULL.
constexpr TableSpec kTables[] = {
    {"t", true, ReplicaIdentity::kDefault},
    {"f", true, ReplicaIdentity::kFull},
    {"n", false, ReplicaIdentity::kFull},
};
constexpr int kTableCount = 3;

// ------------------------------------------------------------------- source

struct SourceRow {
  Row values;
  // `b` is stored out of line: an update that leaves it alone prints
  // unchanged-toast-datum.
  bool b_toasted = false;
};

struct SourceTable {
  std::vector<std::string> columns;  // id (keyed only), a, b, then added ones.
  std::vector<SourceRow> rows;       // Keyed tables: unique ids.
};

// The catalog the batcher asks: the source's tables as they are now.
class SourceCatalog : public KeyColumns {
 public:
  explicit SourceCatalog(const std::vector<SourceTable>* tables) : tables_(tables) {}

  absl::StatusOr<TableKey> Lookup(absl::string_view schema, absl::string_view table) override {
    for (int i = 0; i < kTableCount; ++i) {
      if (schema != kSchema || table != kTables[i].name) continue;
      TableKey key;
      key.identity = kTables[i].identity;
      if (kTables[i].keyed) key.columns = {"id"};
      for (const std::string& column : (*tables_)[i].columns) {
        key.table_columns.push_back(ColumnDef{column, TypeOf(column)});
      }
      return key;
    }
    return absl::NotFoundError(absl::StrCat(schema, ".", table));
  }
  void Invalidate(absl::string_view, absl::string_view) override {}

  static std::string TypeOf(absl::string_view column) {
    return column == "id" ? "integer" : "text";
  }

 private:
  const std::vector<SourceTable>* tables_;
};

// Turns operations into the records test_decoding prints, keeping the
// source's state. Records' views point into `storage_`.
class Simulator {
 public:
  Simulator() : tables_(kTableCount) {
    for (int i = 0; i < kTableCount; ++i) {
      if (kTables[i].keyed) tables_[i].columns.push_back("id");
      tables_[i].columns.push_back("a");
      tables_[i].columns.push_back("b");
    }
  }

  const std::vector<SourceTable>& tables() const { return tables_; }

  // The records of one committed transaction (empty if no op applied).
  std::vector<Record> Run(const Transaction& transaction) {
    std::vector<Record> changes;
    for (const Op& op : transaction) Apply(op, &changes);
    if (changes.empty()) return {};
    ++xid_;
    std::vector<Record> records;
    Record begin = Next(RecordKind::kBegin);
    begin.xid = xid_;
    records.push_back(begin);
    for (Record& change : changes) {
      change.line = ++line_;
      records.push_back(std::move(change));
    }
    Record commit = Next(RecordKind::kCommit);
    commit.xid = xid_;
    records.push_back(commit);
    return records;
  }

  // test_decoding's text for a record, for failure reports.
  static std::string Print(const Record& record) {
    auto tuple = [](const std::vector<Column>& columns) {
      std::string out;
      for (const Column& column : columns) {
        absl::StrAppend(&out, " ", column.name, "[", column.type, "]:");
        if (column.kind == ValueKind::kNull) {
          absl::StrAppend(&out, "null");
        } else if (column.kind == ValueKind::kUnchangedToast) {
          absl::StrAppend(&out, "unchanged-toast-datum");
        } else if (column.type == "integer") {
          absl::StrAppend(&out, column.text);
        } else {
          absl::StrAppend(&out, "'", absl::StrReplaceAll(column.text, {{"'", "''"}}), "'");
        }
      }
      return out;
    };
    switch (record.kind) {
      case RecordKind::kBegin:
        return absl::StrCat("BEGIN ", *record.xid);
      case RecordKind::kCommit:
        return absl::StrCat("COMMIT ", *record.xid);
      case RecordKind::kTruncate: {
        std::vector<std::string> names;
        for (const TableRef& table : record.truncated) {
          names.push_back(absl::StrCat(table.schema, ".", table.name));
        }
        return absl::StrCat("table ", absl::StrJoin(names, ", "),
                            ": TRUNCATE:", record.restart_seqs ? " restart_seqs" : " (no-flags)");
      }
      default:
        break;
    }
    const char* kind = record.kind == RecordKind::kInsert   ? "INSERT"
                       : record.kind == RecordKind::kUpdate ? "UPDATE"
                                                            : "DELETE";
    std::string out =
        absl::StrCat("table ", record.table.schema, ".", record.table.name, ": ", kind, ":");
    if (record.has_old_key) {
      absl::StrAppend(&out, " old-key:", tuple(record.old_key), " new-tuple:");
    }
    return absl::StrCat(out, tuple(record.columns));
  }

 private:
  absl::string_view Keep(std::string text) {
    storage_.push_back(std::move(text));
    return storage_.back();
  }

  Record Next(RecordKind kind) {
    Record record;
    record.kind = kind;
    record.line = ++line_;
    record.offset = line_ * 100;
    return record;
  }

  // A tuple of `row` over `columns`; NULLs omitted in old tuples, printed
  // `null` in new ones; `b` as unchanged-toast-datum when `toast_b`.
  std::vector<Column> Tuple(const std::vector<std::string>& columns, const Row& row,
                            bool omit_nulls, bool toast_b) {
    std::vector<Column> tuple;
    for (const std::string& name : columns) {
      Column column;
      column.name = Keep(name);
      column.type = Keep(SourceCatalog::TypeOf(name));
      auto value = row.find(name);
      if (name == "b" && toast_b) {
        column.kind = ValueKind::kUnchangedToast;
      } else if (value == row.end()) {
        if (omit_nulls) continue;
        column.kind = ValueKind::kNull;
      } else {
        column.text = Keep(value->second);
      }
      tuple.push_back(column);
    }
    return tuple;
  }

  Record Change(RecordKind kind, int table) {
    Record record;
    record.kind = kind;
    record.table = TableRef{kSchema, kTables[table].name};
    return record;
  }

  // The row an op's values make of `base`.
  Row Updated(const Op& op, const SourceTable& table, Row base, bool* b_changed) {
    if (op.a.empty()) {
      base.erase("a");
    } else {
      base["a"] = op.a;
    }
    *b_changed = op.b != "=";
    if (*b_changed) {
      if (op.b.empty()) {
        base.erase("b");
      } else {
        base["b"] = op.b;
      }
    }
    for (const std::string& column : table.columns) {
      if (column[0] != 'c') continue;  // the added ones: c2, c3, ...
      if (op.extra.empty()) {
        base.erase(column);
      } else {
        base[column] = op.extra;
      }
    }
    return base;
  }

  int FindId(const SourceTable& table, int id) {
    for (size_t i = 0; i < table.rows.size(); ++i) {
      if (table.rows[i].values.at("id") == absl::StrCat(id)) return static_cast<int>(i);
    }
    return -1;
  }

  void Apply(const Op& op, std::vector<Record>* out) {
    const TableSpec& spec = kTables[op.kind == Op::kTruncate ? 0 : op.table];
    SourceTable& table = tables_[op.kind == Op::kTruncate ? 0 : op.table];
    switch (op.kind) {
      case Op::kInsert: {
        if (spec.keyed && FindId(table, op.new_id) >= 0) return;  // duplicate key: fails
        Row row;
        if (spec.keyed) row["id"] = absl::StrCat(op.new_id);
        bool ignored;
        Op insert = op;
        if (insert.b == "=") insert.b = "big";
        row = Updated(insert, table, row, &ignored);
        // Long values go out of line: later updates may print them unchanged.
        const bool toasted = row.count("b") > 0 && op.b != "";
        table.rows.push_back(SourceRow{row, toasted});
        Record record = Change(RecordKind::kInsert, op.table);
        record.columns = Tuple(table.columns, row, /*omit_nulls=*/false, /*toast_b=*/false);
        out->push_back(std::move(record));
        return;
      }
      case Op::kUpdate:
      case Op::kKeyChange: {
        if (table.rows.empty()) return;
        const size_t index = op.pick % table.rows.size();
        SourceRow& row = table.rows[index];
        const Row old = row.values;
        bool key_change = op.kind == Op::kKeyChange && spec.keyed;
        if (key_change) {
          if (FindId(table, op.new_id) >= 0) return;  // would violate the key
        }
        bool b_changed;
        Op update = op;
        // t logs no old row: a key change there cannot leave TOAST unchanged
        // (the batcher refuses it unless the batch holds the value; the
        // error path has its own unit tests).
        if (key_change && spec.identity == ReplicaIdentity::kDefault && update.b == "=") {
          update.b = "moved";
        }
        Row values = Updated(update, table, old, &b_changed);
        if (key_change) values["id"] = absl::StrCat(op.new_id);
        const bool toast_b = !b_changed && row.b_toasted && old.count("b") > 0;
        if (b_changed) row.b_toasted = values.count("b") > 0;
        row.values = values;
        Record record = Change(RecordKind::kUpdate, op.table);
        if (spec.identity == ReplicaIdentity::kFull) {
          record.has_old_key = true;
          record.old_key = Tuple(table.columns, old, /*omit_nulls=*/true, /*toast_b=*/false);
        } else if (key_change) {
          record.has_old_key = true;
          record.old_key = Tuple({"id"}, old, /*omit_nulls=*/true, /*toast_b=*/false);
        }
        record.columns = Tuple(table.columns, values, /*omit_nulls=*/false, toast_b);
        out->push_back(std::move(record));
        return;
      }
      case Op::kDelete: {
        if (table.rows.empty()) return;
        const size_t index = op.pick % table.rows.size();
        const Row old = table.rows[index].values;
        table.rows.erase(table.rows.begin() + index);
        Record record = Change(RecordKind::kDelete, op.table);
        record.columns =
            Tuple(spec.identity == ReplicaIdentity::kFull ? table.columns
                                                          : std::vector<std::string>{"id"},
                  old, /*omit_nulls=*/true, /*toast_b=*/false);
        out->push_back(std::move(record));
        return;
      }
      case Op::kTruncate: {
        Record record = Next(RecordKind::kTruncate);
        for (int i = 0; i < kTableCount; ++i) {
          if ((op.table & (1 << i)) == 0) continue;
          tables_[i].rows.clear();
          record.truncated.push_back(TableRef{kSchema, kTables[i].name});
        }
        if (record.truncated.empty()) return;
        record.restart_seqs = op.restart_seqs;
        out->push_back(std::move(record));
        return;
      }
      case Op::kAddColumn: {
        if (table.columns.size() >= 5) return;
        // Existing rows show NULL: ADD COLUMN without a default decodes nothing.
        table.columns.push_back(absl::StrCat("c", table.columns.size()));
        return;
      }
    }
  }

  std::vector<SourceTable> tables_;
  std::deque<std::string> storage_;
  uint32_t xid_ = 1000;
  uint64_t line_ = 0;
};

// ------------------------------------------------------------------- target

struct TargetTable {
  bool keyed = false;
  std::vector<Row> rows;  // Keyed: unique ids.
};

// The target as the loader leaves it. Columns are implicit: a column the
// target lacks reads as NULL, as it would once added.
class Target {
 public:
  Target() : tables_(kTableCount) {
    for (int i = 0; i < kTableCount; ++i) tables_[i].keyed = kTables[i].keyed;
  }

  // merge_sql.cc's order: every delete, then each upsert group.
  absl::Status Apply(const Batch& batch) {
    TargetTable& table = tables_[Index(batch.table)];
    switch (batch.kind) {
      case Batch::Kind::kTruncate:
        table.rows.clear();
        return absl::OkStatus();
      case Batch::Kind::kSchemaChange:
        // New columns read NULL in existing rows (no existing_rows_value here).
        return absl::OkStatus();
      case Batch::Kind::kDropTable:
        return absl::InternalError("a drop-table batch, but the model's tables all exist");
      case Batch::Kind::kRenameTable:
        return absl::InternalError("a rename batch, but the model's stream has no DDL messages");
      case Batch::Kind::kRows:
        break;
    }
    const bool keyed = !batch.key_columns.empty();
    if (keyed != table.keyed) return absl::InternalError("batch key columns disagree with table");
    for (const std::vector<Datum>& values : batch.deletes) {
      if (keyed) {
        EraseKey(&table, values[0].value_or("<null>"));
      } else {
        EraseOne(&table, ToRow(batch, values, nullptr));
      }
    }
    for (const RowGroup& group : batch.upserts) {
      const bool full = group.is_full_row(batch.columns.size());
      if (!full && !keyed) return absl::InternalError("partial row group for a keyless table");
      for (const std::vector<Datum>& values : group.rows) {
        std::vector<int> columns = group.columns;
        Row row = ToRow(batch, values, &columns);
        if (full) {
          if (keyed) EraseKey(&table, row.at("id"));
          table.rows.push_back(row);
          continue;
        }
        // Partial: UPDATE the listed columns of an existing row.
        for (Row& existing : table.rows) {
          if (existing.at("id") != row.at("id")) continue;
          for (int c : group.columns) {
            const std::string& name = batch.columns[c].name;
            if (row.count(name)) {
              existing[name] = row[name];
            } else {
              existing.erase(name);
            }
          }
        }
      }
    }
    return absl::OkStatus();
  }

  // Applies one change as the loader would a batch of just that change: the
  // reference the batched target must equal. TOAST comes from the target's
  // old row, which one-by-one application always has.
  void Apply(const Record& record) {
    if (record.kind == RecordKind::kTruncate) {
      for (const TableRef& ref : record.truncated) tables_[Index(ref.name)].rows.clear();
      return;
    }
    if (record.kind != RecordKind::kInsert && record.kind != RecordKind::kUpdate &&
        record.kind != RecordKind::kDelete) {
      return;
    }
    TargetTable& table = tables_[Index(record.table.name)];
    Row old;
    bool found_old = false;
    if (record.kind != RecordKind::kInsert) {
      const std::vector<Column>& old_tuple =
          record.kind == RecordKind::kDelete || !record.has_old_key ? record.columns
                                                                    : record.old_key;
      Row identity = FromTuple(old_tuple);
      for (size_t i = 0; i < table.rows.size(); ++i) {
        const bool match =
            table.keyed ? table.rows[i].at("id") == identity.at("id") : table.rows[i] == identity;
        if (match) {
          old = table.rows[i];
          found_old = true;
          table.rows.erase(table.rows.begin() + i);
          break;
        }
      }
    }
    if (record.kind == RecordKind::kDelete) return;
    Row row = FromTuple(record.columns);
    for (const Column& column : record.columns) {
      if (column.kind != ValueKind::kUnchangedToast) continue;
      auto value = old.find(std::string(column.name));
      if (found_old && value != old.end()) row[std::string(column.name)] = value->second;
    }
    table.rows.push_back(row);
  }

  // Sorted rows per table, for comparison and printing.
  std::vector<std::vector<Row>> Snapshot() const {
    std::vector<std::vector<Row>> out;
    for (const TargetTable& table : tables_) {
      std::vector<Row> rows = table.rows;
      std::sort(rows.begin(), rows.end());
      out.push_back(std::move(rows));
    }
    return out;
  }

 private:
  static int Index(absl::string_view name) {
    for (int i = 0; i < kTableCount; ++i) {
      if (name == kTables[i].name) return i;
    }
    return 0;
  }

  static Row FromTuple(const std::vector<Column>& tuple) {
    Row row;
    for (const Column& column : tuple) {
      if (column.kind == ValueKind::kText) row[std::string(column.name)] = std::string(column.text);
    }
    return row;
  }

  // `values` of a batch row over `columns` (all of the batch's when null).
  static Row ToRow(const Batch& batch, const std::vector<Datum>& values,
                   const std::vector<int>* columns) {
    Row row;
    for (size_t i = 0; i < values.size(); ++i) {
      const int c = columns != nullptr ? (*columns)[i] : static_cast<int>(i);
      if (values[i].has_value()) row[batch.columns[c].name] = *values[i];
    }
    return row;
  }

  static void EraseKey(TargetTable* table, const std::string& id) {
    table->rows.erase(std::remove_if(table->rows.begin(), table->rows.end(),
                                     [&](const Row& row) { return row.at("id") == id; }),
                      table->rows.end());
  }

  // A keyless delete removes one row per entry: equal on every column.
  static void EraseOne(TargetTable* table, const Row& row) {
    auto found = std::find(table->rows.begin(), table->rows.end(), row);
    if (found != table->rows.end()) table->rows.erase(found);
  }

  std::vector<TargetTable> tables_;
};

// ------------------------------------------------------------------ checking

std::string Print(const std::vector<std::vector<Row>>& snapshot) {
  std::string out;
  for (int i = 0; i < kTableCount; ++i) {
    absl::StrAppend(&out, "  ", kTables[i].name, ":");
    for (const Row& row : snapshot[i]) {
      std::vector<std::string> parts;
      for (const auto& [name, value] : row) parts.push_back(absl::StrCat(name, "=", value));
      absl::StrAppend(&out, " {", absl::StrJoin(parts, ","), "}");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string Print(const Batch& batch) {
  std::string out = absl::StrCat(batch.table, "#", batch.sequence, " ");
  if (batch.kind == Batch::Kind::kTruncate) return out + "TRUNCATE";
  if (batch.kind == Batch::Kind::kSchemaChange) {
    std::vector<std::string> names;
    for (const ColumnDef& column : batch.columns) names.push_back(column.name);
    return absl::StrCat(out, "SCHEMA ", absl::StrJoin(names, ","));
  }
  auto values = [](const std::vector<Datum>& row) {
    std::vector<std::string> parts;
    for (const Datum& datum : row) parts.push_back(datum.value_or("NULL"));
    return absl::StrCat("(", absl::StrJoin(parts, ","), ")");
  };
  for (const auto& row : batch.deletes) absl::StrAppend(&out, " -", values(row));
  for (const RowGroup& group : batch.upserts) {
    std::vector<std::string> names;
    for (int c : group.columns) names.push_back(batch.columns[c].name);
    absl::StrAppend(&out, " +{", absl::StrJoin(names, ","), "}");
    for (const auto& row : group.rows) absl::StrAppend(&out, values(row));
  }
  return out;
}

// Runs one case; empty when the batched target, the one-by-one target and
// the source agree, else a report (with the stream and the batches when
// `verbose`).
std::string Check(const Case& c, bool verbose) {
  Simulator source;
  SourceCatalog catalog(&source.tables());
  absl::Time now = absl::UnixEpoch();
  BatcherOptions options = c.options;
  options.clock = [&now] { return now; };
  absl::StatusOr<std::unique_ptr<ChangeBatcher>> made = ChangeBatcher::Create(options, &catalog);
  if (!made.ok()) return made.status().ToString();
  ChangeBatcher& batcher = **made;
  Target batched, one_by_one;
  std::string log;
  std::vector<Batch> ready;
  auto apply_ready = [&]() -> absl::Status {
    for (const Batch& batch : ready) {
      if (verbose) absl::StrAppend(&log, "    => batch ", Print(batch), "\n");
      absl::Status status = batched.Apply(batch);
      if (!status.ok()) return status;
    }
    ready.clear();
    return absl::OkStatus();
  };
  for (size_t i = 0; i < c.transactions.size(); ++i) {
    for (const Record& record : source.Run(c.transactions[i])) {
      if (verbose) absl::StrAppend(&log, "  ", Simulator::Print(record), "\n");
      one_by_one.Apply(record);
      absl::Status status = batcher.Add(record, &ready);
      if (status.ok()) status = apply_ready();
      if (!status.ok()) return absl::StrCat(log, "error: ", status.ToString());
    }
    if (c.expire_after[i]) {
      now += absl::Seconds(61);
      if (verbose) absl::StrAppend(&log, "  (FlushExpired)\n");
      absl::Status status = batcher.FlushExpired(now, &ready);
      if (status.ok()) status = apply_ready();
      if (!status.ok()) return absl::StrCat(log, "error: ", status.ToString());
    }
  }
  absl::Status status = batcher.FlushAll(&ready);
  if (status.ok()) status = apply_ready();
  if (!status.ok()) return absl::StrCat(log, "error: ", status.ToString());

  std::vector<std::vector<Row>> expected;
  for (const SourceTable& table : source.tables()) {
    std::vector<Row> rows;
    for (const SourceRow& row : table.rows) rows.push_back(row.values);
    std::sort(rows.begin(), rows.end());
    expected.push_back(std::move(rows));
  }
  const auto got = batched.Snapshot();
  const auto reference = one_by_one.Snapshot();
  if (got == reference && reference == expected) return "";
  return absl::StrCat(log, "batched target:\n", Print(got), "one change at a time:\n",
                      Print(reference), "source:\n", Print(expected));
}

// ---------------------------------------------------------------- generation

class Generator {
 public:
  explicit Generator(uint64_t seed) : random_(seed) {}

  Case Next() {
    Case c;
    // Small limits, so batches are cut at commits and inside transactions.
    c.options.max_rows = 1 + Below(12);
    c.options.max_bytes = Below(3) == 0 ? (uint64_t{64} << 20) : 200 + Below(4000);
    c.options.max_buffered_bytes = Below(3) == 0 ? (uint64_t{256} << 20) : 300 + Below(8000);
    const int transactions = 1 + Below(10);
    for (int i = 0; i < transactions; ++i) {
      Transaction transaction;
      const int ops = 1 + Below(6);
      for (int j = 0; j < ops; ++j) transaction.push_back(NextOp());
      c.transactions.push_back(std::move(transaction));
      c.expire_after.push_back(Below(5) == 0);
    }
    return c;
  }

 private:
  uint32_t Below(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(random_); }

  std::string Value() {
    static const char* const kValues[] = {"", "x", "y", "z", "x y", "it's"};
    return kValues[Below(6)];
  }

  Op NextOp() {
    Op op;
    const uint32_t roll = Below(100);
    op.kind = roll < 35   ? Op::kInsert
              : roll < 60 ? Op::kUpdate
              : roll < 72 ? Op::kKeyChange
              : roll < 90 ? Op::kDelete
              : roll < 95 ? Op::kTruncate
                          : Op::kAddColumn;
    op.table = op.kind == Op::kTruncate ? 1 + static_cast<int>(Below(7))
                                        : static_cast<int>(Below(kTableCount));
    op.pick = Below(1000);
    op.new_id = 1 + Below(6);
    op.a = Value();
    op.b = Below(2) == 0 ? "=" : Value();
    op.extra = Value();
    op.restart_seqs = Below(2) == 0;
    return op;
  }

  std::mt19937_64 random_;
};

// Drops whole transactions, then single operations, while the case still
// fails: the report shows a sequence where every part matters.
Case Shrink(Case c) {
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 0; i < c.transactions.size(); ++i) {
      Case smaller = c;
      smaller.transactions.erase(smaller.transactions.begin() + i);
      smaller.expire_after.erase(smaller.expire_after.begin() + i);
      if (!Check(smaller, false).empty()) {
        c = std::move(smaller);
        progress = true;
        --i;
      }
    }
    for (size_t i = 0; i < c.transactions.size(); ++i) {
      for (size_t j = 0; j < c.transactions[i].size(); ++j) {
        Case smaller = c;
        smaller.transactions[i].erase(smaller.transactions[i].begin() + j);
        if (!Check(smaller, false).empty()) {
          c = std::move(smaller);
          progress = true;
          --j;
        }
      }
    }
    for (size_t i = 0; i < c.expire_after.size(); ++i) {
      if (!c.expire_after[i]) continue;
      Case smaller = c;
      smaller.expire_after[i] = false;
      if (!Check(smaller, false).empty()) {
        c = std::move(smaller);
        progress = true;
      }
    }
  }
  return c;
}

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

TEST(BatcherModelTest, BatchedTargetEqualsEveryChangeAppliedAlone) {
  const uint64_t seed = EnvNumber("RE_DMS_MODEL_SEED", std::random_device()());
  const uint64_t sequences = EnvNumber("RE_DMS_MODEL_SEQUENCES", 3000);
  std::printf("seed %llu (RE_DMS_MODEL_SEED), %llu sequences\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(sequences));
  Generator generator(seed);
  for (uint64_t i = 0; i < sequences; ++i) {
    const Case c = generator.Next();
    if (Check(c, false).empty()) continue;
    const Case smallest = Shrink(c);
    ADD_FAILURE() << "seed " << seed << ", sequence " << i << " fails; smallest failing sequence "
                  << "(max_rows=" << smallest.options.max_rows
                  << " max_bytes=" << smallest.options.max_bytes
                  << " max_buffered_bytes=" << smallest.options.max_buffered_bytes << "):\n"
                  << Check(smallest, true);
    return;
  }
}

}  // namespace
}  // namespace re_dms
