#include "re_dms/source_encoding.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/change.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<SourceEncoding> Make(absl::string_view server, absl::string_view assumed = "") {
  absl::StatusOr<std::unique_ptr<SourceEncoding>> encoding =
      SourceEncoding::Create(server, assumed);
  EXPECT_TRUE(encoding.ok()) << encoding.status();
  return encoding.ok() ? *std::move(encoding) : nullptr;
}

Record Insert(absl::string_view schema, absl::string_view table, absl::string_view column,
              absl::string_view text) {
  Record record;
  record.kind = RecordKind::kInsert;
  record.table = {schema, table};
  record.line = 3;
  record.offset = 99;
  record.columns.push_back({column, "text", ValueKind::kText, text});
  return record;
}

TEST(SourceEncodingTest, Latin1BecomesUtf8IncludingBytesThatLookLikeUtf8) {
  std::unique_ptr<SourceEncoding> latin1 = Make("LATIN1");
  ASSERT_NE(latin1, nullptr);
  EXPECT_FALSE(latin1->is_utf8());
  // "Ã©" in LATIN1 is C3 A9, which is also the UTF-8 of "é": it must become
  // C3 83 C2 A9, two characters.
  Record record = Insert("sch\xE9ma", "caf\xE9", "na\xEFve", "\xC3\xA9t\xE9");
  ASSERT_TRUE(latin1->Convert(&record).ok());
  EXPECT_EQ(record.table.schema, "sch\xC3\xA9ma");
  EXPECT_EQ(record.table.name, "caf\xC3\xA9");
  EXPECT_EQ(record.columns[0].name, "na\xC3\xAFve");
  EXPECT_EQ(record.columns[0].text, "\xC3\x83\xC2\xA9t\xC3\xA9");
}

TEST(SourceEncodingTest, AsciiStaysInPlaceAndUtf8IsUntouched) {
  std::unique_ptr<SourceEncoding> latin1 = Make("LATIN1");
  Record record = Insert("public", "t", "c", "plain");
  const char* before = record.columns[0].text.data();
  ASSERT_TRUE(latin1->Convert(&record).ok());
  EXPECT_EQ(record.columns[0].text.data(), before);
  EXPECT_TRUE(record.owned.empty());
  std::unique_ptr<SourceEncoding> utf8 = Make("UTF8");
  EXPECT_TRUE(utf8->is_utf8());
}

TEST(SourceEncodingTest, ABytesWithNoCharacterIsAnErrorNamingWhere) {
  std::unique_ptr<SourceEncoding> win1252 = Make("WIN1252");
  Record record = Insert("public", "t", "c", "ab\x81");
  absl::Status status = win1252->Convert(&record);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "table public.t, column c (text), in the insert at line 3, byte offset 99: the value "
            "holds the byte 0x81 (at its byte 2), which is not a character of the source encoding "
            "WIN1252, so it has no UTF-8 form; re_dms loads only text it can convert exactly");
  Record cut = Insert("public", "t", "c", "\xA4\xA2\xA4");  // EUC_JP, a character cut short
  status = Make("EUC_JP")->Convert(&cut);
  EXPECT_THAT(std::string(status.message()), HasSubstr("begins an incomplete character"));
}

TEST(SourceEncodingTest, SqlAsciiNeedsAStatedEncoding) {
  std::unique_ptr<SourceEncoding> unknown = Make("SQL_ASCII");
  Record ascii = Insert("public", "t", "c", "plain");
  EXPECT_TRUE(unknown->Convert(&ascii).ok());
  Record record = Insert("public", "t", "c", "caf\xE9");
  absl::Status status = unknown->Convert(&record);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("the value holds the byte 0xE9 (at its byte 3), but the source "
                        "database's encoding is SQL_ASCII"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("--source-encoding"));

  Record assumed = Insert("public", "t", "c", "caf\xE9");
  ASSERT_TRUE(Make("SQL_ASCII", "latin1")->Convert(&assumed).ok());
  EXPECT_EQ(assumed.columns[0].text, "caf\xC3\xA9");
  // Assumed UTF8 is still checked.
  Record bad_utf8 = Insert("public", "t", "c", "caf\xE9");
  EXPECT_FALSE(Make("SQL_ASCII", "UTF8")->Convert(&bad_utf8).ok());
}

TEST(SourceEncodingTest, RejectsWhatItCannotHonour) {
  EXPECT_EQ(SourceEncoding::Create("MULE_INTERNAL", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status conflict = SourceEncoding::Create("LATIN1", "WIN1252").status();
  EXPECT_THAT(std::string(conflict.message()), HasSubstr("applies only to SQL_ASCII databases"));
  EXPECT_TRUE(SourceEncoding::Create("LATIN1", "latin1").ok());
}

TEST(SourceEncodingTest, ConvertsOldKeysAndTruncatedTables) {
  std::unique_ptr<SourceEncoding> latin1 = Make("LATIN1");
  Record update = Insert("public", "t", "c", "x");
  update.kind = RecordKind::kUpdate;
  update.has_old_key = true;
  update.old_key.push_back({"c", "text", ValueKind::kText, "\xE9"});
  ASSERT_TRUE(latin1->Convert(&update).ok());
  EXPECT_EQ(update.old_key[0].text, "\xC3\xA9");
  Record truncate;
  truncate.kind = RecordKind::kTruncate;
  truncate.truncated.push_back({"public", "caf\xE9"});
  ASSERT_TRUE(latin1->Convert(&truncate).ok());
  EXPECT_EQ(truncate.truncated[0].name, "caf\xC3\xA9");
}

}  // namespace
}  // namespace re_dms
