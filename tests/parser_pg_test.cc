// The parser against a real PostgreSQL 15: a workload over 38 column types,
// hostile values and identifiers is decoded by test_decoding, captured with
// pg_recvlogical, parsed, and every parsed value compared byte for byte with
// the source's own `SELECT col::text` of the same row.

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/parser.h"
#include "tests/support/pg_scratch.h"
#include "tests/support/pg_stream.h"

namespace re_dms {
namespace {

using testing::ScratchDatabase;
using testing::TextRow;

// The decoding walsender and this test's session must print values alike:
// the walsender takes the database's settings, this session sets them too. A
// zone with a half-hour offset shows in every timestamptz.
constexpr const char* kSettings[][2] = {
    {"TimeZone", "'Asia/Kolkata'"},   {"DateStyle", "'ISO, MDY'"},
    {"IntervalStyle", "'postgres'"},  {"extra_float_digits", "1"},
    {"bytea_output", "'hex'"},
};

// The all-types table and hostile values and identifiers, shared with the
// end-to-end test (a data dependency; paths relative to the runfiles root).
constexpr char kHostileSchemaPath[] = "tests/testdata/hostile_values/schema.sql";
constexpr char kHostileRowsPath[] = "tests/testdata/hostile_values/rows.sql";

// What only this test needs on top: a TOASTed value, REPLICA IDENTITY FULL
// and a TRUNCATE that cascades.
constexpr char kOwnSchema[] = R"sql(
CREATE TABLE public.full_identity (id integer, v text, n numeric);
ALTER TABLE public.full_identity REPLICA IDENTITY FULL;
CREATE TABLE public.cascade_parent (id serial PRIMARY KEY);
CREATE TABLE public.cascade_child (id integer REFERENCES public.cascade_parent);
)sql";

constexpr char kOwnInserts[] = R"sql(
INSERT INTO "Weird Schema"."Mixed Case" VALUES
 (5, (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 4000)), 'toast', 'big');
INSERT INTO public.full_identity VALUES (1, 'one', 1.0), (2, NULL, 2.0);
INSERT INTO public.cascade_parent VALUES (DEFAULT), (DEFAULT);
INSERT INTO public.cascade_child VALUES (1);
)sql";

absl::StatusOr<std::string> ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": is it in the test's data dependencies?"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The source's text rendering of every row, keyed by the first column.
using Snapshot = std::map<std::string, TextRow>;

struct Table {
  std::string qualified;  // As SQL wants it.
  std::string schema;
  std::string name;
  std::vector<std::string> column_names;
  std::vector<std::string> column_types;
};

// An owned copy of a parsed Record, for checks after the parser moved on.
struct Change {
  RecordKind kind;
  std::optional<uint32_t> xid;
  std::string commit_time;
  std::string schema;
  std::string table;
  std::vector<std::string> names;
  std::vector<std::string> types;
  std::vector<std::optional<std::string>> values;  // nullopt: NULL.
  std::vector<bool> unchanged_toast;
  std::vector<std::string> old_key_names;
  TextRow old_key;
  std::vector<std::string> truncated;
  bool restart_seqs = false;
  bool cascade = false;
  bool transactional = false;
  std::string prefix;
  std::string content;
};

Change Copy(const Record& record) {
  Change change;
  change.kind = record.kind;
  change.xid = record.xid;
  change.commit_time = std::string(record.commit_time);
  change.schema = std::string(record.table.schema);
  change.table = std::string(record.table.name);
  for (const Column& column : record.columns) {
    change.names.emplace_back(column.name);
    change.types.emplace_back(column.type);
    change.unchanged_toast.push_back(column.kind == ValueKind::kUnchangedToast);
    change.values.push_back(column.kind == ValueKind::kText
                                ? std::optional<std::string>(std::string(column.text))
                                : std::nullopt);
  }
  for (const Column& column : record.old_key) {
    change.old_key_names.emplace_back(column.name);
    change.old_key.push_back(column.kind == ValueKind::kText
                                 ? std::optional<std::string>(std::string(column.text))
                                 : std::nullopt);
  }
  for (const TableRef& table : record.truncated) {
    change.truncated.push_back(absl::StrCat(table.schema, ".", table.name));
  }
  change.restart_seqs = record.restart_seqs;
  change.cascade = record.cascade;
  change.transactional = record.transactional;
  change.prefix = std::string(record.prefix);
  change.content = std::string(record.content);
  return change;
}

