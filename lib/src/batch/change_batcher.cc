#include "re_dms/change_batcher.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re_dms/ddl_capture.h"

namespace re_dms {
namespace {

// Stable storage for the bytes of buffered values: views into it stay valid
// until Clear(), so rows and hash keys point into it without owning strings.
class Arena {
 public:
  absl::string_view Copy(absl::string_view bytes) {
    if (bytes.empty()) return absl::string_view("", 0);
    char* out;
    if (bytes.size() > kBlockSize / 4) {
      // A large value gets a block of its own instead of wasting the rest of one.
      large_.emplace_back(new char[bytes.size()]);
      used_ += bytes.size();
      out = large_.back().get();
    } else {
      if (left_ < bytes.size()) NextBlock();
      out = next_;
      next_ += bytes.size();
      left_ -= bytes.size();
    }
    std::memcpy(out, bytes.data(), bytes.size());
    return absl::string_view(out, bytes.size());
  }

  // Forgets every byte. `keep_blocks` keeps the standard blocks for reuse
  // (a busy table refills them at once); otherwise all memory is freed.
  void Clear(bool keep_blocks) {
    large_.clear();
    if (keep_blocks) {
      for (auto& block : blocks_) spare_.push_back(std::move(block));
    } else {
      spare_.clear();
    }
    blocks_.clear();
    next_ = nullptr;
    left_ = 0;
    used_ = 0;
  }

  // Bytes of the blocks in use.
  uint64_t bytes() const { return used_; }

 private:
  static constexpr size_t kBlockSize = 64 << 10;

  void NextBlock() {
    if (spare_.empty()) {
      blocks_.emplace_back(new char[kBlockSize]);
    } else {
      blocks_.push_back(std::move(spare_.back()));
      spare_.pop_back();
    }
    used_ += kBlockSize;
    next_ = blocks_.back().get();
    left_ = kBlockSize;
  }

  std::vector<std::unique_ptr<char[]>> blocks_;  // kBlockSize each.
  std::vector<std::unique_ptr<char[]>> spare_;   // Cleared blocks kept for reuse.
  std::vector<std::unique_ptr<char[]>> large_;   // One value each.
  char* next_ = nullptr;
  size_t left_ = 0;
  uint64_t used_ = 0;
};

// One buffered column value; text lives in the table's arena.
struct Value {
  const char* data = nullptr;
  uint32_t size = 0;
  ValueKind kind = ValueKind::kNull;

  absl::string_view text() const { return absl::string_view(data, size); }
};

// Keys (and, for tables without a key, whole rows) are encoded as one byte
// string per row so a hash map can find the row: per value a kind byte, then
// for text a 4-byte length and the bytes. Unambiguous, so equal encodings
// mean equal values.
void AppendEncoded(ValueKind kind, absl::string_view text, std::string* out) {
  out->push_back(static_cast<char>(kind));
  if (kind != ValueKind::kText) return;
  const uint32_t size = static_cast<uint32_t>(text.size());
  out->append(reinterpret_cast<const char*>(&size), sizeof(size));
  out->append(text.data(), text.size());
}

std::vector<Datum> DecodeValues(absl::string_view encoded) {
  std::vector<Datum> values;
  while (!encoded.empty()) {
    const ValueKind kind = static_cast<ValueKind>(encoded[0]);
    encoded.remove_prefix(1);
    if (kind != ValueKind::kText) {
      values.emplace_back(std::nullopt);
      continue;
    }
    uint32_t size;
    std::memcpy(&size, encoded.data(), sizeof(size));
    encoded.remove_prefix(sizeof(size));
    values.emplace_back(std::string(encoded.substr(0, size)));
    encoded.remove_prefix(size);
  }
  return values;
}

const Column* FindColumn(const std::vector<Column>& tuple, absl::string_view name) {
  for (const Column& column : tuple) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

std::string FixIdentityHint(absl::string_view schema, absl::string_view table) {
  return absl::StrCat("give the table a primary key, or run `ALTER TABLE ",
                      QuotedTableName(schema, table), " REPLICA IDENTITY FULL`");
}

}  // namespace

// One target table: its shape, its key, and the net changes buffered since
// its last batch.
class ChangeBatcher::Table {
 public:
  Table(uint64_t id, std::string schema, std::string name)
      : id_(id), schema_(std::move(schema)), name_(std::move(name)) {}

  // The source renamed the table; later batches carry the new name.
  void Rename(std::string schema, std::string name) {
    schema_ = std::move(schema);
    name_ = std::move(name);
  }

  // The source's table of this name is a new one (DDL capture saw it dropped
  // or created): nothing known of the old one applies to it.
  void NewIncarnation() {
    key_ = TableKey{};
    key_known_ = columns_known_ = false;
    columns_.clear();
    key_index_.clear();
    attnums.clear();
    gone = key_from_stream = dropped = recreated = source_dropped = false;
    warned = 0;
  }

  const std::string& schema() const { return schema_; }
  const std::string& name() const { return name_; }

  bool key_known() const { return key_known_; }
  const TableKey& key() const { return key_; }
  bool keyless() const { return key_.columns.empty(); }
  const std::vector<int>& key_index() const { return key_index_; }

  bool columns_known() const { return columns_known_; }
  const std::vector<ColumnDef>& columns() const { return columns_; }

  uint64_t touched_in = 0;  // Ordinal of the last transaction that changed it.
  // The target already holds every commit up to this LSN (its checkpoint
  // when the table was first seen): replayed transactions are skipped.
  std::optional<uint64_t> applied_through;
  // The source no longer has the table (see ChangeBatcher::SourceGone).
  bool gone = false;
  // Gone: the key has been taken from the stream (a delete's or an old-key
  // tuple's columns).
  bool key_from_stream = false;
  // Gone, SourceDropPolicy::kDrop: the target's drop has been emitted.
  bool dropped = false;
  // Gone because the source's table of this name is another one (re-created
  // since): never dropped, since the source has a table of the name.
  bool recreated = false;
  uint32_t warned = 0;  // Warnings given, one bit per kind (ChangeBatcher::Warn).
  // DDL capture: the attnums of columns() as of the last message (empty when
  // no message described the table yet), to tell a renamed column and one
  // dropped and added again from other changes of the column set.
  std::vector<int> attnums;
  // DDL capture said the source dropped the table; what the stream shows of
  // its name after that belongs to a new table.
  bool source_dropped = false;
  // Ordinal of the transaction in which the batcher first met the table.
  uint64_t first_seen_in = 0;
  // Ordinal of the last transaction in which the catalog confirmed the
  // columns of a keyless table's old row (see ChangeBatcher::ConfirmColumns).
  uint64_t columns_confirmed_in = 0;
  // The last commit completed when the oldest buffered change arrived: every
  // change of the table up to it has been emitted. Meaningful while pending.
  SourcePosition pending_since;
  std::vector<Value> scratch_row;  // Reused for each incoming row.

  // Sets the key as KeyColumns reported it, before the shape is known.
  void SetKey(TableKey key) {
    key_ = std::move(key);
    key_known_ = true;
  }

  // Sets the shape and the key; fails when a key column is not in the shape.
  // A column the catalog's answer also has (same name and type) takes its
  // existing_rows_value from there: the stream itself never shows the value
  // rows older than an ADD COLUMN ... DEFAULT have.
  absl::Status Reshape(std::vector<ColumnDef> columns, TableKey key) {
    for (ColumnDef& column : columns) {
      for (const ColumnDef& catalog_column : key.table_columns) {
        if (catalog_column == column) {
          column.existing_rows_value = catalog_column.existing_rows_value;
          break;
        }
      }
    }
    columns_ = std::move(columns);
    columns_known_ = true;
    SetKey(std::move(key));
    return ResolveKeyIndex();
  }

