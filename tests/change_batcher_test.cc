// ChangeBatcher: every merge rule, TOAST case, key change, barrier, flush
// policy and error, with exact expected batches. Records are built directly;
// batcher_pg_test.cc covers the real stream.

#include "re_dms/change_batcher.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/table_filter.h"

namespace re_dms {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A value in a test row: text, NULL, or unchanged-TOAST.
struct Val {
  ValueKind kind = ValueKind::kText;
  std::string text;
};
Val V(std::string text) { return Val{ValueKind::kText, std::move(text)}; }
const Val kNul{ValueKind::kNull, ""};
const Val kToast{ValueKind::kUnchangedToast, ""};

// Renders a batch compactly and exactly: deletes as -(...), each upsert group
// as +{columns}(...)(...); NULL as NULL, text quoted.
std::string Render(const std::vector<Datum>& row) {
  std::vector<std::string> parts;
  for (const Datum& datum : row) parts.push_back(datum ? absl::StrCat("'", *datum, "'") : "NULL");
  return absl::StrCat("(", absl::StrJoin(parts, ","), ")");
}

std::string Render(const Batch& batch) {
  std::string out = absl::StrCat(batch.schema, ".", batch.table, "#", batch.sequence, " ");
  switch (batch.kind) {
    case Batch::Kind::kTruncate:
      return absl::StrCat(out, "TRUNCATE", batch.restart_seqs ? " restart_seqs" : "",
                          batch.cascade ? " cascade" : "");
    case Batch::Kind::kSchemaChange: {
      std::vector<std::string> columns;
      for (const ColumnDef& column : batch.columns) {
        columns.push_back(absl::StrCat(column.name, ":", column.type));
      }
      return absl::StrCat(out, "SCHEMA ", absl::StrJoin(columns, ","));
    }
    case Batch::Kind::kDropTable:
      return absl::StrCat(out, "DROP");
    case Batch::Kind::kRenameTable:
      return absl::StrCat(out, "RENAME TO ", batch.renamed_schema, ".", batch.renamed_table);
    case Batch::Kind::kRows:
      break;
  }
  std::vector<std::string> parts;
  for (const auto& row : batch.deletes) parts.push_back(absl::StrCat("-", Render(row)));
  for (const auto& move : batch.moves) parts.push_back(absl::StrCat(">", Render(move)));
  for (const RowGroup& group : batch.upserts) {
    std::vector<std::string> names;
    for (int i : group.columns) names.push_back(batch.columns[i].name);
    std::string rows;
    for (const auto& row : group.rows) absl::StrAppend(&rows, Render(row));
    parts.push_back(absl::StrCat("+{", absl::StrJoin(names, ","), "}", rows));
  }
  return absl::StrCat(out, absl::StrJoin(parts, " "));
}

std::vector<std::string> Render(const std::vector<Batch>& batches) {
  std::vector<std::string> out;
  for (const Batch& batch : batches) out.push_back(Render(batch));
  return out;
}

// Builds records whose views point into strings the builder owns.
class Stream {
 public:
  absl::string_view Keep(std::string text) {
    storage_.push_back(std::move(text));
    return storage_.back();
  }

  Record Begin(uint32_t xid) {
    Record record = Next(RecordKind::kBegin);
    record.xid = xid;
    return record;
  }
  Record Commit(uint32_t xid, std::string time = "") {
    Record record = Next(RecordKind::kCommit);
    record.xid = xid;
    record.commit_time = Keep(std::move(time));
    return record;
  }
  // A change of `table` whose tuple is columns `names` (of type text except
  // `id`, which is integer) with `values`; old_values (when given) form the
  // old-key tuple, NULLs omitted as test_decoding does.
  Record Change(RecordKind kind, std::string table, std::vector<std::string> names,
                std::vector<Val> values, std::vector<std::string> old_names = {},
                std::vector<Val> old_values = {}) {
    Record record = Next(kind);
    record.table = TableRef{"public", Keep(std::move(table))};
    record.columns = Tuple(names, values, /*omit_nulls=*/kind == RecordKind::kDelete);
    if (!old_names.empty()) {
      record.has_old_key = true;
      record.old_key = Tuple(old_names, old_values, /*omit_nulls=*/true);
    }
    return record;
  }
  Record Truncate(std::vector<std::string> tables, bool restart_seqs = false) {
    Record record = Next(RecordKind::kTruncate);
    for (std::string& table : tables)
      record.truncated.push_back({"public", Keep(std::move(table))});
    record.restart_seqs = restart_seqs;
    return record;
  }
  // DDL capture's message (ddl_capture.h) for table `table` of columns
  // `names` (types as in Change) at `attnums`, key id; `previous` when renamed.
  Record Ddl(std::string event, std::string table, std::vector<std::string> names,
             std::vector<int> attnums, std::string previous = "") {
    std::string columns;
    for (size_t i = 0; i < names.size(); ++i) {
      absl::StrAppend(&columns, i == 0 ? "" : ",", "{\"name\":\"", names[i], "\",\"type\":\"",
                      names[i] == "id" || names[i] == "k" ? "integer" : "text",
                      "\",\"attnum\":", attnums[i], "}");
    }
    std::string json = absl::StrCat("{\"version\":1,\"event\":\"", event,
                                    "\",\"command\":\"X\",\"oid\":1,\"schema\":\"public\",",
                                    "\"table\":\"", table, "\"");
    if (!previous.empty()) {
      absl::StrAppend(&json, ",\"previous_schema\":\"public\",\"previous_table\":\"", previous,
                      "\"");
    }
    if (event != "drop") {
      absl::StrAppend(&json, ",\"identity\":\"d\",\"columns\":[", columns, "],\"key\":[\"id\"]");
    }
    absl::StrAppend(&json, "}");
    Record record = Next(RecordKind::kMessage);
    record.transactional = true;
    record.prefix = "re_dms.ddl";
    record.content = Keep(std::move(json));
    return record;
  }
  Record Next(RecordKind kind) {
    Record record;
    record.kind = kind;
    record.line = ++line_;
    record.offset = line_ * 100;
    return record;
  }

