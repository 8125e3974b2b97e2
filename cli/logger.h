// A tiny logger for the re_dms command: one line per event on a stream
// (stderr), as text for people or JSON lines for log pipelines. Thread-safe.
// (Debian's Abseil predates absl/log.)
//
//   text: 2026-11-28T00:01:02.123Z INFO loaded table=public.t rows=10
//   json:
//   {"time":"2026-11-28T00:01:02.123Z","level":"info","msg":"loaded","table":"public.t","rows":"10"}
//
// Callers must not pass secrets: see RedactConninfo.

#ifndef RE_DMS_CLI_LOGGER_H_
#define RE_DMS_CLI_LOGGER_H_

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace re_dms::cli {

enum class LogFormat { kText, kJson };

using LogFields = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  Logger(LogFormat format, std::FILE* out) : format_(format), out_(out) {}

  void Info(absl::string_view message, const LogFields& fields = {}) {
    Log("info", message, fields);
  }
  void Warn(absl::string_view message, const LogFields& fields = {}) {
    Log("warn", message, fields);
  }
  void Error(absl::string_view message, const LogFields& fields = {}) {
    Log("error", message, fields);
  }

  void Log(absl::string_view level, absl::string_view message, const LogFields& fields);

 private:
  const LogFormat format_;
  std::FILE* const out_;
  absl::Mutex mutex_;
};

// `conninfo` (key=value or URI form) without its password, for logs: the
// parameters it sets, `password` omitted; "(conninfo not parseable)" when
// libpq cannot parse it, so nothing of it leaks.
std::string RedactConninfo(absl::string_view conninfo);

// Why libpq cannot parse `conninfo`, or "" when it can. libpq's reason quotes
// the fragment it stumbled on, which may be a password: every quoted fragment
// is replaced by "..." unless it is a libpq keyword or a single character.
std::string ConninfoParseError(absl::string_view conninfo);

}  // namespace re_dms::cli

#endif  // RE_DMS_CLI_LOGGER_H_