std::string QuoteIdent(absl::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class ParserPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ScratchDatabase>> db = ScratchDatabase::Create("parser_pg");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    for (const auto& setting : kSettings) {
      ASSERT_TRUE(db_->Exec(absl::StrCat("ALTER DATABASE ", QuoteIdent(db_->name()), " SET ",
                                         setting[0], " = ", setting[1]))
                      .ok());
      ASSERT_TRUE(db_->Exec(absl::StrCat("SET ", setting[0], " = ", setting[1])).ok());
    }
  }

  absl::StatusOr<Table> Describe(absl::string_view schema, absl::string_view name) {
    Table table{absl::StrCat(QuoteIdent(schema), ".", QuoteIdent(name)), std::string(schema),
                std::string(name), {}, {}};
    // pg_recvlogical decodes with an empty search_path, so format_type()
    // must too for user types to come out schema-qualified the same way.
    absl::Status path = db_->Exec("SET search_path = ''");
    if (!path.ok()) return path;
    absl::StatusOr<std::vector<TextRow>> rows = db_->Query(absl::StrCat(
        "SELECT attname, pg_catalog.format_type(atttypid, NULL) FROM pg_catalog.pg_attribute "
        "WHERE attrelid = '",
        table.qualified, "'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"));
    if (!rows.ok()) return rows.status();
    for (const TextRow& row : *rows) {
      table.column_names.push_back(*row[0]);
      table.column_types.push_back(*row[1]);
    }
    return table;
  }

  // The source's own text of every row of `table`, keyed by its first
  // column: each value as its type's output function prints it, which is
  // what test_decoding prints, except for booleans, which it spells out as
  // their ::text does. (A ::text cast differs from the output function for a
  // few types: it trims char(n) and gives inet its /128. format('%s') calls
  // the output function; num_nulls() tells a NULL from a row of NULLs.)
  absl::StatusOr<Snapshot> Take(const Table& table) {
    std::vector<std::string> columns;
    for (size_t i = 0; i < table.column_names.size(); ++i) {
      std::string column = QuoteIdent(table.column_names[i]);
      columns.push_back(table.column_types[i] == "boolean"
                            ? absl::StrCat(column, "::text")
                            : absl::StrCat("CASE WHEN num_nulls(", column,
                                           ") = 1 THEN NULL ELSE format('%s', ", column, ") END"));
    }
    absl::StatusOr<std::vector<TextRow>> rows = db_->Query(
        absl::StrCat("SELECT ", absl::StrJoin(columns, ", "), " FROM ", table.qualified));
    if (!rows.ok()) return rows.status();
    Snapshot snapshot;
    for (TextRow& row : *rows) snapshot[*row[0]] = std::move(row);
    return snapshot;
  }

  std::unique_ptr<ScratchDatabase> db_;
};

// Parses `stream` in uneven chunks (as a pipe delivers it) into owned changes.
absl::StatusOr<std::vector<Change>> ParseStream(absl::string_view stream) {
  Parser parser;
  Record record;
  std::vector<Change> changes;
  size_t chunk = 1;
  for (size_t at = 0; at < stream.size(); at += chunk, chunk = chunk * 3 % 65521 + 1) {
    parser.Feed(stream.substr(at, chunk));
    for (;;) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) return got.status();
      if (!*got) break;
      changes.push_back(Copy(record));
    }
  }
  absl::Status finished = parser.Finish();
  if (!finished.ok()) return finished;
  return changes;
}

