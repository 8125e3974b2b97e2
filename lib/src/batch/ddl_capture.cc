#include "re_dms/ddl_capture.h"

#include <limits>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/src/load/pg_connection.h"
#include "nlohmann/json.hpp"

namespace re_dms {
namespace {

// Ordinary tables only (relkind 'r', partitions included): a partitioned
// table holds no rows of its own, the stream names its partitions.
//
// The table's shape as KeyColumns reads it (key_columns.cc: the same catalog
// queries), as JSON. The function's SET clauses print attmissingval in the
// styles the stream has (value_styles.h), whatever the DDL session's settings.
constexpr char kShapeFunctionSql[] = R"sql(
CREATE OR REPLACE FUNCTION re_dms.ddl_capture_shape(rel pg_catalog.oid)
RETURNS pg_catalog.jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET DateStyle = ISO SET IntervalStyle = postgres SET TimeZone = UTC
SET extra_float_digits = 3 SET bytea_output = hex
AS $fn$
SELECT jsonb_build_object(
  'identity', c.relreplident::text,
  'columns', COALESCE((
    SELECT jsonb_agg(jsonb_build_object(
             'name', a.attname,
             'type', format_type(a.atttypid, NULL),
             'attnum', a.attnum,
             'missing', CASE WHEN a.atthasmissing THEN (a.attmissingval::text::text[])[1] END)
           ORDER BY a.attnum)
    FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::jsonb),
  'key', COALESCE((
    SELECT jsonb_agg(a.attname ORDER BY k.ord)
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = c.oid AND i.indimmediate AND i.indisvalid
      AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END),
    '[]'::jsonb))
FROM pg_class c WHERE c.oid = rel
$fn$)sql";

// Writes the log row and the message of one event. The log's last row for an
// oid holds the table's name and columns before the statement: the message
// carries them, so a reader knows a rename, and a column dropped and added
// again (a new attnum) even in one statement, from the message alone.
constexpr char kEmitFunctionSql[] = R"sql(
CREATE OR REPLACE FUNCTION re_dms.ddl_capture_emit(rel pg_catalog.oid, event pg_catalog.jsonb)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  previous record;
  message jsonb := event;
BEGIN
  SELECT l.schema_name, l.table_name, l.event INTO previous FROM re_dms.ddl_capture_log l
    WHERE l.relid = rel ORDER BY l.id DESC LIMIT 1;
  IF FOUND AND event->>'event' <> 'create' THEN
    message := message || jsonb_build_object('previous_schema', previous.schema_name,
                                             'previous_table', previous.table_name);
    IF previous.event ? 'columns' THEN
      message := message || jsonb_build_object('previous_columns', previous.event->'columns');
    END IF;
  END IF;
  INSERT INTO re_dms.ddl_capture_log (relid, schema_name, table_name, event)
    VALUES (rel, event->>'schema', event->>'table', event);
  PERFORM pg_logical_emit_message(true, 're_dms.ddl', message::text);
END
$fn$)sql";

// SECURITY DEFINER: pg_logical_emit_message and the log are the installer's;
// any role's DDL must be captured.
constexpr char kEndFunctionSql[] = R"sql(
CREATE OR REPLACE FUNCTION re_dms.ddl_capture_end()
RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  command record;
BEGIN
  FOR command IN
    SELECT DISTINCT ON (c.oid) c.oid, n.nspname, c.relname, d.command_tag
    FROM pg_event_trigger_ddl_commands() d
    JOIN pg_class c ON c.oid = d.objid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE d.classid = 'pg_class'::regclass AND c.relkind = 'r'
      AND c.relpersistence = 'p' AND n.nspname <> 're_dms'
    ORDER BY c.oid
  LOOP
    PERFORM re_dms.ddl_capture_emit(command.oid,
      jsonb_build_object(
        'version', 1,
        'event', CASE WHEN command.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
                      THEN 'create' ELSE 'alter' END,
        'command', command.command_tag,
        'oid', command.oid::bigint,
        'schema', command.nspname,
        'table', command.relname) || re_dms.ddl_capture_shape(command.oid));
  END LOOP;
END
$fn$)sql";

constexpr char kDropFunctionSql[] = R"sql(
CREATE OR REPLACE FUNCTION re_dms.ddl_capture_drop()
RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  dropped record;
BEGIN
  FOR dropped IN
    SELECT objid, schema_name, object_name FROM pg_event_trigger_dropped_objects()
    WHERE classid = 'pg_class'::regclass AND objsubid = 0 AND object_type = 'table'
      AND NOT is_temporary AND schema_name <> 're_dms'
  LOOP
    PERFORM re_dms.ddl_capture_emit(dropped.objid,
      jsonb_build_object('version', 1, 'event', 'drop', 'command', tg_tag,
                         'oid', dropped.objid::bigint, 'schema', dropped.schema_name,
                         'table', dropped.object_name));
  END LOOP;
