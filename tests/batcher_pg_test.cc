// Round trip through a real PostgreSQL: a workload of hostile values, TOASTed
// columns, key changes, tables without key, a truncate and column changes is
// captured from a test_decoding slot by pg_recvlogical, parsed, batched, and applied by a small
// reference applier (below) to replica tables of the same shape. Every replica
// must then equal its source, as text, NULL vs '' included. Run with the
// default limits and with a byte limit small enough to cut transactions.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "re_dms/change_batcher.h"
#include "re_dms/key_columns.h"
#include "re_dms/parser.h"
#include "tests/support/pg_scratch.h"
#include "tests/support/pg_stream.h"

namespace re_dms {
namespace {

using testing::ScratchDatabase;
using testing::TextRow;

constexpr const char* kTables[] = {"items", "pairs", "bag", "shrink", "fullt", "gone"};

constexpr char kSchema[] = R"sql(
  CREATE TABLE items (id int PRIMARY KEY, name text, note varchar(20), qty numeric(12,3),
    ok boolean, at timestamptz, ts timestamp, d date, iv interval, raw bytea, doc jsonb, js json,
    u uuid, tags text[], nums int[], f8 float8, f4 real, ip inet, big text);
  ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
  CREATE TABLE pairs (a int, b text, v text, big text, PRIMARY KEY (b, a));
  ALTER TABLE pairs ALTER COLUMN big SET STORAGE EXTERNAL;
  CREATE TABLE bag (x int, y text);
  ALTER TABLE bag REPLICA IDENTITY FULL;
  CREATE TABLE shrink (x int, y text, d text);
  ALTER TABLE shrink REPLICA IDENTITY FULL;
  CREATE TABLE fullt (id int PRIMARY KEY, big text, v text);
  ALTER TABLE fullt ALTER COLUMN big SET STORAGE EXTERNAL;
  ALTER TABLE fullt REPLICA IDENTITY FULL;
  CREATE TABLE gone (id int PRIMARY KEY, v text);
)sql";

// Each string is one transaction.
const std::vector<std::string>& Workload() {
  static const auto* workload = new std::vector<std::string>{
      R"sql(INSERT INTO items SELECT i, 'name ' || i, 'n' || i, i * 1.5, i % 2 = 0,
              '2024-01-02 03:04:05.678+00'::timestamptz + i * interval '1 hour',
              '2024-01-02 03:04:05', '2024-02-29', interval '1 day 2 hours', '\x00ff10'::bytea,
              '{"k": [1, "two", null]}', '{"a" : 1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
              ARRAY['x', 'y z', NULL, '"q"'], ARRAY[1, NULL, 3], i / 3.0, 1.5, '10.0.0.1/8',
              repeat(md5(i::text), 200)
            FROM generate_series(1, 60) i)sql",
      R"sql(INSERT INTO items (id, name, note, f8, big) VALUES
              (101, 'O''Brien', '', 'NaN', NULL),
              (102, E'line1\nline2\r\nend', NULL, 'Infinity', ''),
              (103, E'back\\slash, "quoted", tab\there', 'x,y', '-Infinity', 'short'),
              (104, 'zoé ✓ 日本語 🎉', E'\\N', -0.0, repeat('€', 3000)),
              (105, 'null', 'NULL', 1e-300, E'\\x'))sql",
      "UPDATE items SET qty = qty + 1 WHERE id % 3 = 0",  // big stays unchanged-TOAST
      "UPDATE items SET name = 'x''y' WHERE id = 5; UPDATE items SET note = NULL WHERE id = 5",
      "DELETE FROM items WHERE id % 7 = 0",
      R"sql(INSERT INTO items (id, name, big) VALUES (7, 'reborn', repeat('r', 5000));
            UPDATE items SET ok = true WHERE id = 7)sql",
      "UPDATE items SET id = id + 1000, big = big || '!' WHERE id IN (2, 4)",
      R"sql(INSERT INTO pairs SELECT i, 'b' || i, 'v' || i,
              CASE WHEN i % 2 = 0 THEN repeat(md5(i::text), 150) END
            FROM generate_series(1, 30) i)sql",
      "UPDATE pairs SET v = 'changed' WHERE a % 2 = 0",  // big unchanged-TOAST
      "UPDATE pairs SET b = b || '!' WHERE a % 2 = 1",   // key change, big NULL
      "UPDATE pairs SET a = -a WHERE a = 3; UPDATE pairs SET a = 3 WHERE a = -3",
      R"sql(INSERT INTO bag VALUES (1, 'a'), (1, 'a'), (1, 'a'), (2, NULL), (3, '');
            DELETE FROM bag WHERE ctid = (SELECT ctid FROM bag WHERE x = 1 LIMIT 1))sql",
      "UPDATE bag SET y = 'b' WHERE x = 2; UPDATE bag SET y = NULL WHERE x = 3",
      // Deletes right after a DROP COLUMN of a keyless table: the old rows
      // omit the dropped column as they omit NULL y.
      "INSERT INTO shrink VALUES (1, 'a', 'p'), (1, 'a', 'p'), (1, 'a', 'q'), (2, NULL, 'r')",
      "ALTER TABLE shrink DROP COLUMN d",
      R"sql(DELETE FROM shrink WHERE x = 2;
            DELETE FROM shrink WHERE ctid = (SELECT ctid FROM shrink WHERE x = 1 LIMIT 1))sql",
      R"sql(INSERT INTO fullt SELECT i, repeat(md5(i::text), 100), 'v' FROM generate_series(1, 10) i)sql",
      "UPDATE fullt SET v = 'changed' WHERE id <= 5",      // big filled from the old row
      "UPDATE fullt SET id = id + 100 WHERE id IN (1, 6)",  // key change under FULL
      "INSERT INTO gone SELECT i, 'g' FROM generate_series(1, 5) i",
      "INSERT INTO gone VALUES (6, 'h'); TRUNCATE gone; INSERT INTO gone VALUES (7, 'after')",
      "ALTER TABLE items ADD COLUMN extra text",
      "UPDATE items SET extra = 'e' WHERE id < 10",
      "ALTER TABLE items DROP COLUMN note",
      "UPDATE items SET qty = 0 WHERE id = 11",
      // One transaction larger than the small byte limit.
      R"sql(INSERT INTO items (id, name, qty, big) SELECT i, 'bulk ' || i, i, NULL
            FROM generate_series(2000, 6000) i;
            UPDATE items SET name = name || '+' WHERE id BETWEEN 2000 AND 2500;
            DELETE FROM items WHERE id BETWEEN 5000 AND 5100)sql",
  };
  return *workload;
}