// Checks a decoded tuple against the source's rendering of the same row.
void ExpectRowMatches(const Table& table, const Change& change, const TextRow& source) {
  ASSERT_EQ(change.names, table.column_names) << table.qualified;
  EXPECT_EQ(change.types, table.column_types) << table.qualified;
  for (size_t i = 0; i < source.size(); ++i) {
    EXPECT_FALSE(change.unchanged_toast[i]) << table.qualified << "." << table.column_names[i];
    EXPECT_EQ(change.values[i], source[i])
        << table.qualified << "." << table.column_names[i] << " of row " << *source[0];
  }
}

const Change* Find(const std::vector<Change>& changes, RecordKind kind, absl::string_view table,
                   absl::string_view first_value) {
  for (const Change& change : changes) {
    if (change.kind == kind && change.table == table && !change.values.empty() &&
        change.values[0] == std::string(first_value)) {
      return &change;
    }
  }
  return nullptr;
}

TEST_F(ParserPgTest, DecodedValuesEqualTheSourceTextByteForByte) {
  absl::StatusOr<std::string> hostile_schema = ReadFile(kHostileSchemaPath);
  absl::StatusOr<std::string> hostile_rows = ReadFile(kHostileRowsPath);
  ASSERT_TRUE(hostile_schema.ok()) << hostile_schema.status();
  ASSERT_TRUE(hostile_rows.ok()) << hostile_rows.status();
  absl::Status created = db_->Exec(absl::StrCat(*hostile_schema, kOwnSchema));
  ASSERT_TRUE(created.ok()) << created;
  absl::StatusOr<Table> types = Describe("public", "types");
  absl::StatusOr<Table> weird = Describe("Weird Schema", "Mixed Case");
  absl::StatusOr<Table> full = Describe("public", "full_identity");
  ASSERT_TRUE(types.ok()) << types.status();
  ASSERT_TRUE(weird.ok()) << weird.status();
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_EQ(types->column_names.size(), 38u);

  absl::StatusOr<testing::ChangeCapture> capture = testing::ChangeCapture::Start(*db_);
  ASSERT_TRUE(capture.ok()) << capture.status();

  // Each phase is snapshotted right after it runs: the stream's inserts
  // compare with the rows as inserted, its updates with the rows as updated.
  absl::Status inserted = db_->Exec(absl::StrCat(*hostile_rows, kOwnInserts));
  ASSERT_TRUE(inserted.ok()) << inserted;
  absl::StatusOr<Snapshot> inserted_types = Take(*types);
  absl::StatusOr<Snapshot> inserted_weird = Take(*weird);
  ASSERT_TRUE(inserted_types.ok()) << inserted_types.status();
  ASSERT_TRUE(inserted_weird.ok()) << inserted_weird.status();

  absl::Status updated = db_->Exec(R"sql(
    UPDATE "Weird Schema"."Mixed Case" SET "from" = 'updated' WHERE "select" = 5;
    UPDATE "Weird Schema"."Mixed Case" SET "select" = 10 WHERE "select" = 1;
    UPDATE public.full_identity SET v = 'uno' WHERE id = 1;
    UPDATE public.types SET c_text = E'new\nline', c_numeric = -0.5 WHERE id = 2;
  )sql");
  ASSERT_TRUE(updated.ok()) << updated;
  absl::StatusOr<Snapshot> updated_types = Take(*types);
  absl::StatusOr<Snapshot> updated_weird = Take(*weird);
  absl::StatusOr<Snapshot> updated_full = Take(*full);
  ASSERT_TRUE(updated_types.ok() && updated_weird.ok() && updated_full.ok());

  for (const char* statement : {
           "DELETE FROM \"Weird Schema\".\"Mixed Case\" WHERE \"select\" = 2",
           "DELETE FROM public.full_identity WHERE id = 2",
           "BEGIN; SELECT pg_logical_emit_message(true, 'odd, sz: 1 content:x', "
           "E'multi\\nline content'); SELECT pg_logical_emit_message(false, 'plain', 'now'); "
           "COMMIT",
           "TRUNCATE public.cascade_parent RESTART IDENTITY CASCADE",
           "TRUNCATE public.full_identity",
       }) {
    absl::Status done = db_->Exec(statement);
    ASSERT_TRUE(done.ok()) << done;
  }
  absl::StatusOr<std::string> stream = capture->ReadToCurrentLsn();
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::vector<Change>> parsed = ParseStream(*stream);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const std::vector<Change>& changes = *parsed;

  // Inserts: every row, every column, byte for byte.
  int inserts = 0;
  for (const Change& change : changes) {
    if (change.kind != RecordKind::kInsert) continue;
    const Table* table = change.table == "types" ? &*types
                         : change.table == "Mixed Case" ? &*weird
                                                        : nullptr;
    if (table == nullptr) continue;
    EXPECT_EQ(change.schema, table->schema);
    const Snapshot& snapshot = table == &*types ? *inserted_types : *inserted_weird;
    ASSERT_TRUE(change.values[0].has_value());
    auto row = snapshot.find(*change.values[0]);
    ASSERT_NE(row, snapshot.end()) << "no source row " << *change.values[0];
    ExpectRowMatches(*table, change, row->second);
    ++inserts;
  }
  EXPECT_EQ(inserts, 9);
  // The 128 kB random value really was stored out of line.
  absl::StatusOr<std::vector<TextRow>> stored = db_->Query(
      "SELECT pg_column_size(\"we\"\"ird\") > 100000 AND length(\"we\"\"ird\") = 128000 FROM "
      "\"Weird Schema\".\"Mixed Case\" WHERE \"select\" = 5");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ((*stored)[0][0], "t");

  // Updates.
  const Change* toast = Find(changes, RecordKind::kUpdate, "Mixed Case", "5");
  ASSERT_NE(toast, nullptr);
  EXPECT_TRUE(toast->unchanged_toast[1]) << "the 128 kB value should not be in the WAL";
  EXPECT_EQ(toast->values[3], "updated");
  const Change* key_change = Find(changes, RecordKind::kUpdate, "Mixed Case", "10");
  ASSERT_NE(key_change, nullptr);
  EXPECT_EQ(key_change->old_key_names, std::vector<std::string>{"select"});
  EXPECT_EQ(key_change->old_key, TextRow{"1"});
  ExpectRowMatches(*weird, *key_change, updated_weird->at("10"));
  const Change* full_update = Find(changes, RecordKind::kUpdate, "full_identity", "1");
  ASSERT_NE(full_update, nullptr);
  EXPECT_EQ(full_update->old_key_names, (std::vector<std::string>{"id", "v", "n"}));
  EXPECT_EQ(full_update->old_key, (TextRow{"1", "one", "1.0"}));
  ExpectRowMatches(*full, *full_update, updated_full->at("1"));
  const Change* types_update = Find(changes, RecordKind::kUpdate, "types", "2");
  ASSERT_NE(types_update, nullptr);
  ExpectRowMatches(*types, *types_update, updated_types->at("2"));

  // Deletes: the key, or the whole old row minus its NULLs under FULL.
  const Change* key_delete = Find(changes, RecordKind::kDelete, "Mixed Case", "2");
  ASSERT_NE(key_delete, nullptr);
  EXPECT_EQ(key_delete->names, std::vector<std::string>{"select"});
  const Change* full_delete = Find(changes, RecordKind::kDelete, "full_identity", "2");
  ASSERT_NE(full_delete, nullptr);
  EXPECT_EQ(full_delete->names, (std::vector<std::string>{"id", "n"}));
  EXPECT_EQ(full_delete->values, (TextRow{"2", "2.0"}));

  // Messages, truncates, and the framing around every change.
  std::vector<std::string> others;
  bool in_transaction = false;
  for (const Change& change : changes) {
    switch (change.kind) {
      case RecordKind::kBegin:
        EXPECT_FALSE(in_transaction);
        EXPECT_TRUE(change.xid.has_value());
        in_transaction = true;
        break;
      case RecordKind::kCommit:
        EXPECT_TRUE(in_transaction);
        EXPECT_TRUE(change.xid.has_value());
        // include-timestamp, in the database's zone.
        EXPECT_TRUE(absl::EndsWith(change.commit_time, "+05:30")) << change.commit_time;
        in_transaction = false;
        break;
      case RecordKind::kMessage:
        EXPECT_EQ(change.transactional, in_transaction);
        others.push_back(absl::StrCat("message ", change.transactional, " <", change.prefix,
                                      "> <", change.content, ">"));
        break;
      case RecordKind::kTruncate:
        EXPECT_TRUE(in_transaction);
        others.push_back(absl::StrCat("truncate ", absl::StrJoin(change.truncated, ","), " ",
                                      change.restart_seqs, change.cascade));
        break;
      case RecordKind::kTwoPhase:
      case RecordKind::kStream:
        ADD_FAILURE() << "unexpected " << RecordKindName(change.kind);
        break;
      default:
        EXPECT_TRUE(in_transaction);
    }
  }
  EXPECT_FALSE(in_transaction);
  EXPECT_THAT(others, ::testing::ElementsAre(
                          "message 0 <plain> <now>",
                          "message 1 <odd, sz: 1 content:x> <multi\nline content>",
                          "truncate public.cascade_parent,public.cascade_child 11",
                          "truncate public.full_identity 00"));
}

