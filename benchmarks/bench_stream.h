// Shared by the benchmarks that run on a captured test_decoding stream
// (scripts/make-bench-stream): loading it, and parsing it the way
// pg_recvlogical hands it over, in chunks each drained of complete records.

#ifndef RE_DMS_BENCHMARKS_BENCH_STREAM_H_
#define RE_DMS_BENCHMARKS_BENCH_STREAM_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/change.h"
#include "re_dms/parser.h"

namespace re_dms {

// The file named by RE_DMS_BENCH_STREAM, read once per process; an error
// says how to capture one when the variable is unset or the file unreadable.
absl::StatusOr<const std::string*> CapturedBenchStream();

// Parses `stream` in `chunk`-byte pieces and calls `on_record(record)` (which
// returns absl::Status) for each record; stops at the first error. A template
// so that the per-record call costs nothing in the parser's own figure.
template <typename OnRecord>
absl::Status ForEachRecord(absl::string_view stream, size_t chunk, OnRecord&& on_record) {
  Parser parser;
  Record record;
  for (size_t at = 0; at < stream.size(); at += chunk) {
    parser.Feed(stream.substr(at, chunk));
    for (;;) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) return got.status();
      if (!*got) break;
      absl::Status handled = on_record(record);
      if (!handled.ok()) return handled;
    }
  }
  return parser.Finish();
}

}  // namespace re_dms

#endif  // RE_DMS_BENCHMARKS_BENCH_STREAM_H_