std::string Literal(const Datum& value) {
  if (!value) return "NULL";
  return absl::StrCat("'", absl::StrReplaceAll(*value, {{"'", "''"}}), "'");
}

std::string Ident(absl::string_view name) {
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

// Applies batches to tables of the same names in `schema`, the way a loader
// would: deletes, then upserts (partial rows update only their columns).
class ReferenceApplier {
 public:
  ReferenceApplier(ScratchDatabase* db, std::string schema) : db_(db), schema_(std::move(schema)) {}

  absl::Status Apply(const Batch& batch) {
    const std::string table = absl::StrCat(Ident(schema_), ".", Ident(batch.table));
    uint64_t& last = sequences_[batch.table];
    if (batch.sequence != last + 1) {
      return absl::InternalError(absl::StrCat(batch.table, ": sequence ", batch.sequence,
                                              " after ", last));
    }
    last = batch.sequence;
    switch (batch.kind) {
      case Batch::Kind::kTruncate:
        return db_->Exec(absl::StrCat("TRUNCATE ", table));
      case Batch::Kind::kSchemaChange:
        return Reshape(table, batch);
      case Batch::Kind::kDropTable:
        return db_->Exec(absl::StrCat("DROP TABLE IF EXISTS ", table));
      case Batch::Kind::kRenameTable:
        // Only DDL capture's messages rename; this workload has none.
        return absl::UnimplementedError(absl::StrCat(batch.table, ": a rename"));
      case Batch::Kind::kRows:
        break;
    }
    if (!batch.moves.empty()) {
      // Moves copy values only a target holds; this workload never needs one.
      return absl::UnimplementedError(absl::StrCat(batch.table, ": a move row"));
    }
    std::string sql = "BEGIN;";
    for (const std::vector<Datum>& row : batch.deletes) {
      std::vector<std::string> match;
      if (batch.key_columns.empty()) {
        for (size_t i = 0; i < batch.columns.size(); ++i) {
          match.push_back(absl::StrCat(Ident(batch.columns[i].name), " IS NOT DISTINCT FROM ",
                                       Literal(row[i])));
        }
        absl::StrAppend(&sql, "DELETE FROM ", table, " WHERE ctid = (SELECT ctid FROM ", table,
                        " WHERE ", absl::StrJoin(match, " AND "), " LIMIT 1);");
      } else {
        for (size_t i = 0; i < batch.key_columns.size(); ++i) {
          match.push_back(absl::StrCat(Ident(batch.key_columns[i]), " = ", Literal(row[i])));
        }
        absl::StrAppend(&sql, "DELETE FROM ", table, " WHERE ", absl::StrJoin(match, " AND "), ";");
      }
    }
    for (const RowGroup& group : batch.upserts) {
      std::vector<std::string> names;
      for (int i : group.columns) names.push_back(Ident(batch.columns[i].name));
      std::vector<std::string> keys;
      for (const std::string& key : batch.key_columns) keys.push_back(Ident(key));
      for (const std::vector<Datum>& row : group.rows) {
        std::vector<std::string> values;
        for (const Datum& value : row) values.push_back(Literal(value));
        if (group.is_full_row(batch.columns.size())) {
          absl::StrAppend(&sql, "INSERT INTO ", table, " (", absl::StrJoin(names, ","),
                          ") VALUES (", absl::StrJoin(values, ","), ")");
          if (!keys.empty()) {
            std::vector<std::string> sets;
            for (const std::string& name : names) {
              sets.push_back(absl::StrCat(name, " = EXCLUDED.", name));
            }
            absl::StrAppend(&sql, " ON CONFLICT (", absl::StrJoin(keys, ","), ") DO UPDATE SET ",
                            absl::StrJoin(sets, ","));
          }
          absl::StrAppend(&sql, ";");
        } else {
          // The row must exist: its unchanged columns stay as they are.
          std::vector<std::string> sets, match;
          for (size_t i = 0; i < names.size(); ++i) {
            sets.push_back(absl::StrCat(names[i], " = ", values[i]));
          }
          for (const std::string& key : batch.key_columns) {
            int at = -1;
            for (size_t i = 0; i < group.columns.size(); ++i) {
              if (batch.columns[group.columns[i]].name == key) at = static_cast<int>(i);
            }
            match.push_back(absl::StrCat(Ident(key), " = ", values[at]));
          }
          absl::StrAppend(&sql, "DO $$ BEGIN UPDATE ", table, " SET ", absl::StrJoin(sets, ","),
                          " WHERE ", absl::StrJoin(match, " AND "),
                          "; IF NOT FOUND THEN RAISE 'partial row of a missing key'; END IF; END $$;");
        }
      }
    }
    absl::StrAppend(&sql, "COMMIT;");
    absl::Status status = db_->Exec(sql);
    if (!status.ok()) db_->Exec("ROLLBACK").IgnoreError();
    return status;
  }

 private:
  absl::Status Reshape(const std::string& table, const Batch& batch) {
    absl::StatusOr<std::vector<TextRow>> current = db_->Query(absl::StrCat(
        "SELECT attname FROM pg_attribute WHERE attrelid = '", table,
        "'::regclass AND attnum > 0 AND NOT attisdropped"));
    if (!current.ok()) return current.status();
    std::string sql;
    for (const TextRow& row : *current) {
      bool kept = false;
      for (const ColumnDef& column : batch.columns) kept |= column.name == *row[0];
      if (!kept) absl::StrAppend(&sql, "ALTER TABLE ", table, " DROP COLUMN ", Ident(*row[0]), ";");
    }
    for (const ColumnDef& column : batch.columns) {
      bool present = false;
      for (const TextRow& row : *current) present |= column.name == *row[0];
      if (!present) {
        absl::StrAppend(&sql, "ALTER TABLE ", table, " ADD COLUMN ", Ident(column.name), " ",
                        column.type, ";");
      }
    }
    return sql.empty() ? absl::OkStatus() : db_->Exec(sql);
  }

  ScratchDatabase* db_;
  std::string schema_;
  std::map<std::string, uint64_t> sequences_;
};

class BatcherPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<ScratchDatabase>> db = ScratchDatabase::Create("batcher_pg");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = db->release();
    ASSERT_TRUE(db_->Exec(kSchema).ok());
    for (const char* replica : {"replica_default", "replica_cut"}) {
      std::string sql = absl::StrCat("CREATE SCHEMA ", replica, ";");
      for (const char* table : kTables) {
        absl::StrAppend(&sql, "CREATE TABLE ", replica, ".", table, " (LIKE public.", table,
                        " INCLUDING ALL);");
      }
      ASSERT_TRUE(db_->Exec(sql).ok());
    }
    // As the replicator reads it: pg_recvlogical's output, with timestamps.
    // The test server runs with synchronous_commit=off; without a flush the
    // last transactions can be missing from a capture that ends at the
    // current WAL position.
    ASSERT_TRUE(db_->Exec("SET synchronous_commit = on").ok());
    absl::StatusOr<std::string> stream = testing::CaptureChanges(*db_, Workload());
    ASSERT_TRUE(stream.ok()) << stream.status();
    stream_ = new std::string(*std::move(stream));
  }

  static void TearDownTestSuite() {
    delete db_;
    delete stream_;
  }

  // Parses the stream in 4 KiB chunks, batches it and applies every batch.
  void Replicate(BatcherOptions options, const std::string& schema, size_t* batches) {
    absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys = PgKeyColumns::Connect(db_->conninfo());
    ASSERT_TRUE(keys.ok()) << keys.status();
    options.tables.include = {"public.*"};
    absl::StatusOr<std::unique_ptr<ChangeBatcher>> batcher =
        ChangeBatcher::Create(options, keys->get());
    ASSERT_TRUE(batcher.ok()) << batcher.status();
    ReferenceApplier applier(db_, schema);
    Parser parser;
    Record record;
    std::vector<Batch> ready;
    *batches = 0;
    auto apply = [&] {
      for (const Batch& batch : ready) {
        absl::Status applied = applier.Apply(batch);
        ASSERT_TRUE(applied.ok()) << batch.table << "#" << batch.sequence << ": " << applied;
      }
      *batches += ready.size();
      ready.clear();
    };
    for (size_t at = 0; at < stream_->size(); at += 4096) {
      parser.Feed(absl::string_view(*stream_).substr(at, 4096));
      for (;;) {
        absl::StatusOr<bool> got = parser.Next(&record);
        ASSERT_TRUE(got.ok()) << got.status();
        if (!*got) break;
        absl::Status added = (*batcher)->Add(record, &ready);
        ASSERT_TRUE(added.ok()) << added;
        apply();
      }
    }
    ASSERT_TRUE(parser.Finish().ok());
    ASSERT_TRUE((*batcher)->FlushAll(&ready).ok());
    apply();
  }

  // Every table of `schema` equals its source, row by row as text.
  void ExpectEqualToSource(const std::string& schema) {
    for (const char* table : kTables) {
      SCOPED_TRACE(table);
      auto rows = [&](const std::string& from) {
        absl::StatusOr<std::vector<TextRow>> result =
            db_->Query(absl::StrCat("SELECT t::text, t IS NULL FROM ", from, ".", table,
                                    " t ORDER BY t::text COLLATE \"C\""));
        EXPECT_TRUE(result.ok()) << result.status();
        return result.ok() ? *result : std::vector<TextRow>{};
      };
      std::vector<TextRow> source = rows("public");
      std::vector<TextRow> replica = rows(schema);
      EXPECT_FALSE(source.empty());
      ASSERT_EQ(source.size(), replica.size());
      for (size_t i = 0; i < source.size(); ++i) EXPECT_EQ(source[i], replica[i]);
      // Row text hides NULL vs '' inside composites only for arrays' NULLs;
      // compare column by column too.
      absl::StatusOr<std::vector<TextRow>> differing = db_->Query(absl::StrCat(
          "SELECT count(*) FROM (SELECT * FROM public.", table, " EXCEPT ALL SELECT * FROM ",
          schema, ".", table, ") d"));
      if (std::string(table) != "items") {  // json has no equality operator.
        ASSERT_TRUE(differing.ok()) << differing.status();
        EXPECT_EQ((*differing)[0][0], "0");
      }
    }
  }

  static ScratchDatabase* db_;
  static std::string* stream_;
};

ScratchDatabase* BatcherPgTest::db_ = nullptr;
std::string* BatcherPgTest::stream_ = nullptr;

TEST_F(BatcherPgTest, DefaultLimitsReproduceTheSource) {
  size_t batches = 0;
  Replicate(BatcherOptions{}, "replica_default", &batches);
  ExpectEqualToSource("replica_default");
  // One batch per table, plus the truncate and the two schema changes.
  EXPECT_GE(batches, 5u);
}

TEST_F(BatcherPgTest, TransactionsCutByTheByteLimitReproduceTheSource) {
  BatcherOptions options;
  options.max_bytes = 64 << 10;
  options.max_rows = 50;
  size_t batches = 0;
  Replicate(options, "replica_cut", &batches);
  ExpectEqualToSource("replica_cut");
  EXPECT_GE(batches, 20u);
}

}  // namespace
}  // namespace re_dms
