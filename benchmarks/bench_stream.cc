#include "benchmarks/bench_stream.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace re_dms {

absl::StatusOr<const std::string*> CapturedBenchStream() {
  static const absl::StatusOr<const std::string*>* stream =
      new absl::StatusOr<const std::string*>([]() -> absl::StatusOr<const std::string*> {
        const char* path = std::getenv("RE_DMS_BENCH_STREAM");
        if (path == nullptr || *path == '\0') {
          return absl::FailedPreconditionError(
              "RE_DMS_BENCH_STREAM is not set: capture a stream with scripts/make-bench-stream "
              "and point the variable at it");
        }
        std::ifstream in(path, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        if (!in || text.str().empty()) {
          return absl::NotFoundError(absl::StrCat("cannot read RE_DMS_BENCH_STREAM=", path));
        }
        return new std::string(text.str());
      }());
  return *stream;
}

}  // namespace re_dms
