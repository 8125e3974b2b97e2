// RedactConninfo (what the CLI logs of --source and --target) on arbitrary
// conninfo strings, key=value or URI: no password survives. The oracle is
// differential, so it needs no idea of what a leak looks like: libpq parses
// the input independently, the conninfo is rebuilt from what it parsed with
// every password-like value (`password`, and any option libpq marks `*`)
// replaced, and the redacted text of both must be identical. Whatever of a
// secret reached the output would make them differ.

#include <postgresql/libpq-fe.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/logger.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

// `value` as a single-quoted conninfo value.
std::string Quoted(absl::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using re_dms::fuzz::Fail;
  // libpq reads C strings: the conninfo ends at a NUL byte anyway.
  const std::string conninfo(reinterpret_cast<const char*>(data), size);
  const std::string redacted = re_dms::cli::RedactConninfo(conninfo);

  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    if (redacted != "(conninfo not parseable)") Fail("an unparseable conninfo was echoed");
    return 0;
  }
  std::string rebuilt;
  bool has_secret = false;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const bool secret = absl::string_view(option->keyword) == "password" ||
                        (option->dispchar != nullptr && option->dispchar[0] == '*');
    absl::string_view value = option->val;
    if (secret && !value.empty()) {
      has_secret = true;
      value = "replaced";
    }
    absl::StrAppend(&rebuilt, option->keyword, "=", Quoted(value), " ");
  }
  PQconninfoFree(options);
  if (!has_secret) return 0;
  const std::string without_secrets = re_dms::cli::RedactConninfo(rebuilt);
  if (without_secrets != redacted) {
    Fail(absl::StrCat("the redacted text depends on a password:\n  ", redacted, "\n  ",
                      without_secrets));
  }
  return 0;
}
