#include "re_dms/parser.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace re_dms {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string DescribeTuple(const std::vector<Column>& columns) {
  std::vector<std::string> parts;
  for (const Column& column : columns) {
    std::string value;
    switch (column.kind) {
      case ValueKind::kText:
        value = absl::StrCat("<", column.text, ">");
        break;
      case ValueKind::kNull:
        value = "NULL";
        break;
      case ValueKind::kUnchangedToast:
        value = "TOAST";
        break;
    }
    parts.push_back(absl::StrCat(column.name, "[", column.type, "]=", value));
  }
  return absl::StrJoin(parts, " ");
}

// Everything a Record says, as one string, so tests compare whole records.
std::string Describe(const Record& record) {
  std::string out = std::string(RecordKindName(record.kind));
  if (record.xid.has_value()) absl::StrAppend(&out, " xid=", *record.xid);
  if (!record.commit_time.empty()) absl::StrAppend(&out, " at=", record.commit_time);
  switch (record.kind) {
    case RecordKind::kInsert:
    case RecordKind::kUpdate:
    case RecordKind::kDelete:
      absl::StrAppend(&out, " ", record.table.schema, "|", record.table.name);
      if (record.has_old_key) absl::StrAppend(&out, " old{", DescribeTuple(record.old_key), "}");
      if (record.no_tuple_data) absl::StrAppend(&out, " no-tuple-data");
      absl::StrAppend(&out, " {", DescribeTuple(record.columns), "}");
      break;
    case RecordKind::kTruncate:
      for (const TableRef& table : record.truncated) {
        absl::StrAppend(&out, " ", table.schema, "|", table.name);
      }
      if (record.restart_seqs) absl::StrAppend(&out, " restart_seqs");
      if (record.cascade) absl::StrAppend(&out, " cascade");
      break;
    case RecordKind::kMessage:
      absl::StrAppend(&out, " tx=", record.transactional, " prefix=<", record.prefix, "> content=<",
                      record.content, ">");
      break;
    case RecordKind::kTwoPhase:
    case RecordKind::kStream:
      absl::StrAppend(&out, " raw=<", record.raw, ">");
      break;
    case RecordKind::kBegin:
    case RecordKind::kCommit:
      break;
  }
  absl::StrAppend(&out, " @", record.offset, ":", record.line);
  return out;
}

struct Outcome {
  std::vector<std::string> records;
  absl::Status status;
};

// Feeds `chunks` one after the other, draining records after each, then
// finishes.
Outcome ParseChunks(const std::vector<absl::string_view>& chunks, ParserOptions options = {}) {
  Parser parser(options);
  Record record;
  Outcome outcome;
  for (absl::string_view chunk : chunks) {
    parser.Feed(chunk);
    for (;;) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) {
        outcome.status = got.status();
        return outcome;
      }
      if (!*got) break;
      outcome.records.push_back(Describe(record));
    }
  }
  outcome.status = parser.Finish();
  return outcome;
}

Outcome Parse(absl::string_view input) { return ParseChunks({input}); }

// The excerpt shows whatever was buffered when the error was found, so only
// the part of an error before it must be independent of the chunking.
std::string WithoutExcerpt(const absl::Status& status) {
  std::string text = status.ToString();
  return text.substr(0, text.find(": near "));
}

// Parses `input` whole, then split in two at every byte boundary, then one
// byte at a time: the chunking must never change the outcome.
Outcome ParseEverySplit(absl::string_view input) {
  Outcome whole = Parse(input);
  for (size_t split = 0; split <= input.size(); ++split) {
    Outcome halves = ParseChunks({input.substr(0, split), input.substr(split)});
    EXPECT_EQ(halves.records, whole.records) << "split at " << split;
    EXPECT_EQ(WithoutExcerpt(halves.status), WithoutExcerpt(whole.status)) << "split at " << split;
  }
  std::vector<absl::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  Outcome single = ParseChunks(bytes);
  EXPECT_EQ(single.records, whole.records);
  EXPECT_EQ(WithoutExcerpt(single.status), WithoutExcerpt(whole.status));
  return whole;
}