  // Whether `tuple` (a full new row) has the columns of the known shape.
  bool SameColumns(const std::vector<Column>& tuple) const {
    if (tuple.size() != columns_.size()) return false;
    for (size_t i = 0; i < tuple.size(); ++i) {
      if (tuple[i].name != columns_[i].name || tuple[i].type != columns_[i].type) return false;
    }
    return true;
  }

  bool SameColumns(const std::vector<ColumnDef>& columns) const {
    if (columns.size() != columns_.size()) return false;
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i].name != columns_[i].name || columns[i].type != columns_[i].type) return false;
    }
    return true;
  }

  bool has_pending() const { return !entries_.empty(); }
  // A batch emitted inside the open transaction awaits the group's last.
  bool group_open() const { return group_open_; }
  uint64_t rows() const { return entries_.size(); }
  // What the buffered rows occupy, plus what their batch will occupy once
  // emitted (Datum vectors), so that max_bytes bounds both. Capacity kept for
  // reuse after a flush is not counted: it is bounded by the largest batch.
  uint64_t bytes() const {
    return arena_.bytes() + values_.size() * sizeof(Value) + entries_.size() * sizeof(Entry) +
           index_.size() * (sizeof(std::pair<absl::string_view, uint32_t>) + 1) + batch_bytes_;
  }
  absl::Time oldest() const { return oldest_; }

  absl::string_view Copy(absl::string_view bytes) { return arena_.Copy(bytes); }

  // Copies a new tuple's values into the arena, in column order.
  void CopyRow(const std::vector<Column>& tuple, std::vector<Value>* row) {
    row->clear();
    for (const Column& column : tuple) {
      absl::string_view text = column.kind == ValueKind::kText ? Copy(column.text) : "";
      row->push_back(Value{text.data(), static_cast<uint32_t>(text.size()), column.kind});
    }
  }

  // The pending upsert of `key`, or nullptr.
  const Value* PendingRow(absl::string_view key) const {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    const Entry& entry = entries_[it->second];
    return entry.state == State::kUpsert ? &values_[entry.first_value] : nullptr;
  }

  // The merge rules of keyed tables; errors describe impossible sequences.
  absl::Status Insert(absl::string_view key, const std::vector<Value>& row, absl::Time now) {
    Entry& entry = FindOrAdd(key, now, State::kNone);
    if (entry.state == State::kUpsert) {
      return absl::InvalidArgumentError(
          "INSERT of a key that an earlier change in the batch already holds (is the key "
          "known to the batcher out of date?)");
    }
    entry.state = State::kUpsert;
    entry.first_value = Store(row.data());
    entry.moved_from = absl::string_view();
    return absl::OkStatus();
  }

  // A key change to `key` whose unchanged-TOAST values only the target's row
  // at `origin` holds: inserts the row's known values under `key` and
  // records the move (see Batch::moves).
  absl::Status Move(absl::string_view key, const std::vector<Value>& row, absl::string_view origin,
                    absl::Time now) {
    absl::Status inserted = Insert(key, row, now);
    if (!inserted.ok()) return inserted;
    const std::string copy(origin);  // `origin` may point into scratch that Copy reuses.
    entries_[index_.find(key)->second].moved_from = Copy(copy);
    return absl::OkStatus();
  }

  // Where the target holds the unchanged-TOAST values of the pending row at
  // `key`: the key the row was moved from in this batch, else `key` itself.
  absl::string_view Origin(absl::string_view key) const {
    auto it = index_.find(key);
    if (it == index_.end()) return key;
    const Entry& entry = entries_[it->second];
    return entry.state == State::kUpsert && !entry.moved_from.empty() ? entry.moved_from : key;
  }

  // Fills unchanged-TOAST values of `row` from the pending upsert of the key.
  absl::Status Update(absl::string_view key, std::vector<Value>* row, absl::Time now) {
    Entry& entry = FindOrAdd(key, now, State::kUpsert);
    if (entry.state != State::kUpsert) {
      return absl::InvalidArgumentError(
          "UPDATE of a row that an earlier change in the batch deleted");
    }
    if (entry.first_value != kNoValues) {
      const Value* before = &values_[entry.first_value];
      for (size_t i = 0; i < row->size(); ++i) {
        if ((*row)[i].kind == ValueKind::kUnchangedToast) (*row)[i] = before[i];
      }
    }
    entry.first_value = Store(row->data());
    return absl::OkStatus();
  }

  absl::Status Delete(absl::string_view key, absl::Time now) {
    Entry& entry = FindOrAdd(key, now, State::kUpsert);
    if (entry.state != State::kUpsert) {
      return absl::InvalidArgumentError(
          "DELETE of a row that an earlier change in the batch deleted");
    }
    // Even a row the batch inserted is deleted in the target: a replay of
    // transactions already loaded (a pipe restarted from an older position)
    // re-inserts it there, so "absent before the batch" cannot be assumed.
    entry.state = State::kDelete;
    entry.first_value = kNoValues;
    entry.moved_from = absl::string_view();
    return absl::OkStatus();
  }

  // Tables without a key: `encoded_row` gains `delta` copies.
  void Count(absl::string_view encoded_row, int64_t delta, absl::Time now) {
    FindOrAdd(encoded_row, now, State::kUpsert).count += delta;
  }

  // Appends the buffered rows as a batch, unless they cancelled out; empties
  // the buffer. `busy`: the table is likely to fill again soon, so its
  // buffers keep their memory (see Discard).
  // `in_transaction`: cut inside the transaction whose commit is `position`
  // (see Push).
  void Emit(const SourcePosition& position, bool in_transaction, bool busy,
            std::vector<Batch>* ready) {
    Batch batch = NewBatch(Batch::Kind::kRows, position);
    batch.bytes = bytes();
    if (keyless()) {
      EmitMultiset(&batch);
    } else {
      EmitKeyed(&batch);
    }
    Discard(busy);
    // An empty batch still ends an open group, whose batches wait for it; and
    // the table's first batch is emitted even when empty: the stream
    // mentioned the table, so the loader creates it in the target.
    if (batch.row_count() > 0 || sequence_ == 0 || (group_open_ && !in_transaction)) {
      Push(std::move(batch), in_transaction, ready);
    }
  }

  // A batch of this table, without rows or sequence.
  Batch NewBatch(Batch::Kind kind, const SourcePosition& position) const {
    Batch batch;
    batch.schema = schema_;
    batch.table = name_;
    batch.table_id = id_;
    batch.kind = kind;
    batch.position = position;
    batch.columns = columns_;
    batch.key_columns = key_.columns;
    return batch;
  }

  // Appends `batch` as the table's next in sequence. A batch emitted inside a
  // transaction opens (or continues) a group that the table's first batch
  // emitted outside one closes (Batch::applies_with_next).
  void Push(Batch batch, bool in_transaction, std::vector<Batch>* ready) {
    batch.applies_with_next = in_transaction;
    group_open_ = in_transaction;
    batch.sequence = ++sequence_;
    ready->push_back(std::move(batch));
  }

  // Forgets the buffered rows. `keep_memory` keeps the buffers' capacity
  // (sized for the next batch), sparing a busy table the reallocation and
  // rehashing of every batch; otherwise all memory is freed, so idle tables
  // hold none.
  void Discard(bool keep_memory) {
    batch_bytes_ = 0;
    arena_.Clear(keep_memory);
    if (keep_memory) {
      const size_t rows = entries_.size();
      values_.clear();
      entries_.clear();
      index_.clear();
      index_.reserve(rows);
    } else {
      std::vector<Value>().swap(values_);
      std::vector<Entry>().swap(entries_);
      absl::flat_hash_map<absl::string_view, uint32_t>().swap(index_);
    }
  }

 private:
  enum class State : uint8_t {
    kUpsert,  // The row as it must end up (some columns may be unchanged-TOAST).
    kDelete,  // The row must be gone.
    kNone,    // Only in an entry being created.
  };
  static constexpr uint32_t kNoValues = ~uint32_t{0};

  struct Entry {
    absl::string_view key;             // In the arena.
    uint32_t first_value = kNoValues;  // Index in values_ of the row (kUpsert).
    State state = State::kNone;
    int64_t count = 0;  // Tables without a key: net copies of the row.
    // A moved row: the encoded key of the target row that holds its
    // unchanged-TOAST values (in the arena); empty otherwise.
    absl::string_view moved_from;
  };

  // The entry for `key`; a new one starts as `state`.
  Entry& FindOrAdd(absl::string_view key, absl::Time now, State state) {
    auto it = index_.find(key);
    if (it != index_.end()) return entries_[it->second];
    if (entries_.empty()) oldest_ = now;
    // A delete's key (or a keyless table's row) becomes a Datum vector too.
    batch_bytes_ += sizeof(std::vector<Datum>) + 2 * key.size();
    Entry entry;
    entry.key = Copy(key);
    entry.state = state;
    entries_.push_back(entry);
    index_.emplace(entry.key, static_cast<uint32_t>(entries_.size() - 1));
    return entries_.back();
  }

  uint32_t Store(const Value* row) {
    const uint32_t first = static_cast<uint32_t>(values_.size());
    values_.insert(values_.end(), row, row + columns_.size());
    batch_bytes_ += sizeof(std::vector<Datum>) + columns_.size() * sizeof(Datum);
    for (size_t i = 0; i < columns_.size(); ++i) {
      // Strings longer than the small-string buffer allocate.
      if (row[i].size > 15) batch_bytes_ += row[i].size + 1;
    }
    return first;
  }

  absl::Status ResolveKeyIndex() {
    key_index_.clear();
    for (const std::string& key_column : key_.columns) {
      int found = -1;
      for (size_t i = 0; i < columns_.size(); ++i) {
        if (columns_[i].name == key_column) found = static_cast<int>(i);
      }
      if (found < 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("key column \"", key_column,
                         "\" is not among the table's columns as the stream shows them"));
      }
      key_index_.push_back(found);
    }
    return absl::OkStatus();
  }

  void EmitKeyed(Batch* batch) {
    // Rows grouped by the columns they carry; most rows carry all of them.
    absl::flat_hash_map<std::vector<int>, size_t> groups;
    std::vector<int> present;
    for (const Entry& entry : entries_) {
      if (entry.state == State::kDelete) {
        batch->deletes.push_back(DecodeValues(entry.key));
        continue;
      }
      if (entry.state != State::kUpsert) continue;
      if (!entry.moved_from.empty()) {
        std::vector<Datum>& move = batch->moves.emplace_back(DecodeValues(entry.key));
        for (Datum& value : DecodeValues(entry.moved_from)) move.push_back(std::move(value));
      }
      const Value* row = &values_[entry.first_value];
      present.clear();
      for (size_t i = 0; i < columns_.size(); ++i) {
        if (row[i].kind != ValueKind::kUnchangedToast) present.push_back(static_cast<int>(i));
      }
      auto [group, added] = groups.emplace(present, batch->upserts.size());
      if (added) {
        batch->upserts.push_back(RowGroup{present, {}});
        if (present.size() == columns_.size()) batch->upserts.back().rows.reserve(entries_.size());
      }
      std::vector<Datum>& out = batch->upserts[group->second].rows.emplace_back();
      out.reserve(present.size());
      for (int i : present) {
        if (row[i].kind == ValueKind::kNull) {
          out.emplace_back(std::nullopt);
        } else {
          out.emplace_back(std::in_place, row[i].data, row[i].size);
        }
      }
    }
  }

  void EmitMultiset(Batch* batch) {
    RowGroup inserts;
    for (size_t i = 0; i < columns_.size(); ++i) inserts.columns.push_back(static_cast<int>(i));
    for (const Entry& entry : entries_) {
      if (entry.count == 0) continue;
      std::vector<std::vector<Datum>>& out = entry.count > 0 ? inserts.rows : batch->deletes;
      std::vector<Datum> row = DecodeValues(entry.key);
      for (int64_t n = entry.count > 0 ? entry.count : -entry.count; n > 1; --n) out.push_back(row);
      out.push_back(std::move(row));
    }
    if (!inserts.rows.empty()) batch->upserts.push_back(std::move(inserts));
  }

  const uint64_t id_;
  std::string schema_;
  std::string name_;
  uint64_t sequence_ = 0;

  TableKey key_;
  bool key_known_ = false;
  std::vector<ColumnDef> columns_;
  bool columns_known_ = false;
  std::vector<int> key_index_;  // Key columns' indexes in columns_.

  Arena arena_;
  std::vector<Value> values_;                               // Rows of columns_.size() values each.
  std::vector<Entry> entries_;                              // In order of each row's first change.
  absl::flat_hash_map<absl::string_view, uint32_t> index_;  // Key -> entries_ index.
  uint64_t batch_bytes_ = 0;  // Estimated size of the batch Emit() would build.
  absl::Time oldest_;
  bool group_open_ = false;
};

