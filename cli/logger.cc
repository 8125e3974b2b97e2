#include "cli/logger.h"

#include <postgresql/libpq-fe.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
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

std::string ConninfoParseError(absl::string_view conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &error);
  if (options != nullptr) {
    PQconninfoFree(options);
    return "";
  }
  std::string message = error != nullptr ? error : "out of memory";
  if (error != nullptr) PQfreemem(error);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::vector<std::string> keywords;
  if (PQconninfoOption* defaults = PQconndefaults()) {
    for (PQconninfoOption* option = defaults; option->keyword != nullptr; ++option) {
      keywords.emplace_back(option->keyword);
    }
    PQconninfoFree(defaults);
  }
  std::string redacted;
  for (size_t at = 0;;) {
    const size_t open = message.find('"', at);
    const size_t close = open == std::string::npos ? open : message.find('"', open + 1);
    if (close == std::string::npos) {
      redacted.append(message, at, std::string::npos);
      break;
    }
    const absl::string_view quoted(message.data() + open + 1, close - open - 1);
    // An option name libpq does not know came before a '=': a key the user
    // meant, not a value, and the one thing that helps to fix it.
    const bool option_name =
        absl::EndsWith(absl::string_view(message.data() + at, open - at), "connection option ") &&
        !quoted.empty() && quoted.size() <= 40 &&
        std::all_of(quoted.begin(), quoted.end(),
                    [](char c) { return absl::ascii_islower(c) || c == '_'; });
    const bool safe = (quoted.size() == 1 && !absl::ascii_isalnum(quoted[0])) || option_name ||
                      std::find(keywords.begin(), keywords.end(), quoted) != keywords.end();
    absl::StrAppend(&redacted, absl::string_view(message.data() + at, open - at), "\"",
                    safe ? quoted : "...", "\"");
    at = close + 1;
  }
  return redacted;
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