TEST(ParserTest, TransactionFraming) {
  Outcome out = ParseEverySplit(
      "BEGIN 529\n"
      "COMMIT 529\n"
      "BEGIN\n"
      "COMMIT\n"
      "COMMIT 10299 (at 2017-05-10 12:07:21.272494-04)\n"
      "COMMIT (at 2000-01-01 00:00:00+00)\n");
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(out.records,
              ElementsAre("begin xid=529 @0:1", "commit xid=529 @10:2", "begin @21:3",
                          "commit @27:4", "commit xid=10299 at=2017-05-10 12:07:21.272494-04 @34:5",
                          "commit at=2000-01-01 00:00:00+00 @82:6"));
}

TEST(ParserTest, InsertWithEveryKindOfValue) {
  Outcome out = ParseEverySplit(
      "table public.t: INSERT: id[integer]:1 f[double precision]:NaN g[real]:-Infinity "
      "h[numeric]:Infinity b[boolean]:true bits[bit varying]:B'1010' e2[bit]:B'' n[text]:null "
      "s[text]:'O''Brien' e[text]:'' w[text]:'null' bs[text]:'a\\b\\\\c' "
      "big[text]:unchanged-toast-datum\n");
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(out.records,
              ElementsAre("insert public|t {id[integer]=<1> f[double precision]=<NaN> "
                          "g[real]=<-Infinity> h[numeric]=<Infinity> b[boolean]=<true> "
                          "bits[bit varying]=<1010> e2[bit]=<> n[text]=NULL s[text]=<O'Brien> "
                          "e[text]=<> w[text]=<null> bs[text]=<a\\b\\\\c> big[text]=TOAST} @0:1"));
}

TEST(ParserTest, QuotedIdentifiersAndTypes) {
  Outcome out = ParseEverySplit(
      "table \"Weird Schema\".\"Mixed Case Table\": INSERT: \"select\"[integer]:1 "
      "\"we\"\"ird\"[\"Weird Schema\".\"my]:type\"]:'x' \"a.b\"[integer[]]:'{1,2}' "
      "ts[timestamp with time zone]:'2020-01-01 00:00:00+00' m[public.mood]:'ok' "
      "\"Col \"\"1\"\"\"[character varying[]]:'{\"a b\",NULL}'\n"
      "table \"a\"\"b\".\"x.y\": DELETE: id[integer]:2\n");
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(out.records,
              ElementsAre("insert Weird Schema|Mixed Case Table {select[integer]=<1> "
                          "we\"ird[\"Weird Schema\".\"my]:type\"]=<x> a.b[integer[]]=<{1,2}> "
                          "ts[timestamp with time zone]=<2020-01-01 00:00:00+00> "
                          "m[public.mood]=<ok> Col \"1\"[character varying[]]=<{\"a b\",NULL}>} "
                          "@0:1",
                          "delete a\"b|x.y {id[integer]=<2>} @257:2"));
}

TEST(ParserTest, ValuesSpanLinesAndLookLikeRecords) {
  std::string input =
      "BEGIN 7\n"
      "table public.t: INSERT: a[text]:'line1\nBEGIN 8\nCOMMIT 9\n"
      "table public.x: INSERT: y[integer]:1\nnull\n' b[text]:'cr\r\nlf\ttab' "
      "c[text]:'quote at end'''\n"
      "COMMIT 7\n";
  Outcome out = ParseEverySplit(input);
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(out.records,
              ElementsAre("begin xid=7 @0:1",
                          "insert public|t {a[text]=<line1\nBEGIN 8\nCOMMIT 9\ntable public.x: "
                          "INSERT: y[integer]:1\nnull\n> b[text]=<cr\r\nlf\ttab> "
                          "c[text]=<quote at end'>} @8:2",
                          absl::StrCat("commit xid=7 @", input.size() - 9, ":9")));
}