namespace {

// Prefixes `status` with where it happened, keeping its code.
absl::Status Annotate(const absl::Status& status, absl::string_view where) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

std::string SourceKey(TableRef table) {
  return absl::StrCat(table.schema, absl::string_view("\0", 1), table.name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeBatcher>> ChangeBatcher::Create(BatcherOptions options,
                                                                     KeyColumns* keys) {
  absl::StatusOr<TableFilter> filter = TableFilter::Create(options.tables);
  if (!filter.ok()) return filter.status();
  return std::unique_ptr<ChangeBatcher>(
      new ChangeBatcher(std::move(options), *std::move(filter), keys));
}

ChangeBatcher::ChangeBatcher(BatcherOptions options, TableFilter filter, KeyColumns* keys)
    : options_(std::move(options)), filter_(std::move(filter)), keys_(keys) {}

ChangeBatcher::~ChangeBatcher() = default;

std::optional<SourcePosition> ChangeBatcher::oldest_buffered_position() const {
  const SourcePosition* oldest = nullptr;
  for (const Table* table : table_order_) {
    if (table->has_pending() &&
        (oldest == nullptr || table->pending_since.sequence < oldest->sequence)) {
      oldest = &table->pending_since;
    }
  }
  if (oldest == nullptr) return std::nullopt;
  return *oldest;
}

std::string ChangeBatcher::Where(const Record& record, TableRef table) const {
  std::optional<uint32_t> xid = record.xid ? record.xid : transaction_xid_;
  return absl::StrCat(RecordKindName(record.kind), " on table ",
                      QuotedTableName(table.schema, table.name), " (xid ",
                      xid ? absl::StrCat(*xid) : std::string("not printed"), ", line ", record.line,
                      ", byte offset ", record.offset, ")");
}

absl::Status ChangeBatcher::Add(const Record& record, std::vector<Batch>* ready) {
  switch (record.kind) {
    case RecordKind::kBegin:
      return Begin(record);
    case RecordKind::kCommit:
      return Commit(record, ready);
    case RecordKind::kInsert:
    case RecordKind::kUpdate:
    case RecordKind::kDelete:
      return Change(record, ready);
    case RecordKind::kTruncate:
      return Truncate(record, ready);
    case RecordKind::kMessage:
      return Ddl(record, ready);
    case RecordKind::kTwoPhase:
    case RecordKind::kStream:
      return absl::UnimplementedError(absl::StrCat(
          "line ", record.line, ", byte offset ", record.offset, ": `", record.raw,
          "`: two-phase and streamed transactions cannot be replicated from test_decoding's "
          "text; create the slot without two_phase and read it without stream-changes"));
  }
  return absl::InternalError("unknown record kind");
}

absl::Status ChangeBatcher::Begin(const Record& record) {
  if (in_transaction_) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", record.line, ", byte offset ", record.offset,
                     ": BEGIN inside the transaction that began at line ", transaction_line_));
  }
  in_transaction_ = true;
  open_position_ = SourcePosition{record.lsn, record.xid, position_.sequence + 1,
                                  std::string(record.commit_time)};
  transaction_xid_ = record.xid;
  transaction_line_ = record.line;
  ++transaction_ordinal_;
  return absl::OkStatus();
}

