// Golden tests of the exact statements the loader sends, for representative
// batches on both dialects. The Redshift statements cannot run here; their
// options are justified in merge_sql.cc against AWS's COPY documentation.
//
// To regenerate after an intended change, run the test binary with
// RE_DMS_GOLDEN_DIR=<repo>/tests/testdata/golden and review the diff.

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/src/load/merge_sql.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Render(const std::vector<Statement>& statements) {
  std::string out;
  for (const Statement& statement : statements) {
    absl::StrAppend(&out, "-- ", StatementKindName(statement.kind), "\n", statement.loggable,
                    ";\n");
  }
  return out;
}

void ExpectGolden(const std::string& name, const std::string& actual) {
  if (const char* dir = std::getenv("RE_DMS_GOLDEN_DIR")) {
    std::ofstream(absl::StrCat(dir, "/", name)) << actual;
    return;
  }
  std::ifstream in(absl::StrCat("tests/testdata/golden/", name));
  ASSERT_TRUE(in.good()) << "missing golden file " << name;
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "golden file " << name << " differs";
}

Batch OrdersBatch() {
  Batch batch;
  batch.schema = "sales";
  batch.table = "Orders";
  batch.sequence = 7;
  batch.position.lsn = 0x16B3748;
  batch.position.xid = 750;
  batch.position.sequence = 12;
  batch.position.commit_time = "2026-11-27 23:00:00.123456+00";
  batch.columns = {{"id", "bigint"},     {"customer", "character varying"},
                   {"total", "numeric"}, {"placed_at", "timestamp with time zone"},
                   {"doc", "jsonb"},     {"blob", "bytea"}};
  batch.key_columns = {"id"};
  return batch;
}

StagedFile File(StagedFile::Role role, std::vector<std::string> columns, std::string base) {
  StagedFile file;
  file.role = role;
  file.columns = std::move(columns);
  file.s3_uris = {absl::StrCat("s3://bucket/re_dms/", base, ".part00001.csv.zst")};
  file.s3_manifest_uri = absl::StrCat("s3://bucket/re_dms/", base, ".manifest.json");
  return file;
}

StagedBatch OrdersStaged() {
  StagedBatch staged;
  staged.batch = OrdersBatch();
  staged.compression = Compression::kZstd;
  staged.files.push_back(File(StagedFile::Role::kDelete, {"id"}, "000000000007-delete"));
  staged.files.push_back(File(StagedFile::Role::kUpsert,
                              {"id", "customer", "total", "placed_at", "doc", "blob"},
                              "000000000007-upsert-0"));
  // Unchanged TOAST in `doc` and `blob`: only these columns.
  staged.files.push_back(File(StagedFile::Role::kUpsert, {"id", "customer", "total", "placed_at"},
                              "000000000007-upsert-1"));
  return staged;
}

// The Redshift table as the loader would have created it.
std::vector<TargetColumn> RedshiftOrders() {
  return {{"id", "bigint"},
          {"customer", "character varying(256)"},
          {"total", "numeric(38,10)"},
          {"placed_at", "timestamp with time zone"},
          {"doc", "super"},
          {"blob", "varbyte(1024000)"}};
}

RedshiftLoaderOptions RoleOptions() {
  RedshiftLoaderOptions options;
  options.iam_role = "arn:aws:iam::123456789012:role/re_dms-load";
  options.checkpoint_schema = "re_dms";
  return options;
}

TEST(MergeSqlGoldenTest, RedshiftCreatesMissingTableWithKeysAndLayout) {
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(RoleOptions(), TargetDialect::kRedshift, OrdersBatch(), std::nullopt);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("redshift_create_table.sql", Render(*plan));
}

