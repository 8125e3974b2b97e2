#include "tests/support/pg_scratch.h"

#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace re_dms::testing {
namespace {

absl::Status ExecOn(PGconn* conn, absl::string_view sql) {
  std::string text(sql);
  PGresult* result = PQexec(conn, text.c_str());
  ExecStatusType status = PQresultStatus(result);
  absl::Status out;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    out = absl::InternalError(
        absl::StrCat("SQL failed: ", PQresultErrorMessage(result), " in: ", sql.substr(0, 500)));
  }
  PQclear(result);
  return out;
}

absl::StatusOr<PGconn*> Connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status error =
        absl::UnavailableError(absl::StrCat("connect failed: ", PQerrorMessage(conn)));
    PQfinish(conn);
    return error;
  }
  return conn;
}

}  // namespace

struct ScratchDatabase::Connection {
  PGconn* conn = nullptr;
  ~Connection() { PQfinish(conn); }
};

absl::StatusOr<std::string> ServerConninfo() {
  const char* conninfo = std::getenv("RE_DMS_TEST_PG_CONNINFO");
  if (conninfo == nullptr || *conninfo == '\0') {
    return absl::FailedPreconditionError(
        "RE_DMS_TEST_PG_CONNINFO is not set: run the tests through ./scripts/test, or "
        "`eval \"$(scripts/services start DIR)\"` first");
  }
  return std::string(conninfo);
}

ScratchDatabase::ScratchDatabase(std::string server_conninfo, std::string name)
    : server_conninfo_(std::move(server_conninfo)),
      name_(std::move(name)),
      conninfo_(absl::StrCat(server_conninfo_, " dbname=", name_)),
      connection_(std::make_unique<Connection>()) {}

absl::StatusOr<std::unique_ptr<ScratchDatabase>> ScratchDatabase::Create(absl::string_view prefix) {
  absl::StatusOr<std::string> server = ServerConninfo();
  if (!server.ok()) return server.status();
  static std::atomic<int> counter{0};
  std::string name = absl::StrCat(prefix, "_", getpid(), "_", counter++);
  absl::StatusOr<PGconn*> admin = Connect(*server);
  if (!admin.ok()) return admin.status();
  absl::Status created = ExecOn(*admin, absl::StrCat("CREATE DATABASE \"", name, "\""));
  PQfinish(*admin);
  if (!created.ok()) return created;
  std::unique_ptr<ScratchDatabase> db(new ScratchDatabase(*server, name));
  absl::StatusOr<PGconn*> conn = Connect(db->conninfo_);
  if (!conn.ok()) return conn.status();
  db->connection_->conn = *conn;
  return db;
}

ScratchDatabase::~ScratchDatabase() {
  connection_.reset();
  absl::StatusOr<PGconn*> admin = Connect(server_conninfo_);
  if (!admin.ok()) return;
  // Slots pin the database; drop them before the database itself.
  ExecOn(*admin, absl::StrCat("SELECT pg_drop_replication_slot(slot_name) FROM "
                              "pg_replication_slots WHERE database = '",
                              name_, "' AND NOT active"))
      .IgnoreError();
  ExecOn(*admin, absl::StrCat("DROP DATABASE IF EXISTS \"", name_, "\" WITH (FORCE)")).IgnoreError();
  PQfinish(*admin);
}

absl::Status ScratchDatabase::Exec(absl::string_view sql) { return ExecOn(connection_->conn, sql); }

absl::StatusOr<std::vector<TextRow>> ScratchDatabase::Query(absl::string_view sql) {
  std::string text(sql);
  PGresult* result = PQexec(connection_->conn, text.c_str());
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    absl::Status error = absl::InternalError(
        absl::StrCat("query failed: ", PQresultErrorMessage(result), " in: ", sql.substr(0, 500)));
    PQclear(result);
    return error;
  }
  std::vector<TextRow> rows(PQntuples(result));
  for (int r = 0; r < PQntuples(result); ++r) {
    for (int c = 0; c < PQnfields(result); ++c) {
      if (PQgetisnull(result, r, c)) {
        rows[r].push_back(std::nullopt);
      } else {
        rows[r].emplace_back(std::string(PQgetvalue(result, r, c), PQgetlength(result, r, c)));
      }
    }
  }
  PQclear(result);
  return rows;
}

}  // namespace re_dms::testing
