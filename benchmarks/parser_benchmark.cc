// Parser throughput on a real test_decoding stream, as pg_recvlogical hands it
// over: 64 KiB chunks, each drained of complete records.
//
//   scripts/make-bench-stream                  # writes /tmp/re_dms_bench/stream.txt
//   bazel build //benchmarks:parser_benchmark
//   RE_DMS_BENCH_STREAM=/tmp/re_dms_bench/stream.txt bazel-bin/benchmarks/parser_benchmark
//
// Reports bytes/s (MB/s, in MiB) and records/s over CPU time, one thread;
// "changes" counts row changes only.

#include <string>

#include "benchmark/benchmark.h"
#include "benchmarks/bench_stream.h"

namespace re_dms {
namespace {

void BM_ParseStream(benchmark::State& state) {
  absl::StatusOr<const std::string*> stream = CapturedBenchStream();
  if (!stream.ok()) {
    state.SkipWithError(std::string(stream.status().message()).c_str());
    return;
  }
  const size_t chunk = static_cast<size_t>(state.range(0));
  int64_t records = 0;
  int64_t changes = 0;
  for (auto _ : state) {
    absl::Status parsed = ForEachRecord(**stream, chunk, [&](const Record& record) {
      ++records;
      changes += record.kind == RecordKind::kInsert || record.kind == RecordKind::kUpdate ||
                 record.kind == RecordKind::kDelete;
      benchmark::DoNotOptimize(record.columns.data());
      return absl::OkStatus();
    });
    if (!parsed.ok()) {
      state.SkipWithError(std::string(parsed.message()).c_str());
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (*stream)->size()));
  state.SetItemsProcessed(records);
  state.counters["changes/s"] = benchmark::Counter(static_cast<double>(changes),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseStream)->Arg(64 << 10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace re_dms

BENCHMARK_MAIN();
