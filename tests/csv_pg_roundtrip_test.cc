// Round trip through a real PostgreSQL: values as PostgreSQL prints them ->
// CsvWriter (each compression) -> Decompressor -> COPY ... FROM STDIN with
// kPostgresCsv's options -> the loaded table prints every value byte for
// byte as the source did, NULL and '' kept apart.

#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "re_dms/compression.h"
#include "re_dms/csv_dialect.h"
#include "re_dms/csv_writer.h"
#include "tests/support/pg_scratch.h"

namespace re_dms {
namespace {

using testing::ScratchDatabase;
using testing::TextRow;

// One column of the test table and the inputs its rows take, cycled over the
// rows (std::nullopt is NULL).
struct TypedColumn {
  std::string name;
  std::string type;
  std::vector<Datum> inputs;
};

const std::vector<std::string>& HostileTexts() {
  static const auto* texts = new std::vector<std::string>{
      "",
      "null",
      "NULL",
      "\\N",
      "\\.",
      "\"",
      "\"\"",
      "a,b",
      "O'Brien",
      "line1\nline2",
      "crlf\r\n",
      "\r",
      "back\\slash\\",
      "tab\there",
      "  padded  ",
      "emoji \xF0\x9F\x98\x80 \xC3\xA9",
      ",",
      "\n",
      "\"quoted\",\"csv\"\n\"row\"",
      std::string(100000, 'L') + "\"\n,",
  };
  return *texts;
}

std::vector<TypedColumn> Columns() {
  std::vector<Datum> texts(HostileTexts().begin(), HostileTexts().end());
  texts.push_back(std::nullopt);
  return {
      {"t", "text", texts},
      {"Mixed Case \"col\"", "character varying(200000)", texts},
      {"ch", "character(6)", {"", "a", "O'B\"\n", std::nullopt, "\\.", "  x"}},
      {"n",
       "numeric",
       {"NaN", "0", "-0.000000000000000000001", "123456789012345678901234567890.123456789",
        std::nullopt}},
      {"f4",
       "real",
       {"NaN", "Infinity", "-Infinity", "-0", "3.4028235e+38", "1e-45", std::nullopt}},
      {"f8",
       "double precision",
       {"NaN", "Infinity", "-Infinity", "-0", "0.1", "1.7976931348623157e+308", "5e-324",
        std::nullopt}},
      {"b", "boolean", {"true", "false", std::nullopt}},
      {"i8", "bigint", {"-9223372036854775808", "9223372036854775807", "0", std::nullopt}},
      {"by", "bytea", {"\\x", "\\x00", "\\x00ff225c0a0d2c", "\\xdeadbeef", std::nullopt}},
      {"j",
       "json",
       {"{\"a\": \"q\\\"uote\", \"b\": null,\n \"c\": [1, \"x,y\"]}", "\"\"", "null", "[]",
        std::nullopt}},
      {"jb",
       "jsonb",
       {"{}", "{\"k\": \"line\\nbreak\", \"e\": \"\\u00e9\"}", "null", std::nullopt}},
      {"ia", "integer[]", {"{}", "{1,NULL,3}", "{{1,2},{3,4}}", std::nullopt}},
      {"ta",
       "text[]",
       {"{\"a\\\"b\",\"NULL\",NULL,\"x,y\",\"back\\\\slash\",\"\",\" s \"}", "{}", "{\"\"}",
        std::nullopt}},
      {"ts",
       "timestamp without time zone",
       {"2020-02-29 23:59:59.999999", "infinity", "-infinity", "4713-01-01 00:00:00 BC",
        std::nullopt}},
      {"tz",
       "timestamp with time zone",
       {"2020-01-01 12:00:00.123456+05:30", "infinity", "1999-12-31 23:59:60", std::nullopt}},
      {"d", "date", {"2000-01-01", "infinity", "-infinity", std::nullopt}},
      {"tm", "time without time zone", {"00:00:00", "24:00:00", "13:14:15.161718", std::nullopt}},
      {"ttz", "time with time zone", {"13:14:15+14", "00:00:00-15:59", std::nullopt}},
      {"iv",
       "interval",
       {"1 year 2 mons -3 days 04:05:06.789", "0", "-178000000 years", std::nullopt}},
      {"u", "uuid", {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", std::nullopt}},
      {"ip", "inet", {"::1/128", "192.168.0.1/24", std::nullopt}},
      {"bits", "bit varying", {"", "0101", std::nullopt}},
      {"rng", "int4range", {"empty", "[1,5)", "(,)", std::nullopt}},
      {"pt", "point", {"(1.5,-2)", std::nullopt}},
      {"tsv", "tsvector", {"'a' 'b''c' 'd\\\\e'", "", std::nullopt}},
      {"mood", "mood", {"ok", "it's \"fine\"", std::nullopt}},
  };
}

std::string Quoted(const std::string& identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class Connection {
 public:
  explicit Connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {}
  ~Connection() { PQfinish(conn_); }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  PGconn* get() const { return conn_; }

 private:
  PGconn* conn_;
};

absl::Status InsertRow(PGconn* conn, const std::string& table, int id,
                       const std::vector<Datum>& values) {
  std::vector<std::string> placeholders = {"$1"};
  std::string id_text = std::to_string(id);
  std::vector<const char*> params = {id_text.c_str()};
  for (size_t i = 0; i < values.size(); ++i) {
    placeholders.push_back(absl::StrCat("$", i + 2));
    params.push_back(values[i].has_value() ? values[i]->c_str() : nullptr);
  }
  std::string sql =
      absl::StrCat("INSERT INTO ", table, " VALUES (", absl::StrJoin(placeholders, ", "), ")");
  PGresult* result = PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                  params.data(), nullptr, nullptr, 0);
  absl::Status status;
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    status = absl::InternalError(
        absl::StrCat("insert of row ", id, " failed: ", PQresultErrorMessage(result)));
  }
  PQclear(result);
  return status;
}

// COPY the decompressed parts of `file` into `table`, naming its columns.
absl::Status CopyIn(PGconn* conn, const std::string& table, const StagedFile& file,
                    Compression compression) {
  std::vector<std::string> columns;
  for (const std::string& column : file.columns) columns.push_back(Quoted(column));
  std::string sql = absl::StrCat("COPY ", table, " (", absl::StrJoin(columns, ", "),
                                 ") FROM STDIN (", kPostgresCsv.copy_options, ")");
  PGresult* result = PQexec(conn, sql.c_str());
  bool copying = PQresultStatus(result) == PGRES_COPY_IN;
  std::string error = PQresultErrorMessage(result);
  PQclear(result);
  if (!copying) return absl::InternalError(absl::StrCat(sql, ": ", error));
  absl::Status status;
  for (const std::string& path : file.local_paths) {
    status = DecompressFile(path, compression, [conn](absl::string_view bytes) {
      if (PQputCopyData(conn, bytes.data(), static_cast<int>(bytes.size())) != 1) {
        return absl::InternalError(PQerrorMessage(conn));
      }
      return absl::OkStatus();
    });
    if (!status.ok()) break;
  }
  PQputCopyEnd(conn, status.ok() ? nullptr : "client error");
  while (PGresult* end = PQgetResult(conn)) {
    if (status.ok() && PQresultStatus(end) != PGRES_COMMAND_OK) {
      status = absl::InternalError(absl::StrCat(sql, ": ", PQresultErrorMessage(end)));
    }
    PQclear(end);
  }
  return status;
}

class CsvPgRoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(CsvPgRoundTrip, EveryValueComesBackByteForByte) {
  auto db = ScratchDatabase::Create("csv_roundtrip");
  ASSERT_TRUE(db.ok()) << db.status();
  Connection conn((*db)->conninfo());
  ASSERT_TRUE(conn.ok()) << PQerrorMessage(conn.get());

  const std::vector<TypedColumn> columns = Columns();
  std::vector<std::string> definitions = {"id integer PRIMARY KEY"};
  std::vector<std::string> as_text = {"id::text"};
  size_t row_count = 0;
  for (const TypedColumn& column : columns) {
    definitions.push_back(absl::StrCat(Quoted(column.name), " ", column.type));
    as_text.push_back(absl::StrCat(Quoted(column.name), "::text"));
    row_count = std::max(row_count, column.inputs.size());
  }
  ASSERT_TRUE((*db)
                  ->Exec(absl::StrCat("CREATE TYPE mood AS ENUM ('ok', 'it''s \"fine\"');"
                                      "CREATE TABLE source (",
                                      absl::StrJoin(definitions, ", "),
                                      ");"
                                      "CREATE TABLE target (LIKE source INCLUDING ALL);"
                                      "CREATE TABLE deleted (LIKE source)"))
                  .ok());
  for (size_t row = 0; row < row_count; ++row) {
    std::vector<Datum> values;
    for (const TypedColumn& column : columns) {
      values.push_back(column.inputs[row % column.inputs.size()]);
    }
    ASSERT_TRUE(InsertRow(conn.get(), "source", static_cast<int>(row + 1), values).ok());
  }
  // A row of nothing but NULLs, and one whose only value is an empty string.
  ASSERT_TRUE(InsertRow(conn.get(), "source", 1000, std::vector<Datum>(columns.size())).ok());
  std::vector<Datum> empty_text(columns.size());
  empty_text[0] = "";
  ASSERT_TRUE(InsertRow(conn.get(), "source", 1001, empty_text).ok());

  // The batch holds the text PostgreSQL prints for each value, as the
  // decoding stream carries it.
  std::string select = absl::StrCat("SELECT ", absl::StrJoin(as_text, ", "), " FROM ");
  auto source_rows = (*db)->Query(absl::StrCat(select, "source ORDER BY id"));
  ASSERT_TRUE(source_rows.ok()) << source_rows.status();
  Batch batch;
  batch.schema = "public";
  batch.table = "source";
  batch.sequence = 1;
  batch.columns.push_back({"id", "integer"});
  for (const TypedColumn& column : columns) batch.columns.push_back({column.name, column.type});
  batch.key_columns = {"id"};
  RowGroup all_columns;
  for (size_t i = 0; i < batch.columns.size(); ++i)
    all_columns.columns.push_back(static_cast<int>(i));
  for (const TextRow& row : *source_rows) {
    all_columns.rows.push_back(row);
    batch.deletes.push_back({row[0]});
  }
  batch.upserts.push_back(std::move(all_columns));

  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string spool = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/roundtrip.XXXXXX");
  ASSERT_NE(mkdtemp(spool.data()), nullptr);
  CsvWriterOptions options;
  options.spool_directory = spool;
  options.dialect = kPostgresCsv;
  options.compression = GetParam();
  options.max_part_bytes = 2 << 10;  // Several parts, each loaded in turn.
  options.fsync = false;
  auto staged = CsvWriter(options).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();
  ASSERT_EQ(staged->files.size(), 2u);
  EXPECT_GT(staged->files[1].local_paths.size(), 2u);

  ASSERT_TRUE(CopyIn(conn.get(), "deleted", staged->files[0], GetParam()).ok());
  absl::Status loaded = CopyIn(conn.get(), "target", staged->files[1], GetParam());
  ASSERT_TRUE(loaded.ok()) << loaded;

  auto target_rows = (*db)->Query(absl::StrCat(select, "target ORDER BY id"));
  ASSERT_TRUE(target_rows.ok()) << target_rows.status();
  ASSERT_EQ(target_rows->size(), source_rows->size());
  for (size_t row = 0; row < source_rows->size(); ++row) {
    for (size_t column = 0; column < batch.columns.size(); ++column) {
      const Datum& want = (*source_rows)[row][column];
      const Datum& got = (*target_rows)[row][column];
      EXPECT_TRUE(want == got) << "row id " << *(*source_rows)[row][0] << ", column "
                               << batch.columns[column].name << ": want "
                               << (want ? "'" + *want + "'" : "NULL") << ", got "
                               << (got ? "'" + *got + "'" : "NULL");
    }
  }
  auto deleted_ids = (*db)->Query("SELECT id::text FROM deleted ORDER BY id");
  ASSERT_TRUE(deleted_ids.ok());
  ASSERT_EQ(deleted_ids->size(), batch.deletes.size());
  for (size_t i = 0; i < batch.deletes.size(); ++i) EXPECT_EQ((*deleted_ids)[i], batch.deletes[i]);
}

// A one-column data set (the deletes of a text key) puts each value alone on
// its line, where an unquoted `\.` would end PostgreSQL's COPY input and an
// unquoted empty line would be NULL.
TEST_P(CsvPgRoundTrip, OneColumnRowsKeepEndOfDataMarkerEmptyAndNull) {
  auto db = ScratchDatabase::Create("csv_one_column");
  ASSERT_TRUE(db.ok()) << db.status();
  Connection conn((*db)->conninfo());
  ASSERT_TRUE(conn.ok()) << PQerrorMessage(conn.get());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE keys (n serial, k text)").ok());

  Batch batch;
  batch.schema = "public";
  batch.table = "keys";
  batch.sequence = 1;
  batch.columns = {{"k", "text"}, {"v", "text"}};
  batch.key_columns = {"k"};
  batch.deletes = {{"\\."}, {""}, {"a"}, {"\\."}, {"\\.\n"}, {std::nullopt}, {"\\"}};

  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string spool = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/one_column.XXXXXX");
  ASSERT_NE(mkdtemp(spool.data()), nullptr);
  CsvWriterOptions options;
  options.spool_directory = spool;
  options.dialect = kPostgresCsv;
  options.compression = GetParam();
  options.fsync = false;
  auto staged = CsvWriter(options).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();
  absl::Status loaded = CopyIn(conn.get(), "keys", staged->files.at(0), GetParam());
  ASSERT_TRUE(loaded.ok()) << loaded;

  auto rows = (*db)->Query("SELECT k FROM keys ORDER BY n");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), batch.deletes.size());
  for (size_t i = 0; i < rows->size(); ++i) EXPECT_EQ((*rows)[i], batch.deletes[i]) << "row " << i;
}

INSTANTIATE_TEST_SUITE_P(AllCompressions, CsvPgRoundTrip,
                         ::testing::Values(Compression::kNone, Compression::kGzip,
                                           Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

}  // namespace
}  // namespace re_dms
