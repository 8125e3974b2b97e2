#include "re_dms/lsn.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace re_dms {

std::string FormatLsn(uint64_t lsn) {
  return absl::StrFormat("%X/%X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

absl::StatusOr<uint64_t> ParseLsn(absl::string_view text) {
  const size_t slash = text.find('/');
  uint32_t high = 0, low = 0;
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == text.size() ||
      !absl::SimpleHexAtoi(text.substr(0, slash), &high) ||
      !absl::SimpleHexAtoi(text.substr(slash + 1), &low)) {
    return absl::InvalidArgumentError(absl::StrCat("not an LSN: \"", text.substr(0, 40), "\""));
  }
  return (uint64_t{high} << 32) | low;
}

}  // namespace re_dms