absl::Status ChangeBatcher::Commit(const Record& record, std::vector<Batch>* ready) {
  if (!in_transaction_) {
    return absl::InvalidArgumentError(absl::StrCat("line ", record.line, ", byte offset ",
                                                   record.offset, ": COMMIT without BEGIN"));
  }
  in_transaction_ = false;
  ++position_.sequence;
  position_.xid = record.xid ? record.xid : transaction_xid_;
  position_.commit_time = std::string(record.commit_time);
  position_.lsn = record.lsn ? record.lsn : open_position_.lsn;
  for (Table* table : touched_) {
    if (table->group_open() || (table->has_pending() && (table->rows() >= options_.max_rows ||
                                                         table->bytes() >= options_.max_bytes))) {
      Flush(table, /*busy=*/true, ready);
    }
  }
  touched_.clear();
  // Tables cut while the transaction did not touch them (the largest, over
  // max_buffered_bytes) close their group too.
  for (Table* table : grouped_) {
    if (table->group_open()) Flush(table, /*busy=*/false, ready);
  }
  grouped_.clear();
  return absl::OkStatus();
}

absl::StatusOr<ChangeBatcher::Table*> ChangeBatcher::Resolve(const Record& record, TableRef source,
                                                             std::vector<Batch>* ready) {
  if (last_table_ != nullptr &&
      last_source_.size() == source.schema.size() + 1 + source.name.size() &&
      absl::string_view(last_source_).substr(0, source.schema.size()) == source.schema &&
      absl::string_view(last_source_).substr(source.schema.size() + 1) == source.name) {
    return last_table_;
  }
  absl::StatusOr<Table*> found = Find(record, source);
  if (!found.ok()) return found.status();
  Table* table = *found;
  if (table == nullptr) return table;
  if (table->source_dropped) NewSourceTable(table, ready);
  if (!table->key_known()) {
    absl::StatusOr<TableKey> table_key = keys_->Lookup(source.schema, source.name);
    if (absl::IsNotFound(table_key.status())) {
      SourceGone(record, source, table);
    } else if (!table_key.ok()) {
      return Annotate(table_key.status(), Where(record, source));
    } else {
      absl::StatusOr<Table*> renamed = RenamedTo(record, source, table, table_key->oid, ready);
      if (!renamed.ok()) return renamed.status();
      if (*renamed != table) {
        last_source_ = SourceKey(source);
        last_table_ = *renamed;
        return *renamed;
      }
      table->SetKey(*std::move(table_key));
      if (table->keyless() && !open_position_.lsn) {
        Warn(
            table, kWarnedKeylessWithoutLsn,
            absl::StrCat(QuotedTableName(table->schema(), table->name()),
                         " has no key: its rows are a multiset, and without LSNs (a pipe) a "
                         "replay of transactions already loaded adds their rows again. Read the "
                         "slot with --slot, which skips replays exactly, or give the table a key"));
      }
    }
  }
  last_source_ = SourceKey(source);
  last_table_ = table;
  return table;
}

bool ChangeBatcher::Replicated(TableRef source) const {
  // DDL capture's own log is in the stream, never in the target.
  if (source.schema == kDdlCaptureSchema && source.name == kDdlCaptureLog) return false;
  return filter_.Includes(source.schema, source.name);
}

absl::StatusOr<ChangeBatcher::Table*> ChangeBatcher::Find(const Record& record, TableRef source) {
  std::string key = SourceKey(source);
  auto found = sources_.find(key);
  if (found != sources_.end()) return found->second;
  Table* table = nullptr;
  if (Replicated(source)) {
    const std::string target = filter_.TargetName(source.name);
    std::unique_ptr<Table>& slot = tables_[SourceKey(TableRef{source.schema, target})];
    if (slot == nullptr) {
      slot = std::make_unique<Table>(++tables_created_, std::string(source.schema), target);
      slot->first_seen_in = transaction_ordinal_;
      table_order_.push_back(slot.get());
      if (options_.applied_through) {
        absl::StatusOr<std::optional<uint64_t>> applied =
            options_.applied_through(slot->schema(), slot->name());
        if (!applied.ok()) return Annotate(applied.status(), Where(record, source));
        slot->applied_through = *applied;
      }
    }
    table = slot.get();
  }
  sources_.emplace(std::move(key), table);
  return table;
}

absl::Status ChangeBatcher::Truncate(const Record& record, std::vector<Batch>* ready) {
  if (!in_transaction_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", record.line, ", byte offset ", record.offset, ": TRUNCATE outside a transaction"));
  }
  for (const TableRef& source : record.truncated) {
    absl::StatusOr<Table*> table = Resolve(record, source, ready);
    if (!table.ok()) return table.status();
    if (*table == nullptr || Replayed(**table)) continue;
    if ((*table)->gone && options_.on_source_drop == SourceDropPolicy::kDrop) {
      absl::StatusOr<bool> applicable = ApplicableToGone(record, *table, ready);
      if (!applicable.ok()) return applicable.status();
      continue;
    }
    if ((*table)->name() != source.name) {
      // The target holds every partition's rows; emptying it would lose the others.
      return absl::FailedPreconditionError(absl::StrCat(
          Where(record, source), ": the partition is renamed to ",
          QuotedTableName((*table)->schema(), (*table)->name()),
          ", which holds other partitions' rows too, so its TRUNCATE cannot be replicated"));
    }
    buffered_bytes_ -= (*table)->bytes();
    (*table)->Discard(/*keep_memory=*/false);
    Batch batch = (*table)->NewBatch(Batch::Kind::kTruncate, batch_position());
    batch.restart_seqs = record.restart_seqs;
    batch.cascade = record.cascade;
    (*table)->Push(std::move(batch), in_transaction_, ready);
    NoteGroup(*table);
  }
  return absl::OkStatus();
}

