// `re_dms inspect`: shows a test_decoding stream as JSON, one object per
// record, so people and tests can look into what the replicator would read.
//
//   pg_recvlogical ... --start -f - | re_dms inspect
//
// Each line of output is one record:
//   {"offset":0,"line":1,"kind":"insert","schema":"public","table":"t",
//    "columns":[{"name":"id","type":"integer","value":"1"},
//               {"name":"note","type":"text","value":null},
//               {"name":"big","type":"text","unchanged_toast":true}]}
// with, as the kind has them: "xid", "commit_time", "old_key" (same shape as
// "columns"), "no_tuple_data", "truncated" ([{"schema","table"}]),
// "restart_seqs", "cascade", "transactional", "prefix", "content", "raw".
//
// JSON strings must be UTF-8; bytes of the stream that are not valid UTF-8
// are shown as U+FFFD (the parser itself passes them through unchanged, so
// only this view is lossy). Bad input, or input that ends inside a record,
// prints the parser's error on stderr after the records before it, and
// exits 1.

#ifndef RE_DMS_CLI_INSPECT_H_
#define RE_DMS_CLI_INSPECT_H_

#include <cstdio>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "re_dms/change.h"

namespace re_dms::cli {

// The object `inspect` prints for `record`.
nlohmann::ordered_json RecordToJson(const Record& record);

// Reads a stream from `in_fd` to its end, writing one JSON line per record
// to `out`. Returns the parser's error, or an error naming the failed read.
absl::Status Inspect(int in_fd, std::FILE* out);

// `re_dms inspect` with the arguments after the subcommand; the exit code.
int RunInspect(int argc, char** argv);

}  // namespace re_dms::cli

#endif  // RE_DMS_CLI_INSPECT_H_
