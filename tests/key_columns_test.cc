// PgKeyColumns against the real PostgreSQL of scripts/services: primary keys
// in index order, REPLICA IDENTITY USING INDEX / FULL / NOTHING, tables
// without a key, quoted names, the column list, caching and invalidation.

#include "re_dms/key_columns.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/pg_scratch.h"

namespace re_dms {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class KeyColumnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::ScratchDatabase>> db =
        testing::ScratchDatabase::Create("key_columns");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    ASSERT_TRUE(db_->Exec(R"sql(
      CREATE TABLE pk (a int, b text, c int, PRIMARY KEY (b, a));
      CREATE TABLE ri (id int PRIMARY KEY, code text NOT NULL, note text);
      CREATE UNIQUE INDEX ri_code ON ri (code);
      ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_code;
      CREATE TABLE full_pk (id bigint PRIMARY KEY, v varchar(10));
      ALTER TABLE full_pk REPLICA IDENTITY FULL;
      CREATE TABLE nokey (x int, y numeric(10,2)[]);
      CREATE TABLE nothing (id int PRIMARY KEY);
      ALTER TABLE nothing REPLICA IDENTITY NOTHING;
      CREATE SCHEMA "We ird";
      CREATE TABLE "We ird"."T""1" ("Id" int PRIMARY KEY, "select" timestamptz);
      CREATE TABLE deferred (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text);
      ALTER TABLE nokey ADD COLUMN dropped int;
      ALTER TABLE nokey DROP COLUMN dropped;
      CREATE TABLE defaults (id int);
      INSERT INTO defaults VALUES (1);
      ALTER TABLE defaults ADD COLUMN seven int DEFAULT 7;
      ALTER TABLE defaults ADD COLUMN name text DEFAULT 'O''Brien';
      ALTER TABLE defaults ADD COLUMN plain text;
    )sql")
                    .ok());
    absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys = PgKeyColumns::Connect(db_->conninfo());
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
  }

  TableKey Lookup(absl::string_view schema, absl::string_view table) {
    absl::StatusOr<TableKey> key = keys_->Lookup(schema, table);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *key : TableKey{};
  }

  std::unique_ptr<testing::ScratchDatabase> db_;
  std::unique_ptr<PgKeyColumns> keys_;
};

TEST_F(KeyColumnsTest, PrimaryKeyInIndexOrder) {
  TableKey key = Lookup("public", "pk");
  EXPECT_EQ(key.identity, ReplicaIdentity::kDefault);
  EXPECT_THAT(key.columns, ElementsAre("b", "a"));
  EXPECT_THAT(key.table_columns, ElementsAre(ColumnDef{"a", "integer"}, ColumnDef{"b", "text"},
                                             ColumnDef{"c", "integer"}));
}

TEST_F(KeyColumnsTest, ReplicaIdentityIndexWinsOverPrimaryKey) {
  TableKey key = Lookup("public", "ri");
  EXPECT_EQ(key.identity, ReplicaIdentity::kIndex);
  EXPECT_THAT(key.columns, ElementsAre("code"));
}

TEST_F(KeyColumnsTest, FullNothingAndNoKey) {
  TableKey full = Lookup("public", "full_pk");
  EXPECT_EQ(full.identity, ReplicaIdentity::kFull);
  EXPECT_THAT(full.columns, ElementsAre("id"));
  EXPECT_THAT(full.table_columns, ElementsAre(ColumnDef{"id", "bigint"},
                                              ColumnDef{"v", "character varying"}));
  TableKey nokey = Lookup("public", "nokey");
  EXPECT_EQ(nokey.identity, ReplicaIdentity::kDefault);
  EXPECT_TRUE(nokey.columns.empty());
  // Dropped columns are not columns; types print as test_decoding prints them.
  EXPECT_THAT(nokey.table_columns,
              ElementsAre(ColumnDef{"x", "integer"}, ColumnDef{"y", "numeric[]"}));
  EXPECT_EQ(Lookup("public", "nothing").identity, ReplicaIdentity::kNothing);
  // PostgreSQL logs no old key for a deferrable primary key: no key here either.
  EXPECT_TRUE(Lookup("public", "deferred").columns.empty());
}

TEST_F(KeyColumnsTest, QuotedNames) {
  TableKey key = Lookup("We ird", "T\"1");
  EXPECT_THAT(key.columns, ElementsAre("Id"));
  EXPECT_THAT(key.table_columns, ElementsAre(ColumnDef{"Id", "integer"},
                                             ColumnDef{"select", "timestamp with time zone"}));
}

TEST_F(KeyColumnsTest, ColumnsAddedWithADefaultReportTheValueOlderRowsShow) {
  TableKey key = Lookup("public", "defaults");
  ASSERT_EQ(key.table_columns.size(), 4u);
  EXPECT_EQ(key.table_columns[0].existing_rows_value, std::nullopt);
  EXPECT_EQ(key.table_columns[1].existing_rows_value, std::optional<std::string>("7"));
  EXPECT_EQ(key.table_columns[2].existing_rows_value, std::optional<std::string>("O'Brien"));
  EXPECT_EQ(key.table_columns[3].existing_rows_value, std::nullopt);
}

TEST_F(KeyColumnsTest, MissingTableIsNotFound) {
  absl::StatusOr<TableKey> key = keys_->Lookup("public", "absent");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(key.status().message(), HasSubstr("\"public\".\"absent\""));
}

TEST_F(KeyColumnsTest, CachesUntilInvalidated) {
  EXPECT_THAT(Lookup("public", "nokey").columns, ::testing::IsEmpty());
  ASSERT_TRUE(db_->Exec("ALTER TABLE nokey ADD PRIMARY KEY (x)").ok());
  EXPECT_THAT(Lookup("public", "nokey").columns, ::testing::IsEmpty());  // Cached.
  keys_->Invalidate("public", "nokey");
  EXPECT_THAT(Lookup("public", "nokey").columns, ElementsAre("x"));
}

TEST(KeyColumnsConnectTest, BadConninfoIsAnErrorWithoutThePassword) {
  absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys =
      PgKeyColumns::Connect("host=127.0.0.1 port=1 password=sekrit-value connect_timeout=2");
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(keys.status().message(), ::testing::Not(HasSubstr("sekrit-value")));
}

TEST(KeyColumnsConnectTest, MalformedConninfoIsAnErrorWithoutItsFragments) {
  // libpq would answer `missing "=" after "cret"`, quoting part of the password.
  absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys =
      PgKeyColumns::Connect("dbname=app password=se cret");
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(keys.status().message(), HasSubstr("source conninfo could not be parsed"));
  EXPECT_THAT(keys.status().message(), ::testing::Not(HasSubstr("cret")));
}

TEST(StaticKeyColumnsTest, AnswersWhatWasSet) {
  StaticKeyColumns keys;
  keys.Set("s", "t", TableKey{ReplicaIdentity::kFull, {"k"}, {}});
  absl::StatusOr<TableKey> key = keys.Lookup("s", "t");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->identity, ReplicaIdentity::kFull);
  EXPECT_THAT(key->columns, ElementsAre("k"));
  EXPECT_EQ(keys.Lookup("s", "u").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace re_dms