// The parser remembers the previous row's column headers; rows that repeat,
// change or interleave them must all read the same as on their own.
TEST(ParserTest, RepeatedAndChangingColumnHeaders) {
  std::vector<std::string> rows = {
      "table public.t: INSERT: \"we\"\"ird\"[integer]:1 b[text]:'x'\n",
      "table public.t: INSERT: \"we\"\"ird\"[integer]:2 b[text]:'y'\n",
      "table public.t: INSERT: \"we\"\"ird\"[bigint]:3 b[text]:'z' c[text]:null\n",
      "table public.u: DELETE: \"we\"\"ird\"[bigint]:4\n",
      "table public.t: INSERT: \"we\"\"ird\"[bigint]:5 b[text]:'z' c[text]:'c'\n",
      "table public.t: INSERT: we[bigint]:6\n",
  };
  std::string stream = absl::StrJoin(rows, "");
  Outcome together = ParseEverySplit(stream);
  ASSERT_TRUE(together.status.ok()) << together.status;
  std::vector<std::string> alone;
  uint64_t offset = 0;
  for (const std::string& row : rows) {
    Outcome one = Parse(row);
    ASSERT_TRUE(one.status.ok()) << one.status;
    ASSERT_EQ(one.records.size(), 1u);
    std::string record = one.records[0];
    alone.push_back(
        absl::StrCat(record.substr(0, record.rfind(" @")), " @", offset, ":", alone.size() + 1));
    offset += row.size();
  }
  EXPECT_EQ(together.records, alone);
  EXPECT_EQ(together.records[1], "insert public|t {we\"ird[integer]=<2> b[text]=<y>} @57:2");
}

TEST(ParserTest, UpdatesAndDeletes) {
  Outcome out = ParseEverySplit(
      "table public.t: UPDATE: id[integer]:1 v[text]:'x'\n"
      "table public.t: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2 v[text]:'y'\n"
      "table public.t: UPDATE: old-key: new-tuple: id[integer]:3\n"
      "table public.t: UPDATE: (no-tuple-data)\n"
      "table public.t: DELETE: id[integer]:2\n"
      "table public.t: DELETE: (no-tuple-data)\n"
      "table public.t: INSERT: (no-tuple-data)\n"
      "table public.empty: INSERT:\n");
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(
      out.records,
      ElementsAre("update public|t {id[integer]=<1> v[text]=<x>} @0:1",
                  "update public|t old{id[integer]=<1>} {id[integer]=<2> v[text]=<y>} @50:2",
                  "update public|t old{} {id[integer]=<3>} @134:3",
                  "update public|t no-tuple-data {} @192:4",
                  "delete public|t {id[integer]=<2>} @232:5",
                  "delete public|t no-tuple-data {} @270:6",
                  "insert public|t no-tuple-data {} @310:7", "insert public|empty {} @350:8"));
}

TEST(ParserTest, Truncate) {
  Outcome out = ParseEverySplit(
      "table public.a: TRUNCATE: (no-flags)\n"
      "table public.a, \"S\".\"b, c\": TRUNCATE: restart_seqs\n"
      "table public.a: TRUNCATE: cascade\n"
      "table public.a, public.b: TRUNCATE: restart_seqs cascade\n");
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(out.records,
              ElementsAre("truncate public|a @0:1", "truncate public|a S|b, c restart_seqs @37:2",
                          "truncate public|a cascade @88:3",
                          "truncate public|a public|b restart_seqs cascade @122:4"));
}

TEST(ParserTest, Messages) {
  Outcome out = ParseEverySplit(
      "message: transactional: 1 prefix: test, sz: 14 content:tx logical msg\n"
      "message: transactional: 0 prefix: p, sz: 10 content:a\nb\nCOMMIT\n"
      "message: transactional: 0 prefix: odd, sz: 9 content:x\n, sz: 3 content:abc\n"
      "message: transactional: 1 prefix: , sz: 0 content:\n");
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(out.records,
              ElementsAre("message tx=1 prefix=<test> content=<tx logical msg> @0:1",
                          "message tx=0 prefix=<p> content=<a\nb\nCOMMIT> @70:2",
                          "message tx=0 prefix=<odd, sz: 9 content:x\n> content=<abc> @133:5",
                          "message tx=1 prefix=<> content=<> @208:7"));
}

