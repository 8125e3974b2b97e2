#include "cli/logger.h"

#include <postgresql/libpq-fe.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace re_dms::cli {
namespace {

// Text values with spaces, quotes or '=' are quoted so lines stay parseable.
std::string TextValue(absl::string_view value) {
  if (!value.empty() && value.find_first_of(" \"=\t\n") == absl::string_view::npos) {
    return std::string(value);
  }
  // JSON string escaping is a fine quoting for a text log too.
  return nlohmann::json(std::string(value))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void Logger::Log(absl::string_view level, absl::string_view message, const LogFields& fields) {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  if (format_ == LogFormat::kJson) {
    nlohmann::ordered_json object;
    object["time"] = time;
    object["level"] = std::string(level);
    object["msg"] = std::string(message);
    for (const auto& [key, value] : fields) object[key] = value;
    line = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = absl::StrCat(time, " ", absl::AsciiStrToUpper(level), " ", message);
    for (const auto& [key, value] : fields) absl::StrAppend(&line, " ", key, "=", TextValue(value));
  }
  line.push_back('\n');
  absl::MutexLock lock(&mutex_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

std::string RedactConninfo(absl::string_view conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return "(conninfo not parseable)";
  }
  std::vector<std::string> parts;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || option->val[0] == '\0') continue;
    // "*" marks password-like options (libpq's dispchar), "D" debug ones.
    if (absl::string_view(option->keyword) == "password" ||
        (option->dispchar != nullptr && option->dispchar[0] == '*')) {
      parts.push_back(absl::StrCat(option->keyword, "=***"));
      continue;
    }
    parts.push_back(absl::StrCat(option->keyword, "=", option->val));
  }
  PQconninfoFree(options);
  return absl::StrJoin(parts, " ");
}

}  // namespace re_dms::cli