// Other plugin options: no xids, skipped empty transactions, and streaming
// of a transaction too big for logical_decoding_work_mem.
TEST_F(ParserPgTest, OptionsAndStreamedTransactions) {
  ASSERT_TRUE(db_->Exec(absl::StrCat("ALTER DATABASE ", QuoteIdent(db_->name()),
                                     " SET logical_decoding_work_mem = '64kB'"))
                  .ok());
  ASSERT_TRUE(db_->Exec("CREATE TABLE public.s (id integer PRIMARY KEY, v text)").ok());
  testing::CaptureOptions options;
  options.plugin_options = {"include-xids=0", "skip-empty-xacts=1", "include-timestamp=1",
                            "stream-changes=1"};
  absl::StatusOr<std::string> stream = testing::CaptureChanges(
      *db_,
      std::vector<std::string>{
          "SELECT 1",  // An empty transaction: skipped.
          "INSERT INTO public.s VALUES (1, 'one')",
          "INSERT INTO public.s SELECT g, repeat('x', 100) FROM generate_series(2, 5000) g",
      },
      options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::vector<Change>> parsed = ParseStream(*stream);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  std::map<std::string, int> kinds;
  for (const Change& change : *parsed) {
    ++kinds[std::string(RecordKindName(change.kind))];
    EXPECT_FALSE(change.xid.has_value()) << RecordKindName(change.kind);
    if (change.kind == RecordKind::kCommit) {
      EXPECT_FALSE(change.commit_time.empty());
    }
  }
  std::string summary = absl::StrCat(
      absl::StrJoin(kinds, ", ", absl::PairFormatter("=")), "; stream ends with: ",
      stream->substr(stream->size() > 400 ? stream->size() - 400 : 0));
  SCOPED_TRACE(summary);
  EXPECT_EQ(kinds["begin"], 1);
  EXPECT_EQ(kinds["commit"], 1);
  EXPECT_EQ(kinds["insert"], 1);
  // The big transaction arrives streamed, its changes announced, not shown.
  EXPECT_GE(kinds["stream"], 5000);
}

}  // namespace
}  // namespace re_dms