TEST(ParserTest, TwoPhaseAndStreamingLinesAreNotData) {
  Outcome out = ParseEverySplit(
      "PREPARE TRANSACTION 'test_prepared1', txid 529 (at 2020-01-01 00:00:00+00)\n"
      "COMMIT PREPARED 'it''s', txid 529\n"
      "ROLLBACK PREPARED E'a\\\\b'\n"
      "opening a streamed block for transaction TXN 503\n"
      "streaming change for TXN 503\n"
      "streaming truncate for transaction\n"
      "streaming message: transactional: 1 prefix: test, sz: 50\n"
      "streaming message: transactional: 0 prefix: test, sz: 4 content:x\nyz\n"
      "closing a streamed block for transaction\n"
      "aborting streamed (sub)transaction TXN 505\n"
      "committing streamed transaction TXN 503 (at 2020-01-01 00:00:00+00)\n"
      "preparing streamed transaction TXN 'test1', txid 503\n"
      "preparing streamed transaction 'test1'\n");
  ASSERT_TRUE(out.status.ok()) << out.status;
  ASSERT_EQ(out.records.size(), 13u);
  EXPECT_EQ(out.records[0],
            "two_phase xid=529 at=2020-01-01 00:00:00+00 raw=<PREPARE TRANSACTION "
            "'test_prepared1', txid 529 (at 2020-01-01 00:00:00+00)> @0:1");
  EXPECT_EQ(out.records[2], "two_phase raw=<ROLLBACK PREPARED E'a\\\\b'> @109:3");
  EXPECT_EQ(out.records[3],
            "stream xid=503 raw=<opening a streamed block for transaction TXN 503> @135:4");
  EXPECT_EQ(out.records[7],
            "stream raw=<streaming message: transactional: 0 prefix: test, sz: 4 "
            "content:x\nyz> @305:8");
  EXPECT_EQ(out.records[11],
            "stream xid=503 raw=<preparing streamed transaction TXN 'test1', txid 503> @526:13");
  for (const std::string& record : out.records) {
    EXPECT_THAT(record, ::testing::AnyOf(::testing::StartsWith("two_phase"),
                                         ::testing::StartsWith("stream")));
  }
}

TEST(ParserTest, InvalidUtf8PassesThroughUnchanged) {
  std::string value = "\xff\xfe\xc3(\x80";
  Outcome out = ParseEverySplit(absl::StrCat("table public.t: INSERT: \"\xe9\"[text]:'", value,
                                             "'\nmessage: transactional: 0 prefix: \xff, sz: 5 "
                                             "content:",
                                             value, "\n"));
  ASSERT_TRUE(out.status.ok()) << out.status;
  EXPECT_THAT(out.records,
              ElementsAre(absl::StrCat("insert public|t {\xe9[text]=<", value, ">} @0:1"),
                          absl::StrCat("message tx=0 prefix=<\xff> content=<", value, "> @42:2")));
}

