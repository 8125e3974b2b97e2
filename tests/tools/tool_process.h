// Test support: runs one of the Python servers in tests/tools/ (the metadata
// responder, the S3 fault proxy) as a child process on a free loopback port,
// and stops it when the object goes away.

#ifndef RE_DMS_TESTS_TOOLS_TOOL_PROCESS_H_
#define RE_DMS_TESTS_TOOLS_TOOL_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re_dms::testing {

class ToolProcess {
 public:
  // Runs `python3 script args...` and waits (up to 20 s) for the line
  // `PORT <n>` that the tools print once they listen.
  static absl::StatusOr<std::unique_ptr<ToolProcess>> Start(
      const std::string& script, const std::vector<std::string>& args);
  ~ToolProcess();

  int port() const { return port_; }
  // `http://127.0.0.1:<port>`.
  std::string url() const;
  // GETs `path` from the tool (its statistics endpoints); non-200 is an error.
  absl::StatusOr<std::string> Get(absl::string_view path) const;

 private:
  ToolProcess(pid_t pid, int port) : pid_(pid), port_(port) {}

  pid_t pid_;
  int port_;
};

}  // namespace re_dms::testing

#endif  // RE_DMS_TESTS_TOOLS_TOOL_PROCESS_H_
