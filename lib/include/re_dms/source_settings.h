// Source settings: what the source database gives a new session by default,
// read once at start-up through --source.
//
// In pipe mode pg_recvlogical's walsender prints the values, under the
// settings its session gets: postgresql.conf, ALTER DATABASE / ALTER ROLE
// ... SET (pg_db_role_setting), and its own connection's options. re_dms
// cannot see that session. Most differences show in the text and are caught
// per value (value_styles.h); float precision (extra_float_digits) does not:
// `0.1` printed with 15 digits is still a valid float. So the defaults a
// session of the same role and database gets are read here, and each one that
// differs from what the pipe needs (kPipeSessionOptions) becomes a warning.
// The server's encoding comes along: values are converted from it
// (source_encoding.h).

#ifndef RE_DMS_SOURCE_SETTINGS_H_
#define RE_DMS_SOURCE_SETTINGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re_dms {

struct SourceSettings {
  std::string server_encoding;  // As PostgreSQL names it: UTF8, LATIN1, SQL_ASCII, ...
  // One sentence each: a default that makes a pipe's values inexact unless
  // pg_recvlogical's session overrides it; names the setting, its value,
  // where it comes from (pg_settings.source) and the fix.
  std::vector<std::string> warnings;
};

// Connects with `conninfo` as given (its options and PGOPTIONS apply, as
// they would to pg_recvlogical with the same environment), reads the
// settings, disconnects. Unavailable when the source cannot be reached.
absl::StatusOr<SourceSettings> ReadSourceSettings(absl::string_view conninfo);

}  // namespace re_dms

#endif  // RE_DMS_SOURCE_SETTINGS_H_
