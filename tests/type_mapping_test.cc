#include "re_dms/type_mapping.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;

std::string Redshift(absl::string_view type, TypeMappingOptions options = {}) {
  return RedshiftTypeFor(type, options).Sql();
}

// The table of docs/type-mapping.md, row by row.
TEST(TypeMappingTest, RedshiftTypesFollowTheDocumentedTable) {
  EXPECT_EQ(Redshift("smallint"), "SMALLINT");
  EXPECT_EQ(Redshift("integer"), "INTEGER");
  EXPECT_EQ(Redshift("bigint"), "BIGINT");
  EXPECT_EQ(Redshift("numeric(12,2)"), "NUMERIC(12,2)");
  EXPECT_EQ(Redshift("numeric(38,0)"), "NUMERIC(38,0)");
  EXPECT_EQ(Redshift("numeric(40,2)"), "VARCHAR(256)");
  EXPECT_EQ(Redshift("numeric"), "NUMERIC(38,10)");
  TypeMappingOptions as_text;
  as_text.numeric_as_varchar = true;
  EXPECT_EQ(Redshift("numeric", as_text), "VARCHAR(256)");
  EXPECT_EQ(Redshift("real"), "REAL");
  EXPECT_EQ(Redshift("double precision"), "DOUBLE PRECISION");
  EXPECT_EQ(Redshift("character varying"), "VARCHAR(256)");
  EXPECT_TRUE(RedshiftTypeFor("character varying", {}).widenable);
  EXPECT_EQ(Redshift("character varying(20)"), "VARCHAR(80)");
  EXPECT_FALSE(RedshiftTypeFor("character varying(20)", {}).widenable);
  EXPECT_EQ(Redshift("character varying(20000)"), "VARCHAR(65535)");
  EXPECT_EQ(Redshift("text"), "VARCHAR(65535)");
  EXPECT_EQ(Redshift("character(3)"), "VARCHAR(12)");
  EXPECT_EQ(Redshift("character"), "VARCHAR(256)");
  EXPECT_EQ(Redshift("boolean"), "BOOLEAN");
  EXPECT_EQ(Redshift("date"), "DATE");
  EXPECT_EQ(Redshift("timestamp without time zone"), "TIMESTAMP");
  EXPECT_EQ(Redshift("timestamp(3) with time zone"), "TIMESTAMPTZ");
  EXPECT_EQ(Redshift("time without time zone"), "TIME");
  EXPECT_EQ(Redshift("time with time zone"), "TIMETZ");
  EXPECT_EQ(Redshift("json"), "SUPER");
  EXPECT_EQ(Redshift("jsonb"), "SUPER");
  TypeMappingOptions json_text;
  json_text.json_as_super = false;
  EXPECT_EQ(Redshift("jsonb", json_text), "VARCHAR(65535)");
  EXPECT_EQ(Redshift("bytea"), "VARBYTE(1024000)");
  EXPECT_EQ(Redshift("uuid"), "CHAR(36)");
  EXPECT_EQ(Redshift("integer[]"), "VARCHAR(65535)");
  EXPECT_EQ(Redshift("xml"), "VARCHAR(65535)");
  for (absl::string_view text_kept : {"int4range", "interval", "inet", "cidr", "money", "point",
                                      "mood", "public.\"My Domain\""}) {
    EXPECT_EQ(Redshift(text_kept), "VARCHAR(256)") << text_kept;
  }
}

TEST(TypeMappingTest, PostgresTargetKeepsBuiltinTypesAndTextsTheRest) {
  EXPECT_EQ(PostgresTypeFor("character varying"), "character varying");
  EXPECT_EQ(PostgresTypeFor("numeric(12,2)"), "numeric(12,2)");
  EXPECT_EQ(PostgresTypeFor("timestamp with time zone"), "timestamp with time zone");
  EXPECT_EQ(PostgresTypeFor("integer[]"), "integer[]");
  // Printed without typmod, char(n) and bit(n) need their unbounded forms.
  EXPECT_EQ(PostgresTypeFor("character"), "bpchar");
  EXPECT_EQ(PostgresTypeFor("character[]"), "bpchar[]");
  EXPECT_EQ(PostgresTypeFor("bit"), "bit varying");
  EXPECT_EQ(PostgresTypeFor("character(5)"), "character(5)");
  EXPECT_EQ(PostgresTypeFor("jsonb"), "jsonb");
  EXPECT_EQ(PostgresTypeFor("mood"), "text");
  EXPECT_EQ(PostgresTypeFor("mood[]"), "text[]");
  EXPECT_EQ(PostgresTypeFor("public.\"My Domain\""), "text");
}

absl::Status Fit(absl::string_view type, std::string* value,
                 OverflowPolicy policy = OverflowPolicy::kFail, uint64_t* truncated = nullptr) {
  return FitValueForRedshift(RedshiftTypeFor(type, {}), policy, "table s.t column c key (1)",
                             value, truncated);
}