 private:
  std::vector<Column> Tuple(const std::vector<std::string>& names, const std::vector<Val>& values,
                            bool omit_nulls) {
    std::vector<Column> tuple;
    for (size_t i = 0; i < names.size(); ++i) {
      if (omit_nulls && values[i].kind == ValueKind::kNull) continue;
      Column column;
      column.name = Keep(names[i]);
      column.type = names[i] == "id" || names[i] == "k" ? "integer" : "text";
      column.kind = values[i].kind;
      column.text = Keep(values[i].text);
      tuple.push_back(column);
    }
    return tuple;
  }

  std::deque<std::string> storage_;
  uint64_t line_ = 0;
};

std::vector<ColumnDef> Defs(std::vector<std::string> names) {
  std::vector<ColumnDef> defs;
  for (std::string& name : names) {
    std::string type = name == "id" || name == "k" ? "integer" : "text";
    defs.push_back(ColumnDef{std::move(name), std::move(type)});
  }
  return defs;
}

// Table t(id PK, a, b): the keyed table of the merge cases.
// Table n(a, b) without key, REPLICA IDENTITY FULL; m(a, b) without key, DEFAULT.
class BatcherTest : public ::testing::Test {
 protected:
  BatcherTest() {
    keys_.Set("public", "t", TableKey{ReplicaIdentity::kDefault, {"id"}, Defs({"id", "a", "b"})});
    keys_.Set("public", "f", TableKey{ReplicaIdentity::kFull, {"id"}, Defs({"id", "a", "b"})});
    keys_.Set("public", "n", TableKey{ReplicaIdentity::kFull, {}, Defs({"a", "b"})});
    keys_.Set("public", "m", TableKey{ReplicaIdentity::kDefault, {}, Defs({"a", "b"})});
    keys_.Set("public", "x", TableKey{ReplicaIdentity::kNothing, {"id"}, Defs({"id", "a", "b"})});
  }

  void Make(BatcherOptions options = {}) {
    options.clock = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<ChangeBatcher>> made = ChangeBatcher::Create(options, &keys_);
    ASSERT_TRUE(made.ok()) << made.status();
    batcher_ = *std::move(made);
  }