absl::Status ChangeBatcher::Change(const Record& record, std::vector<Batch>* ready) {
  if (!in_transaction_) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(record, record.table), ": change outside a transaction"));
  }
  absl::StatusOr<Table*> resolved = Resolve(record, record.table, ready);
  if (!resolved.ok()) return resolved.status();
  Table* table = *resolved;
  if (table == nullptr || Replayed(*table)) return absl::OkStatus();
  const bool was_gone = table->gone;
  if (was_gone) {
    absl::StatusOr<bool> applicable = ApplicableToGone(record, table, ready);
    if (!applicable.ok()) return Annotate(applicable.status(), Where(record, record.table));
    if (!*applicable) return absl::OkStatus();
  }

  bool undo_first_touch = false;
  absl::Status status = Shape(record, table, ready);
  if (status.ok() && !was_gone && table->gone) {
    // The table went away since it was last looked up (Shape asked again).
    absl::StatusOr<bool> applicable = ApplicableToGone(record, table, ready);
    if (!applicable.ok()) return Annotate(applicable.status(), Where(record, record.table));
    if (!*applicable) return absl::OkStatus();
  }
  if (status.ok()) {
    if (table->touched_in != transaction_ordinal_) {
      table->touched_in = transaction_ordinal_;
      touched_.push_back(table);
      // A first change that fails before it changed anything leaves the
      // table's buffer committed-only, so FlushCommitted() can still load it.
      // A keyed update with an old key deletes before it inserts: not that.
      undo_first_touch = !(record.kind == RecordKind::kUpdate && record.has_old_key);
    }
    // The clock matters only for a table's first buffered change.
    const absl::Time now = table->has_pending() ? absl::InfinitePast() : options_.clock();
    if (!table->has_pending()) table->pending_since = position_;
    const uint64_t before = table->bytes();  // Applying a change only adds bytes.
    status =
        table->keyless() ? ApplyToMultiset(record, table, now) : ApplyToKeyed(record, table, now);
    buffered_bytes_ += table->bytes() - before;
  }
  if (!status.ok()) {
    if (undo_first_touch && !table->group_open()) {
      table->touched_in = 0;
      touched_.pop_back();
    }
    return Annotate(status, Where(record, record.table));
  }
  if (table->bytes() >= options_.max_bytes) Flush(table, /*busy=*/true, ready);
  while (buffered_bytes_ >= options_.max_buffered_bytes) {
    Table* largest = table_order_.front();
    for (Table* candidate : table_order_) {
      if (candidate->bytes() > largest->bytes()) largest = candidate;
    }
    if (largest->bytes() == 0) break;  // Nothing left to flush.
    Flush(largest, /*busy=*/false, ready);
  }
  return absl::OkStatus();
}

void ChangeBatcher::Flush(Table* table, bool busy, std::vector<Batch>* ready) {
  buffered_bytes_ -= table->bytes();
  table->Emit(batch_position(), in_transaction_, busy, ready);
  NoteGroup(table);
}

void ChangeBatcher::NoteGroup(Table* table) {
  if (in_transaction_ && table->group_open() && table->touched_in != transaction_ordinal_ &&
      std::find(grouped_.begin(), grouped_.end(), table) == grouped_.end()) {
    grouped_.push_back(table);
  }
}

bool ChangeBatcher::Replayed(const Table& table) const {
  return open_position_.lsn && table.applied_through &&
         *open_position_.lsn <= *table.applied_through;
}

absl::Status ChangeBatcher::Shape(const Record& record, Table* table, std::vector<Batch>* ready) {
  if (record.no_tuple_data) {
    if (record.kind == RecordKind::kInsert) {
      return absl::InvalidArgumentError("INSERT without tuple data");
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL logged no row (replica identity ", ReplicaIdentityName(table->key().identity),
        "), so the row cannot be identified; ",
        FixIdentityHint(record.table.schema, record.table.name)));
  }
  if (record.kind == RecordKind::kDelete) {
    // A delete shows only the key (or the non-NULL old columns): too little
    // to learn the table's shape from, so the catalog's answer stands in.
    if (table->columns_known()) {
      if (table->keyless() && !table->SameColumns(record.columns)) {
        return ConfirmColumns(record, table, ready);
      }
      return absl::OkStatus();
    }
    if (table->key().table_columns.empty()) {
      return absl::FailedPreconditionError(
          "the table's first change is a DELETE and its columns are unknown to KeyColumns");
    }
    return table->Reshape(table->key().table_columns, table->key());
  }
  std::vector<ColumnDef> columns;
  if (table->columns_known()) {
    if (table->SameColumns(record.columns)) return absl::OkStatus();
  }
  columns.reserve(record.columns.size());
  for (const Column& column : record.columns) {
    columns.push_back(ColumnDef{std::string(column.name), std::string(column.type)});
  }
  if (!table->columns_known()) {
    absl::Status reshaped = table->Reshape(columns, table->key());
    if (reshaped.ok() || table->gone) return reshaped;
    // The catalog's key is not among the columns this change shows: the
    // source's table of this name was dropped and re-created since. Its key
    // must not be applied to the old table's changes.
    table->SetKey(TableKey{});
    table->recreated = true;
    SourceGone(record, record.table, table);
    return table->Reshape(std::move(columns), table->key());
  }

  keys_->Invalidate(record.table.schema, record.table.name);
  absl::StatusOr<TableKey> key = keys_->Lookup(record.table.schema, record.table.name);
  if (absl::IsNotFound(key.status())) {
    // Gone since: the key re_dms knows is the best there is.
    if (!table->gone) SourceGone(record, record.table, table);
    key = table->key();
  }
  if (!key.ok()) return key.status();
  if (table->recreated) {
    // The re-created table's own changes have begun: its catalog key fits.
    table->gone = table->recreated = table->key_from_stream = false;
  }
  return ChangeColumns(std::move(columns), *std::move(key), table, ready);
}

absl::Status ChangeBatcher::ConfirmColumns(const Record& record, Table* table,
                                           std::vector<Batch>* ready) {
  // One answer per transaction: the catalog describes the table as it is
  // now, which is no closer to a later delete of the same transaction, and a
  // bulk delete would otherwise ask once per row.
  if (table->columns_confirmed_in == transaction_ordinal_) return absl::OkStatus();
  table->columns_confirmed_in = transaction_ordinal_;
  keys_->Invalidate(record.table.schema, record.table.name);
  absl::StatusOr<TableKey> key = keys_->Lookup(record.table.schema, record.table.name);
  if (absl::IsNotFound(key.status())) {
    // Gone: no catalog to ask; the old row is read against the known columns.
    if (!table->gone) SourceGone(record, record.table, table);
    return absl::OkStatus();
  }
  if (!key.ok()) return key.status();
  // No columns from the catalog: nothing contradicts the known ones.
  if (key->table_columns.empty() || table->SameColumns(key->table_columns)) {
    return absl::OkStatus();
  }
  std::vector<ColumnDef> columns = key->table_columns;
  return ChangeColumns(std::move(columns), *std::move(key), table, ready);
}

absl::Status ChangeBatcher::ChangeColumns(std::vector<ColumnDef> columns, TableKey key,
                                          Table* table, std::vector<Batch>* ready,
                                          ColumnRenames renamed, std::vector<std::string> added) {
  // Attnums describe the columns a message set (DdlShape sets them again).
  table->attnums.clear();
  // Rows buffered so far have the old shape.
  if (table->has_pending()) Flush(table, /*busy=*/false, ready);
  absl::Status reshaped = table->Reshape(std::move(columns), std::move(key));
  if (!reshaped.ok()) return reshaped;
  Batch batch = table->NewBatch(Batch::Kind::kSchemaChange, batch_position());
  batch.renamed_columns = std::move(renamed);
  batch.added_columns = std::move(added);
  table->Push(std::move(batch), in_transaction_, ready);
  NoteGroup(table);
  return absl::OkStatus();
}