END
$fn$)sql";

absl::Status FieldError(absl::string_view field, absl::string_view wanted) {
  return absl::InvalidArgumentError(
      absl::StrCat("DDL capture message: \"", field, "\" is missing or not ", wanted));
}

absl::StatusOr<std::string> StringField(const nlohmann::json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || !it->is_string()) return FieldError(field, "a string");
  return it->get<std::string>();
}

// The array `field` of column objects (name, type, attnum, missing).
absl::Status ParseColumns(const nlohmann::json& json, const char* field,
                          std::vector<ColumnDef>* columns, std::vector<int>* attnums) {
  auto array = json.find(field);
  if (array == json.end() || !array->is_array()) return FieldError(field, "an array");
  for (const nlohmann::json& column : *array) {
    if (!column.is_object()) return FieldError(field, "an array of objects");
    ColumnDef def;
    absl::StatusOr<std::string> name = StringField(column, "name");
    absl::StatusOr<std::string> type = StringField(column, "type");
    if (!name.ok()) return name.status();
    if (!type.ok()) return type.status();
    def.name = *std::move(name);
    def.type = *std::move(type);
    auto missing = column.find("missing");
    if (missing != column.end() && !missing->is_null()) {
      if (!missing->is_string()) return FieldError("missing", "a string or null");
      def.existing_rows_value = missing->get<std::string>();
    }
    auto attnum = column.find("attnum");
    if (attnum == column.end() || !attnum->is_number_integer()) {
      return FieldError("attnum", "a number");
    }
    attnums->push_back(attnum->get<int>());
    columns->push_back(std::move(def));
  }
  return absl::OkStatus();
}

