// Parser throughput on a real test_decoding stream, as pg_recvlogical hands it
// over: 64 KiB chunks, each drained of complete records.
//
//   scripts/make-bench-stream                  # writes /tmp/re_dms_bench/stream.txt
//   bazel build //benchmarks:parser_benchmark
//   RE_DMS_BENCH_STREAM=/tmp/re_dms_bench/stream.txt bazel-bin/benchmarks/parser_benchmark
//
// Reports bytes/s (MB/s, in MiB) and records/s over CPU time, one thread;
// "changes" counts row changes only.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "benchmark/benchmark.h"
#include "re_dms/parser.h"

namespace re_dms {
namespace {

const std::string& Stream() {
  static const std::string* stream = [] {
    const char* path = std::getenv("RE_DMS_BENCH_STREAM");
    if (path == nullptr || *path == '\0') {
      std::fprintf(stderr,
                   "RE_DMS_BENCH_STREAM is not set: capture a stream with "
                   "scripts/make-bench-stream and point the variable at it\n");
      std::exit(2);
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || text.str().empty()) {
      std::fprintf(stderr, "cannot read RE_DMS_BENCH_STREAM=%s\n", path);
      std::exit(2);
    }
    return new std::string(text.str());
  }();
  return *stream;
}

void BM_ParseStream(benchmark::State& state) {
  const std::string& stream = Stream();
  const size_t chunk = static_cast<size_t>(state.range(0));
  int64_t records = 0;
  int64_t changes = 0;
  for (auto _ : state) {
    Parser parser;
    Record record;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      parser.Feed(absl::string_view(stream).substr(at, chunk));
      for (;;) {
        absl::StatusOr<bool> got = parser.Next(&record);
        if (!got.ok()) {
          state.SkipWithError(std::string(got.status().message()).c_str());
          return;
        }
        if (!*got) break;
        ++records;
        changes += record.kind == RecordKind::kInsert || record.kind == RecordKind::kUpdate ||
                   record.kind == RecordKind::kDelete;
        benchmark::DoNotOptimize(record.columns.data());
      }
    }
    absl::Status finished = parser.Finish();
    if (!finished.ok()) {
      state.SkipWithError(std::string(finished.message()).c_str());
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
  state.SetItemsProcessed(records);
  state.counters["changes/s"] = benchmark::Counter(static_cast<double>(changes),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseStream)->Arg(64 << 10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace re_dms

BENCHMARK_MAIN();