absl::Status ChangeBatcher::ApplyToKeyed(const Record& record, Table* table, absl::Time now) {
  const std::vector<ColumnDef>& columns = table->columns();
  const std::vector<std::string>& key_columns = table->key().columns;
  std::string& key = key_;
  key.clear();

  if (record.kind == RecordKind::kDelete) {
    for (const std::string& name : key_columns) {
      const Column* column = FindColumn(record.columns, name);
      if (column == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("the deleted row's identity lacks key column \"", name, "\""));
      }
      AppendEncoded(column->kind, column->text, &key);
    }
    return table->Delete(key, now);
  }

  std::vector<Value>& row = table->scratch_row;
  table->CopyRow(record.columns, &row);
  if (record.kind == RecordKind::kInsert) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (row[i].kind == ValueKind::kUnchangedToast) {
        return absl::InvalidArgumentError(
            absl::StrCat("INSERT with an unchanged-TOAST value in \"", columns[i].name, "\""));
      }
    }
    for (int i : table->key_index()) AppendEncoded(row[i].kind, row[i].text(), &key);
    return table->Insert(key, row, now);
  }

  if (table->key().identity == ReplicaIdentity::kNothing) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the table has REPLICA IDENTITY NOTHING, so an update's old key is never logged; run "
        "`ALTER TABLE ",
        QuotedTableName(record.table.schema, record.table.name),
        " REPLICA IDENTITY DEFAULT` (or FULL)"));
  }
  // Unchanged-TOAST values the old row holds (REPLICA IDENTITY FULL logs it).
  if (record.has_old_key) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (row[i].kind != ValueKind::kUnchangedToast) continue;
      const Column* old = FindColumn(record.old_key, columns[i].name);
      if (old == nullptr || old->kind != ValueKind::kText) continue;
      absl::string_view text = table->Copy(old->text);
      row[i] = Value{text.data(), static_cast<uint32_t>(text.size()), ValueKind::kText};
    }
  }
  for (int i : table->key_index()) {
    if (row[i].kind == ValueKind::kUnchangedToast) {
      return absl::InvalidArgumentError(absl::StrCat("UPDATE whose key column \"", columns[i].name,
                                                     "\" is an unchanged TOAST value"));
    }
    AppendEncoded(row[i].kind, row[i].text(), &key);
  }
  std::string& old_key = old_key_;
  old_key.clear();
  if (record.has_old_key) {
    for (const std::string& name : key_columns) {
      const Column* column = FindColumn(record.old_key, name);
      if (column == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("the old-key tuple lacks key column \"", name, "\""));
      }
      AppendEncoded(column->kind, column->text, &old_key);
    }
  }
  if (!record.has_old_key || old_key == key) return table->Update(key, &row, now);

  // The key changed: the row leaves its old key for a new one, where nothing
  // can be "left unchanged". Values the batch knows are filled in; the rest
  // only the target holds, at the row's key as of the last batch: the row
  // is moved there (Batch::moves).
  if (const Value* before = table->PendingRow(old_key)) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (row[i].kind == ValueKind::kUnchangedToast) row[i] = before[i];
    }
  }
  const bool move = std::any_of(row.begin(), row.end(), [](const Value& value) {
    return value.kind == ValueKind::kUnchangedToast;
  });
  const std::string origin(move ? table->Origin(old_key) : absl::string_view());
  absl::Status deleted = table->Delete(old_key, now);
  if (!deleted.ok()) return deleted;
  return move ? table->Move(key, row, origin, now) : table->Insert(key, row, now);
}

absl::Status ChangeBatcher::EncodeOldRow(const std::vector<Column>& tuple, const Table& table,
                                         std::string* out) {
  // The tuple lists the non-NULL columns in the table's order.
  size_t next = 0;
  for (const ColumnDef& column : table.columns()) {
    if (next < tuple.size() && tuple[next].name == column.name) {
      if (tuple[next].kind == ValueKind::kUnchangedToast) {
        return absl::InvalidArgumentError(
            absl::StrCat("the old row's column \"", column.name, "\" is an unchanged TOAST value"));
      }
      AppendEncoded(tuple[next].kind, tuple[next].text, out);
      ++next;
    } else {
      AppendEncoded(ValueKind::kNull, "", out);
    }
  }
  if (next < tuple.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the old row's column \"", tuple[next].name,
                                                   "\" is not among the table's columns"));
  }
  return absl::OkStatus();
}

absl::Status ChangeBatcher::ApplyToMultiset(const Record& record, Table* table, absl::Time now) {
  std::string& row = key_;
  row.clear();
  if (record.kind == RecordKind::kInsert) {
    for (const Column& column : record.columns) {
      if (column.kind == ValueKind::kUnchangedToast) {
        return absl::InvalidArgumentError(
            absl::StrCat("INSERT with an unchanged-TOAST value in \"", column.name, "\""));
      }
      AppendEncoded(column.kind, column.text, &row);
    }
    table->Count(row, +1, now);
    return absl::OkStatus();
  }
  if (record.kind == RecordKind::kDelete) {
    absl::Status encoded = EncodeOldRow(record.columns, *table, &row);
    if (!encoded.ok()) return encoded;
    table->Count(row, -1, now);
    return absl::OkStatus();
  }
  if (!record.has_old_key) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the table has no key and PostgreSQL did not log the updated row's old values; ",
        FixIdentityHint(record.table.schema, record.table.name)));
  }
  std::string& old_row = old_key_;
  old_row.clear();
  absl::Status encoded = EncodeOldRow(record.old_key, *table, &old_row);
  if (!encoded.ok()) return encoded;
  for (const Column& column : record.columns) {
    const Column* value = &column;
    if (column.kind == ValueKind::kUnchangedToast) {
      value = FindColumn(record.old_key, column.name);
      if (value == nullptr || value->kind != ValueKind::kText) {
        return absl::InvalidArgumentError(absl::StrCat(
            "column \"", column.name, "\" is an unchanged TOAST value the old row lacks"));
      }
    }
    AppendEncoded(value->kind, value->text, &row);
  }
  table->Count(old_row, -1, now);
  table->Count(row, +1, now);
  return absl::OkStatus();
}

absl::Status ChangeBatcher::FlushExpired(absl::Time now, std::vector<Batch>* ready) {
  for (Table* table : table_order_) {
    if (!table->has_pending() || now - table->oldest() < options_.max_age) continue;
    if (in_transaction_ && (table->touched_in == transaction_ordinal_ || table->group_open())) {
      continue;
    }
    Flush(table, /*busy=*/false, ready);
  }
  return absl::OkStatus();
}

std::vector<std::string> ChangeBatcher::FlushCommitted(std::vector<Batch>* ready) {
  std::vector<std::string> held;
  // The failed transaction ends here: what goes out is committed, outside it.
  const bool in_transaction = in_transaction_;
  in_transaction_ = false;
  for (Table* table : table_order_) {
    if (in_transaction && (table->touched_in == transaction_ordinal_ || table->group_open())) {
      held.push_back(QuotedTableName(table->schema(), table->name()));
      continue;
    }
    if (table->has_pending()) Flush(table, /*busy=*/false, ready);
  }
  return held;
}

absl::Status ChangeBatcher::FlushAll(std::vector<Batch>* ready) {
  if (in_transaction_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the input ended inside the transaction that began at line ", transaction_line_, " (xid ",
        transaction_xid_ ? absl::StrCat(*transaction_xid_) : "not printed",
        "); its changes are not committed, so nothing is flushed"));
  }
  for (Table* table : table_order_) {
    if (table->has_pending()) Flush(table, /*busy=*/false, ready);
  }
  return absl::OkStatus();
}

