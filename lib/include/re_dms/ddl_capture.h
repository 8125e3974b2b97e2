// DDL capture: each table's schema as of each change, from the stream itself.
//
// test_decoding prints a change's column names, types and values, but not the
// table's key, nor the DDL between changes: a rename, a drop and a re-create,
// a column dropped and added again. Without more, re_dms asks the source's
// catalog, which describes each table as it is now (see KeyColumns).
//
// `re_dms ddl-capture install` adds to the source database, in schema
// `re_dms`:
//  - an event trigger on ddl_command_end: for each permanent table a statement
//    created or altered, a transactional logical message (prefix
//    kDdlMessagePrefix) holding the table's oid, its name and previous name,
//    its columns (name, type as test_decoding prints it, attnum, and the value
//    rows older than the column show) and its key, as they are after the
//    statement;
//  - an event trigger on sql_drop: the same message for each dropped table;
//  - a log of those messages (re_dms.ddl_capture_log), from which a rename's
//    message takes the previous name, and which re_dms never replicates.
// Transactional messages sit in the stream exactly between the changes written
// before and after the statement, and vanish with a rolled-back one.
//
// Installing needs a superuser (CREATE EVENT TRIGGER); the trigger functions
// run as their owner, so any role's DDL is captured and the replicating role
// needs nothing more. UninstallDdlCapture removes every object it added.

#ifndef RE_DMS_DDL_CAPTURE_H_
#define RE_DMS_DDL_CAPTURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/batch.h"
#include "re_dms/key_columns.h"

namespace re_dms {

inline constexpr absl::string_view kDdlMessagePrefix = "re_dms.ddl";
// The log the triggers write: its changes are in the stream, never replicated.
inline constexpr absl::string_view kDdlCaptureSchema = "re_dms";
inline constexpr absl::string_view kDdlCaptureLog = "ddl_capture_log";

// One captured statement's effect on one table.
struct DdlEvent {
  enum class Kind {
    kCreate,  // CREATE TABLE, CREATE TABLE AS, SELECT INTO: a new, empty table.
    kAlter,   // Any other statement on the table, a rename included.
    kDrop,    // The table is gone; columns and key are empty.
  };
  Kind kind = Kind::kAlter;
  std::string command;  // The command tag, e.g. `ALTER TABLE`.
  uint32_t oid = 0;
  std::string schema;
  std::string table;
  // The name the log held for the oid before the statement; nullopt when the
  // table is new or predates the installation's log.
  std::optional<std::string> previous_schema;
  std::optional<std::string> previous_table;
  // The columns (and their attnums) the log held for the oid before the
  // statement; empty when unknown.
  std::vector<ColumnDef> previous_columns;
  std::vector<int> previous_attnums;
  // kCreate/kAlter: every live column in attnum order (with
  // existing_rows_value), their attnums, and the key as KeyColumns reports it.
  std::vector<ColumnDef> columns;
  std::vector<int> attnums;
  TableKey key;

  bool renamed() const {
    return previous_table.has_value() && (*previous_schema != schema || *previous_table != table);
  }
};

// Reads a message's content. Errors say what is malformed; the caller adds
// the stream position.
absl::StatusOr<DdlEvent> ParseDdlMessage(absl::string_view content);

// The statements InstallDdlCapture and UninstallDdlCapture run, in order, each
// idempotent (install again upgrades the functions).
std::vector<std::string> DdlCaptureInstallSql();
std::vector<std::string> DdlCaptureUninstallSql();

// Runs those statements in one transaction on the source. Errors never
// include the conninfo.
absl::Status InstallDdlCapture(absl::string_view conninfo);
absl::Status UninstallDdlCapture(absl::string_view conninfo);

}  // namespace re_dms

#endif  // RE_DMS_DDL_CAPTURE_H_