TEST(ParserTest, ViewsSurviveUntilNextCallAndBufferIsCompacted) {
  Parser parser;
  Record record;
  std::string line = "table public.t: INSERT: id[integer]:1 v[text]:'it''s'\n";
  for (int i = 0; i < 10000; ++i) {
    parser.Feed(line);
    absl::StatusOr<bool> got = parser.Next(&record);
    ASSERT_TRUE(got.ok() && *got);
    ASSERT_EQ(record.columns.size(), 2u);
    EXPECT_EQ(record.columns[1].text, "it's");
    EXPECT_EQ(record.offset, i * line.size());
    EXPECT_EQ(record.line, static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(parser.bytes_consumed(), 10000 * line.size());
  EXPECT_TRUE(parser.Finish().ok());
}

TEST(ParserTest, EndingMidRecordIsAnError) {
  for (absl::string_view input :
       {"BEGIN 5", "table public.t: INSERT: v[text]:'unterminated\n",
        "message: transactional: 1 prefix: p, sz: 10 content:short\n", "COMMIT 5 (at 2020"}) {
    Outcome out = ParseEverySplit(absl::StrCat("BEGIN 1\n", input));
    EXPECT_EQ(out.status.code(), absl::StatusCode::kDataLoss) << input;
    EXPECT_THAT(out.status.message(), HasSubstr("byte offset 8, line 2")) << input;
    EXPECT_THAT(out.records, ElementsAre("begin xid=1 @0:1"));
  }
}

TEST(ParserTest, MalformedInputNamesOffsetLineAndTable) {
  struct Case {
    absl::string_view input;
    absl::string_view message;
  };
  const Case kCases[] = {
      {"BEGIN 1\nhello world\n", "unknown record at byte offset 8, line 2"},
      {"BEGIN x\n", "expected a number at byte offset 6, line 1"},
      {"BEGIN 99999999999\n", "number out of range"},
      {"table public.t: UPSERT: a[integer]:1\n", "expected INSERT:, UPDATE:, DELETE: or TRUNCATE:"},
      {"table public.t: INSERT: a[text]:'x'y\n",
       "after the value of column \"a\" at byte offset 35, line 1, table public.t"},
      {"table public.t: INSERT: a[text]:'a\nb'c\n", "at byte offset 37, line 2, table public.t"},
      {"table public.t: INSERT: a[integer]:\n", "empty value for column \"a\""},
      {"table public.t: INSERT: a[integer]:1  b[integer]:2\n", "expected an identifier"},
      {"table public.t INSERT: a[integer]:1\n", "expected \": \""},
      {"table public.a, public.b: INSERT: a[integer]:1\n", "names 2 tables"},
      {"table public.a: TRUNCATE: sometimes\n", "expected (no-flags), restart_seqs or cascade"},
      {"COMMIT 5 (at 2020\n", "unterminated \"(at\" timestamp"},
      {"message: transactional: 2 prefix: p, sz: 1 content:x\n", "expected 0 or 1"},
      {"streaming change for TXN x\n", "unexpected text in a two-phase or streaming record"},
  };
  for (const Case& c : kCases) {
    Outcome out = ParseEverySplit(c.input);
    EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument) << c.input;
    EXPECT_THAT(out.status.message(), HasSubstr(c.message)) << c.input;
    EXPECT_THAT(out.status.message(), HasSubstr("near \"")) << c.input;
  }
}

// print_literal() prints only a few built-in types bare and all others
// quoted; the other form of either is corruption or a foreign stream.
TEST(ParserTest, EachTypeHasOneValueForm) {
  Outcome good = ParseEverySplit(
      "table public.t: INSERT: a[smallint]:-32768 b[bigint]:9223372036854775807 c[oid]:4294967295 "
      "d[real]:1.5e-05 e[double precision]:-1e+100 f[numeric]:-0.000120 g[numeric]:NaN "
      "h[boolean]:false i[bit]:B'1' j[integer]:null k[integer[]]:'{1,2}' l[text]:'5' "
      "m[public.integer]:'7' n[\"integer\"]:'8' o[bigint]:unchanged-toast-datum\n");
  ASSERT_TRUE(good.status.ok()) << good.status;
  EXPECT_THAT(good.records,
              ElementsAre("insert public|t {a[smallint]=<-32768> b[bigint]=<9223372036854775807> "
                          "c[oid]=<4294967295> d[real]=<1.5e-05> e[double precision]=<-1e+100> "
                          "f[numeric]=<-0.000120> g[numeric]=<NaN> h[boolean]=<false> "
                          "i[bit]=<1> j[integer]=NULL k[integer[]]=<{1,2}> l[text]=<5> "
                          "m[public.integer]=<7> n[\"integer\"]=<8> o[bigint]=TOAST} @0:1"));

  struct Case {
    absl::string_view input;
    absl::string_view message;
  };
  const Case kCases[] = {
      {"table public.t: INSERT: x[text]:oops\n",
       "unquoted value for column \"x\" of type text: test_decoding prints a quoted literal at "
       "byte offset 32, line 1, table public.t"},
      {"table public.t: INSERT: x[integer[]]:{1,2}\n", "unquoted value for column \"x\""},
      {"table public.t: INSERT: x[public.integer]:7\n", "unquoted value for column \"x\""},
      {"table public.t: INSERT: x[character varying]:NULL\n", "unquoted value"},
      {"table public.t: INSERT: x[timestamp with time zone]:2020-01-01\n", "unquoted value"},
      {"table public.t: INSERT: x[integer]:1x\n", "test_decoding prints an integer"},
      {"table public.t: INSERT: x[integer]:-\n", "test_decoding prints an integer"},
      {"table public.t: INSERT: x[oid]:-1\n", "prints an unsigned integer"},
      {"table public.t: INSERT: x[numeric]:abc\n", "prints a number"},
      {"table public.t: INSERT: x[real]:.5\n", "prints a number"},
      {"table public.t: INSERT: x[boolean]:t\n", "prints true or false"},
      {"table public.t: INSERT: x[bit]:0101\n", "prints a bit string B'...'"},
      {"table public.t: INSERT: x[bit varying]:B'012'\n", "prints a bit string"},
      {"table public.t: INSERT: a[text]:'ok' x[integer]:'5'\n",
       "quoted value for column \"x\" of type integer, which test_decoding prints as an integer "
       "at byte offset 48, line 1"},
      {"BEGIN 1\ntable public.t: UPDATE: old-key: x[text]:k new-tuple: x[text]:'k'\n",
       "unquoted value for column \"x\" of type text: test_decoding prints a quoted literal at "
       "byte offset 49, line 2"},
  };
  for (const Case& c : kCases) {
    Outcome out = ParseEverySplit(c.input);
    EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument) << c.input;
    EXPECT_THAT(out.status.message(), HasSubstr(c.message)) << c.input;
  }
}