  // Feeds records; returns the first error.
  absl::Status Feed(const std::vector<Record>& records) {
    for (const Record& record : records) {
      absl::Status status = batcher_->Add(record, &ready_);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  // Feeds `changes` as one transaction, then flushes everything.
  std::vector<std::string> OneTransaction(const std::vector<Record>& changes) {
    absl::Status status = batcher_->Add(s_.Begin(700), &ready_);
    for (const Record& change : changes) {
      if (status.ok()) status = batcher_->Add(change, &ready_);
    }
    if (status.ok()) status = batcher_->Add(s_.Commit(700), &ready_);
    if (status.ok()) status = batcher_->FlushAll(&ready_);
    if (!status.ok()) return {status.ToString()};
    return Render(ready_);
  }

  Record I(int id, Val a, Val b, std::string table = "t") {
    return s_.Change(RecordKind::kInsert, table, {"id", "a", "b"}, {V(absl::StrCat(id)), a, b});
  }
  Record U(int id, Val a, Val b, std::string table = "t") {
    return s_.Change(RecordKind::kUpdate, table, {"id", "a", "b"}, {V(absl::StrCat(id)), a, b});
  }
  // Update changing the key from old_id (old-key shows the key only).
  Record K(int old_id, int id, Val a, Val b) {
    return s_.Change(RecordKind::kUpdate, "t", {"id", "a", "b"}, {V(absl::StrCat(id)), a, b},
                     {"id"}, {V(absl::StrCat(old_id))});
  }
  Record D(int id, std::string table = "t") {
    return s_.Change(RecordKind::kDelete, table, {"id"}, {V(absl::StrCat(id))});
  }
  // Keyless tables: the whole row.
  Record In(Val a, Val b, std::string table = "n") {
    return s_.Change(RecordKind::kInsert, table, {"a", "b"}, {a, b});
  }
  Record Dn(Val a, Val b, std::string table = "n") {
    return s_.Change(RecordKind::kDelete, table, {"a", "b"}, {a, b});
  }
  Record Un(Val old_a, Val old_b, Val a, Val b, std::string table = "n") {
    return s_.Change(RecordKind::kUpdate, table, {"a", "b"}, {a, b}, {"a", "b"}, {old_a, old_b});
  }

  StaticKeyColumns keys_;
  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
  std::unique_ptr<ChangeBatcher> batcher_;
  std::vector<Batch> ready_;
  Stream s_;
};

TEST_F(BatcherTest, MergeRulesOfKeyedTable) {
  const Val x = V("x"), y = V("y"), big = V(std::string(3000, 'B'));
  struct Case {
    std::string name;
    std::vector<Record> changes;
    std::vector<std::string> expected;
  };
  const std::string full = "+{id,a,b}";
  std::vector<Case> cases = {
      {"insert", {I(1, x, y)}, {"public.t#1 " + full + "('1','x','y')"}},
      {"insert keeps NULL and empty apart",
       {I(1, kNul, V(""))},
       {"public.t#1 " + full + "('1',NULL,'')"}},
      {"insert+update = insert of the new row",
       {I(1, x, y), U(1, V("x2"), kNul)},
       {"public.t#1 " + full + "('1','x2',NULL)"}},
      // Replay safety: a delete is never dropped, even of a row the batch
      // inserted, since a replayed insert may have put it in the target.
      {"insert+delete = delete", {I(1, x, y), D(1)}, {"public.t#1 -('1')"}},
      {"update+update = last update",
       {U(1, x, y), U(1, V("x2"), V("y2"))},
       {"public.t#1 " + full + "('1','x2','y2')"}},
      {"update+delete = delete", {U(1, x, y), D(1)}, {"public.t#1 -('1')"}},
      {"delete+insert = the inserted row",
       {D(1), I(1, x, y)},
       {"public.t#1 " + full + "('1','x','y')"}},
      {"delete+insert+delete = delete", {D(1), I(1, x, y), D(1)}, {"public.t#1 -('1')"}},
      {"insert+delete+insert = insert",
       {I(1, x, y), D(1), I(1, y, x)},
       {"public.t#1 " + full + "('1','y','x')"}},
      {"key change = delete old + new row",
       {K(1, 2, x, y)},
       {"public.t#1 -('1') " + full + "('2','x','y')"}},
      {"key change of a row inserted in the batch",
       {I(1, x, y), K(1, 2, x, V("y2"))},
       {"public.t#1 -('1') " + full + "('2','x','y2')"}},
      {"key reused after a key change",
       {K(1, 2, x, y), K(3, 1, y, x)},
       {"public.t#1 -('3') " + full + "('1','y','x')('2','x','y')"}},
      {"key changed back",
       {K(1, 2, x, y), K(2, 1, y, y)},
       {"public.t#1 -('2') " + full + "('1','y','y')"}},
      {"unchanged TOAST stays out of the row", {U(1, x, kToast)}, {"public.t#1 +{id,a}('1','x')"}},
      {"unchanged TOAST filled from the insert",
       {I(1, x, big), U(1, V("x2"), kToast)},
       {"public.t#1 " + full + "('1','x2','" + big.text + "')"}},
      {"unchanged TOAST filled from an earlier update",
       {U(1, x, big), U(1, kNul, kToast)},
       {"public.t#1 " + full + "('1',NULL,'" + big.text + "')"}},
      {"two updates merge their unchanged columns",
       {U(1, x, kToast), U(1, kToast, y)},
       {"public.t#1 " + full + "('1','x','y')"}},
      {"unchanged TOAST twice stays out",
       {U(1, x, kToast), U(1, y, kToast)},
       {"public.t#1 +{id,a}('1','y')"}},
      {"delete+insert+update(TOAST) = inserted value kept",
       {D(1), I(1, x, big), U(1, y, kToast)},
       {"public.t#1 " + full + "('1','y','" + big.text + "')"}},
      {"update(TOAST)+delete = delete", {U(1, x, kToast), D(1)}, {"public.t#1 -('1')"}},
      {"insert+update(TOAST)+delete = delete",
       {I(1, x, y), U(1, x, kToast), D(1)},
       {"public.t#1 -('1')"}},
      {"rows grouped by their columns, in order",
       {U(1, x, kToast), I(2, x, y), U(3, kToast, y), U(4, y, kToast)},
       {"public.t#1 +{id,a}('1','x')('4','y') " + full + "('2','x','y') +{id,b}('3','y')"}},
      {"key change filled from an earlier change",
       {I(1, x, big), K(1, 2, y, kToast)},
       {"public.t#1 -('1') " + full + "('2','y','" + big.text + "')"}},
      // Move row: (new key, old key); the partial upsert sets what changed.
      {"key change with unknown TOAST value moves the row",
       {K(1, 2, y, kToast)},
       {"public.t#1 -('1') >('2','1') +{id,a}('2','y')"}},
      {"moved twice: moved from the first key",
       {K(1, 2, y, kToast), K(2, 3, x, kToast)},
       {"public.t#1 -('1') -('2') >('3','1') +{id,a}('3','x')"}},
      {"moved, then deleted: no move", {K(1, 2, y, kToast), D(2)}, {"public.t#1 -('1') -('2')"}},
      {"moved, then its TOAST value set: full row",
       {K(1, 2, y, kToast), U(2, x, big)},
       {"public.t#1 -('1') >('2','1') " + full + "('2','x','" + big.text + "')"}},
      {"update after delete is an error",
       {D(1), U(1, x, y)},
       {"INVALID_ARGUMENT: update on table \"public\".\"t\" (xid 700, line 3, byte offset 300): "
        "UPDATE of a row that an earlier change in the batch deleted"}},
      {"duplicate insert is an error",
       {I(1, x, y), I(1, x, y)},
       {"INVALID_ARGUMENT: insert on table \"public\".\"t\" (xid 700, line 3, byte offset 300): "
        "INSERT of a key that an earlier change in the batch already holds (is the key known to "
        "the batcher out of date?)"}},
  };
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    ready_.clear();
    Make();
    // Number the changes as if BEGIN were line 1.
    for (size_t i = 0; i < c.changes.size(); ++i) {
      c.changes[i].line = i + 2;
      c.changes[i].offset = c.changes[i].line * 100;
    }
    EXPECT_EQ(OneTransaction(c.changes), c.expected);
  }
}

TEST_F(BatcherTest, ReplicaIdentityFullFillsToastAndKeyFromOldRow) {
  Make();
  const std::string big(5000, 'q');
  // Key change under FULL: the old row carries b, so the new row is complete.
  Record change = s_.Change(RecordKind::kUpdate, "f", {"id", "a", "b"}, {V("2"), V("y"), kToast},
                            {"id", "a", "b"}, {V("1"), V("x"), V(big)});
  Record same_key = s_.Change(RecordKind::kUpdate, "f", {"id", "a", "b"}, {V("3"), kNul, kToast},
                              {"id", "a", "b"}, {V("3"), V("x"), V(big)});
  EXPECT_EQ(OneTransaction({change, same_key}),
            std::vector<std::string>{"public.f#1 -('1') +{id,a,b}('2','y','" + big +
                                     "')('3',NULL,'" + big + "')"});
}

TEST_F(BatcherTest, TableWithoutKeyIsAMultiset) {
  Make();
  EXPECT_EQ(OneTransaction({In(V("x"), kNul), In(V("x"), kNul), In(V("y"), V("")),
                            Dn(V("y"), V("")), Dn(V("z"), kNul), Un(V("w"), V("1"), V("w"), V("2")),
                            Un(V("w"), V("2"), V("w"), V("3"))}),
            std::vector<std::string>{
                "public.n#1 -('z',NULL) -('w','1') +{a,b}('x',NULL)('x',NULL)('w','3')"});
}

TEST_F(BatcherTest, TableWithoutKeyFillsToastFromOldRow) {
  Make();
  EXPECT_EQ(OneTransaction({Un(V("a"), V("long"), V("b"), kToast)}),
            std::vector<std::string>{"public.n#1 -('a','long') +{a,b}('b','long')"});
}

TEST_F(BatcherTest, TableWithoutKeyNeedsReplicaIdentityFull) {
  Make();
  // Inserts replicate...
  EXPECT_EQ(OneTransaction({In(V("x"), V("y"), "m")}),
            std::vector<std::string>{"public.m#1 +{a,b}('x','y')"});
  // ...but an update without the old row names the table and the fix.
  ready_.clear();
  Record update = s_.Change(RecordKind::kUpdate, "m", {"a", "b"}, {V("x"), V("z")});
  std::vector<std::string> result = OneTransaction({update});
  ASSERT_EQ(result.size(), 1u);
  EXPECT_THAT(result[0], HasSubstr("FAILED_PRECONDITION: update on table \"public\".\"m\""));
  EXPECT_THAT(result[0], HasSubstr("ALTER TABLE \"public\".\"m\" REPLICA IDENTITY FULL"));

  Make();
  ready_.clear();
  Record del = s_.Next(RecordKind::kDelete);
  del.table = {"public", "m"};
  del.no_tuple_data = true;
  result = OneTransaction({del});
  ASSERT_EQ(result.size(), 1u);
  EXPECT_THAT(result[0], HasSubstr("delete on table \"public\".\"m\" (xid 700, line"));
  EXPECT_THAT(result[0], HasSubstr("replica identity DEFAULT"));
  EXPECT_THAT(result[0], HasSubstr("REPLICA IDENTITY FULL"));
}

TEST_F(BatcherTest, ReplicaIdentityNothingRejectsUpdates) {
  Make();
  std::vector<std::string> result = OneTransaction({U(1, V("x"), V("y"), "x")});
  ASSERT_EQ(result.size(), 1u);
  EXPECT_THAT(result[0], HasSubstr("REPLICA IDENTITY NOTHING"));
  EXPECT_THAT(result[0], HasSubstr("ALTER TABLE \"public\".\"x\" REPLICA IDENTITY DEFAULT"));
}

TEST_F(BatcherTest, TruncateIsABarrierInOrder) {
  Make();
  ASSERT_TRUE(
      Feed({s_.Begin(1), I(1, V("a"), V("b")), s_.Commit(1), s_.Begin(2), I(2, V("a"), V("b")),
            s_.Truncate({"t", "n"}, /*restart_seqs=*/true), I(3, V("c"), kNul), s_.Commit(2)})
          .ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  // Rows 1 and 2 are gone with the truncate; the rows after it follow it.
  // Each table's batches of transaction 2 form a group ending at its commit:
  // n's is closed by an empty batch.
  EXPECT_EQ(Render(ready_),
            (std::vector<std::string>{"public.t#1 TRUNCATE restart_seqs",
                                      "public.n#1 TRUNCATE restart_seqs",
                                      "public.t#2 +{id,a,b}('3','c',NULL)", "public.n#2 "}));
  for (const Batch& batch : ready_) EXPECT_EQ(batch.position.sequence, 2u);
  EXPECT_TRUE(ready_[0].applies_with_next);
  EXPECT_TRUE(ready_[1].applies_with_next);
  EXPECT_FALSE(ready_[2].applies_with_next);
  EXPECT_FALSE(ready_[3].applies_with_next);
}

TEST_F(BatcherTest, ColumnSetChangeIsABarrier) {
  Make();
  Record added =
      s_.Change(RecordKind::kInsert, "t", {"id", "a", "b", "c"}, {V("2"), V("x"), V("y"), V("z")});
  Record retyped =
      s_.Change(RecordKind::kInsert, "t", {"id", "a", "b", "c"}, {V("3"), V("x"), V("y"), V("z")});
  retyped.columns[3].type = "integer";
  ASSERT_TRUE(Feed({s_.Begin(1), I(1, V("a"), V("b")), added, retyped, s_.Commit(1)}).ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  EXPECT_EQ(Render(ready_),
            (std::vector<std::string>{"public.t#1 +{id,a,b}('1','a','b')",
                                      "public.t#2 SCHEMA id:integer,a:text,b:text,c:text",
                                      "public.t#3 +{id,a,b,c}('2','x','y','z')",
                                      "public.t#4 SCHEMA id:integer,a:text,b:text,c:integer",
                                      "public.t#5 +{id,a,b,c}('3','x','y','z')"}));
  // A delete shows only the key: no barrier.
  ready_.clear();
  ASSERT_TRUE(Feed({s_.Begin(2), D(3), s_.Commit(2)}).ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  EXPECT_EQ(Render(ready_), std::vector<std::string>{"public.t#6 -('3')"});
  EXPECT_EQ(ready_[0].columns.size(), 4u);
}

// ALTER TABLE t ADD COLUMN c text DEFAULT 'O''Brien': the stream shows c
// only on later rows; the schema change carries what older rows show.
TEST_F(BatcherTest, SchemaChangeCarriesTheValueRowsOlderThanAnAddedColumnShow) {
  Make();
  ASSERT_TRUE(Feed({s_.Begin(1), I(1, V("a"), V("b")), s_.Commit(1)}).ok());
  std::vector<ColumnDef> now = Defs({"id", "a", "b", "c"});
  now[3].existing_rows_value = "O'Brien";
  keys_.Set("public", "t", TableKey{ReplicaIdentity::kDefault, {"id"}, now});
  Record added =
      s_.Change(RecordKind::kInsert, "t", {"id", "a", "b", "c"}, {V("2"), V("x"), V("y"), V("z")});
  ASSERT_TRUE(Feed({s_.Begin(2), added, s_.Commit(2)}).ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  ASSERT_EQ(Render(ready_),
            (std::vector<std::string>{"public.t#1 +{id,a,b}('1','a','b')",
                                      "public.t#2 SCHEMA id:integer,a:text,b:text,c:text",
                                      "public.t#3 +{id,a,b,c}('2','x','y','z')"}));
  EXPECT_EQ(ready_[1].columns[3].existing_rows_value, std::optional<std::string>("O'Brien"));
  EXPECT_EQ(ready_[1].columns[0].existing_rows_value, std::nullopt);
}

TEST_F(BatcherTest, DeleteFirstTakesColumnsFromKeyColumns) {
  Make();
  EXPECT_EQ(OneTransaction({D(5), Dn(V("x"), kNul)}),
            (std::vector<std::string>{"public.t#1 -('5')", "public.n#1 -('x',NULL)"}));
  EXPECT_EQ(ready_[0].columns, Defs({"id", "a", "b"}));
  EXPECT_EQ(ready_[0].key_columns, std::vector<std::string>{"id"});
}

// A keyless table's old row omits NULL and dropped columns alike, and shows a
// column added since the last insert: the catalog (here keys_, changed between
// the records as DDL would change it) tells which.
TEST_F(BatcherTest, KeylessDeleteAsksTheCatalogForTheColumns) {
  struct Case {
    std::string name;
    std::vector<std::string> catalog;  // The table's columns when the delete is read.
    std::vector<std::string> old_names;
    std::vector<Val> old_values;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"column still there: it was NULL",
       {"a", "b"},
       {"a", "b"},
       {V("1"), kNul},
       {"public.d#1 -('1',NULL) +{a,b}('1','x')('1','x')"}},
      {"dropped then delete",
       {"a"},
       {"a"},
       {V("1")},
       {"public.d#1 +{a,b}('1','x')('1','x')", "public.d#2 SCHEMA a:text", "public.d#3 -('1')"}},
      {"added with a default then delete",
       {"a", "b", "c"},
       {"a", "b", "c"},
       {V("1"), V("x"), V("0")},
       {"public.d#1 +{a,b}('1','x')('1','x')", "public.d#2 SCHEMA a:text,b:text,c:text",
        "public.d#3 -('1','x','0')"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    keys_.Set("public", "d", TableKey{ReplicaIdentity::kFull, {}, Defs({"a", "b"})});
    Make();
    ready_.clear();
    ASSERT_TRUE(
        Feed({s_.Begin(1), In(V("1"), V("x"), "d"), In(V("1"), V("x"), "d"), s_.Commit(1)}).ok());
    keys_.Set("public", "d", TableKey{ReplicaIdentity::kFull, {}, Defs(c.catalog)});
    Record del = s_.Change(RecordKind::kDelete, "d", c.old_names, c.old_values);
    ASSERT_TRUE(Feed({s_.Begin(2), del, s_.Commit(2)}).ok());
    ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
    EXPECT_EQ(Render(ready_), c.expected);
  }
}

TEST_F(BatcherTest, PositionIsTheLastCompletedCommit) {
  Make();
  ASSERT_TRUE(Feed({s_.Begin(10), I(1, V("a"), V("b")), s_.Commit(10, "2026-01-01 00:00:00+00"),
                    s_.Begin(11), s_.Commit(11, "2026-01-01 00:00:01+00")})
                  .ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  ASSERT_EQ(ready_.size(), 1u);
  EXPECT_EQ(ready_[0].position.sequence, 2u);
  EXPECT_EQ(ready_[0].position.xid, 11u);
  EXPECT_EQ(ready_[0].position.commit_time, "2026-01-01 00:00:01+00");
  EXPECT_FALSE(ready_[0].position.lsn.has_value());
}

TEST_F(BatcherTest, FlushesByRowsAtCommitOnly) {
  BatcherOptions options;
  options.max_rows = 2;
  Make(options);
  ASSERT_TRUE(
      Feed({s_.Begin(1), I(1, V("a"), V("b")), I(2, V("a"), V("b")), I(3, V("a"), V("b"))}).ok());
  EXPECT_TRUE(ready_.empty());  // Not inside the transaction.
  ASSERT_TRUE(Feed({s_.Commit(1)}).ok());
  EXPECT_EQ(Render(ready_), std::vector<std::string>{
                                "public.t#1 +{id,a,b}('1','a','b')('2','a','b')('3','a','b')"});
  ASSERT_TRUE(Feed({s_.Begin(2), I(4, V("a"), V("b")), s_.Commit(2)}).ok());
  EXPECT_EQ(ready_.size(), 1u);
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  EXPECT_EQ(Render(ready_[1]), "public.t#2 +{id,a,b}('4','a','b')");
}

TEST_F(BatcherTest, TransactionLargerThanByteLimitIsCut) {
  BatcherOptions options;
  options.max_bytes = 200 << 10;
  Make(options);
  ASSERT_TRUE(Feed({s_.Begin(1), I(0, V("first"), kNul), s_.Commit(1), s_.Begin(2)}).ok());
  const int kRows = 20000;
  for (int i = 1; i <= kRows; ++i) {
    ASSERT_TRUE(Feed({I(i, V(absl::StrCat("value ", i)), kNul)}).ok());
    EXPECT_LT(batcher_->buffered_bytes(), options.max_bytes);
  }
  ASSERT_GE(ready_.size(), 2u);  // Cut inside transaction 2.
  ASSERT_TRUE(Feed({s_.Commit(2)}).ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  // Every row exactly once, sequences contiguous, positions non-decreasing.
  std::vector<bool> seen(kRows + 1, false);
  uint64_t sequence = 0;
  for (const Batch& batch : ready_) {
    EXPECT_EQ(batch.sequence, ++sequence);
    EXPECT_TRUE(batch.deletes.empty());
    for (const RowGroup& group : batch.upserts) {
      for (const auto& row : group.rows) {
        int id = std::stoi(*row[0]);
        EXPECT_FALSE(seen[id]) << id;
        seen[id] = true;
        EXPECT_EQ(row[1], id == 0 ? "first" : absl::StrCat("value ", id));
        EXPECT_EQ(row[2], std::nullopt);
      }
    }
  }
  for (int i = 0; i <= kRows; ++i) EXPECT_TRUE(seen[i]) << i;
  // The cut batches and the final one form one group at commit 2.
  for (const Batch& batch : ready_) {
    EXPECT_EQ(batch.position.sequence, 2u);
    EXPECT_EQ(batch.applies_with_next, &batch != &ready_.back());
  }
}

TEST_F(BatcherTest, AllTablesTogetherAreBoundedToo) {
  BatcherOptions options;
  options.max_buffered_bytes = 300 << 10;
  Make(options);
  ASSERT_TRUE(Feed({s_.Begin(1)}).ok());
  const int kRows = 5000;
  for (int i = 1; i <= kRows; ++i) {
    // t takes twice the rows of n: it is the largest whenever the bound is hit.
    ASSERT_TRUE(
        Feed({I(2 * i, V("v"), kNul), I(2 * i + 1, V("v"), kNul), In(V(absl::StrCat(i)), kNul)})
            .ok());
    EXPECT_LT(batcher_->buffered_bytes(), options.max_buffered_bytes);
  }
  ASSERT_TRUE(Feed({s_.Commit(1)}).ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  EXPECT_EQ(batcher_->buffered_bytes(), 0u);
  size_t t_rows = 0, n_rows = 0, t_batches = 0;
  for (const Batch& batch : ready_) {
    (batch.table == "t" ? t_rows : n_rows) += batch.row_count();
    t_batches += batch.table == "t";
  }
  EXPECT_EQ(t_rows, 2u * kRows);
  EXPECT_EQ(n_rows, size_t{kRows});
  EXPECT_GE(t_batches, 2u);  // Cut inside the transaction.
}

TEST_F(BatcherTest, FlushExpiredWaitsForAgeAndWholeTransactions) {
  BatcherOptions options;
  options.max_age = absl::Seconds(10);
  Make(options);
  ASSERT_TRUE(Feed({s_.Begin(1), I(1, V("a"), V("b")), In(V("n"), kNul), s_.Commit(1)}).ok());
  now_ += absl::Seconds(5);
  ASSERT_TRUE(Feed({s_.Begin(2), I(2, V("a"), V("b"))}).ok());
  ASSERT_TRUE(batcher_->FlushExpired(now_, &ready_).ok());
  EXPECT_TRUE(ready_.empty());  // Too young.
  now_ += absl::Seconds(5);
  ASSERT_TRUE(batcher_->FlushExpired(now_, &ready_).ok());
  // t is touched by the open transaction and waits; n goes.
  EXPECT_EQ(Render(ready_), std::vector<std::string>{"public.n#1 +{a,b}('n',NULL)"});
  ASSERT_TRUE(Feed({s_.Commit(2)}).ok());
  ASSERT_TRUE(batcher_->FlushExpired(now_, &ready_).ok());
  EXPECT_EQ(Render(ready_.back()), "public.t#1 +{id,a,b}('1','a','b')('2','a','b')");
}

TEST_F(BatcherTest, FlushAllInsideTransactionIsAnError) {
  Make();
  ASSERT_TRUE(Feed({s_.Begin(9), I(1, V("a"), V("b"))}).ok());
  absl::Status status = batcher_->FlushAll(&ready_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("began at line 1 (xid 9)"));
  EXPECT_TRUE(ready_.empty());
}

TEST_F(BatcherTest, StreamStructureErrors) {
  Make();
  absl::Status status = Feed({I(1, V("a"), V("b"))});
  EXPECT_THAT(status.message(), HasSubstr("change outside a transaction"));
  Make();
  status = Feed({s_.Commit(3)});
  EXPECT_THAT(status.message(), HasSubstr("COMMIT without BEGIN"));
  Make();
  status = Feed({s_.Begin(3), s_.Begin(4)});
  EXPECT_THAT(status.message(), HasSubstr("BEGIN inside the transaction that began at line"));
}

TEST_F(BatcherTest, TwoPhaseAndStreamingAreErrorsMessagesAreIgnored) {
  Make();
  Record message = s_.Next(RecordKind::kMessage);
  EXPECT_TRUE(batcher_->Add(message, &ready_).ok());
  for (RecordKind kind : {RecordKind::kTwoPhase, RecordKind::kStream}) {
    Record record = s_.Next(kind);
    record.raw = "PREPARE TRANSACTION 'g', txid 5";
    absl::Status status = batcher_->Add(record, &ready_);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("line ", record.line)));
    EXPECT_THAT(status.message(), HasSubstr("PREPARE TRANSACTION 'g'"));
  }
  EXPECT_TRUE(ready_.empty());
}

// A table the source no longer has (dropped, or renamed, since): keyless until
// a delete names its key; an update that keeps its key before that is
// skipped, with one warning per kind, naming table and position.
TEST_F(BatcherTest, TableTheSourceNoLongerHasIsKeptAsFarAsTheStreamSays) {
  BatcherOptions options;
  std::vector<std::string> warnings;
  options.on_warning = [&](const absl::Status& status) {
    warnings.push_back(std::string(status.message()));
  };
  Make(options);
  std::vector<std::string> result = OneTransaction(
      {I(1, V("a"), V("b"), "nope"), U(1, V("x"), V("y"), "nope"), U(1, V("z"), V("y"), "nope"),
       D(1, "nope"), I(2, V("c"), V("d"), "nope"), U(2, V("e"), V("d"), "nope")});
  EXPECT_THAT(result, ElementsAre("public.nope#1 +{id,a,b}('1','a','b')",
                                  "public.nope#2 -('1') +{id,a,b}('2','e','d')"));
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_THAT(warnings[0], HasSubstr("insert on table \"public\".\"nope\" (xid 700, line 1,"));
  EXPECT_THAT(warnings[0], HasSubstr("no longer exists in the source"));
  EXPECT_THAT(warnings[1], HasSubstr("update on table \"public\".\"nope\" (xid 700, line 2,"));
  EXPECT_THAT(warnings[1], HasSubstr("skipped"));
}

TEST_F(BatcherTest, TableTheSourceNoLongerHasIsDroppedWithThePolicy) {
  BatcherOptions options;
  options.on_source_drop = SourceDropPolicy::kDrop;
  Make(options);
  EXPECT_THAT(OneTransaction({I(1, V("a"), V("b"), "nope"), D(1, "nope")}),
              ElementsAre("public.nope#1 DROP"));
}

TEST_F(BatcherTest, FiltersAndPartitionRename) {
  keys_.Set("public", "t_p1", TableKey{ReplicaIdentity::kDefault, {"id"}, Defs({"id", "a", "b"})});
  keys_.Set("public", "t_p2", TableKey{ReplicaIdentity::kDefault, {"id"}, Defs({"id", "a", "b"})});
  BatcherOptions options;
  options.tables.include = {"public.t*", "public.n"};
  options.tables.exclude = {"public.t_p2"};
  options.tables.partition_suffix = R"(_p\d+$)";
  Make(options);
  EXPECT_EQ(
      OneTransaction({I(1, V("a"), V("b"), "t_p1"), I(2, V("a"), V("b"), "t_p2"),
                      I(3, V("a"), V("b"), "t"), In(V("n"), kNul), I(9, V("a"), V("b"), "nope")}),
      (std::vector<std::string>{"public.t#1 +{id,a,b}('1','a','b')('3','a','b')",
                                "public.n#1 +{a,b}('n',NULL)"}));
  // The parent holds other partitions' rows: a partition's TRUNCATE is refused.
  ready_.clear();
  std::vector<std::string> result = OneTransaction({s_.Truncate({"t_p1"})});
  ASSERT_EQ(result.size(), 1u);
  EXPECT_THAT(result[0], HasSubstr("the partition is renamed to \"public\".\"t\""));
}

TEST(TableFilterTest, GlobsAndSuffixes) {
  absl::StatusOr<TableFilter> filter =
      TableFilter::Create({{"sales.*", "public.?x"}, {"sales.tmp_*"}, R"(_\d{4}_\d{2}$)"});
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_TRUE(filter->Includes("sales", "orders"));
  EXPECT_FALSE(filter->Includes("sales", "tmp_1"));
  EXPECT_TRUE(filter->Includes("public", "ax"));
  EXPECT_FALSE(filter->Includes("public", "abx"));
  EXPECT_EQ(filter->TargetName("orders_2024_01"), "orders");
  EXPECT_EQ(filter->TargetName("orders_2024"), "orders_2024");
  EXPECT_EQ(filter->TargetName("_2024_01"), "_2024_01");  // Never renamed to nothing.
  absl::StatusOr<TableFilter> everything = TableFilter::Create({});
  ASSERT_TRUE(everything.ok());
  EXPECT_TRUE(everything->Includes("any", "thing"));
  EXPECT_EQ(everything->TargetName("t_p1"), "t_p1");
  absl::StatusOr<TableFilter> bad = TableFilter::Create({{}, {}, "(unclosed"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("(unclosed"));
}

// DDL capture: the messages are barriers in stream order, in the group of
// their transaction.
TEST_F(BatcherTest, DdlCaptureRenameMovesTheTableAndItsLaterRows) {
  Make();
  EXPECT_THAT(
      OneTransaction({I(1, V("a"), V("b")), s_.Ddl("alter", "t2", {"id", "a", "b"}, {1, 2, 3}, "t"),
                      I(2, V("c"), V("d"), "t2")}),
      ElementsAre("public.t#1 +{id,a,b}('1','a','b')", "public.t#2 RENAME TO public.t2",
                  "public.t2#3 +{id,a,b}('2','c','d')"));
  EXPECT_TRUE(ready_[0].applies_with_next);
  EXPECT_TRUE(ready_[1].applies_with_next);
  EXPECT_FALSE(ready_[2].applies_with_next);
  EXPECT_EQ(ready_[0].table_id, ready_[2].table_id);
}

TEST_F(BatcherTest, DdlCaptureColumnAddedAgainAndRenamed) {
  Make();
  ASSERT_TRUE(Feed({s_.Begin(1), s_.Ddl("alter", "t", {"id", "a", "b"}, {1, 2, 3}),
                    I(1, V("a"), V("b")), s_.Commit(1)})
                  .ok());
  ASSERT_TRUE(
      Feed({s_.Begin(2), s_.Ddl("alter", "t", {"id", "c", "a"}, {1, 3, 4}), s_.Commit(2)}).ok());
  ASSERT_TRUE(batcher_->FlushAll(&ready_).ok());
  auto found = std::find_if(ready_.rbegin(), ready_.rend(), [](const Batch& batch) {
    return batch.kind == Batch::Kind::kSchemaChange;
  });
  ASSERT_NE(found, ready_.rend());
  const Batch& change = *found;
  // attnum 3 was b: renamed to c. attnum 4 is new: a column `a` added anew.
  EXPECT_THAT(change.renamed_columns, ElementsAre(std::pair<std::string, std::string>("b", "c")));
  EXPECT_THAT(change.added_columns, ElementsAre("a"));
}

TEST_F(BatcherTest, DdlCaptureDropThenCreateReplacesTheTarget) {
  Make();
  EXPECT_THAT(OneTransaction({I(1, V("a"), V("b")), s_.Ddl("drop", "t", {}, {}),
                              s_.Ddl("create", "t", {"id", "a"}, {1, 2}),
                              s_.Change(RecordKind::kInsert, "t", {"id", "a"}, {V("5"), V("x")})}),
              ElementsAre("public.t#1 +{id,a,b}('1','a','b')", "public.t#2 DROP",
                          "public.t#3 SCHEMA id:integer,a:text", "public.t#4 +{id,a}('5','x')"));
}

TEST_F(BatcherTest, DdlCaptureMessageThatDoesNotParseIsAnErrorWithItsPosition) {
  Make();
  Record bad = s_.Next(RecordKind::kMessage);
  bad.transactional = true;
  bad.prefix = "re_dms.ddl";
  bad.content = "{\"version\":1}";
  absl::Status status = Feed({s_.Begin(1), bad});
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("line ", bad.line, ",")));
  EXPECT_THAT(status.message(), HasSubstr("DDL capture message"));
  // Other prefixes are someone else's messages.
  Record other = s_.Next(RecordKind::kMessage);
  other.prefix = "app";
  other.content = "not json";
  Make();
  EXPECT_TRUE(Feed({s_.Begin(1), other, s_.Commit(1)}).ok());
}

}  // namespace
}  // namespace re_dms
