// ChangeBatcher throughput and memory.
//
//   bazel build //benchmarks:batcher_benchmark
//   bazel-bin/benchmarks/batcher_benchmark
//   RE_DMS_BENCH_STREAM=/tmp/re_dms_bench/stream.txt bazel-bin/benchmarks/batcher_benchmark
//
// BM_SingleTransactionMemory: one transaction of 5 000 000 inserts into an
//   orders-like table with the default 64 MB byte limit, batches dropped as
//   they come (as the CSV writer would consume them); reports the process's
//   peak RSS. It is registered first, so the peak is its own.
// BM_BatchSynthetic: the batcher alone on prebuilt records: 200 000 inserts,
//   updates of a quarter of the rows, deletes of a tenth, transactions of
//   10 000 rows; MB/s counts the values' bytes.
// BM_ParseAndBatchStream (when RE_DMS_BENCH_STREAM is set): Parser +
//   ChangeBatcher over a captured test_decoding stream (scripts/make-bench-stream),
//   fed in 64 KiB chunks; MB/s counts input bytes.
// Rates are per CPU second of the process (the development machine is shared).

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/bench_stream.h"
#include "re_dms/change_batcher.h"
#include "re_dms/csv_writer.h"
#include "re_dms/key_columns.h"
#include "re_dms/parser.h"

