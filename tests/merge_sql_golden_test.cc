// Golden tests of the exact statements the loader sends, for representative
// batches on both dialects. The Redshift statements cannot run here; their
// options are justified in merge_sql.cc against AWS's COPY documentation.
//
// To regenerate after an intended change, run the test binary with
// RE_DMS_GOLDEN_DIR=<repo>/tests/testdata/golden and review the diff.

#include "lib/src/load/merge_sql.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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
  batch.columns = {{"id", "bigint"},
                   {"customer", "character varying"},
                   {"total", "numeric"},
                   {"placed_at", "timestamp with time zone"},
                   {"doc", "jsonb"},
                   {"blob", "bytea"}};
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
  absl::StatusOr<std::vector<Statement>> plan = PlanMerge(
      RoleOptions(), TargetDialect::kRedshift, OrdersStaged(), RedshiftOrders(), nullptr);
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
  batch.columns.pop_back();                           // `blob` dropped at the source.
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

TEST(MergeSqlGoldenTest, PostgresMergeStreamsFromStdin) {
  std::vector<TargetColumn> target = {{"id", "bigint"},
                                      {"customer", "character varying"},
                                      {"total", "numeric"},
                                      {"placed_at", "timestamp with time zone"},
                                      {"doc", "jsonb"},
                                      {"blob", "bytea"}};
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(RoleOptions(), TargetDialect::kPostgres, OrdersStaged(), target, nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectGolden("postgres_merge.sql", Render(*plan));
}

TEST(MergeSqlGoldenTest, CatalogQueries) {
  std::string rendered = absl::StrCat(
      "-- checkpoint table\n", CheckpointTableSql(RoleOptions())[1],
      ";\n-- read checkpoint\n",
      ReadCheckpointSql(RoleOptions(), TargetDialect::kRedshift, "sales", "O'Brien\\s"),
      ";\n-- describe\n", DescribeTableSql(TargetDialect::kRedshift, "sales", "Orders"),
      ";\n-- load errors\n", LoadErrorsSql(), ";\n");
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
