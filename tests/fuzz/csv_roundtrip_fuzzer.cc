// CsvWriter round trip: random rows (any bytes, NULLs, empty strings) of a
// random batch are written in a random dialect, compression and part size,
// then read back by an independent reader of csv_dialect.h's format: the rows
// must come back equal, in order. A value with a NUL byte must be refused
// (neither COPY accepts one), and nothing may be left behind then.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "re_dms/batch.h"
#include "re_dms/compression.h"
#include "re_dms/csv_dialect.h"
#include "re_dms/csv_writer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using re_dms::Datum;
using re_dms::fuzz::Fail;
using Rows = std::vector<std::vector<Datum>>;

// Reads csv_dialect.h's format: every value quoted with " doubled, NULL the
// unquoted marker, `,` between fields, `\n` after each record. Returns
// nullopt for anything else.
std::optional<Rows> ReadCsv(absl::string_view text, absl::string_view null_marker, size_t columns) {
  Rows rows;
  size_t i = 0;
  while (i < text.size()) {
    std::vector<Datum> row;
    for (;;) {
      if (i < text.size() && text[i] == '"') {
        std::string value;
        ++i;
        for (;;) {
          if (i >= text.size()) return std::nullopt;
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              value.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          value.push_back(text[i++]);
        }
        row.emplace_back(std::move(value));
      } else {
        if (text.substr(i, null_marker.size()) != null_marker) return std::nullopt;
        i += null_marker.size();
        row.emplace_back(std::nullopt);
      }
      if (i >= text.size()) return std::nullopt;
      if (text[i] == ',') {
        ++i;
        continue;
      }
      if (text[i] != '\n') return std::nullopt;
      ++i;
      break;
    }
    if (row.size() != columns) return std::nullopt;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string ReadAll(const std::string& path, re_dms::Compression compression) {
  std::string out;
  if (compression == re_dms::Compression::kNone) {
    // DecompressFile's 1 MiB buffer, zero-filled per call, would dominate.
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (!in) Fail(absl::StrCat("cannot read back ", path));
    return bytes.str();
  }
  absl::Status status = re_dms::DecompressFile(path, compression, [&](absl::string_view bytes) {
    out.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  });
  if (!status.ok()) Fail(absl::StrCat("cannot read back ", path, ": ", status.ToString()));
  return out;
}

const std::string& SpoolDirectory() {
  static const std::string* directory = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/csv_fuzz.XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) Fail("mkdtemp failed");
    return new std::string(pattern);
  }();
  return *directory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  re_dms::fuzz::FuzzInput input(data, size);
  re_dms::CsvWriterOptions options;
  options.spool_directory = SpoolDirectory();
  options.dialect = input.Bool() ? re_dms::kRedshiftCsv : re_dms::kPostgresCsv;
  // A compressor per part is costly under ASan (zstd allocates megabytes per
  // context): mostly plain CSV and whole parts, so the fuzzer spends its time
  // on the CSV; compression and part splitting still come up.
  static constexpr re_dms::Compression kCompressions[] = {
      re_dms::Compression::kNone, re_dms::Compression::kNone, re_dms::Compression::kNone,
      re_dms::Compression::kNone, re_dms::Compression::kNone, re_dms::Compression::kNone,
      re_dms::Compression::kGzip, re_dms::Compression::kZstd};
  options.compression = kCompressions[input.Below(8)];
  options.max_part_bytes = input.Below(4) == 0 ? 1 + input.Below(256) : uint64_t{1} << 20;
  options.fsync = false;

  re_dms::Batch batch;
  batch.schema = "public";
  batch.table = input.Bool() ? "t" : "odd \"name\"";
  batch.sequence = 1 + input.Below(1000);
  const size_t column_count = 1 + input.Below(4);
  for (size_t c = 0; c < column_count; ++c) {
    batch.columns.push_back({absl::StrCat("c", c), "text"});
  }
  const size_t key_count = input.Below(column_count + 1);  // 0: a keyless table
  for (size_t c = 0; c < key_count; ++c) batch.key_columns.push_back(batch.columns[c].name);
  const size_t delete_width = key_count == 0 ? column_count : key_count;

  bool has_nul = false;
  auto value = [&]() -> Datum {
    if (input.Below(4) == 0) return std::nullopt;
    std::string bytes = input.Bytes(24);
    has_nul |= bytes.find('\0') != std::string::npos;
    return bytes;
  };
  const size_t deletes = input.Below(4);
  for (size_t r = 0; r < deletes; ++r) {
    std::vector<Datum> row;
    for (size_t c = 0; c < delete_width; ++c) row.push_back(value());
    batch.deletes.push_back(std::move(row));
  }
  const size_t groups = input.Below(3);
  for (size_t g = 0; g < groups; ++g) {
    re_dms::RowGroup group;
    // A full group, or one that leaves out the last (unchanged TOAST) column.
    const size_t width = g == 0 || column_count == 1 ? column_count : column_count - 1;
    for (size_t c = 0; c < width; ++c) group.columns.push_back(static_cast<int>(c));
    const size_t rows = input.Below(6);
    for (size_t r = 0; r < rows; ++r) {
      std::vector<Datum> row;
      for (size_t c = 0; c < width; ++c) row.push_back(value());
      group.rows.push_back(std::move(row));
    }
    batch.upserts.push_back(std::move(group));
  }

  const re_dms::CsvWriter writer(options);
  const absl::StatusOr<re_dms::StagedBatch> staged = writer.Write(batch);
  if (has_nul) {
    if (staged.ok() || staged.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail(absl::StrCat("a NUL byte was not refused: ", staged.status().ToString()));
    }
    if (!std::filesystem::is_empty(options.spool_directory)) Fail("a refused batch left files");
    return 0;
  }
  if (!staged.ok()) Fail(absl::StrCat("Write failed: ", staged.status().ToString()));

  // Data sets in the writer's order: deletes, then each non-empty group.
  std::vector<std::pair<re_dms::StagedFile::Role, const Rows*>> expected;
  if (!batch.deletes.empty())
    expected.emplace_back(re_dms::StagedFile::Role::kDelete, &batch.deletes);
  for (const re_dms::RowGroup& group : batch.upserts) {
    if (!group.rows.empty()) expected.emplace_back(re_dms::StagedFile::Role::kUpsert, &group.rows);
  }
  if (staged->files.size() != expected.size()) {
    Fail(absl::StrCat(staged->files.size(), " data sets written for ", expected.size()));
  }
  for (size_t f = 0; f < expected.size(); ++f) {
    const re_dms::StagedFile& file = staged->files[f];
    if (file.role != expected[f].first) Fail("data sets out of order");
    const size_t width = (*expected[f].second)[0].size();
    Rows read;
    for (const std::string& part : file.local_paths) {
      // Rows never straddle parts: each part reads on its own.
      std::optional<Rows> rows =
          ReadCsv(ReadAll(part, options.compression), options.dialect.null_marker, width);
      if (!rows.has_value()) Fail(absl::StrCat("a part is not valid CSV of the dialect: ", part));
      if (rows->empty()) Fail("an empty part");
      read.insert(read.end(), rows->begin(), rows->end());
    }
    if (read != *expected[f].second) Fail("rows read back differ from the rows written");
    if (file.rows != read.size()) Fail("StagedFile::rows is wrong");
  }
  std::filesystem::remove_all(options.spool_directory);
  std::filesystem::create_directory(options.spool_directory);
  return 0;
}
