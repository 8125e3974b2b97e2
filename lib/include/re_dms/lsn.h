// LSN: a position in PostgreSQL's write-ahead log, as the server prints it
// ("16/B374D848", the form of pg_current_wal_lsn() and --endpos).

#ifndef RE_DMS_LSN_H_
#define RE_DMS_LSN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re_dms {

std::string FormatLsn(uint64_t lsn);
// InvalidArgument (quoting the text) when it is not HIGH/LOW in hex.
absl::StatusOr<uint64_t> ParseLsn(absl::string_view text);

}  // namespace re_dms

#endif  // RE_DMS_LSN_H_
