#include "re_dms/key_columns.h"

#include <postgresql/libpq-fe.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace re_dms {
namespace {

std::string CacheKey(absl::string_view schema, absl::string_view table) {
  return absl::StrCat(schema, absl::string_view("\0", 1), table);
}

std::string QuoteIdentifier(absl::string_view name) {
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Reads the catalog with parameters, so no name is ever spliced into SQL.
constexpr char kRelationSql[] =
    "SELECT c.oid, c.relreplident FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = $1 AND c.relname = $2";
// The replica identity index under REPLICA IDENTITY USING INDEX, the primary
// key otherwise (https://www.postgresql.org/docs/15/catalog-pg-index.html:
// indisreplident, indisprimary; indkey lists the key's attnums in order).
// Like PostgreSQL's relcache (RelationGetIndexList), a deferrable primary key
// (not indimmediate) is no identity: PostgreSQL logs no old key for it, and
// rows may share its key inside a transaction.
constexpr char kKeySql[] =
    "SELECT a.attname FROM pg_catalog.pg_index i "
    "CROSS JOIN LATERAL unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "WHERE i.indrelid = $1::pg_catalog.oid AND i.indimmediate AND i.indisvalid "
    "AND CASE WHEN $2 = 'i' THEN i.indisreplident ELSE i.indisprimary END "
    "ORDER BY k.ord";
// format_type(oid, NULL) is format_type_be(), the function test_decoding
// prints column types with. attmissingval is the value rows older than an
// ADD COLUMN ... DEFAULT show (https://www.postgresql.org/docs/15/catalog-pg-attribute.html:
// a one-element array, meaningful only when atthasmissing); its element's
// text output is the column type's, as test_decoding prints values.
constexpr char kColumnsSql[] =
    "SELECT attname, pg_catalog.format_type(atttypid, NULL), "
    "CASE WHEN atthasmissing THEN (attmissingval::text::text[])[1] END "
    "FROM pg_catalog.pg_attribute "
    "WHERE attrelid = $1::pg_catalog.oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum";

// This session reads values too: attmissingval, printed by the column type's
// output function, is loaded like a streamed value. So it prints them in the
// forms the stream is required to have (value_styles.h), whatever the
// database's or role's defaults, and in UTF-8 like the converted stream
// (names compared with the stream's are UTF-8 on both sides).
constexpr char kSessionSql[] =
    "SET DateStyle = ISO; SET IntervalStyle = postgres; SET TimeZone = UTC; "
    "SET extra_float_digits = 3; SET bytea_output = hex; SET client_encoding = UTF8";

absl::Status SetUpSession(PGconn* conn) {
  Result result(PQexec(conn, kSessionSql));
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    return absl::UnavailableError(absl::StrCat("setting up the source catalog session failed: ",
                                               PQresultErrorMessage(result.get())));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ReplicaIdentityName(ReplicaIdentity identity) {
  switch (identity) {
    case ReplicaIdentity::kDefault:
      return "DEFAULT";
    case ReplicaIdentity::kIndex:
      return "USING INDEX";
    case ReplicaIdentity::kFull:
      return "FULL";
    case ReplicaIdentity::kNothing:
      return "NOTHING";
  }
  return "unknown";
}

std::string QuotedTableName(absl::string_view schema, absl::string_view table) {
  return absl::StrCat(QuoteIdentifier(schema), ".", QuoteIdentifier(table));
}

void StaticKeyColumns::Set(absl::string_view schema, absl::string_view table, TableKey key) {
  keys_[CacheKey(schema, table)] = std::move(key);
}

absl::StatusOr<TableKey> StaticKeyColumns::Lookup(absl::string_view schema,
                                                  absl::string_view table) {
  auto it = keys_.find(CacheKey(schema, table));
  if (it == keys_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no key configured for table ", QuotedTableName(schema, table)));
  }
  return it->second;
}

void StaticKeyColumns::Invalidate(absl::string_view, absl::string_view) {}

struct PgKeyColumns::Connection {
  PGconn* conn = nullptr;
  ~Connection() { PQfinish(conn); }

  // Runs a parameterized query expected to return rows.
  // `table` names the table in errors.
  absl::StatusOr<Result> Run(const char* sql, std::initializer_list<const std::string*> params,
                             absl::string_view table) {
    std::vector<const char*> values;
    for (const std::string* param : params) values.push_back(param->c_str());
    Result result(PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0));
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      return absl::UnavailableError(
          absl::StrCat("reading the key of ", table,
                       " from the source catalog failed: ", PQresultErrorMessage(result.get())));
    }
    return result;
  }
};

PgKeyColumns::PgKeyColumns(std::string conninfo) : conninfo_(std::move(conninfo)) {}

PgKeyColumns::~PgKeyColumns() = default;

absl::StatusOr<std::unique_ptr<PgKeyColumns>> PgKeyColumns::Connect(absl::string_view conninfo) {
  // libpq's parse errors quote the offending fragment, which may be part of a
  // password: check the syntax first and report only that it failed.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(std::string(conninfo).c_str(), &parse_error);
  if (parsed == nullptr) {
    if (parse_error != nullptr) PQfreemem(parse_error);
    return absl::InvalidArgumentError("source conninfo could not be parsed");
  }
  PQconninfoFree(parsed);
  std::unique_ptr<PgKeyColumns> keys(new PgKeyColumns(std::string(conninfo)));
  absl::MutexLock lock(&keys->mutex_);
  keys->connection_ = std::make_unique<Connection>();
  keys->connection_->conn = PQconnectdb(keys->conninfo_.c_str());
  if (PQstatus(keys->connection_->conn) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("connecting to the source database failed: ",
                                               PQerrorMessage(keys->connection_->conn)));
  }
  if (absl::Status set_up = SetUpSession(keys->connection_->conn); !set_up.ok()) return set_up;
  return keys;
}

