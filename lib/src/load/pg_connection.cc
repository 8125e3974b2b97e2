#include "lib/src/load/pg_connection.h"

#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace re_dms {
namespace {

bool IsLoopbackOrSocket(absl::string_view host) {
  // An empty host means the default Unix socket; a leading '/' (or '@' for an
  // abstract socket) names a socket directory.
  return host.empty() || host[0] == '/' || host[0] == '@' || host == "localhost" ||
         absl::StartsWith(host, "127.") || host == "::1";
}

// Maps a failed result to a classified status (see the header).
absl::Status ResultError(PGconn* conn, const PGresult* result, absl::string_view what) {
  const char* sqlstate_raw = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = sqlstate_raw ? sqlstate_raw : "";
  // The primary message and its detail, without libpq's "ERROR:  " framing;
  // libpq's own message when the server sent none (lost connection).
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string message = primary ? primary : PQerrorMessage(conn);
  if (detail != nullptr) absl::StrAppend(&message, " (", detail, ")");
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string text = absl::StrCat(what, " failed",
                                  sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")"),
                                  ": ", message);
  if (PQstatus(conn) != CONNECTION_OK || absl::StartsWith(sqlstate, "08") ||
      sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03") {
    return absl::UnavailableError(text);
  }
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
    return absl::AbortedError(text);
  }
  if (sqlstate == "57014") return absl::DeadlineExceededError(text);
  return absl::InternalError(text);
}

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

}  // namespace

bool IsRetryablePgError(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsAborted(status);
}

bool IsLockTimeout(const absl::Status& status) {
  return absl::IsAborted(status) && absl::StrContains(status.message(), "(SQLSTATE 55P03)");
}

absl::StatusOr<std::string> EffectiveSslMode(absl::string_view conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &error);
  if (options == nullptr) {
    // The parser's message quotes the offending fragment, which may be a
    // password; report only that parsing failed.
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError("target conninfo could not be parsed");
  }
  std::string host, hostaddr, sslmode;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    if (std::strcmp(option->keyword, "host") == 0) host = option->val;
    if (std::strcmp(option->keyword, "hostaddr") == 0) hostaddr = option->val;
    if (std::strcmp(option->keyword, "sslmode") == 0) sslmode = option->val;
  }
  PQconninfoFree(options);
  if (!sslmode.empty()) return sslmode;
  // Several hosts may be listed; every one must be local to skip TLS.
  bool all_local = true;
  for (absl::string_view h : absl::StrSplit(hostaddr.empty() ? host : hostaddr, ',')) {
    if (!IsLoopbackOrSocket(h)) all_local = false;
  }
  return all_local ? std::string("prefer") : std::string("require");
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const PgConnectionOptions& options) {
  absl::StatusOr<std::string> sslmode = EffectiveSslMode(options.conninfo);
  if (!sslmode.ok()) return sslmode.status();
  std::string connect_timeout =
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(options.connect_timeout)));
  // expand_dbname=1 expands the first `dbname` as a full conninfo; the keys
  // after it add what the conninfo left out (libpq: PQconnectdbParams).
  const char* keys[] = {"dbname", "sslmode", "connect_timeout", "application_name", nullptr};
  const char* values[] = {options.conninfo.c_str(), sslmode->c_str(), connect_timeout.c_str(),
                          "re_dms_loader", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return absl::UnavailableError(absl::StrCat("connecting to the target failed: ", message));
  }
  // Notices (e.g. "schema ... already exists, skipping") would go to stderr;
  // they carry nothing the loader acts on.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<PgConnection> connection(new PgConnection(conn, options.cancel));
  absl::Status timeout = connection->Exec(absl::StrCat(
      "SET statement_timeout = ", absl::ToInt64Milliseconds(options.statement_timeout)));
  if (!timeout.ok()) return timeout;
  // Values arrive as text (COPY, and casts in the merge): this session reads
  // them in the forms the stream carries (value_styles.h), whatever the
  // target's defaults; a `DMY` or zone default would move dates and times.
  // Both settings exist on Redshift too (Database Developer Guide,
  // "datestyle", "timezone"); the dialect's own ones are set by the loader.
  absl::Status styles = connection->Exec("SET DateStyle = 'ISO, MDY'");
  if (styles.ok()) styles = connection->Exec("SET TimeZone = 'UTC'");
  if (!styles.ok()) return styles;
  return connection;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

int PgConnection::BackendPid() const { return PQbackendPID(conn_); }

bool PgConnection::IsHealthy() const { return PQstatus(conn_) == CONNECTION_OK; }