TEST(TypeMappingTest, NumericsAreNeverRounded) {
  std::string value = "12345678901234567890123456.1234567890";
  EXPECT_TRUE(Fit("numeric", &value).ok());
  value = "-0.00000000010";  // Trailing zeros are not digits that need rounding.
  EXPECT_TRUE(Fit("numeric", &value).ok());
  value = "0.12345678901";
  absl::Status status = Fit("numeric", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("table s.t column c key (1)"));
  EXPECT_THAT(status.message(), HasSubstr("without rounding"));
  value = "12345678901234567890123456789.5";  // 29 integer digits.
  EXPECT_FALSE(Fit("numeric", &value).ok());
  value = "NaN";
  status = Fit("numeric", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("NaN"));
  value = "Infinity";
  EXPECT_FALSE(Fit("numeric", &value).ok());
  value = "99.99";
  EXPECT_TRUE(Fit("numeric(4,2)", &value).ok());
  value = "100.00";
  EXPECT_FALSE(Fit("numeric(4,2)", &value).ok());
}

TEST(TypeMappingTest, DatesOutsideRedshiftsRangeFail) {
  std::string value = "2026-11-27";
  EXPECT_TRUE(Fit("date", &value).ok());
  value = "9999-12-31";
  EXPECT_TRUE(Fit("date", &value).ok());
  value = "294277-01-01";
  EXPECT_EQ(Fit("timestamp without time zone", &value).code(), absl::StatusCode::kOutOfRange);
  value = "infinity";
  EXPECT_EQ(Fit("timestamp with time zone", &value).code(), absl::StatusCode::kOutOfRange);
  value = "2017-05-10 12:07:21.272494-04";
  EXPECT_TRUE(Fit("timestamp with time zone", &value).ok());
  EXPECT_EQ(value, "2017-05-10 12:07:21.272494-04");
}

// Issue 12 item 13: forms COPY does not document fail, naming the value.
TEST(TypeMappingTest, UndocumentedDatetimeFormsFail) {
  for (absl::string_view bc : {"4713-01-01 BC", "0044-03-15 BC"}) {
    std::string value(bc);
    absl::Status status = Fit("date", &value);
    EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange) << bc;
    EXPECT_THAT(status.message(), HasSubstr("table s.t column c key (1)"));
    EXPECT_THAT(status.message(), HasSubstr("BC"));
  }
  std::string value = "0001-01-01 00:00:00 BC";
  EXPECT_FALSE(Fit("timestamp without time zone", &value).ok());
  value = "10000-01-01 00:00:00+00";  // Five-digit year.
  absl::Status status = Fit("timestamp with time zone", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("four digits"));
  value = "13:14:15+14:59";
  EXPECT_TRUE(Fit("time with time zone", &value).ok());
  value = "13:14:15-14";
  EXPECT_TRUE(Fit("time with time zone", &value).ok());
  value = "13:14:15+15:59";
  status = Fit("time with time zone", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("14:59"));
  value = "00:00:00-15";
  EXPECT_FALSE(Fit("time with time zone", &value).ok());
}

TEST(TypeMappingTest, FloatSpecialValuesAndSubnormalsFail) {
  for (absl::string_view special : {"NaN", "Infinity", "-Infinity"}) {
    std::string value(special);
    absl::Status status = Fit("real", &value);
    EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange) << special;
    EXPECT_THAT(status.message(), HasSubstr("table s.t column c key (1)"));
    value = std::string(special);
    EXPECT_FALSE(Fit("double precision", &value).ok()) << special;
  }
  std::string value = "1e-45";  // The smallest REAL subnormal, as PostgreSQL prints it.
  absl::Status status = Fit("real", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("subnormal"));
  value = "1.1754944e-38";
  EXPECT_TRUE(Fit("real", &value).ok());
  value = "1e-45";  // Normal for DOUBLE PRECISION.
  EXPECT_TRUE(Fit("double precision", &value).ok());
  value = "5e-324";
  EXPECT_FALSE(Fit("double precision", &value).ok());
  value = "-0";
  EXPECT_TRUE(Fit("real", &value).ok());
  value = "3.4028235e+38";
  EXPECT_TRUE(Fit("real", &value).ok());
}

// Issue 12 item 6: scales Redshift refuses keep the exact text.
TEST(TypeMappingTest, NumericScalesRedshiftRefusesBecomeText) {
  EXPECT_EQ(Redshift("numeric(38,37)"), "NUMERIC(38,37)");
  EXPECT_EQ(Redshift("numeric(38,38)"), "VARCHAR(256)");
  EXPECT_EQ(Redshift("numeric(2,5)"), "VARCHAR(256)");
  EXPECT_EQ(Redshift("numeric(3,-2)"), "VARCHAR(256)");
  TypeMappingOptions wide;
  wide.unconstrained_numeric_scale = 40;
  EXPECT_EQ(Redshift("numeric", wide), "NUMERIC(38,37)");
}