absl::Status RunInOneTransaction(absl::string_view conninfo, const std::vector<std::string>& sql,
                                 absl::string_view what) {
  PgConnectionOptions options;
  options.conninfo = std::string(conninfo);
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(options);
  if (!connection.ok()) {
    return absl::Status(connection.status().code(),
                        absl::StrCat(what, ": ", connection.status().message()));
  }
  std::vector<std::string> statements = {"BEGIN"};
  statements.insert(statements.end(), sql.begin(), sql.end());
  statements.push_back("COMMIT");
  for (const std::string& statement : statements) {
    absl::Status status = (*connection)->Exec(statement);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DdlEvent> ParseDdlMessage(absl::string_view content) {
  nlohmann::json json = nlohmann::json::parse(content.begin(), content.end(), nullptr,
                                              /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError("DDL capture message is not a JSON object");
  }
  auto version = json.find("version");
  if (version == json.end() || !version->is_number_integer() || version->get<int64_t>() != 1) {
    return absl::InvalidArgumentError(
        "DDL capture message has an unknown version: install the capture of this re_dms again");
  }
  DdlEvent event;
  absl::StatusOr<std::string> kind = StringField(json, "event");
  if (!kind.ok()) return kind.status();
  if (*kind == "create") {
    event.kind = DdlEvent::Kind::kCreate;
  } else if (*kind == "alter") {
    event.kind = DdlEvent::Kind::kAlter;
  } else if (*kind == "drop") {
    event.kind = DdlEvent::Kind::kDrop;
  } else {
    return FieldError("event", "create, alter or drop");
  }
  for (auto [field, out] : {std::pair{"command", &event.command},
                            std::pair{"schema", &event.schema}, std::pair{"table", &event.table}}) {
    absl::StatusOr<std::string> value = StringField(json, field);
    if (!value.ok()) return value.status();
    *out = *std::move(value);
  }
  auto oid = json.find("oid");
  if (oid == json.end() || !oid->is_number_unsigned() ||
      oid->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
    return FieldError("oid", "an oid");
  }
  event.oid = oid->get<uint32_t>();
  if (json.contains("previous_table")) {
    absl::StatusOr<std::string> schema = StringField(json, "previous_schema");
    absl::StatusOr<std::string> table = StringField(json, "previous_table");
    if (!schema.ok()) return schema.status();
    if (!table.ok()) return table.status();
    event.previous_schema = *std::move(schema);
    event.previous_table = *std::move(table);
  }
  if (json.contains("previous_columns")) {
    absl::Status previous =
        ParseColumns(json, "previous_columns", &event.previous_columns, &event.previous_attnums);
    if (!previous.ok()) return previous;
  }
  if (event.kind == DdlEvent::Kind::kDrop) return event;

  absl::StatusOr<std::string> identity = StringField(json, "identity");
  if (!identity.ok()) return identity.status();
  if (*identity == "d") {
    event.key.identity = ReplicaIdentity::kDefault;
  } else if (*identity == "i") {
    event.key.identity = ReplicaIdentity::kIndex;
  } else if (*identity == "f") {
    event.key.identity = ReplicaIdentity::kFull;
  } else if (*identity == "n") {
    event.key.identity = ReplicaIdentity::kNothing;
  } else {
    return FieldError("identity", "one of d, i, f, n");
  }
  absl::Status columns = ParseColumns(json, "columns", &event.columns, &event.attnums);
  if (!columns.ok()) return columns;
  event.key.table_columns = event.columns;
  auto key = json.find("key");
  if (key == json.end() || !key->is_array()) return FieldError("key", "an array");
  for (const nlohmann::json& name : *key) {
    if (!name.is_string()) return FieldError("key", "an array of names");
    event.key.columns.push_back(name.get<std::string>());
  }
  return event;
}

std::vector<std::string> DdlCaptureInstallSql() {
  return {
      "CREATE SCHEMA IF NOT EXISTS re_dms",
      // lsn: where the statement wrote, before its commit and after every
      // commit of a change it had to wait for (DDL locks the table).
      "CREATE TABLE IF NOT EXISTS re_dms.ddl_capture_log ("
      "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
      "relid oid NOT NULL, schema_name text NOT NULL, table_name text NOT NULL, "
      "event jsonb NOT NULL, lsn pg_lsn NOT NULL DEFAULT pg_current_wal_insert_lsn(), "
      "logged_at timestamptz NOT NULL DEFAULT now())",
      "CREATE INDEX IF NOT EXISTS ddl_capture_log_relid ON re_dms.ddl_capture_log (relid, id)",
      kShapeFunctionSql,
      // Every existing table's name and shape, so that its first captured
      // statement knows what it had before.
      "INSERT INTO re_dms.ddl_capture_log (relid, schema_name, table_name, event) "
      "SELECT c.oid, n.nspname, c.relname, "
      "jsonb_build_object('event', 'installed') || re_dms.ddl_capture_shape(c.oid) "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
      "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 're_dms') "
      "AND NOT EXISTS (SELECT FROM re_dms.ddl_capture_log l WHERE l.relid = c.oid)",
      kEmitFunctionSql,
      kEndFunctionSql,
      kDropFunctionSql,
      "DROP EVENT TRIGGER IF EXISTS re_dms_ddl_capture_end",
      "CREATE EVENT TRIGGER re_dms_ddl_capture_end ON ddl_command_end "
      "EXECUTE FUNCTION re_dms.ddl_capture_end()",
      "DROP EVENT TRIGGER IF EXISTS re_dms_ddl_capture_drop",
      "CREATE EVENT TRIGGER re_dms_ddl_capture_drop ON sql_drop "
      "EXECUTE FUNCTION re_dms.ddl_capture_drop()",
  };
}

std::vector<std::string> DdlCaptureUninstallSql() {
  return {
      "DROP EVENT TRIGGER IF EXISTS re_dms_ddl_capture_end",
      "DROP EVENT TRIGGER IF EXISTS re_dms_ddl_capture_drop",
      "DROP FUNCTION IF EXISTS re_dms.ddl_capture_end()",
      "DROP FUNCTION IF EXISTS re_dms.ddl_capture_drop()",
      "DROP FUNCTION IF EXISTS re_dms.ddl_capture_emit(pg_catalog.oid, pg_catalog.jsonb)",
      "DROP FUNCTION IF EXISTS re_dms.ddl_capture_shape(pg_catalog.oid)",
      "DROP TABLE IF EXISTS re_dms.ddl_capture_log",
      // Only when empty: a schema of that name may hold someone else's objects.
      "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      "ON n.oid = c.relnamespace WHERE n.nspname = 're_dms') AND NOT EXISTS (SELECT FROM "
      "pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE "
      "n.nspname = 're_dms') THEN DROP SCHEMA IF EXISTS re_dms; END IF; END$$",
  };
}

absl::Status InstallDdlCapture(absl::string_view conninfo) {
  return RunInOneTransaction(conninfo, DdlCaptureInstallSql(),
                             "installing DDL capture in the source database");
}

absl::Status UninstallDdlCapture(absl::string_view conninfo) {
  return RunInOneTransaction(conninfo, DdlCaptureUninstallSql(),
                             "removing DDL capture from the source database");
}

}  // namespace re_dms