TEST(MergeSqlGoldenTest, RedshiftUpsertDeleteAndToastMergeWithIamRole) {
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(RoleOptions(), TargetDialect::kRedshift, OrdersStaged(), RedshiftOrders(), nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("redshift_merge_iam_role.sql", Render(*plan));
}

TEST(MergeSqlGoldenTest, RedshiftCopyWithSessionCredentialsIsRedactedWhenLogged) {
  RedshiftLoaderOptions options = RoleOptions();
  options.iam_role.clear();
  options.s3_region = "eu-west-1";
  AwsCredentials credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                             "FQoGZXIvYXdzEBEaDO'token\\", std::nullopt};
  StagedBatch staged = OrdersStaged();
  staged.compression = Compression::kGzip;
  staged.files.resize(1);
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(options, TargetDialect::kRedshift, staged, RedshiftOrders(), &credentials);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("redshift_merge_credentials.sql", Render(*plan));
  const Statement& copy = (*plan)[1];
  ASSERT_EQ(copy.kind, Statement::Kind::kCopy);
  // The executed statement carries the credentials, quoted for Redshift...
  EXPECT_THAT(copy.sql, HasSubstr("SECRET_ACCESS_KEY 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'"));
  EXPECT_THAT(copy.sql, HasSubstr("SESSION_TOKEN 'FQoGZXIvYXdzEBEaDO''token\\\\'"));
  // ...and nothing loggable does.
  for (const Statement& statement : *plan) {
    EXPECT_THAT(statement.loggable, Not(HasSubstr("wJalrXUtnFEMI")));
    EXPECT_THAT(statement.loggable, Not(HasSubstr("FQoGZXIvYXdz")));
    EXPECT_THAT(statement.loggable, Not(HasSubstr("AKIDEXAMPLE")));
  }
}