// Tables the source no longer has. The stream was written while the table
// existed; the catalog re_dms asks describes the source as it is now. What
// the stream itself says about a row is exact: an insert is the whole row, a
// delete (REPLICA IDENTITY DEFAULT or INDEX) names the key's columns and
// values, an update's old-key tuple does so when the key changed, and a
// REPLICA IDENTITY FULL old row is the whole row. So a gone table is keyless
// (its inserts add rows) until one of those tuples names its key; an update
// that keeps its key before that cannot be placed and is skipped, with a
// warning.

void ChangeBatcher::SourceGone(const Record& record, TableRef source, Table* table) {
  table->gone = true;
  if (!table->key_known()) table->SetKey(TableKey{});
  const bool drop = options_.on_source_drop == SourceDropPolicy::kDrop;
  if (table->recreated) {
    Warn(table, kWarnedGone,
         absl::StrCat(Where(record, source), ": the source's table ",
                      QuotedTableName(source.schema, source.name),
                      " is not the one this change was written for (its key columns are not "
                      "among the change's): it was dropped and re-created since. Until the new "
                      "table's changes begin, the old one's are applied as for a dropped table, "
                      "as far as the stream identifies their rows; the target table then holds "
                      "the rows of both, re-sync it if that matters."));
    return;
  }
  Warn(table, kWarnedGone,
       absl::StrCat(
           Where(record, source), ": table ", QuotedTableName(source.schema, source.name),
           " no longer exists in the source: it was dropped or renamed after this change was "
           "written, and the stream does not say which, nor a new name (a renamed table's later "
           "changes arrive under its new name, as a new target table). ",
           drop ? "Its target table is dropped (--on-source-drop=drop) and its remaining changes "
                  "in the stream are skipped."
                : "Its target table keeps its rows (--on-source-drop=keep); the changes the stream "
                  "identifies exactly (inserts; deletes and key changes, which name the key) are "
                  "applied."));
}

absl::StatusOr<bool> ChangeBatcher::ApplicableToGone(const Record& record, Table* table,
                                                     std::vector<Batch>* ready) {
  if (options_.on_source_drop == SourceDropPolicy::kDrop && !table->recreated) {
    if (!table->dropped) {
      buffered_bytes_ -= table->bytes();
      table->Discard(/*keep_memory=*/false);
      // The table's last batch: it ends any group the open transaction began,
      // at that transaction's commit, since nothing of the table follows.
      table->Push(table->NewBatch(Batch::Kind::kDropTable, batch_position()),
                  /*in_transaction=*/false, ready);
      table->dropped = true;
    }
    return false;
  }
  if (record.kind == RecordKind::kTruncate || record.kind == RecordKind::kInsert) return true;
  const bool names_row = record.kind == RecordKind::kDelete ||
                         (record.kind == RecordKind::kUpdate && record.has_old_key);
  if (names_row && !table->key_from_stream) {
    const std::vector<Column>& tuple =
        record.kind == RecordKind::kDelete ? record.columns : record.old_key;
    std::vector<ColumnDef> tuple_columns;
    for (const Column& column : tuple) {
      tuple_columns.push_back(ColumnDef{std::string(column.name), std::string(column.type)});
    }
    TableKey key;
    if (table->columns_known() && table->SameColumns(tuple_columns)) {
      // Every column: a REPLICA IDENTITY FULL old row, so the rows are a multiset.
      key.identity = ReplicaIdentity::kFull;
    } else {
      for (const ColumnDef& column : tuple_columns) key.columns.push_back(column.name);
    }
    // Rows buffered so far were keyless; the key is a barrier like a new shape.
    if (table->has_pending() && !key.columns.empty()) Flush(table, /*busy=*/false, ready);
    std::vector<ColumnDef> columns = table->columns_known() ? table->columns() : tuple_columns;
    absl::Status reshaped = table->Reshape(std::move(columns), std::move(key));
    if (!reshaped.ok()) return reshaped;
    table->key_from_stream = true;
  }
  if (record.kind == RecordKind::kUpdate && !record.has_old_key && table->keyless()) {
    Warn(table, kWarnedUpdate,
         absl::StrCat(Where(record, record.table),
                      ": skipped, with every later UPDATE of this table that keeps its row's key "
                      "before a delete or key change names the key: the source no longer has the "
                      "table, and such an update does not name its key columns. The target's rows "
                      "may differ from the source's last state of the table; re-sync it if it "
                      "matters"));
    return false;
  }
  if (record.kind == RecordKind::kDelete && !table->keyless()) {
    for (const std::string& name : table->key().columns) {
      if (FindColumn(record.columns, name) != nullptr) continue;
      Warn(table, kWarnedDelete,
           absl::StrCat(Where(record, record.table),
                        ": skipped, with every later DELETE of this "
                        "table that does not show the key column \"",
                        name,
                        "\" the stream named before (the table no longer exists in the source, "
                        "so its key cannot be confirmed)"));
      return false;
    }
  }
  return true;
}

// DDL capture (ddl_capture.h). A message describes one table after one
// statement, in stream order, so it is the barrier between the changes
// written before and after it: the rows buffered so far are emitted with the
// old shape, then the target follows (kRenameTable, kSchemaChange,
// kDropTable) in the same group as the rest of the transaction. What the
// message says replaces what the catalog said (the catalog describes the
// table as it is now).

absl::Status ChangeBatcher::Ddl(const Record& record, std::vector<Batch>* ready) {
  if (!record.transactional || record.prefix != kDdlMessagePrefix) return absl::OkStatus();
  auto where = [&] { return absl::StrCat("line ", record.line, ", byte offset ", record.offset); };
  if (!in_transaction_) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), ": a DDL capture message outside a transaction"));
  }
  absl::StatusOr<DdlEvent> event = ParseDdlMessage(record.content);
  if (!event.ok()) return Annotate(event.status(), where());
  last_table_ = nullptr;  // Names may change meaning below.
  last_source_.clear();
  const TableRef name{event->schema, event->table};
  if (event->kind == DdlEvent::Kind::kDrop) return DdlDrop(record, name, ready);

  Table* table = nullptr;
  if (event->renamed()) {
    absl::StatusOr<Table*> renamed =
        DdlRename(record, TableRef{*event->previous_schema, *event->previous_table}, name, ready);
    if (!renamed.ok()) return renamed.status();
    table = *renamed;
  } else {
    absl::StatusOr<Table*> found = Find(record, name);
    if (!found.ok()) return found.status();
    table = *found;
  }
  if (table == nullptr) return absl::OkStatus();
  if (table->source_dropped) {
    NewSourceTable(table, ready);
  } else if (event->kind == DdlEvent::Kind::kCreate &&
             table->first_seen_in == transaction_ordinal_ && !table->group_open() &&
             filter_.TargetName(event->table) == event->table) {
    // A table new to this run: the target may still hold a predecessor of
    // the name, dropped in an earlier run and kept. The rows of a CREATE
    // TABLE AS, which precede this message, are still buffered and follow.
    NewSourceTable(table, ready);
  }
  return DdlShape(*event, table, ready);
}