absl::StatusOr<TableKey> PgKeyColumns::Lookup(absl::string_view schema, absl::string_view table) {
  std::string cache_key = CacheKey(schema, table);
  absl::MutexLock lock(&mutex_);
  auto it = cache_.find(cache_key);
  if (it != cache_.end()) return it->second;
  absl::StatusOr<TableKey> key = Query(schema, table);
  if (!key.ok()) return key.status();
  cache_.emplace(std::move(cache_key), *key);
  return key;
}

void PgKeyColumns::Invalidate(absl::string_view schema, absl::string_view table) {
  absl::MutexLock lock(&mutex_);
  cache_.erase(CacheKey(schema, table));
}

absl::StatusOr<TableKey> PgKeyColumns::Query(absl::string_view schema, absl::string_view table) {
  if (PQstatus(connection_->conn) != CONNECTION_OK) {
    PQreset(connection_->conn);  // A new session: set it up again.
    if (absl::Status set_up = SetUpSession(connection_->conn); !set_up.ok()) return set_up;
  }
  const std::string schema_text(schema);
  const std::string table_text(table);
  const std::string name = QuotedTableName(schema, table);
  absl::StatusOr<Result> relation =
      connection_->Run(kRelationSql, {&schema_text, &table_text}, name);
  if (!relation.ok()) return relation.status();
  if (PQntuples(relation->get()) != 1) {
    return absl::NotFoundError(
        absl::StrCat("table ", name, " does not exist in the source database"));
  }
  const std::string oid = PQgetvalue(relation->get(), 0, 0);
  const std::string replident = PQgetvalue(relation->get(), 0, 1);

  TableKey key;
  if (!absl::SimpleAtoi(oid, &key.oid)) key.oid = 0;
  if (replident == "f") {
    key.identity = ReplicaIdentity::kFull;
  } else if (replident == "i") {
    key.identity = ReplicaIdentity::kIndex;
  } else if (replident == "n") {
    key.identity = ReplicaIdentity::kNothing;
  }
  absl::StatusOr<Result> key_rows = connection_->Run(kKeySql, {&oid, &replident}, name);
  if (!key_rows.ok()) return key_rows.status();
  for (int row = 0; row < PQntuples(key_rows->get()); ++row) {
    key.columns.emplace_back(PQgetvalue(key_rows->get(), row, 0));
  }
  absl::StatusOr<Result> columns = connection_->Run(kColumnsSql, {&oid}, name);
  if (!columns.ok()) return columns.status();
  for (int row = 0; row < PQntuples(columns->get()); ++row) {
    ColumnDef column{PQgetvalue(columns->get(), row, 0), PQgetvalue(columns->get(), row, 1)};
    if (!PQgetisnull(columns->get(), row, 2)) {
      column.existing_rows_value = PQgetvalue(columns->get(), row, 2);
    }
    key.table_columns.push_back(std::move(column));
  }
  return key;
}

}  // namespace re_dms