TEST(MergeSqlGoldenTest, RedshiftKeylessMultisetDelete) {
  StagedBatch staged;
  staged.batch = OrdersBatch();
  staged.batch.key_columns.clear();
  staged.files.push_back(File(StagedFile::Role::kDelete,
                              {"id", "customer", "total", "placed_at", "doc", "blob"},
                              "000000000007-delete"));
  staged.files.push_back(File(StagedFile::Role::kUpsert,
                              {"id", "customer", "total", "placed_at", "doc", "blob"},
                              "000000000007-upsert-0"));
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(RoleOptions(), TargetDialect::kRedshift, staged, RedshiftOrders(), nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("redshift_keyless_delete.sql", Render(*plan));
}

TEST(MergeSqlGoldenTest, RedshiftTruncateIsATransactionalDelete) {
  StagedBatch staged;
  staged.batch = OrdersBatch();
  staged.batch.kind = Batch::Kind::kTruncate;
  staged.batch.position.lsn.reset();  // A pipe: no LSN recorded.
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(RoleOptions(), TargetDialect::kRedshift, staged, RedshiftOrders(), nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("redshift_truncate.sql", Render(*plan));
}

TEST(MergeSqlGoldenTest, RedshiftSchemaEvolution) {
  RedshiftLoaderOptions options = RoleOptions();
  options.drop_removed_columns = true;
  Batch batch = OrdersBatch();
  batch.kind = Batch::Kind::kSchemaChange;
  batch.columns.pop_back();                              // `blob` dropped at the source.
  batch.columns.push_back({"Note \"quoted\"", "text"});  // A new column.
  // New columns added with a default: the rows the target holds show it.
  batch.columns.push_back({"region", "text", std::string("O'Brien \\ x")});
  batch.columns.push_back({"rate", "numeric(10,2)", std::string("1.5")});
  batch.columns.push_back({"sig", "bytea", std::string("\\x0aff")});
  batch.columns.push_back({"meta", "jsonb", std::string("{\"k\": [1, \"x\"]}")});
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(options, TargetDialect::kRedshift, batch, RedshiftOrders());
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::string rendered = Render(*plan);
  absl::StrAppend(&rendered, "-- widen\n", WidenVarcharSql(batch, "customer", 1024), ";\n");
  ExpectGolden("redshift_schema_evolution.sql", rendered);
}

// Issue 12 items 1, 2 and 7: a table keyed on a string, a json and a bytea
// column. The string key is created at the maximum width (a PRIMARY KEY column
// cannot be altered), SUPER and VARBYTE stay out of DISTKEY/SORTKEY, a
// widenable non-key VARCHAR is ENCODE ZSTD (alterable), and every key join
// compares strings case-sensitively and with their byte length.
Batch StringKeyBatch() {
  Batch batch = OrdersBatch();
  batch.table = "Codes";
  batch.columns = {{"doc", "jsonb"},
                   {"code", "character varying"},
                   {"blob", "bytea"},
                   {"note", "character varying"},
                   {"label", "character varying(10)"},
                   {"n", "integer"}};
  batch.key_columns = {"doc", "code", "blob"};
  return batch;
}

std::vector<TargetColumn> RedshiftCodes() {
  return {{"doc", "super"},
          {"code", "character varying(65535)"},
          {"blob", "varbyte(1024000)"},
          {"note", "character varying(256)"},
          {"label", "character varying(40)"},
          {"n", "integer"}};
}

TEST(MergeSqlGoldenTest, RedshiftStringAndJsonKeys) {
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(RoleOptions(), TargetDialect::kRedshift, StringKeyBatch(), std::nullopt);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::string rendered = Render(*plan);
  StagedBatch staged;
  staged.batch = StringKeyBatch();
  staged.compression = Compression::kZstd;
  staged.files.push_back(
      File(StagedFile::Role::kDelete, {"doc", "code", "blob"}, "000000000007-delete"));
  staged.files.push_back(File(StagedFile::Role::kUpsert,
                              {"doc", "code", "blob", "note", "label", "n"},
                              "000000000007-upsert-0"));
  staged.files.push_back(
      File(StagedFile::Role::kUpsert, {"doc", "code", "blob", "n"}, "000000000007-upsert-1"));
  plan = PlanMerge(RoleOptions(), TargetDialect::kRedshift, staged, RedshiftCodes(), nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StrAppend(&rendered, Render(*plan));
  ExpectGolden("redshift_string_keys.sql", rendered);
  EXPECT_THAT(rendered, HasSubstr("\"code\" VARCHAR(65535)"));
  EXPECT_THAT(rendered, HasSubstr("\"note\" VARCHAR(256) ENCODE ZSTD"));
  EXPECT_THAT(rendered, HasSubstr("DISTKEY (\"code\") SORTKEY (\"code\")"));
  EXPECT_THAT(rendered, Not(HasSubstr("JSON_SERIALIZE(")));
}

TEST(MergeSqlTest, LayoutWithoutAnEligibleKeyColumnIsAuto) {
  Batch batch = StringKeyBatch();
  batch.key_columns = {"doc", "blob"};
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(RoleOptions(), TargetDialect::kRedshift, batch, std::nullopt);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->back().sql, HasSubstr("DISTSTYLE AUTO"));
  EXPECT_THAT(plan->back().sql, Not(HasSubstr("SORTKEY")));
}

TEST(MergeSqlTest, ConfiguredLayoutOnSuperIsRefusedNamingTheColumn) {
  RedshiftLoaderOptions options = RoleOptions();
  options.layouts["sales.Codes"] = RedshiftTableLayout{std::string("n"), {"doc"}};
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(options, TargetDialect::kRedshift, StringKeyBatch(), std::nullopt);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("\"sales\".\"Codes\" column \"doc\""));
  EXPECT_THAT(plan.status().message(), HasSubstr("SUPER"));
  options.layouts["sales.Codes"] = RedshiftTableLayout{std::string("missing"), {}};
  plan = PlanSchema(options, TargetDialect::kRedshift, StringKeyBatch(), std::nullopt);
  EXPECT_THAT(plan.status().message(), HasSubstr("\"missing\""));
}

// Issue 12 item 3: a DISTKEY or SORTKEY column is never dropped.
TEST(MergeSqlTest, DistAndSortKeyColumnsAreNotDropped) {
  RedshiftLoaderOptions options = RoleOptions();
  options.drop_removed_columns = true;
  Batch batch = OrdersBatch();
  batch.kind = Batch::Kind::kSchemaChange;
  std::vector<TargetColumn> existing = RedshiftOrders();
  existing.push_back({"old_key", "bigint", /*distkey=*/true, /*sortkey=*/1, "raw"});
  existing.push_back({"old_sort", "date", false, 2, "az64"});
  existing.push_back({"gone", "integer", false, 0, "az64"});
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(options, TargetDialect::kRedshift, batch, existing);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].sql, "ALTER TABLE \"sales\".\"Orders\" DROP COLUMN \"gone\"");
  // PostgreSQL has no such rule.
  plan = PlanSchema(options, TargetDialect::kPostgres, batch, existing);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(
      std::count_if(plan->begin(), plan->end(),
                    [](const Statement& s) { return absl::StrContains(s.sql, "DROP COLUMN"); }),
      3);
}