// Issue 12 item 5: SUPER's documented limits fail before upload.
TEST(TypeMappingTest, SuperLimitsFailNamingTheValue) {
  std::string value = R"({"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]})";
  EXPECT_TRUE(Fit("json", &value).ok());
  value = R"({"a": 1, "b": 2, "a": 3})";
  absl::Status status = Fit("json", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("table s.t column c key (1)"));
  EXPECT_THAT(status.message(), HasSubstr("`a` appears twice"));
  value = R"([{"x": {"k": 1, "k": 1}}])";
  EXPECT_FALSE(Fit("json", &value).ok());
  value = absl::StrCat("{\"k\": \"", std::string(65536, 'x'), "\"}");
  status = Fit("jsonb", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("65536 bytes"));
  value = absl::StrCat("\"", std::string(65535, 'x'), "\"");
  EXPECT_TRUE(Fit("jsonb", &value).ok());
  value = "null";
  EXPECT_TRUE(Fit("json", &value).ok());
  // The same document as text is kept whole.
  TypeMappingOptions text;
  text.json_as_super = false;
  value = R"({"a": 1, "a": 3})";
  EXPECT_TRUE(FitValueForRedshift(RedshiftTypeFor("json", text), OverflowPolicy::kFail, "w", &value,
                                  nullptr)
                  .ok());
}

// Issue 12 item 11: an empty bytea would load as NULL.
TEST(TypeMappingTest, EmptyByteaFailsUnlessTruncating) {
  std::string value = "\\x";
  absl::Status status = Fit("bytea", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("empty bytea"));
  value = "\\x";
  EXPECT_TRUE(Fit("bytea", &value, OverflowPolicy::kTruncate).ok());
  EXPECT_EQ(value, "");
}

TEST(TypeMappingTest, ByteaBecomesBareHex) {
  std::string value = "\\x00ff10";
  ASSERT_TRUE(Fit("bytea", &value).ok());
  EXPECT_EQ(value, "00ff10");
  value = "\\000";
  EXPECT_EQ(Fit("bytea", &value).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TypeMappingTest, OverlongStringsFailOrTruncateAtACharacterBoundary) {
  std::string value = std::string(65534, 'a') + "é";  // 65536 bytes.
  absl::Status status = Fit("text", &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("65536 bytes exceeds VARCHAR(65535)"));
  uint64_t truncated = 0;
  ASSERT_TRUE(Fit("text", &value, OverflowPolicy::kTruncate, &truncated).ok());
  EXPECT_EQ(value, std::string(65534, 'a'));  // `é` did not fit whole.
  EXPECT_EQ(truncated, 1u);
  // A widenable VARCHAR may grow to the maximum, so 300 bytes fit.
  value = std::string(300, 'x');
  EXPECT_TRUE(Fit("character varying", &value).ok());
  value = std::string(81, 'x');
  EXPECT_FALSE(Fit("character varying(20)", &value).ok());
}

TEST(TypeMappingTest, TruncateUtf8NeverSplitsACharacter) {
  EXPECT_EQ(TruncateUtf8("abc", 5), "abc");
  EXPECT_EQ(TruncateUtf8("a😀", 4), "a");
  EXPECT_EQ(TruncateUtf8("a😀", 5), "a😀");
  EXPECT_EQ(TruncateUtf8("ééé", 3), "é");
  EXPECT_EQ(TruncateUtf8("😀", 0), "");
}

TEST(TypeMappingTest, RedshiftValueFormatterFormatsOnlyWhatNeedsIt) {
  TypeMappingOptions options;
  options.overflow = OverflowPolicy::kTruncate;
  RedshiftValueFormatter formatter(options);
  EXPECT_FALSE(formatter.Formats({"id", "integer"}));
  EXPECT_FALSE(formatter.Formats({"flag", "boolean"}));
  EXPECT_TRUE(formatter.Formats({"blob", "bytea"}));
  std::string out;
  ASSERT_TRUE(formatter.Format({"blob", "bytea"}, "\\xabcd", &out).ok());
  EXPECT_EQ(out, "abcd");
  out.clear();
  absl::Status status = formatter.Format({"total", "numeric"}, "NaN", &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("column total"));
  out.clear();
  ASSERT_TRUE(formatter.Format({"body", "text"}, std::string(70000, 'z'), &out).ok());
  EXPECT_EQ(out.size(), 65535u);
  EXPECT_EQ(formatter.truncated_values(), 1u);
}

}  // namespace
}  // namespace re_dms
