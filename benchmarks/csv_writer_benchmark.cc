// CsvWriter throughput: one batch of 200 000 upserted rows shaped like the
// parser benchmark's `orders` table (bigint, int, text, numeric, text with
// quotes and newlines, two timestamptz, boolean, jsonb), written as CSV parts
// of 64 MiB with each compression.
//
//   bazel build //benchmarks:csv_writer_benchmark
//   bazel-bin/benchmarks/csv_writer_benchmark [--benchmark_filter=zstd]
//
// bytes_per_second counts the CSV produced (before compression), which is
// within a few percent of the row text held in the batch; `ratio` is CSV
// bytes per compressed byte. Files go to RE_DMS_BENCH_SPOOL (default /tmp)
// and are removed after each iteration; fsync is off except in the
// `_fsync` case.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "re_dms/csv_writer.h"

namespace re_dms {
namespace {

constexpr int kRows = 200000;

const Batch& OrdersBatch() {
  static const Batch* batch = [] {
    auto* batch = new Batch;
    batch->schema = "public";
    batch->table = "orders";
    batch->sequence = 1;
    batch->columns = {{"id", "bigint"},
                      {"quantity", "integer"},
                      {"customer", "text"},
                      {"amount", "numeric(12,2)"},
                      {"note", "text"},
                      {"created_at", "timestamp with time zone"},
                      {"updated_at", "timestamp with time zone"},
                      {"shipped", "boolean"},
                      {"attributes", "jsonb"}};
    batch->key_columns = {"id"};
    RowGroup group;
    for (int i = 0; i < 9; ++i) group.columns.push_back(i);
    std::mt19937 random(42);
    for (int id = 1; id <= kRows; ++id) {
      std::vector<Datum> row;
      row.push_back(std::to_string(id));
      row.push_back(std::to_string(random() % 100));
      row.push_back(absl::StrCat("customer ", random() % 10000, id % 7 == 0 ? " O'Brien" : ""));
      row.push_back(absl::StrFormat("%d.%02d", random() % 100000, random() % 100));
      if (id % 5 == 0) {
        row.push_back(std::nullopt);
      } else {
        row.push_back(absl::StrCat("note ", id,
                                   id % 3 == 0 ? " with \"quotes\",\nand a newline" : "",
                                   " and some ordinary words to make it longer"));
      }
      row.push_back(absl::StrFormat("2024-%02d-%02d %02d:%02d:%02d.%06d+00", 1 + random() % 12,
                                    1 + random() % 28, random() % 24, random() % 60, random() % 60,
                                    random() % 1000000));
      row.push_back(id % 2 == 0 ? Datum(std::nullopt) : Datum("2024-06-01 10:00:00+00"));
      row.push_back(id % 2 == 0 ? "true" : "false");
      row.push_back(absl::StrCat("{\"tags\": [\"a\", \"b\"], \"score\": ", random() % 1000,
                                 ", \"source\": \"web\"}"));
      for (const Datum& value : row) batch->bytes += value ? value->size() : 0;
      group.rows.push_back(std::move(row));
    }
    batch->upserts.push_back(std::move(group));
    return batch;
  }();
  return *batch;
}

void WriteOrders(benchmark::State& state, Compression compression, int level, bool fsync) {
  const Batch& batch = OrdersBatch();
  const char* spool = std::getenv("RE_DMS_BENCH_SPOOL");
  CsvWriterOptions options;
  options.spool_directory = spool != nullptr ? spool : "/tmp";
  options.compression = compression;
  options.compression_level = level;
  options.fsync = fsync;
  CsvWriter writer(options);
  uint64_t compressed = 0;
  for (auto _ : state) {
    auto staged = writer.Write(batch);
    if (!staged.ok()) {
      state.SkipWithError(std::string(staged.status().message()).c_str());
      return;
    }
    compressed = staged->files[0].bytes;
    for (const StagedFile& file : staged->files) {
      for (const std::string& path : file.local_paths) unlink(path.c_str());
      unlink(file.local_manifest_path.c_str());
    }
  }
  // Measure the CSV once, uncompressed, for the throughput figure.
  static const uint64_t csv_bytes = [&] {
    CsvWriterOptions plain = options;
    plain.compression = Compression::kNone;
    plain.fsync = false;
    auto staged = CsvWriter(plain).Write(batch);
    uint64_t bytes = staged.ok() ? staged->files[0].bytes : 0;
    if (staged.ok()) {
      for (const std::string& path : staged->files[0].local_paths) unlink(path.c_str());
      unlink(staged->files[0].local_manifest_path.c_str());
    }
    return bytes;
  }();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * csv_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRows);
  state.counters["ratio"] = compressed > 0 ? static_cast<double>(csv_bytes) / compressed : 0;
}

BENCHMARK_CAPTURE(WriteOrders, zstd_1, Compression::kZstd, 1, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(WriteOrders, zstd_3, Compression::kZstd, 3, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(WriteOrders, zstd_1_fsync, Compression::kZstd, 1, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(WriteOrders, gzip_1, Compression::kGzip, 1, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(WriteOrders, gzip_6, Compression::kGzip, 6, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(WriteOrders, none, Compression::kNone, 0, false)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace re_dms

BENCHMARK_MAIN();