// DDL capture: a rename in the schema and to another one, and a column set
// with a renamed column and one dropped and added again, in both dialects
// (Redshift "ALTER TABLE": RENAME TO, RENAME COLUMN; "CREATE TABLE": LIKE).
TEST(MergeSqlGoldenTest, RenamesAndColumnsAddedAgain) {
  std::string rendered;
  for (TargetDialect dialect : {TargetDialect::kPostgres, TargetDialect::kRedshift}) {
    const char* name = dialect == TargetDialect::kPostgres ? "postgres" : "redshift";
    std::vector<TargetColumn> existing = RedshiftOrders();
    if (dialect == TargetDialect::kPostgres) {
      for (size_t i = 0; i < existing.size(); ++i) existing[i].type = OrdersBatch().columns[i].type;
    }
    for (const char* to_schema : {"sales", "archive"}) {
      Batch rename = OrdersBatch();
      rename.kind = Batch::Kind::kRenameTable;
      rename.renamed_schema = to_schema;
      rename.renamed_table = "Orders 2024";
      absl::StatusOr<std::vector<Statement>> plan =
          PlanSchema(RoleOptions(), dialect, rename, existing);
      ASSERT_TRUE(plan.ok()) << plan.status();
      StagedBatch staged;
      staged.batch = rename;
      absl::StatusOr<std::vector<Statement>> merge =
          PlanMerge(RoleOptions(), dialect, staged, {}, nullptr);
      ASSERT_TRUE(merge.ok()) << merge.status();
      absl::StrAppend(&rendered, "--- ", name, ": rename to ", to_schema, "\n", Render(*plan),
                      Render(*merge));
      // Nothing to rename when the table never reached the target.
      plan = PlanSchema(RoleOptions(), dialect, rename, std::nullopt);
      ASSERT_TRUE(plan.ok()) << plan.status();
      EXPECT_TRUE(plan->empty());
    }
    Batch columns = OrdersBatch();
    columns.kind = Batch::Kind::kSchemaChange;
    columns.columns[1].name = "client";  // Was `customer`.
    columns.columns[2].existing_rows_value = "0";
    columns.renamed_columns = {{"customer", "client"}};
    columns.added_columns = {"total"};
    absl::StatusOr<std::vector<Statement>> plan =
        PlanSchema(RoleOptions(), dialect, columns, existing);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::StrAppend(&rendered, "--- ", name, ": renamed and added-again columns\n", Render(*plan));
  }
  ExpectGolden("ddl_capture_schema.sql", rendered);
}

