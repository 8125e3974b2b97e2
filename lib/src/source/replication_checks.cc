#include "lib/src/source/replication_checks.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace re_dms::replication {

absl::Status CheckSlotName(absl::string_view slot) {
  bool valid = !slot.empty() && slot.size() <= 63;
  for (char c : slot) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_')) valid = false;
  }
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("slot name \"", slot.substr(0, 80),
                   "\" is not valid: use 1-63 lower-case letters, digits and underscores"));
}

std::string SessionOptions(absl::string_view user_options) {
  // Values must print exactly as the target will read them back (issue 15):
  // ISO dates, UTC, all float digits, hex bytea.
  constexpr absl::string_view kOurs =
      "-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3 "
      "-c bytea_output=hex";
  if (user_options.empty()) return std::string(kOurs);
  return absl::StrCat(user_options, " ", kOurs);
}

absl::Status CheckWalLevel(absl::string_view wal_level, absl::string_view slot) {
  if (wal_level == "logical") return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "slot \"", slot, "\": the source server runs with wal_level = ", wal_level,
      "; logical decoding needs wal_level = logical (set it in postgresql.conf and restart "
      "the server)"));
}

absl::Status CheckSlot(const std::optional<SlotRow>& row, absl::string_view slot,
                       absl::string_view database) {
  if (!row.has_value()) {
    return absl::NotFoundError(absl::StrCat("replication slot \"", slot,
                                            "\" does not exist; pass --create-slot (options."
                                            "create_slot) to create it with test_decoding"));
  }
  if (row->slot_type != "logical") {
    return absl::FailedPreconditionError(
        absl::StrCat("replication slot \"", slot, "\" is a ", row->slot_type,
                     " slot; re_dms needs a logical slot using test_decoding"));
  }
  if (row->plugin.value_or("") != "test_decoding") {
    return absl::FailedPreconditionError(absl::StrCat(
        "replication slot \"", slot, "\" uses the plugin ", row->plugin.value_or("(none)"),
        "; re_dms reads test_decoding: use another slot, or drop this one (if nothing else "
        "reads it) and let --create-slot make it"));
  }
  if (row->database.value_or("") != database) {
    return absl::FailedPreconditionError(absl::StrCat(
        "replication slot \"", slot, "\" belongs to database \"", row->database.value_or(""),
        "\", not to \"", database, "\" that the conninfo connects to"));
  }
  if (row->active_pid.has_value()) {
    return absl::AbortedError(absl::StrCat("replication slot \"", slot,
                                           "\" is active in another process (PID ",
                                           *row->active_pid, "); only one reader at a time"));
  }
  return absl::OkStatus();
}

absl::Status ConnectError(absl::string_view libpq_message, absl::string_view user,
                          absl::string_view slot) {
  absl::string_view message = absl::StripTrailingAsciiWhitespace(libpq_message);
  const std::string text =
      absl::StrCat("slot \"", slot, "\": connecting to the source failed: ", message);
  // PostgreSQL 15 says "must be superuser or replication role to start
  // walsender"; 16 "permission denied to start WAL sender".
  if (absl::StrContains(message, "replication role") ||
      absl::StrContains(message, "permission denied to start WAL sender")) {
    return absl::PermissionDeniedError(
        absl::StrCat(text, "; the role \"", user,
                     "\" lacks the REPLICATION attribute: grant it with ALTER ROLE \"", user,
                     "\" REPLICATION (as a superuser)"));
  }
  if (absl::StrContains(message, "password authentication failed") ||
      absl::StrContains(message, "no pg_hba.conf entry")) {
    return absl::PermissionDeniedError(text);
  }
  if (absl::StrContains(message, "does not exist")) return absl::NotFoundError(text);
  // Refused, reset, starting up, shutting down, too many clients: worth
  // another attempt.
  return absl::UnavailableError(text);
}

absl::Status ServerError(absl::string_view sqlstate, absl::string_view message,
                         absl::string_view slot, absl::string_view what) {
  message = absl::StripTrailingAsciiWhitespace(message);
  const std::string text = absl::StrCat(
      "slot \"", slot, "\": ", what, " failed",
      sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")"), ": ", message);
  if (sqlstate.empty() || absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "53") ||
      sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03") {
    return absl::UnavailableError(text);
  }
  if (sqlstate == "55006") return absl::AbortedError(text);  // Slot active elsewhere.
  if (sqlstate == "42704") {
    return absl::NotFoundError(
        absl::StrCat(text,
                     "; it was dropped: create it again (--create-slot) and re-sync the "
                     "tables, since changes since then are lost to it"));
  }
  if (sqlstate == "42501") return absl::PermissionDeniedError(text);
  if (sqlstate == "55000" && absl::StrContains(message, "wal_level")) {
    return absl::FailedPreconditionError(text);
  }
  return absl::InternalError(text);
}

}  // namespace re_dms::replication
