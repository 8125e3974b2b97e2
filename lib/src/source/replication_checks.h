// The pure parts of ReplicationSource: LSN text, session options, and the
// mapping from what the server reports to clear errors. Separate so that each
// message can be checked without a server in that state (wal_level cannot be
// changed on a shared test server).

#ifndef RE_DMS_LIB_SRC_SOURCE_REPLICATION_CHECKS_H_
#define RE_DMS_LIB_SRC_SOURCE_REPLICATION_CHECKS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/lsn.h"

namespace re_dms::replication {

using ::re_dms::FormatLsn;
using ::re_dms::ParseLsn;

// Slot names are what PostgreSQL accepts ([a-z0-9_], 1-63 characters), so a
// name can be quoted into replication commands as is.
absl::Status CheckSlotName(absl::string_view slot);

// The startup `options` for the connection: the user's own, then ours, so
// ours win (the server applies -c settings in order).
std::string SessionOptions(absl::string_view user_options);

absl::Status CheckWalLevel(absl::string_view wal_level, absl::string_view slot);

// A row of pg_replication_slots.
struct SlotRow {
  std::optional<std::string> plugin;  // NULL for a physical slot.
  std::string slot_type;
  std::optional<std::string> database;
  std::optional<std::string> active_pid;
  std::optional<std::string> confirmed_flush_lsn;
};

// OK when the slot can be streamed from `database` by this process. A missing
// slot is NotFound (the caller creates it when asked); one active elsewhere is
// Aborted, since that passes once the other process lets go (a walsender
// that was just terminated may still hold it for a moment).
absl::Status CheckSlot(const std::optional<SlotRow>& row, absl::string_view slot,
                       absl::string_view database);

// A failed connection attempt: libpq's message (which never holds the
// password) classified; `user` is the role connecting.
absl::Status ConnectError(absl::string_view libpq_message, absl::string_view user,
                          absl::string_view slot);

// A failed command or a broken stream: Unavailable when a reconnect may help
// (connection lost, server shutting down or starting), Aborted when the slot
// is in use, NotFound when it is gone, others as permanent errors. `what`
// names the step (e.g. "START_REPLICATION").
absl::Status ServerError(absl::string_view sqlstate, absl::string_view message,
                         absl::string_view slot, absl::string_view what);

}  // namespace re_dms::replication

#endif  // RE_DMS_LIB_SRC_SOURCE_REPLICATION_CHECKS_H_