absl::Status ChangeBatcher::DdlDrop(const Record& record, TableRef name,
                                    std::vector<Batch>* ready) {
  absl::StatusOr<Table*> found = Find(record, name);
  if (!found.ok()) return found.status();
  Table* table = *found;
  if (table == nullptr || table->source_dropped) return absl::OkStatus();
  if (!Replayed(*table)) {
    if (table->has_pending()) Flush(table, /*busy=*/false, ready);
    // A partition that loads into a shared target table: the others' rows stay.
    const bool shared_target = filter_.TargetName(name.name) != name.name;
    if (options_.on_source_drop == SourceDropPolicy::kDrop && !shared_target && !table->dropped) {
      table->Push(table->NewBatch(Batch::Kind::kDropTable, batch_position()), in_transaction_,
                  ready);
      NoteGroup(table);
      table->dropped = true;
    }
  } else {
    table->Discard(/*keep_memory=*/false);
  }
  const bool dropped = table->dropped;
  // A batch that closes the group must not create the table again.
  table->NewIncarnation();
  table->dropped = dropped;
  table->source_dropped = true;
  return absl::OkStatus();
}

absl::StatusOr<ChangeBatcher::Table*> ChangeBatcher::DdlRename(const Record& record, TableRef from,
                                                               TableRef to,
                                                               std::vector<Batch>* ready) {
  absl::StatusOr<Table*> found = Find(record, from);
  if (!found.ok()) return found.status();
  Table* table = *found;
  if (table == nullptr) return Find(record, to);  // Not replicated until now.
  if (!Replicated(to)) {
    // Renamed out of the replicated tables: as good as dropped for re_dms.
    absl::Status dropped = DdlDrop(record, from, ready);
    if (!dropped.ok()) return dropped;
    return nullptr;
  }
  const std::string to_target = filter_.TargetName(to.name);
  if (filter_.TargetName(from.name) != from.name || to_target != to.name) {
    // Partitions that load into a shared target table: the rows stay where
    // they are; the new name's changes go wherever it maps.
    sources_.erase(SourceKey(from));
    return Find(record, to);
  }
  if (!Replayed(*table)) {
    if (table->has_pending()) Flush(table, /*busy=*/false, ready);
    Batch batch = table->NewBatch(Batch::Kind::kRenameTable, batch_position());
    batch.renamed_schema = std::string(to.schema);
    batch.renamed_table = to_target;
    table->Push(std::move(batch), in_transaction_, ready);
    NoteGroup(table);
  }
  // The table keeps its state under the new name. A table that held the name
  // before (dropped since) is displaced; batches it emitted stay valid.
  std::unique_ptr<Table> moved = std::move(tables_[SourceKey(from)]);
  tables_.erase(SourceKey(from));
  std::unique_ptr<Table>& slot = tables_[SourceKey(TableRef{to.schema, to_target})];
  if (slot != nullptr) {
    for (auto it = sources_.begin(); it != sources_.end();) {
      if (it->second == slot.get()) {
        sources_.erase(it++);
      } else {
        ++it;
      }
    }
    displaced_.push_back(std::move(slot));
  }
  slot = std::move(moved);
  sources_.erase(SourceKey(from));
  sources_[SourceKey(to)] = table;
  table->Rename(std::string(to.schema), to_target);
  keys_->Invalidate(from.schema, from.name);
  keys_->Invalidate(to.schema, to.name);
  return table;
}

absl::Status ChangeBatcher::DdlShape(const DdlEvent& event, Table* table,
                                     std::vector<Batch>* ready) {
  // Renamed columns keep their attnum; a column dropped and added again gets
  // a new one. The columns before the statement are the message's (the
  // log's), else the table's as the last message set them.
  const bool from_table = event.previous_attnums.empty();
  const std::vector<int>& attnums_before = from_table ? table->attnums : event.previous_attnums;
  ColumnRenames renamed;
  std::vector<std::string> added;
  if (!attnums_before.empty() &&
      (!from_table ||
       (table->columns_known() && table->columns().size() == attnums_before.size()))) {
    for (size_t i = 0; i < event.columns.size(); ++i) {
      auto known = std::find(attnums_before.begin(), attnums_before.end(), event.attnums[i]);
      if (known == attnums_before.end()) {
        added.push_back(event.columns[i].name);
        continue;
      }
      const size_t index = known - attnums_before.begin();
      const std::string& before =
          from_table ? table->columns()[index].name : event.previous_columns[index].name;
      if (before != event.columns[i].name) renamed.emplace_back(before, event.columns[i].name);
    }
  }
  const bool same = table->columns_known() && table->SameColumns(event.columns) &&
                    table->key().columns == event.key.columns &&
                    table->key().identity == event.key.identity && renamed.empty() && added.empty();
  table->gone = table->recreated = table->key_from_stream = false;
  absl::Status status;
  if (same) {
    table->SetKey(event.key);
  } else if (Replayed(*table)) {
    status = table->Reshape(event.columns, event.key);
  } else {
    status =
        ChangeColumns(event.columns, event.key, table, ready, std::move(renamed), std::move(added));
  }
  table->attnums = event.attnums;
  return status;
}

absl::StatusOr<ChangeBatcher::Table*> ChangeBatcher::RenamedTo(const Record& record,
                                                               TableRef source, Table* fresh,
                                                               uint32_t oid,
                                                               std::vector<Batch>* ready) {
  if (oid == 0) return fresh;
  Table*& known = by_oid_[oid];
  if (known == nullptr || known == fresh || known->source_dropped ||
      filter_.TargetName(source.name) != source.name ||
      filter_.TargetName(known->name()) != known->name()) {
    known = fresh;
    return fresh;
  }
  // The catalog knew this table under the earlier name: renamed, unless that
  // name still answers with the same oid (it cannot: oids are unique).
  const std::string from_schema = known->schema(), from_name = known->name();
  keys_->Invalidate(from_schema, from_name);
  absl::StatusOr<TableKey> earlier = keys_->Lookup(from_schema, from_name);
  if (earlier.ok() && earlier->oid == oid) {
    known = fresh;
    return fresh;
  }
  if (!earlier.ok() && !absl::IsNotFound(earlier.status())) {
    return Annotate(earlier.status(), Where(record, source));
  }
  Warn(known, kWarnedRenamed,
       absl::StrCat(Where(record, source), ": the source renamed table ",
                    QuotedTableName(from_schema, from_name), " to ",
                    QuotedTableName(source.schema, source.name),
                    " (the catalog gives this name the oid re_dms saw for the old one), so the "
                    "target table is renamed too. Without DDL capture (re_dms ddl-capture "
                    "install) re_dms notices a rename only when it looked the table up before "
                    "it, within one run"));
  absl::StatusOr<Table*> renamed =
      DdlRename(record, TableRef{from_schema, from_name}, source, ready);
  if (!renamed.ok()) return renamed.status();
  if (*renamed != nullptr) known = *renamed;
  return *renamed == nullptr ? fresh : *renamed;
}

void ChangeBatcher::NewSourceTable(Table* table, std::vector<Batch>* ready) {
  if (!table->dropped && !Replayed(*table)) {
    // Rows buffered now are the new table's (a CREATE TABLE AS): they follow.
    table->Push(table->NewBatch(Batch::Kind::kDropTable, batch_position()), in_transaction_, ready);
    NoteGroup(table);
  }
  if (table->has_pending()) {
    // The buffered rows keep the shape they were read with, until the
    // message's shape follows them.
    table->gone = table->recreated = table->key_from_stream = table->source_dropped = false;
    return;
  }
  table->NewIncarnation();
}

void ChangeBatcher::Warn(Table* table, uint32_t kind, std::string message) {
  if ((table->warned & kind) != 0) return;
  table->warned |= kind;
  if (options_.on_warning) options_.on_warning(absl::FailedPreconditionError(message));
}

}  // namespace re_dms