TEST(MergeSqlTest, ColumnAddedAgainThatIsADistKeyIsAnErrorOnRedshift) {
  Batch batch = OrdersBatch();
  batch.kind = Batch::Kind::kSchemaChange;
  batch.added_columns = {"id"};
  std::vector<TargetColumn> existing = RedshiftOrders();
  existing[0].distkey = true;
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(RoleOptions(), TargetDialect::kRedshift, batch, existing);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("column \"id\""));
  EXPECT_THAT(plan.status().message(), HasSubstr("re-create the target table"));
}

// Issue 12 item 1: what ALTER COLUMN TYPE cannot do is refused with advice.
TEST(MergeSqlTest, KeyAndDictionaryEncodedColumnsAreNotWidened) {
  Batch batch = StringKeyBatch();
  EXPECT_TRUE(
      CheckWidenable(batch, {"note", "character varying(256)", false, 0, "zstd"}, 300).ok());
  absl::Status key = CheckWidenable(batch, {"code", "character varying(256)", true, 1, "raw"}, 300);
  EXPECT_EQ(key.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(key.message(), HasSubstr("\"sales\".\"Codes\" column \"code\""));
  EXPECT_THAT(key.message(), HasSubstr("300 bytes"));
  EXPECT_THAT(key.message(), HasSubstr("PRIMARY KEY"));
  for (absl::string_view encoding : {"bytedict", "runlength", "text255", "text32k"}) {
    absl::Status status = CheckWidenable(
        batch, {"note", "character varying(256)", false, 0, std::string(encoding)}, 300);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << encoding;
    EXPECT_THAT(status.message(), HasSubstr("ENCODE ZSTD"));
  }
}

// Issue 12 item 8: without case-sensitive identifiers, upper case is refused.
TEST(MergeSqlTest, UpperCaseNamesNeedCaseSensitiveIdentifiers) {
  RedshiftLoaderOptions options = RoleOptions();
  EXPECT_TRUE(CheckIdentifierCase(options, TargetDialect::kRedshift, "Orders").ok());
  options.case_sensitive_identifiers = false;
  absl::Status status = CheckIdentifierCase(options, TargetDialect::kRedshift, "Orders");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("`Orders`"));
  EXPECT_TRUE(CheckIdentifierCase(options, TargetDialect::kRedshift, "orders_é").ok());
  EXPECT_TRUE(CheckIdentifierCase(options, TargetDialect::kPostgres, "Orders").ok());
}

TEST(MergeSqlGoldenTest, PostgresMergeStreamsFromStdin) {
  std::vector<TargetColumn> target = {
      {"id", "bigint"},     {"customer", "character varying"},
      {"total", "numeric"}, {"placed_at", "timestamp with time zone"},
      {"doc", "jsonb"},     {"blob", "bytea"}};
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(RoleOptions(), TargetDialect::kPostgres, OrdersStaged(), target, nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("postgres_merge.sql", Render(*plan));
}

TEST(MergeSqlGoldenTest, CatalogQueries) {
  std::string rendered = absl::StrCat(
      "-- checkpoint table\n", CheckpointTableSql(RoleOptions())[1], ";\n-- read checkpoint\n",
      ReadCheckpointSql(RoleOptions(), TargetDialect::kRedshift, "sales", "O'Brien\\s"),
      ";\n-- describe\n", DescribeTableSql(TargetDialect::kRedshift, "sales", "Orders"),
      ";\n-- column roles\n", ColumnRolesSql("sales", "O'Brien\\s"), ";\n-- load errors\n",
      LoadErrorsSql(OrdersStaged().files[1]), ";\n");
  for (TargetDialect dialect : {TargetDialect::kRedshift, TargetDialect::kPostgres}) {
    for (const SessionSetting& setting : SessionSetupSql(RoleOptions(), dialect)) {
      absl::StrAppend(&rendered, "-- session setup\n", setting.set_sql, ";\n");
      if (!setting.show_sql.empty()) {
        absl::StrAppend(&rendered, "-- expect ", absl::StrJoin(setting.expected, " or "), "\n",
                        setting.show_sql, ";\n");
      }
    }
  }
  ExpectGolden("catalog_queries.sql", rendered);
}

TEST(MergeSqlTest, IdentifiersAreQuotedAndLimited) {
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteIdentifier("select"), "\"select\"");
  EXPECT_TRUE(CheckIdentifier(TargetDialect::kRedshift, std::string(127, 'x')).ok());
  absl::Status too_long = CheckIdentifier(TargetDialect::kRedshift, std::string(128, 'x'));
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_long.message(), HasSubstr("128 bytes; Redshift allows at most 127"));
  EXPECT_FALSE(CheckIdentifier(TargetDialect::kPostgres, std::string(64, 'x')).ok());
  EXPECT_FALSE(CheckIdentifier(TargetDialect::kRedshift, "").ok());
  EXPECT_EQ(QuoteLiteral(TargetDialect::kPostgres, "O'B\\n"), "'O''B\\n'");
  EXPECT_EQ(QuoteLiteral(TargetDialect::kRedshift, "O'B\\n"), "'O''B\\\\n'");
}