bool PgConnection::AwaitResult(bool cancellable, bool* cancelled) {
  // After a cancel the server normally answers within milliseconds; one that
  // does not (a dead network) is given up on, so a stop never hangs on it.
  // Dropping the connection then makes the server roll back.
  constexpr absl::Duration kCancelGrace = absl::Seconds(5);
  std::optional<absl::Time> cancel_seen;
  while (PQisBusy(conn_)) {
    if (cancel_ != nullptr && cancel_->cancelled()) {
      if (!cancel_seen) cancel_seen = absl::Now();
      if (absl::Now() - *cancel_seen > kCancelGrace) return false;
    }
    if (cancellable && !*cancelled && cancel_seen) {
      // The server answers the statement with SQLSTATE 57014, or it had
      // finished anyway; either way its result follows. PQcancel connects
      // anew and blocks without a timeout, so it runs on its own thread.
      *cancelled = true;
      if (PGcancel* handle = PQgetCancel(conn_)) {
        std::thread([handle] {
          char error[256];
          PQcancel(handle, error, sizeof(error));
          PQfreeCancel(handle);
        }).detach();
      }
    }
    pollfd ready{PQsocket(conn_), POLLIN, 0};
    if (poll(&ready, 1, /*timeout_ms=*/100) < 0 && errno != EINTR) return false;
    if (PQconsumeInput(conn_) == 0) return false;
  }
  return true;
}

PGresult* PgConnection::Run(absl::string_view sql, bool cancellable, bool* cancelled) {
  *cancelled = false;
  if (PQsendQuery(conn_, std::string(sql).c_str()) == 0) return nullptr;
  ResultPtr kept;
  for (;;) {
    if (!AwaitResult(cancellable, cancelled)) return kept.release();
    PGresult* next = PQgetResult(conn_);
    if (next == nullptr) break;
    const ExecStatusType status = PQresultStatus(next);
    // COPY hands over the connection: the caller continues from here.
    if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT) {
      kept.reset(next);
      break;
    }
    // As PQexec: the first error wins, else the last result.
    if (kept && PQresultStatus(kept.get()) == PGRES_FATAL_ERROR) {
      PQclear(next);
    } else {
      kept.reset(next);
    }
  }
  return kept.release();
}

absl::StatusOr<std::vector<PgRow>> PgConnection::Query(absl::string_view sql) {
  return QueryImpl(sql, /*cancellable=*/true);
}

absl::Status PgConnection::Rollback() { return QueryImpl("ROLLBACK", false).status(); }

absl::StatusOr<std::vector<PgRow>> PgConnection::QueryImpl(absl::string_view sql,
                                                           bool cancellable) {
  if (cancellable && cancel_ != nullptr && cancel_->cancelled()) {
    return CancelledWhile("a statement was to start on the target");
  }
  bool cancelled = false;
  ResultPtr result(Run(sql, cancellable, &cancelled));
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    absl::Status error = ResultError(conn_, result.get(), "statement");
    if (cancelled && !absl::IsUnavailable(error)) {
      return CancelledWhile(absl::StrCat("a statement ran on the target (", error.message(), ")"));
    }
    return error;
  }
  std::vector<PgRow> rows;
  const int row_count = PQntuples(result.get());
  const int column_count = PQnfields(result.get());
  rows.reserve(row_count);
  for (int r = 0; r < row_count; ++r) {
    PgRow row;
    row.reserve(column_count);
    for (int c = 0; c < column_count; ++c) {
      if (PQgetisnull(result.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                     PQgetlength(result.get(), r, c)));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::Status PgConnection::Exec(absl::string_view sql) { return Query(sql).status(); }

absl::Status PgConnection::CopyIn(
    absl::string_view copy_sql, const std::function<absl::Status(const CopyWriter&)>& produce) {
  if (cancel_ != nullptr && cancel_->cancelled()) {
    return CancelledWhile("a COPY was to start on the target");
  }
  bool cancelled = false;
  {
    ResultPtr start(Run(copy_sql, /*cancellable=*/true, &cancelled));
    if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) {
      absl::Status error = ResultError(conn_, start.get(), "COPY");
      if (cancelled && !absl::IsUnavailable(error)) return CancelledWhile("a COPY started");
      return error;
    }
  }
  CopyWriter writer = [this](absl::string_view chunk) -> absl::Status {
    if (PQputCopyData(conn_, chunk.data(), static_cast<int>(chunk.size())) != 1) {
      return ResultError(conn_, nullptr, "COPY data");
    }
    return absl::OkStatus();
  };
  absl::Status produced = produce(writer);
  // On a producer error, end the COPY with an error so the server discards it.
  if (PQputCopyEnd(conn_, produced.ok() ? nullptr : "source failed") != 1) {
    if (!produced.ok()) return produced;
    return ResultError(conn_, nullptr, "COPY end");
  }
  absl::Status outcome;
  for (;;) {
    if (!AwaitResult(/*cancellable=*/true, &cancelled)) {
      // PQgetResult would block on a connection that stopped answering.
      if (outcome.ok()) outcome = ResultError(conn_, nullptr, "COPY");
      break;
    }
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) break;
    ResultPtr result(raw);
    if (PQresultStatus(raw) != PGRES_COMMAND_OK && outcome.ok()) {
      outcome = ResultError(conn_, raw, "COPY");
    }
  }
  if (!produced.ok()) return produced;
  if (cancelled && !outcome.ok() && !absl::IsUnavailable(outcome)) {
    return CancelledWhile("a COPY ran on the target");
  }
  if (outcome.ok() && PQstatus(conn_) != CONNECTION_OK) {
    return ResultError(conn_, nullptr, "COPY");
  }
  return outcome;
}

}  // namespace re_dms
