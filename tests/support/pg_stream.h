// Test support: capture what PostgreSQL's test_decoding plugin writes for a
// workload, exactly as the replicator reads it (pg_recvlogical --file=-).

#ifndef RE_DMS_TESTS_SUPPORT_PG_STREAM_H_
#define RE_DMS_TESTS_SUPPORT_PG_STREAM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/support/pg_scratch.h"

namespace re_dms::testing {

struct CaptureOptions {
  // test_decoding options, each passed as `-o <option>` to pg_recvlogical.
  std::vector<std::string> plugin_options = {"include-timestamp=1"};
  // pg_recvlogical is killed, and the capture fails, after this long.
  absl::Duration timeout = absl::Seconds(60);
};

// A test_decoding slot in a scratch database: everything committed after
// Start() is captured by ReadToCurrentLsn(). The slot goes away with the
// database.
class ChangeCapture {
 public:
  // Creates the slot. Needs RE_DMS_TEST_PG_BIN (the directory holding
  // pg_recvlogical).
  static absl::StatusOr<ChangeCapture> Start(ScratchDatabase& db, CaptureOptions options = {});

  // Returns the bytes pg_recvlogical writes from the slot (--file=-) for
  // everything committed before the call, and nothing after it. A later call
  // continues where this one stopped. Errors carry pg_recvlogical's exit
  // status and stderr.
  absl::StatusOr<std::string> ReadToCurrentLsn();

  const std::string& slot_name() const { return slot_; }

 private:
  ChangeCapture(ScratchDatabase* db, std::string bin, std::string slot, CaptureOptions options)
      : db_(db), bin_(std::move(bin)), slot_(std::move(slot)), options_(std::move(options)) {}

  ScratchDatabase* db_;
  std::string bin_;
  std::string slot_;
  CaptureOptions options_;
  int reads_ = 0;
};

// Start(), then each element of `workload` through ScratchDatabase::Exec (so
// each is its own transaction unless it holds BEGIN/COMMIT), then
// ReadToCurrentLsn(). Errors name the failing statement.
absl::StatusOr<std::string> CaptureChanges(ScratchDatabase& db,
                                           const std::vector<std::string>& workload,
                                           const CaptureOptions& options = {});

// The same for one SQL text run with a single Exec.
absl::StatusOr<std::string> CaptureChanges(ScratchDatabase& db, absl::string_view workload_sql,
                                           const CaptureOptions& options = {});

}  // namespace re_dms::testing

#endif  // RE_DMS_TESTS_SUPPORT_PG_STREAM_H_