// The header cache must not carry one column's value form to another type.
TEST(ParserTest, ValueFormFollowsTheTypeAcrossCachedRows) {
  Outcome out = ParseEverySplit(
      "table public.t: INSERT: a[integer]:1\n"
      "table public.t: INSERT: a[text]:1\n");
  EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status.message(), HasSubstr("line 2"));
  EXPECT_THAT(out.records, ElementsAre("insert public|t {a[integer]=<1>} @0:1"));
}

TEST(ParserTest, ErrorsAreStickyAndExcerptsEscaped) {
  Parser parser;
  Record record;
  parser.Feed("\x01garbage\n");
  absl::StatusOr<bool> first = parser.Next(&record);
  ASSERT_FALSE(first.ok());
  EXPECT_THAT(first.status().message(), HasSubstr("<HERE>\\x01garbage\\n"));
  parser.Feed("BEGIN 1\n");
  EXPECT_EQ(parser.Next(&record).status(), first.status());
  EXPECT_EQ(parser.Finish(), first.status());
}

TEST(ParserTest, RecordLargerThanTheLimitFails) {
  ParserOptions options;
  options.max_record_bytes = 64;
  Outcome out = ParseChunks(
      {"BEGIN 1\n", "table public.t: INSERT: v[text]:'", std::string(100, 'x')}, options);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(out.status.message(), HasSubstr("byte offset 8, line 2 exceeds 64 bytes"));
}

TEST(ParserTest, FinishWithUnreadRecordsIsAMisuse) {
  Parser parser;
  parser.Feed("BEGIN 1\n");
  EXPECT_EQ(parser.Finish().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace re_dms
