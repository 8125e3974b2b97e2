// ParseDdlMessage: what the source's triggers write, and what a damaged or
// foreign message gets instead of a guess. The triggers themselves run against
// real PostgreSQL in source_changes_pg_test and tests/e2e/ddl_capture_test.sh.

#include "re_dms/ddl_capture.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace re_dms {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// As the trigger printed it for `ALTER TABLE dc1 RENAME TO dc2` (jsonb orders keys).
constexpr char kRename[] =
    R"({"key": ["a"], "oid": 16462, "event": "alter", "table": "dc2", "schema": "public", )"
    R"("columns": [{"name": "a", "type": "integer", "attnum": 1, "missing": null}, )"
    R"({"name": "c", "type": "integer", "attnum": 3, "missing": "7"}], "command": "ALTER TABLE", )"
    R"("version": 1, "identity": "d", "previous_table": "dc1", "previous_schema": "public"})";

TEST(ParseDdlMessageTest, ReadsARename) {
  absl::StatusOr<DdlEvent> event = ParseDdlMessage(kRename);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->kind, DdlEvent::Kind::kAlter);
  EXPECT_EQ(event->oid, 16462u);
  EXPECT_EQ(event->command, "ALTER TABLE");
  EXPECT_TRUE(event->renamed());
  EXPECT_EQ(*event->previous_table, "dc1");
  ASSERT_EQ(event->columns.size(), 2u);
  EXPECT_EQ(event->columns[1].name, "c");
  EXPECT_EQ(event->columns[1].existing_rows_value, "7");
  EXPECT_EQ(event->columns[0].existing_rows_value, std::nullopt);
  EXPECT_THAT(event->attnums, ElementsAre(1, 3));
  EXPECT_THAT(event->key.columns, ElementsAre("a"));
  EXPECT_EQ(event->key.identity, ReplicaIdentity::kDefault);
}

TEST(ParseDdlMessageTest, ReadsADropWithoutColumns) {
  absl::StatusOr<DdlEvent> event = ParseDdlMessage(
      R"({"oid": 5, "event": "drop", "table": "t", "schema": "s", "command": "DROP TABLE", )"
      R"("version": 1})");
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->kind, DdlEvent::Kind::kDrop);
  EXPECT_FALSE(event->renamed());
  EXPECT_TRUE(event->columns.empty());
}

TEST(ParseDdlMessageTest, RefusesWhatItCannotReadExactly) {
  const struct {
    const char* content;
    const char* error;
  } kCases[] = {
      {"not json", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {R"({"version": 2, "event": "alter"})", "unknown version"},
      {R"({"version": 1, "event": "rename", "command": "x", "schema": "s", "table": "t", "oid": 1})",
       "\"event\""},
      {R"({"version": 1, "event": "drop", "command": "x", "schema": "s", "table": "t", "oid": -1})",
       "\"oid\""},
      {R"({"version": 1, "event": "drop", "command": "x", "schema": "s", "table": "t", )"
       R"("oid": 4294967296})",
       "\"oid\""},
      {R"({"version": 1, "event": "alter", "command": "x", "schema": "s", "table": "t", "oid": 1, )"
       R"("identity": "d", "columns": [{"name": "a", "type": "int"}], "key": []})",
       "\"attnum\""},
      {R"({"version": 1, "event": "alter", "command": "x", "schema": "s", "table": "t", "oid": 1, )"
       R"("identity": "z", "columns": [], "key": []})",
       "\"identity\""},
      {R"({"version": 1, "event": "drop", "command": "x", "schema": "s", "table": "t", "oid": 1, )"
       R"("previous_table": "p"})",
       "\"previous_schema\""},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<DdlEvent> event = ParseDdlMessage(c.content);
    ASSERT_FALSE(event.ok()) << c.content;
    EXPECT_THAT(event.status().message(), HasSubstr(c.error)) << c.content;
  }
}

}  // namespace
}  // namespace re_dms