TEST(MergeSqlTest, PartialRowsOfKeylessTablesAreRefused) {
  StagedBatch staged = OrdersStaged();
  staged.batch.key_columns.clear();
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(RoleOptions(), TargetDialect::kRedshift, staged, RedshiftOrders(), nullptr);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(plan.status().message(), HasSubstr("without a key"));
}

TEST(MergeSqlTest, CopyWithoutRoleOrCredentialsIsRefused) {
  RedshiftLoaderOptions options = RoleOptions();
  options.iam_role.clear();
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(options, TargetDialect::kRedshift, OrdersStaged(), RedshiftOrders(), nullptr);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MergeSqlTest, VarcharLengthReadsCatalogTypes) {
  EXPECT_EQ(VarcharLength("character varying(256)"), 256);
  EXPECT_EQ(VarcharLength("character varying"), std::nullopt);
  EXPECT_EQ(VarcharLength("text"), std::nullopt);
}

// A source ALTER COLUMN TYPE that Redshift cannot do in place (only VARCHARs
// lengthen): add, copy with a cast, drop, rename, in the batch transaction.
TEST(MergeSqlGoldenTest, RedshiftRebuildsAColumnWhoseTypeChanged) {
  Batch batch = OrdersBatch();
  batch.kind = Batch::Kind::kSchemaChange;
  batch.columns[1].type = "integer";  // customer: text -> int USING
  batch.columns[2].type = "bigint";   // total: numeric -> bigint
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(RoleOptions(), TargetDialect::kRedshift, batch, RedshiftOrders());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("redshift_column_rebuild.sql", Render(*plan));
}

TEST(MergeSqlGoldenTest, RedshiftKeyColumnTypeChangeIsAnErrorNamingTheColumn) {
  Batch batch = OrdersBatch();
  batch.columns[0].type = "text";
  absl::StatusOr<std::vector<Statement>> plan =
      PlanSchema(RoleOptions(), TargetDialect::kRedshift, batch, RedshiftOrders());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(),
            "table \"sales\".\"Orders\" column \"id\": the source changed the key column's type "
            "to text (target: bigint); Redshift cannot rebuild a key column (DISTKEY/SORTKEY), so "
            "re-create the target table and re-sync it");
}

// Move row: the old rows are copied (new key) before anything is deleted.
TEST(MergeSqlGoldenTest, RedshiftMoveRowBeforeDeletes) {
  StagedBatch staged = OrdersStaged();
  staged.files.insert(staged.files.begin() + 1,
                      File(StagedFile::Role::kMove, {"id", "re_dms_from_id"}, "000000000007-move"));
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(RoleOptions(), TargetDialect::kRedshift, staged, RedshiftOrders(), nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("redshift_move_row.sql", Render(*plan));
}

}  // namespace
}  // namespace re_dms
