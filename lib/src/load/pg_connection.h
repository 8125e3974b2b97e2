// PgConnection: one libpq session to the target (PostgreSQL or Redshift, which
// speaks the same protocol), with the loader's connection policy built in.
//
// Policy: TLS is required (`sslmode=require`) for any host that is not a
// loopback address or a Unix socket, unless the conninfo names an sslmode
// itself; connects give up after `connect_timeout`; every statement is bounded
// by `statement_timeout` (set per session, so Redshift honours it too).
// Statements run asynchronously so that a cancelled CancelToken cancels the
// one running on the server (libpq's PQcancel) within a tenth of a second.
//
// Errors are classified by status code so callers can decide to retry the
// whole transaction:
//   kUnavailable  the connection is gone (SQLSTATE class 08, 57P01..57P03, or
//                 libpq lost the socket) -- reconnect and retry.
//   kAborted      serialization failure or deadlock (40001, 40P01) -- retry.
//   kAborted      also a lock_timeout (55P03): the lock may be free on a
//                 retry; IsLockTimeout tells it apart for logging.
//   kDeadlineExceeded  statement timeout (57014).
//   kCancelled    the CancelToken was cancelled (the statement was cancelled
//                 on the server, or not started).
//   kInternal     anything else the server rejected -- not retryable.
// Messages carry the server's text and SQLSTATE; callers add the context
// (table, position, statement kind). No message includes the statement text:
// statements may carry credentials.

#ifndef RE_DMS_LIB_SRC_PG_CONNECTION_H_
#define RE_DMS_LIB_SRC_PG_CONNECTION_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "re_dms/retry.h"

struct pg_conn;
struct pg_result;

namespace re_dms {

struct PgConnectionOptions {
  std::string conninfo;  // libpq keyword/value string or URI.
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration statement_timeout = absl::Minutes(30);
  // Not owned; see the header comment. Null: statements are not cancelled.
  const CancelToken* cancel = nullptr;
};

// Rows of a result, each value as text (NULL as std::nullopt).
using PgRow = std::vector<std::optional<std::string>>;

// True for the statuses a retry of the whole transaction can cure.
bool IsRetryablePgError(const absl::Status& status);
// True for a statement that gave up waiting for a lock (SQLSTATE 55P03).
bool IsLockTimeout(const absl::Status& status);

class PgConnection {
 public:
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const PgConnectionOptions& options);
  ~PgConnection();

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement (no parameters); returns its rows (empty for commands).
  absl::StatusOr<std::vector<PgRow>> Query(absl::string_view sql);
  absl::Status Exec(absl::string_view sql);
  // ROLLBACK, run even after the CancelToken was cancelled: what a cancel
  // leaves behind must be rolled back.
  absl::Status Rollback();

  // Runs `copy_sql` (a `COPY ... FROM STDIN`), then calls `produce` with a
  // writer until it returns; every chunk passed to the writer is sent with
  // PQputCopyData. An error from `produce` aborts the COPY (PQputCopyEnd with
  // an error message) and is returned as is.
  using CopyWriter = std::function<absl::Status(absl::string_view chunk)>;
  absl::Status CopyIn(absl::string_view copy_sql,
                      const std::function<absl::Status(const CopyWriter&)>& produce);

  // The server's backend process id (for tests that terminate it).
  int BackendPid() const;
  // Whether the socket is still usable.
  bool IsHealthy() const;

 private:
  PgConnection(pg_conn* conn, const CancelToken* cancel) : conn_(conn), cancel_(cancel) {}

  // Sends `sql` and waits for its result, cancelling it on the server when
  // `cancellable` and the token is cancelled meanwhile. Returns the first
  // error result, else the last one (null on a lost connection); sets
  // *cancelled when a cancel was sent.
  pg_result* Run(absl::string_view sql, bool cancellable, bool* cancelled);
  // Waits until a result is ready without blocking in libpq, so a cancel is
  // noticed. False when the connection broke.
  bool AwaitResult(bool cancellable, bool* cancelled);
  absl::StatusOr<std::vector<PgRow>> QueryImpl(absl::string_view sql, bool cancellable);

  pg_conn* conn_;
  const CancelToken* cancel_;
};

// The conninfo actually used: `conninfo` plus sslmode=require when the host is
// remote and no sslmode was given. Exposed for tests.
absl::StatusOr<std::string> EffectiveSslMode(absl::string_view conninfo);

}  // namespace re_dms

#endif  // RE_DMS_LIB_SRC_PG_CONNECTION_H_
