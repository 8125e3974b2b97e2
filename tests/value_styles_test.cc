#include "re_dms/value_styles.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/change.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;

// An insert into public.t with one column of `type` holding `text`.
Record Insert(absl::string_view type, absl::string_view text) {
  Record record;
  record.kind = RecordKind::kInsert;
  record.table = {"public", "t"};
  record.line = 7;
  record.offset = 1234;
  record.columns.push_back({"c", type, ValueKind::kText, text});
  return record;
}

absl::Status Check(absl::string_view type, absl::string_view text) {
  return CheckValueStyles(Insert(type, text));
}

// What PostgreSQL 15 prints under kPipeSessionOptions (captured with psql).
TEST(ValueStylesTest, AcceptsWhatTheNeededSessionPrints) {
  for (const auto& [type, text] : std::vector<std::pair<const char*, const char*>>{
           {"date", "2024-03-04"},
           {"date", "0044-03-15 BC"},
           {"date", "10000-01-01"},
           {"date", "infinity"},
           {"date", "-infinity"},
           {"timestamp without time zone", "2024-03-04 05:06:07"},
           {"timestamp(3) without time zone", "2024-03-04 05:06:07.123"},
           {"timestamp without time zone", "0044-03-15 10:00:00 BC"},
           {"timestamp with time zone", "2024-03-04 05:06:07+00"},
           {"timestamp with time zone", "2024-03-04 10:36:07.5+05:30"},
           {"timestamp with time zone", "1850-01-01 00:00:00-00:01:15"},
           {"timestamp with time zone", "0044-03-15 10:00:00+00 BC"},
           {"timestamp with time zone", "infinity"},
           {"interval", "00:00:00"},
           {"interval", "1 year 2 mons 3 days 04:05:06"},
           {"interval", "-1 years -2 mons +3 days -04:05:06.5"},
           {"interval", "1 day"},
           {"interval", "123:00:00"},
           {"interval day to second(3)", "3 days 00:00:00.001"},
           {"interval year to month", "-1 years"},
           {"bytea", "\\x"},
           {"bytea", "\\x00ff27"},
           {"date[]", "{2024-03-04,NULL,infinity}"},
           {"date[]", "[0:1]={2024-03-04,2024-03-05}"},
           {"timestamp with time zone[]", "{\"2024-03-04 05:06:07+00\",NULL}"},
           {"interval[]", "{\"1 day 02:00:00\",00:00:00}"},
           {"bytea[]", "{\"\\\\x0102\",NULL}"},
           {"daterange", "[2024-03-04,2024-03-05)"},
           {"daterange", "empty"},
           {"tstzrange", "[\"2024-03-04 05:06:07+00\",)"},
           {"tsmultirange", "{[\"2024-03-04 05:06:07\",\"2024-03-05 00:00:00\")}"},
           {"time without time zone", "05:06:07"},
           {"time with time zone", "05:06:07+05:30"},
           {"text", "04/03/2024"},
       }) {
    EXPECT_TRUE(Check(type, text).ok()) << type << " " << text << ": " << Check(type, text);
  }
}

// What PostgreSQL 15 prints under other settings (captured with psql).
TEST(ValueStylesTest, RejectsOtherStylesNamingTheSetting) {
  for (const auto& [type, text, setting] :
       std::vector<std::tuple<const char*, const char*, const char*>>{
           {"date", "04/03/2024", "DateStyle"},  // SQL, DMY
           {"date", "03-04-2024", "DateStyle"},  // Postgres
           {"date", "04.03.2024", "DateStyle"},  // German
           {"timestamp without time zone", "04/03/2024 05:06:07", "DateStyle"},
           {"timestamp without time zone", "Mon Mar 04 05:06:07 2024", "DateStyle"},
           {"timestamp with time zone", "04/03/2024 10:36:07 IST", "TimeZone abbreviation 'IST'"},
           {"timestamp with time zone", "Mon Mar 04 10:36:07.5 2024 IST",
            "TimeZone abbreviation 'IST'"},
           {"timestamp with time zone", "2024-03-04 05:06:07", "DateStyle"},  // no offset
           {"interval", "+1-2 +3 +4:05:06", "IntervalStyle"},                 // sql_standard
           {"interval", "1-2", "IntervalStyle"},
           {"interval", "3 4:05:06", "IntervalStyle"},
           {"interval", "0", "IntervalStyle"},
           {"interval", "-4:05:06", "IntervalStyle"},
           {"interval", "P1Y2M3DT4H5M6S", "IntervalStyle"},   // iso_8601
           {"interval", "@ 1 year 2 mons", "IntervalStyle"},  // postgres_verbose
           {"bytea", "abc\\000", "bytea_output"},
           {"bytea", "", "bytea_output"},
           {"date[]", "{04/03/2024}", "DateStyle"},
           {"interval[]", "{\"+1-2 +3 +4:05:06\"}", "IntervalStyle"},
           {"bytea[]", "{\"abc\\\\000\"}", "bytea_output"},
           {"daterange", "[04/03/2024,05/03/2024)", "DateStyle"},
           {"tstzrange", "[\"04/03/2024 10:36:07 IST\",)", "TimeZone abbreviation 'IST'"},
       }) {
    absl::Status status = Check(type, text);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << type << " " << text;
    EXPECT_THAT(std::string(status.message()), HasSubstr(setting)) << status;
  }
}

TEST(ValueStylesTest, MessageNamesTableColumnPositionAndFix) {
  absl::Status status = Check("date", "04/03/2024");
  EXPECT_EQ(status.message(),
            "table public.t, column c (date), in the insert at line 7, byte offset 1234: "
            "'04/03/2024' is not in ISO form (YYYY-MM-DD): the source session's DateStyle is not "
            "ISO, and the target would read day and month by its own DateStyle. re_dms does not "
            "load a guess: run pg_recvlogical with the session settings re_dms reads, "
            "PGOPTIONS='-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC "
            "-c extra_float_digits=3 -c bytea_output=hex' (or options='...' in its conninfo; see "
            "README, Usage), and replay this transaction and the ones after it (pg_recvlogical "
            "has confirmed them to the slot)");
}

TEST(ValueStylesTest, ChecksTheOldKeyAndSkipsNulls) {
  Record record = Insert("date", "2024-03-04");
  record.kind = RecordKind::kUpdate;
  record.columns.push_back({"n", "date", ValueKind::kNull, ""});
  record.columns.push_back({"u", "bytea", ValueKind::kUnchangedToast, ""});
  EXPECT_TRUE(CheckValueStyles(record).ok());
  record.has_old_key = true;
  record.old_key.push_back({"c", "date", ValueKind::kText, "04/03/2024"});
  absl::Status status = CheckValueStyles(record);
  EXPECT_THAT(std::string(status.message()), HasSubstr("column c (date, old key), in the update"));
}

TEST(ValueStylesTest, ShowsOnlyTheBeginningOfALongValue) {
  const std::string escaped(100000, 'a');
  absl::Status status = Check("bytea", escaped);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'" + std::string(48, 'a') + "...'"));
  EXPECT_LT(status.message().size(), 1000u);
}

}  // namespace
}  // namespace re_dms
