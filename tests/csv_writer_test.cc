#include "re_dms/csv_writer.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "re_dms/compression.h"

namespace re_dms {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::string_literals;

// A fresh spool directory under the test's temporary directory.
std::string MakeSpool() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/spool.XXXXXX");
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

std::vector<std::string> FilesIn(const std::string& directory) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string Decompressed(const std::string& path, Compression compression) {
  std::string out;
  absl::Status status = DecompressFile(path, compression, [&](absl::string_view bytes) {
    out.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// public.t (id integer, name text) with key id.
Batch TwoColumnBatch() {
  Batch batch;
  batch.schema = "public";
  batch.table = "t";
  batch.sequence = 7;
  batch.columns = {{"id", "integer"}, {"name", "text"}};
  batch.key_columns = {"id"};
  return batch;
}

CsvWriterOptions Options(const std::string& spool, Compression compression = Compression::kNone) {
  CsvWriterOptions options;
  options.spool_directory = spool;
  options.compression = compression;
  options.fsync = false;
  return options;
}

// Every hostile value, one per row, with the exact CSV each must become.
struct HostileValue {
  Datum value;
  std::string csv;  // For kPostgresCsv.
};

const std::vector<HostileValue>& HostileValues() {
  static const auto* values = new std::vector<HostileValue>{
      {std::nullopt, ""},
      {"", "\"\""},
      {"null", "\"null\""},
      {"NULL", "\"NULL\""},
      {"\\N", "\"\\N\""},
      {"\\.", "\"\\.\""},
      {"\"", "\"\"\"\""},
      {"\"\"", "\"\"\"\"\"\""},
      {"say \"hi\", then \"bye\"", "\"say \"\"hi\"\", then \"\"bye\"\"\""},
      {"a,b", "\"a,b\""},
      {"O'Brien", "\"O'Brien\""},
      {"line1\nline2", "\"line1\nline2\""},
      {"crlf\r\n", "\"crlf\r\n\""},
      {"\r", "\"\r\""},
      {"back\\slash\\", "\"back\\slash\\\""},
      {"tab\there", "\"tab\there\""},
      {"  padded  ", "\"  padded  \""},
      {"emoji \xF0\x9F\x98\x80 and \xC3\xA9", "\"emoji \xF0\x9F\x98\x80 and \xC3\xA9\""},
      // Not UTF-8: the writer passes bytes through; the target decides.
      {"\xFF\xFE bytes", "\"\xFF\xFE bytes\""},
  };
  return *values;
}

TEST(CsvWriter, WritesExactBytesForHostileValues) {
  for (const CsvDialect* dialect : {&kPostgresCsv, &kRedshiftCsv}) {
    std::string spool = MakeSpool();
    Batch batch = TwoColumnBatch();
    RowGroup group;
    group.columns = {0, 1};
    std::string expected;
    int id = 0;
    for (const HostileValue& hostile : HostileValues()) {
      group.rows.push_back({std::to_string(++id), hostile.value});
      std::string csv = hostile.value.has_value() ? hostile.csv : std::string(dialect->null_marker);
      absl::StrAppend(&expected, "\"", id, "\",", csv, "\n");
    }
    group.rows.push_back({std::nullopt, std::nullopt});
    absl::StrAppend(&expected, dialect->null_marker, ",", dialect->null_marker, "\n");
    batch.upserts.push_back(group);

    CsvWriterOptions options = Options(spool);
    options.dialect = *dialect;
    auto staged = CsvWriter(options).Write(batch);
    ASSERT_TRUE(staged.ok()) << staged.status();
    ASSERT_EQ(staged->files.size(), 1u);
    ASSERT_EQ(staged->files[0].local_paths.size(), 1u);
    EXPECT_EQ(ReadFile(staged->files[0].local_paths[0]), expected);
    EXPECT_EQ(staged->files[0].rows, group.rows.size());
  }
}

// The reference: CSV quoting as RFC 4180 states it, one byte at a time.
std::string NaivelyQuoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

TEST(CsvWriter, QuotesValuesOfEveryLengthAndMixLikeTheReference) {
  // Lengths around the 16-byte blocks of the scanner, quotes anywhere.
  std::mt19937 random(1);
  const std::string alphabet = "\"\"a,\n\r\\ \xC3\xA9x";
  Batch batch = TwoColumnBatch();
  batch.key_columns.clear();
  RowGroup group{{0, 1}, {}};
  std::string expected;
  for (int i = 0; i < 3000; ++i) {
    std::string value;
    size_t length = random() % 70;
    bool plain = i % 3 == 0;
    for (size_t j = 0; j < length; ++j) value += plain ? 'p' : alphabet[random() % alphabet.size()];
    group.rows.push_back({std::to_string(i), value});
    absl::StrAppend(&expected, "\"", i, "\",", NaivelyQuoted(value), "\n");
  }
  batch.upserts.push_back(group);
  std::string spool = MakeSpool();
  auto staged = CsvWriter(Options(spool)).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();
  EXPECT_TRUE(ReadFile(staged->files[0].local_paths[0]) == expected);
}

TEST(CsvWriter, FindsANulByteAnywhereInALongValue) {
  for (size_t position : {0, 15, 16, 17, 40, 63}) {
    std::string value(64, 'v');
    value[position] = '\0';
    Batch batch = TwoColumnBatch();
    batch.upserts.push_back({{0, 1}, {{"1", value}}});
    std::string spool = MakeSpool();
    auto staged = CsvWriter(Options(spool)).Write(batch);
    EXPECT_FALSE(staged.ok()) << "NUL at " << position;
    EXPECT_THAT(FilesIn(spool), IsEmpty());
  }
}

TEST(CsvWriter, RedshiftNullIsALoneNulByte) {
  std::string spool = MakeSpool();
  Batch batch = TwoColumnBatch();
  batch.upserts.push_back({{0, 1}, {{"1", std::nullopt}, {"2", ""}}});
  auto staged = CsvWriter(Options(spool)).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();
  EXPECT_EQ(ReadFile(staged->files[0].local_paths[0]), "\"1\",\0\n\"2\",\"\"\n"s);
}

TEST(CsvWriter, DataSetsNamesColumnsAndManifests) {
  std::string spool = MakeSpool();
  Batch batch;
  batch.schema = "Weird Schema";
  batch.table = "a.b\"c";
  batch.sequence = 42;
  batch.columns = {{"k2", "text"}, {"v", "text"}, {"k1", "integer"}, {"big", "text"}};
  batch.key_columns = {"k1", "k2"};
  batch.deletes = {{"1", "x"}, {"2", "y"}};
  batch.upserts.push_back({{0, 1, 2, 3}, {{"x", "v", "1", "big"}}});
  batch.upserts.push_back({{0, 2}, {}});                    // Empty: no files.
  batch.upserts.push_back({{0, 1, 2}, {{"z", "w", "3"}}});  // `big` unchanged (TOAST).
  auto staged = CsvWriter(Options(spool, Compression::kZstd)).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();

  const std::string table = "Weird-20Schema.a-2eb-22c";
  EXPECT_EQ(StagedTableName(batch.schema, batch.table), table);
  ASSERT_EQ(staged->files.size(), 3u);
  EXPECT_EQ(staged->files[0].role, StagedFile::Role::kDelete);
  EXPECT_THAT(staged->files[0].columns, ElementsAre("k1", "k2"));
  EXPECT_EQ(Basename(staged->files[0].local_paths[0]),
            table + ".000000000042.delete.part00001.csv.zst");
  EXPECT_EQ(Basename(staged->files[0].local_manifest_path),
            table + ".000000000042.delete.manifest.json");
  EXPECT_EQ(Decompressed(staged->files[0].local_paths[0], Compression::kZstd),
            "\"1\",\"x\"\n\"2\",\"y\"\n");

  EXPECT_EQ(staged->files[1].role, StagedFile::Role::kUpsert);
  EXPECT_THAT(staged->files[1].columns, ElementsAre("k2", "v", "k1", "big"));
  EXPECT_EQ(Basename(staged->files[1].local_paths[0]),
            table + ".000000000042.upsert-0.part00001.csv.zst");
  EXPECT_THAT(staged->files[2].columns, ElementsAre("k2", "v", "k1"));
  EXPECT_EQ(Basename(staged->files[2].local_paths[0]),
            table + ".000000000042.upsert-2.part00001.csv.zst");
  EXPECT_EQ(Decompressed(staged->files[2].local_paths[0], Compression::kZstd),
            "\"z\",\"w\",\"3\"\n");

  // The batch travels without its rows.
  EXPECT_EQ(staged->batch.table, batch.table);
  EXPECT_EQ(staged->batch.sequence, 42u);
  EXPECT_THAT(staged->batch.key_columns, ElementsAre("k1", "k2"));
  EXPECT_THAT(staged->batch.deletes, IsEmpty());
  EXPECT_THAT(staged->batch.upserts, IsEmpty());
  EXPECT_EQ(staged->compression, Compression::kZstd);

  // Nothing else in the spool: no temporary files, no empty data sets.
  EXPECT_EQ(FilesIn(spool).size(), 6u);
}

TEST(CsvWriter, NoKeyTableDeletesCarryWholeRows) {
  std::string spool = MakeSpool();
  Batch batch = TwoColumnBatch();
  batch.key_columns.clear();
  batch.deletes = {{"1", "dup"}, {"1", "dup"}, {"2", std::nullopt}};
  CsvWriterOptions options = Options(spool);
  options.dialect = kPostgresCsv;
  auto staged = CsvWriter(options).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();
  ASSERT_EQ(staged->files.size(), 1u);
  EXPECT_THAT(staged->files[0].columns, ElementsAre("id", "name"));
  EXPECT_EQ(ReadFile(staged->files[0].local_paths[0]), "\"1\",\"dup\"\n\"1\",\"dup\"\n\"2\",\n");
}

TEST(CsvWriter, TruncateAndSchemaChangeWriteNoFiles) {
  std::string spool = MakeSpool();
  for (Batch::Kind kind : {Batch::Kind::kTruncate, Batch::Kind::kSchemaChange}) {
    Batch batch = TwoColumnBatch();
    batch.kind = kind;
    batch.cascade = true;
    auto staged = CsvWriter(Options(spool)).Write(batch);
    ASSERT_TRUE(staged.ok()) << staged.status();
    EXPECT_THAT(staged->files, IsEmpty());
    EXPECT_EQ(staged->batch.kind, kind);
    EXPECT_TRUE(staged->batch.cascade);
  }
  EXPECT_THAT(FilesIn(spool), IsEmpty());
}

class CsvWriterParts : public ::testing::TestWithParam<Compression> {};

TEST_P(CsvWriterParts, SplitsAtTheSizeLimitWithAManifestOfEveryPart) {
  std::string spool = MakeSpool();
  Batch batch = TwoColumnBatch();
  RowGroup group{{0, 1}, {}};
  std::string whole;
  for (int i = 0; i < 1000; ++i) {
    std::string name = std::string(i % 37, 'x') + "\n\"";
    group.rows.push_back({std::to_string(i), name});
    absl::StrAppend(&whole, "\"", i, "\",\"", std::string(i % 37, 'x'), "\n\"\"\"\n");
  }
  batch.upserts.push_back(group);
  CsvWriterOptions options = Options(spool, GetParam());
  options.max_part_bytes = 4000;
  auto staged = CsvWriter(options).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();
  const StagedFile& file = staged->files.at(0);

  std::string joined;
  uint64_t bytes = 0;
  nlohmann::json manifest = nlohmann::json::parse(ReadFile(file.local_manifest_path));
  ASSERT_EQ(manifest["entries"].size(), file.local_paths.size());
  EXPECT_GE(file.local_paths.size(), whole.size() / 4000);
  for (size_t i = 0; i < file.local_paths.size(); ++i) {
    const std::string& path = file.local_paths[i];
    EXPECT_EQ(Basename(path),
              absl::StrCat("public.t.000000000007.upsert-0.part", absl::StrFormat("%05d", i + 1),
                           ".csv", CompressionSuffix(GetParam())));
    std::string part = Decompressed(path, GetParam());
    // Parts end on row boundaries and stay within one row of the limit.
    EXPECT_EQ(part.back(), '\n');
    EXPECT_LT(part.size(), 4000u + 60);
    joined += part;
    uint64_t size = ReadFile(path).size();
    bytes += size;
    EXPECT_EQ(manifest["entries"][i]["url"], path);
    EXPECT_EQ(manifest["entries"][i]["mandatory"], true);
    EXPECT_EQ(manifest["entries"][i]["meta"]["content_length"], size);
  }
  EXPECT_TRUE(joined == whole);
  EXPECT_EQ(file.bytes, bytes);
  EXPECT_EQ(file.rows, 1000u);
}

INSTANTIATE_TEST_SUITE_P(AllCompressions, CsvWriterParts,
                         ::testing::Values(Compression::kNone, Compression::kGzip,
                                           Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

// Bytea as bare hex, the way a Redshift VARBYTE target wants it.
class HexByteaFormatter final : public ValueFormatter {
 public:
  bool Formats(const ColumnDef& column) const override { return column.type == "bytea"; }
  absl::Status Format(const ColumnDef&, absl::string_view text, std::string* out) const override {
    if (text.substr(0, 2) != "\\x") return absl::InvalidArgumentError("not hex bytea output");
    out->append(text.data() + 2, text.size() - 2);
    return absl::OkStatus();
  }
};

TEST(CsvWriter, FormatterRewritesItsColumnsOnly) {
  std::string spool = MakeSpool();
  Batch batch = TwoColumnBatch();
  batch.columns = {{"id", "integer"}, {"data", "bytea"}, {"note", "text"}};
  batch.upserts.push_back({{0, 1, 2}, {{"1", "\\xdeadbeef", "\\xkeep"}, {"2", std::nullopt, ""}}});
  HexByteaFormatter formatter;
  CsvWriterOptions options = Options(spool);
  options.formatter = &formatter;
  auto staged = CsvWriter(options).Write(batch);
  ASSERT_TRUE(staged.ok()) << staged.status();
  EXPECT_EQ(ReadFile(staged->files[0].local_paths[0]),
            "\"1\",\"deadbeef\",\"\\xkeep\"\n\"2\",\0,\"\"\n"s);
}

TEST(CsvWriter, UnrepresentableValueNamesTableColumnAndKeyAndLeavesNothing) {
  std::string spool = MakeSpool();
  Batch batch = TwoColumnBatch();
  batch.columns = {{"id", "integer"}, {"data", "bytea"}};
  batch.deletes = {{"9"}};  // Written first, then removed.
  batch.upserts.push_back({{0, 1}, {{"1", "\\x00"}, {"2", "escape format"}}});
  HexByteaFormatter formatter;
  CsvWriterOptions options = Options(spool);
  options.formatter = &formatter;
  auto staged = CsvWriter(options).Write(batch);
  ASSERT_FALSE(staged.ok());
  EXPECT_EQ(staged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(staged.status().message(), HasSubstr("public.t"));
  EXPECT_THAT(staged.status().message(), HasSubstr("column data (bytea)"));
  EXPECT_THAT(staged.status().message(), HasSubstr("key (id)=(2)"));
  EXPECT_THAT(staged.status().message(), HasSubstr("not hex bytea output"));
  EXPECT_THAT(FilesIn(spool), IsEmpty());
}

TEST(CsvWriter, NulByteInAValueIsRefused) {
  std::string spool = MakeSpool();
  Batch batch = TwoColumnBatch();
  batch.key_columns.clear();
  batch.upserts.push_back({{0, 1}, {{"1", "ok"}, {"2", std::string("a\0b", 3)}}});
  auto staged = CsvWriter(Options(spool)).Write(batch);
  ASSERT_FALSE(staged.ok());
  EXPECT_THAT(staged.status().message(), HasSubstr("column name (text) of row 2 of upsert-0"));
  EXPECT_THAT(staged.status().message(), HasSubstr("NUL byte"));
  EXPECT_THAT(FilesIn(spool), IsEmpty());
}

TEST(CsvWriter, MalformedBatchesAreErrors) {
  std::string spool = MakeSpool();
  Batch wrong_width = TwoColumnBatch();
  wrong_width.upserts.push_back({{0, 1}, {{"1"}}});
  EXPECT_THAT(CsvWriter(Options(spool)).Write(wrong_width).status().message(),
              HasSubstr("upsert-0 row 1 has 1 values for 2 columns"));

  Batch bad_index = TwoColumnBatch();
  bad_index.upserts.push_back({{0, 5}, {{"1", "x"}}});
  EXPECT_THAT(CsvWriter(Options(spool)).Write(bad_index).status().message(),
              HasSubstr("column index 5"));

  Batch bad_key = TwoColumnBatch();
  bad_key.key_columns = {"nope"};
  bad_key.deletes = {{"1"}};
  EXPECT_THAT(CsvWriter(Options(spool)).Write(bad_key).status().message(),
              HasSubstr("key column nope"));
  EXPECT_THAT(FilesIn(spool), IsEmpty());
}

TEST(CsvWriter, MissingSpoolDirectoryIsAnErrorNamingThePath) {
  Batch batch = TwoColumnBatch();
  batch.deletes = {{"1"}};
  auto staged = CsvWriter(Options("/nonexistent/spool")).Write(batch);
  ASSERT_FALSE(staged.ok());
  EXPECT_THAT(staged.status().message(), HasSubstr("/nonexistent/spool/public.t.000000000007"));
}

TEST(StagedTableName, EscapesEverythingButWordCharactersAndHashesLongNames) {
  EXPECT_EQ(StagedTableName("public", "order_items"), "public.order_items");
  EXPECT_EQ(StagedTableName("a.b", "c"), "a-2eb.c");
  EXPECT_EQ(StagedTableName("a", "b.c"), "a.b-2ec");
  EXPECT_EQ(StagedTableName("s", "caf\xC3\xA9-1"), "s.caf-c3-a9-2d1");
  std::string long_a = StagedTableName("s", std::string(63, '\xC3'));
  std::string long_b = StagedTableName("s", std::string(62, '\xC3') + "x");
  EXPECT_EQ(long_a.size(), 120u + 2 + 16);
  EXPECT_NE(long_a, long_b);
  EXPECT_EQ(long_a.substr(0, 120), long_b.substr(0, 120));
}

// Disk full, simulated with RLIMIT_FSIZE in a child process so the limit
// cannot touch the test runner's own files.
TEST(CsvWriter, DiskFullIsResourceExhaustedAndLeavesNoCompleteLookingFile) {
  std::string spool = MakeSpool();
  Batch batch = TwoColumnBatch();
  RowGroup group{{0, 1}, {}};
  for (int i = 0; i < 20000; ++i) group.rows.push_back({std::to_string(i), std::string(100, 'v')});
  batch.upserts.push_back(group);
  batch.deletes = {{"-1"}};  // Completes before the limit hits, then is removed.

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    signal(SIGXFSZ, SIG_IGN);  // Make the limit an EFBIG error, not a signal.
    rlimit limit{64 << 10, 64 << 10};
    setrlimit(RLIMIT_FSIZE, &limit);
    CsvWriterOptions options = Options(spool);
    auto staged = CsvWriter(options).Write(batch);
    std::string report = staged.ok() ? "OK" : staged.status().ToString();
    (void)!write(pipe_fds[1], report.data(), report.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string report;
  char buffer[4096];
  ssize_t got;
  while ((got = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) report.append(buffer, got);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));

  EXPECT_THAT(report, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(report, HasSubstr("public.t"));
  EXPECT_THAT(report, HasSubstr(spool + "/public.t.000000000007.upsert-0.part"));
  EXPECT_THAT(report, HasSubstr("File too large"));
  EXPECT_THAT(FilesIn(spool), IsEmpty());
}

}  // namespace
}  // namespace re_dms
