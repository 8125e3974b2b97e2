// Every line PostgreSQL's own test_decoding regression tests show the plugin
// emitting (tests/testdata/test_decoding/README.md) must parse, as the kind
// its leading words name.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/parser.h"

namespace re_dms {
namespace {

constexpr char kLinesPath[] = "tests/testdata/test_decoding/pg18-regression-lines.txt";

std::string ReadLines() {
  std::ifstream in(kLinesPath, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The kind a line's leading words announce, decided independently of the
// parser's own grammar.
RecordKind ExpectedKind(absl::string_view line) {
  if (absl::StartsWith(line, "BEGIN")) return RecordKind::kBegin;
  if (absl::StartsWith(line, "COMMIT PREPARED") || absl::StartsWith(line, "PREPARE TRANSACTION") ||
      absl::StartsWith(line, "ROLLBACK PREPARED")) {
    return RecordKind::kTwoPhase;
  }
  if (absl::StartsWith(line, "COMMIT")) return RecordKind::kCommit;
  if (absl::StartsWith(line, "message:")) return RecordKind::kMessage;
  if (absl::StartsWith(line, "table ")) {
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
    for (absl::string_view word : words) {
      if (word == "INSERT:") return RecordKind::kInsert;
      if (word == "UPDATE:") return RecordKind::kUpdate;
      if (word == "DELETE:") return RecordKind::kDelete;
      if (word == "TRUNCATE:") return RecordKind::kTruncate;
    }
  }
  return RecordKind::kStream;
}

class ParserRegressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = ReadLines();
    ASSERT_FALSE(text_.empty()) << "cannot read " << kLinesPath;
    lines_ = absl::StrSplit(text_, '\n', absl::SkipEmpty());
    ASSERT_EQ(lines_.size(), 530u);
  }

  std::string text_;
  std::vector<absl::string_view> lines_;
};

TEST_F(ParserRegressionTest, EveryLineParsesAsItsKind) {
  for (size_t i = 0; i < lines_.size(); ++i) {
    Parser parser;
    Record record;
    parser.Feed(lines_[i]);
    parser.Feed("\n");
    absl::StatusOr<bool> got = parser.Next(&record);
    ASSERT_TRUE(got.ok()) << "line " << i + 1 << ": " << got.status();
    ASSERT_TRUE(*got) << "line " << i + 1 << " is incomplete";
    EXPECT_EQ(RecordKindName(record.kind), RecordKindName(ExpectedKind(lines_[i])))
        << "line " << i + 1;
    EXPECT_TRUE(parser.Finish().ok()) << "line " << i + 1;
  }
}

TEST_F(ParserRegressionTest, WholeFileIsOneStreamOfRecordsOnePerLine) {
  Parser parser;
  Record record;
  parser.Feed(text_);
  uint64_t count = 0;
  for (;;) {
    absl::StatusOr<bool> got = parser.Next(&record);
    ASSERT_TRUE(got.ok()) << got.status();
    if (!*got) break;
    ++count;
    EXPECT_EQ(record.line, count);
  }
  EXPECT_EQ(count, lines_.size());
  EXPECT_TRUE(parser.Finish().ok());
}

// Parses the first line starting with `prefix`.
Record ParseLineStartingWith(const std::vector<absl::string_view>& lines,
                             absl::string_view prefix, Parser* parser) {
  Record record;
  for (absl::string_view line : lines) {
    if (!absl::StartsWith(line, prefix)) continue;
    parser->Feed(line);
    parser->Feed("\n");
    absl::StatusOr<bool> got = parser->Next(&record);
    EXPECT_TRUE(got.ok() && *got) << line;
    return record;
  }
  ADD_FAILURE() << "no line starts with " << prefix;
  return record;
}

TEST_F(ParserRegressionTest, SpotChecks) {
  {
    Parser parser;
    Record r = ParseLineStartingWith(lines_, "table public.tr_etoomuch: UPDATE: old-key:", &parser);
    EXPECT_EQ(r.table.schema, "public");
    EXPECT_EQ(r.table.name, "tr_etoomuch");
    ASSERT_EQ(r.old_key.size(), 1u);
    EXPECT_EQ(r.old_key[0].text, "5000");
    ASSERT_EQ(r.columns.size(), 2u);
    EXPECT_EQ(r.columns[0].text, "-5000");
    EXPECT_EQ(r.columns[1].type, "integer");
  }
  {
    Parser parser;
    Record r = ParseLineStartingWith(lines_, "table public.tab1: TRUNCATE: restart_seqs", &parser);
    EXPECT_TRUE(r.restart_seqs);
    EXPECT_TRUE(r.cascade);
  }
  {
    // A value holding test_decoding output quoted twice over.
    Parser parser;
    Record r = ParseLineStartingWith(
        lines_,
        "table public.changeresult: INSERT: data[text]:'table public.changeresult: INSERT: "
        "data[text]:''table public.changeresult: INSERT: data[text]:''''BEGIN",
        &parser);
    ASSERT_EQ(r.columns.size(), 1u);
    EXPECT_EQ(r.columns[0].text,
              "table public.changeresult: INSERT: data[text]:'table public.changeresult: "
              "INSERT: data[text]:''BEGIN'''");
  }
  {
    Parser parser;
    Record r = ParseLineStartingWith(
        lines_, "table public.toasttable: INSERT: id[integer]:2 toasted_col1[text]:null", &parser);
    ASSERT_EQ(r.columns.size(), 5u);
    EXPECT_EQ(r.columns[1].kind, ValueKind::kNull);
    EXPECT_EQ(r.columns[3].name, "toasted_col2");
    EXPECT_EQ(r.columns[3].text.size(), 100000u);
    EXPECT_TRUE(absl::StartsWith(r.columns[3].text, "00010002"));
    EXPECT_EQ(r.columns[4].type, "double precision");
  }
  {
    Parser parser;
    Record r = ParseLineStartingWith(lines_, "table public.toasttable: UPDATE: id[integer]:1 "
                                             "toasted_col1[text]:unchanged-toast-datum",
                                     &parser);
    EXPECT_EQ(r.columns[1].kind, ValueKind::kUnchangedToast);
  }
  {
    Parser parser;
    Record r = ParseLineStartingWith(lines_, "message: transactional: 1 prefix: test, sz: 11",
                                     &parser);
    EXPECT_TRUE(r.transactional);
    EXPECT_EQ(r.prefix, "test");
    EXPECT_EQ(r.content, "czechtastic");
  }
  {
    Parser parser;
    Record r = ParseLineStartingWith(lines_, "streaming message: transactional: 1", &parser);
    EXPECT_EQ(r.kind, RecordKind::kStream);
    EXPECT_EQ(r.raw, "streaming message: transactional: 1 prefix: test, sz: 50");
  }
}

}  // namespace
}  // namespace re_dms
