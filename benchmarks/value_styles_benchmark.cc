// The cost pipe mode adds per record: CheckValueStyles over the types whose
// text depends on session settings, and SourceEncoding::Convert from LATIN1
// (ASCII values are only scanned; others go through iconv).
//
//   bazel build //benchmarks:value_styles_benchmark && bazel-bin/benchmarks/value_styles_benchmark
//
// Reports records/s over CPU time, one thread.

#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "re_dms/change.h"
#include "re_dms/source_encoding.h"
#include "re_dms/value_styles.h"

namespace re_dms {
namespace {

// An insert as a 9-column table with every checked type prints it.
Record TypedInsert(const std::string& bytea) {
  Record record;
  record.kind = RecordKind::kInsert;
  record.table = {"public", "events"};
  record.columns = {
      {"id", "integer", ValueKind::kText, "123456"},
      {"d", "date", ValueKind::kText, "2024-03-04"},
      {"ts", "timestamp without time zone", ValueKind::kText, "2024-03-04 05:06:07.123456"},
      {"tz", "timestamp with time zone", ValueKind::kText, "2024-03-04 10:36:07.5+05:30"},
      {"iv", "interval", ValueKind::kText, "1 year 2 mons 3 days 04:05:06"},
      {"b", "bytea", ValueKind::kText, bytea},
      {"f", "double precision", ValueKind::kText, "0.30000000000000004"},
      {"note", "text", ValueKind::kText, "a plain ASCII note of some length, as most text is"},
      {"tags", "text[]", ValueKind::kText, "{alpha,beta,gamma}"},
  };
  return record;
}

void BM_CheckValueStyles(benchmark::State& state) {
  const std::string bytea = "\\x" + std::string(2 * 1024, 'a');
  const Record record = TypedInsert(bytea);
  for (auto _ : state) {
    absl::Status status = CheckValueStyles(record);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckValueStyles);

void BM_ConvertLatin1(benchmark::State& state) {
  std::unique_ptr<SourceEncoding> latin1 = *SourceEncoding::Create("LATIN1", "");
  const std::string bytea = "\\x" + std::string(2 * 1024, 'a');
  const std::string accented =
      "caf\xE9 na\xEFve fa\xE7"
      "ade, \xE0 la carte";
  for (auto _ : state) {
    Record record = TypedInsert(bytea);
    if (state.range(0) != 0) record.columns[7].text = accented;
    absl::Status status = latin1->Convert(&record);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    benchmark::DoNotOptimize(record.columns[7].text.data());
  }
  state.SetItemsProcessed(state.iterations());
}
// 0: every value ASCII (scanned only); 1: one accented text value (iconv).
BENCHMARK(BM_ConvertLatin1)->Arg(0)->Arg(1);

}  // namespace
}  // namespace re_dms

BENCHMARK_MAIN();