namespace re_dms {
namespace {

constexpr const char* kNames[] = {"id",         "quantity",   "customer", "amount",    "note",
                                  "created_at", "updated_at", "shipped",  "attributes"};
constexpr const char* kTypes[] = {"bigint",
                                  "integer",
                                  "text",
                                  "numeric",
                                  "text",
                                  "timestamp with time zone",
                                  "timestamp with time zone",
                                  "boolean",
                                  "jsonb"};
constexpr int kColumns = 9;

StaticKeyColumns* OrdersKeys() {
  static StaticKeyColumns* keys = [] {
    auto* keys = new StaticKeyColumns;
    keys->Set("public", "orders", TableKey{ReplicaIdentity::kDefault, {"id"}, {}});
    return keys;
  }();
  return keys;
}

std::unique_ptr<ChangeBatcher> NewBatcher() {
  absl::StatusOr<std::unique_ptr<ChangeBatcher>> batcher =
      ChangeBatcher::Create(BatcherOptions{}, OrdersKeys());
  if (!batcher.ok()) std::abort();
  return *std::move(batcher);
}

// Fills `values` with row `id`'s values (version `version` for updates).
void RowValues(int64_t id, int version, std::vector<std::string>* values) {
  values->resize(kColumns);
  (*values)[0] = absl::StrCat(id);
  (*values)[1] = absl::StrCat(id % 100 + version);
  (*values)[2] = absl::StrCat("customer ", id % 5000, " O'Brien & Sons");
  (*values)[3] = absl::StrCat(id % 100000, ".", version % 100);
  (*values)[4] = version % 2 ? "shipped with care\nsecond line" : "";
  (*values)[5] = "2024-01-02 03:04:05.678+00";
  (*values)[6] = absl::StrCat("2024-03-0", version % 9 + 1, " 10:11:12+00");
  (*values)[7] = version % 2 ? "true" : "false";
  (*values)[8] = absl::StrCat("{\"tier\": \"gold\", \"n\": ", id % 17, "}");
}

// Makes `record` a change of public.orders whose views point into `values`.
void MakeChange(RecordKind kind, const std::vector<std::string>& values, Record* record) {
  record->kind = kind;
  record->table = TableRef{"public", "orders"};
  const int count = kind == RecordKind::kDelete ? 1 : kColumns;
  record->columns.resize(count);
  for (int i = 0; i < count; ++i) {
    Column& column = record->columns[i];
    column.name = kNames[i];
    column.type = kTypes[i];
    column.kind = ValueKind::kText;
    column.text = values[i];
  }
}

uint64_t PeakRssBytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

void BM_SingleTransactionMemory(benchmark::State& state) {
  const int64_t rows = state.range(0);
  uint64_t batches = 0;
  for (auto _ : state) {
    std::unique_ptr<ChangeBatcher> batcher = NewBatcher();
    std::vector<Batch> ready;
    Record record;
    std::vector<std::string> values;
    record.kind = RecordKind::kBegin;
    record.xid = 1;
    if (!batcher->Add(record, &ready).ok()) std::abort();
    for (int64_t id = 1; id <= rows; ++id) {
      RowValues(id, 0, &values);
      MakeChange(RecordKind::kInsert, values, &record);
      if (!batcher->Add(record, &ready).ok()) std::abort();
      batches += ready.size();
      ready.clear();
    }
    record.kind = RecordKind::kCommit;
    if (!batcher->Add(record, &ready).ok() || !batcher->FlushAll(&ready).ok()) std::abort();
    batches += ready.size();
  }
  state.SetItemsProcessed(state.iterations() * rows);
  state.counters["batches"] = static_cast<double>(batches);
  state.counters["peak_rss_MB"] = static_cast<double>(PeakRssBytes()) / (1 << 20);
}
BENCHMARK(BM_SingleTransactionMemory)
    ->Arg(5'000'000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Records whose views point into strings that live as long as the vector.
struct RecordedStream {
  std::deque<std::vector<std::string>> values;
  std::vector<Record> records;
  uint64_t value_bytes = 0;
};

const RecordedStream& Synthetic() {
  static const RecordedStream* stream = [] {
    auto* out = new RecordedStream;
    constexpr int64_t kRows = 200'000;
    constexpr int64_t kPerTransaction = 10'000;
    uint32_t xid = 0;
    auto transaction = [&](int64_t first, int64_t last, int step, RecordKind kind) {
      for (int64_t start = first; start <= last; start += kPerTransaction * step) {
        Record begin;
        begin.kind = RecordKind::kBegin;
        begin.xid = ++xid;
        out->records.push_back(begin);
        for (int64_t id = start; id < start + kPerTransaction * step && id <= last; id += step) {
          out->values.emplace_back();
          RowValues(id, kind == RecordKind::kUpdate ? 1 : 0, &out->values.back());
          Record change;
          MakeChange(kind, out->values.back(), &change);
          for (const Column& column : change.columns) out->value_bytes += column.text.size();
          out->records.push_back(std::move(change));
        }
        Record commit;
        commit.kind = RecordKind::kCommit;
        commit.xid = xid;
        out->records.push_back(commit);
      }
    };
    transaction(1, kRows, 1, RecordKind::kInsert);
    transaction(1, kRows, 4, RecordKind::kUpdate);
    transaction(2, kRows, 10, RecordKind::kDelete);
    return out;
  }();
  return *stream;
}

void BM_BatchSynthetic(benchmark::State& state) {
  const RecordedStream& stream = Synthetic();
  for (auto _ : state) {
    std::unique_ptr<ChangeBatcher> batcher = NewBatcher();
    std::vector<Batch> ready;
    for (const Record& record : stream.records) {
      if (!batcher->Add(record, &ready).ok()) std::abort();
      ready.clear();
    }
    if (!batcher->FlushAll(&ready).ok()) std::abort();
    benchmark::DoNotOptimize(ready.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.value_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * stream.records.size()));
}
BENCHMARK(BM_BatchSynthetic)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

// Parses and batches the captured stream; with a writer, also writes every
// batch as CSV (the files are removed again, so the spool stays small).
void RunCapturedStream(benchmark::State& state, const CsvWriter* writer) {
  absl::StatusOr<const std::string*> stream = CapturedBenchStream();
  if (!stream.ok()) {
    state.SkipWithError(std::string(stream.status().message()).c_str());
    return;
  }
  int64_t records = 0;
  auto write = [&](std::vector<Batch>* ready) -> absl::Status {
    if (writer != nullptr) {
      for (const Batch& batch : *ready) {
        absl::StatusOr<StagedBatch> staged = writer->Write(batch);
        if (!staged.ok()) return staged.status();
        for (const StagedFile& file : staged->files) {
          for (const std::string& path : file.local_paths) std::remove(path.c_str());
          std::remove(file.local_manifest_path.c_str());
        }
      }
    }
    ready->clear();
    return absl::OkStatus();
  };
  for (auto _ : state) {
    std::unique_ptr<ChangeBatcher> batcher = NewBatcher();
    std::vector<Batch> ready;
    absl::Status done = ForEachRecord(**stream, 64 << 10, [&](const Record& record) {
      ++records;
      absl::Status added = batcher->Add(record, &ready);
      return added.ok() ? write(&ready) : added;
    });
    if (done.ok()) done = batcher->FlushAll(&ready);
    if (done.ok()) done = write(&ready);
    if (!done.ok()) {
      state.SkipWithError(std::string(done.message()).c_str());
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (*stream)->size()));
  state.SetItemsProcessed(records);
}

void BM_ParseAndBatchStream(benchmark::State& state) { RunCapturedStream(state, nullptr); }
BENCHMARK(BM_ParseAndBatchStream)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

// The figure: MB of test_decoding input per second through parse,
// batch and CSV + zstd (level 1, as re_dms writes them; no fsync).
void BM_ParseBatchAndWriteCsvZstd(benchmark::State& state) {
  char spool[] = "/tmp/re_dms_bench_spool.XXXXXX";
  if (mkdtemp(spool) == nullptr) {
    state.SkipWithError("cannot create a spool directory in /tmp");
    return;
  }
  CsvWriterOptions options;
  options.spool_directory = spool;
  options.fsync = false;
  CsvWriter writer(options);
  RunCapturedStream(state, &writer);
  rmdir(spool);
}
BENCHMARK(BM_ParseBatchAndWriteCsvZstd)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace
}  // namespace re_dms

BENCHMARK_MAIN();
