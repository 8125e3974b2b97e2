#include "re_dms/replication_source.h"

#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/src/source/replication_checks.h"

namespace re_dms {
namespace {

using replication::FormatLsn;

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
constexpr int64_t kPostgresEpochMicros = int64_t{946684800} * 1000000;

uint64_t ReadUint64(const char* p) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

void AppendUint64(uint64_t value, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

void RaiseTo(std::atomic<uint64_t>* value, uint64_t to) {
  uint64_t seen = value->load();
  while (seen < to && !value->compare_exchange_weak(seen, to)) {
  }
}

// The error of a failed PQexec (or of the stream's final result).
absl::Status ResultError(PGconn* conn, const PGresult* result, absl::string_view slot,
                         absl::string_view what) {
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = primary ? primary : PQerrorMessage(conn);
  if (message.empty()) message = "the server closed the connection";
  // A lost connection never carries a server SQLSTATE; classify it as such
  // even when libpq synthesized a result for it.
  if (PQstatus(conn) != CONNECTION_OK) sqlstate = nullptr;
  return replication::ServerError(sqlstate ? sqlstate : "", message, slot, what);
}

// Runs a simple query or replication command that returns rows.
absl::StatusOr<ResultPtr> Query(PGconn* conn, const std::string& sql, absl::string_view slot,
                                absl::string_view what) {
  ResultPtr result(PQexec(conn, sql.c_str()));
  if (result == nullptr || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return ResultError(conn, result.get(), slot, what);
  }
  return result;
}

std::optional<std::string> Value(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column)) return std::nullopt;
  return std::string(PQgetvalue(result, row, column), PQgetlength(result, row, column));
}

}  // namespace

ReplicationSource::ReplicationSource(ReplicationSourceOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ReplicationSource>> ReplicationSource::Open(
    ReplicationSourceOptions options) {
  absl::Status name = replication::CheckSlotName(options.slot);
  if (!name.ok()) return name;
  if (options.status_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("slot \"", options.slot, "\": status_interval must be positive"));
  }
  std::unique_ptr<ReplicationSource> source(new ReplicationSource(std::move(options)));
  absl::Status connected = source->Connect(/*initial=*/true);
  if (!connected.ok()) {
    source->closed_ = true;
    return connected;
  }
  source->feedback_ = std::thread([raw = source.get()] { raw->FeedbackLoop(); });
  return source;
}

ReplicationSource::~ReplicationSource() {
  if (!closed_) Close().IgnoreError();
}

absl::Status ReplicationSource::Connect(bool initial) {
  const absl::string_view slot = options_.slot;
  // Parse first: libpq's parse errors quote the offending text, which may be
  // a password, so only that it failed is reported.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options_.conninfo.c_str(), &parse_error);
  if (parsed == nullptr) {
    if (parse_error != nullptr) PQfreemem(parse_error);
    return absl::InvalidArgumentError(
        absl::StrCat("slot \"", slot, "\": the source conninfo could not be parsed"));
  }
  std::string user_options;
  for (PQconninfoOption* option = parsed; option->keyword != nullptr; ++option) {
    if (std::strcmp(option->keyword, "options") == 0 && option->val != nullptr) {
      user_options = option->val;
    }
  }
  PQconninfoFree(parsed);
  const std::string session_options = replication::SessionOptions(user_options);
  const std::string connect_timeout =
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(options_.connect_timeout)));
  // Keys after the expanded dbname override the conninfo's; the fallback
  // application name only fills a gap.
  const char* keys[] = {"fallback_application_name", "dbname", "replication", "options",
                        "connect_timeout",           nullptr};
  const char* values[] = {"re_dms",
                          options_.conninfo.c_str(),
                          "database",
                          session_options.c_str(),
                          connect_timeout.c_str(),
                          nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  std::unique_ptr<PGconn, void (*)(PGconn*)> owned(conn, PQfinish);
  if (PQstatus(conn) != CONNECTION_OK) {
    const char* user = PQuser(conn);
    return replication::ConnectError(PQerrorMessage(conn), user ? user : "", slot);
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);

  absl::StatusOr<ResultPtr> system = Query(conn, "IDENTIFY_SYSTEM", slot, "IDENTIFY_SYSTEM");
  if (!system.ok()) return system.status();
  if (PQnfields(system->get()) < 4 || PQntuples(system->get()) != 1) {
    return absl::InternalError(
        absl::StrCat("slot \"", slot, "\": IDENTIFY_SYSTEM returned an unexpected result"));
  }
  const std::string database = Value(system->get(), 0, 3).value_or("");

  absl::StatusOr<ResultPtr> level =
      Query(conn, "SELECT current_setting('wal_level')", slot, "reading wal_level");
  if (!level.ok()) return level.status();
  absl::Status wal_level = replication::CheckWalLevel(Value(level->get(), 0, 0).value_or(""), slot);
  if (!wal_level.ok()) return wal_level;

  char* literal = PQescapeLiteral(conn, options_.slot.data(), options_.slot.size());
  if (literal == nullptr) return ResultError(conn, nullptr, slot, "quoting the slot name");
  const std::string slot_query = absl::StrCat(
      "SELECT plugin, slot_type, database, active_pid, confirmed_flush_lsn "
      "FROM pg_replication_slots WHERE slot_name = ",
      literal);
  PQfreemem(literal);
  auto check_slot = [&]() -> absl::StatusOr<std::optional<replication::SlotRow>> {
    absl::StatusOr<ResultPtr> rows = Query(conn, slot_query, slot, "looking up the slot");
    if (!rows.ok()) return rows.status();
    if (PQntuples(rows->get()) == 0) return std::optional<replication::SlotRow>();
    const PGresult* r = rows->get();
    return std::optional<replication::SlotRow>(
        replication::SlotRow{Value(r, 0, 0), Value(r, 0, 1).value_or(""), Value(r, 0, 2),
                             Value(r, 0, 3), Value(r, 0, 4)});
  };
  absl::StatusOr<std::optional<replication::SlotRow>> row = check_slot();
  if (!row.ok()) return row.status();
  if (!row->has_value() && !initial) {
    // Never re-create a slot that vanished while streaming: the changes
    // since it was dropped are lost to it, and a new slot would hide that.
    return absl::NotFoundError(absl::StrCat(
        "replication slot \"", slot,
        "\" was dropped while re_dms was reading it; the changes since are lost to it: "
        "create it again (--create-slot) and re-sync the tables"));
  }
  if (!row->has_value() && options_.create_slot) {
    // NOEXPORT_SNAPSHOT: nothing reads the snapshot, and exporting one would
    // tie it to this connection.
    ResultPtr created(PQexec(conn, absl::StrCat("CREATE_REPLICATION_SLOT \"", options_.slot,
                                                "\" LOGICAL test_decoding NOEXPORT_SNAPSHOT")
                                       .c_str()));
    if (created == nullptr || PQresultStatus(created.get()) != PGRES_TUPLES_OK) {
      const char* sqlstate =
          created ? PQresultErrorField(created.get(), PG_DIAG_SQLSTATE) : nullptr;
      // 42710: created meanwhile by someone else; the check below judges it.
      if (sqlstate == nullptr || std::strcmp(sqlstate, "42710") != 0) {
        return ResultError(conn, created.get(), slot, "CREATE_REPLICATION_SLOT");
      }
    }
    row = check_slot();
    if (!row.ok()) return row.status();
  }
  absl::Status usable = replication::CheckSlot(*row, slot, database);
  if (!usable.ok()) return usable;
  uint64_t confirmed = 0;
  if ((*row)->confirmed_flush_lsn.has_value()) {
    absl::StatusOr<uint64_t> lsn = replication::ParseLsn(*(*row)->confirmed_flush_lsn);
    if (lsn.ok()) confirmed = *lsn;
  }

  // 0/0: resume at the slot's confirmed_flush_lsn.
  ResultPtr started(
      PQexec(conn, absl::StrCat("START_REPLICATION SLOT \"", options_.slot,
                                "\" LOGICAL 0/0 (\"include-xids\" '1', \"include-timestamp\" '1', "
                                "\"skip-empty-xacts\" '1')")
                       .c_str()));
  if (started == nullptr || PQresultStatus(started.get()) != PGRES_COPY_BOTH) {
    return ResultError(conn, started.get(), slot, "START_REPLICATION");
  }
  // What earlier runs confirmed stays confirmed: never report less (the
  // server would move the slot back).
  RaiseTo(&acknowledged_, confirmed);
  std::lock_guard<std::mutex> lock(conn_mu_);
  conn_ = owned.release();
  received_ = std::max(received_, confirmed);
  last_status_ = absl::Now();
  return absl::OkStatus();
}

absl::Status ReplicationSource::Reconnect(const absl::Status& cause) {
  {
    std::lock_guard<std::mutex> lock(conn_mu_);
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }
  Warn(absl::Status(cause.code(), absl::StrCat(cause.message(), "; reconnecting to resume from ",
                                               FormatLsn(acknowledged_.load()))));
  int attempt = 0;
  absl::Status status = RunWithRetries(
      options_.reconnect,
      [&] {
        absl::Status connected = Connect(/*initial=*/false);
        ++attempt;
        if (!connected.ok() && (absl::IsUnavailable(connected) || absl::IsAborted(connected))) {
          Warn(absl::Status(connected.code(), absl::StrCat("reconnect attempt ", attempt,
                                                           " failed: ", connected.message())));
        }
        return connected;
      },
      [](const absl::Status& s) { return absl::IsUnavailable(s) || absl::IsAborted(s); });
  if (!status.ok()) return status;
  lost_ = absl::OkStatus();
  restarts_.fetch_add(1);
  return absl::OkStatus();
}

absl::StatusOr<bool> ReplicationSource::Read(std::string* chunk) {
  chunk->clear();
  if (closed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("slot \"", options_.slot, "\": Read() after Close()"));
  }
  if (!lost_.ok()) {
    absl::Status reconnected = Reconnect(lost_);
    if (!reconnected.ok()) return reconnected;
  }
  const absl::Time deadline = absl::Now() + options_.idle_wait;
  for (;;) {
    int socket = -1;
    {
      std::lock_guard<std::mutex> lock(conn_mu_);
      absl::Status status;
      if (PQconsumeInput(conn_) == 0) {
        status = ResultError(conn_, nullptr, options_.slot, "reading the stream");
      }
      while (status.ok() && chunk->size() < options_.max_chunk_bytes) {
        char* buffer = nullptr;
        const int size = PQgetCopyData(conn_, &buffer, /*async=*/1);
        if (size > 0) {
          status = HandleMessage(buffer, size, chunk);
          PQfreemem(buffer);
          continue;
        }
        if (size == 0) break;
        if (size == -1) {
          // The server ended the COPY: its result says why (shutdown,
          // terminated walsender, an error).
          ResultPtr result(PQgetResult(conn_));
          if (result != nullptr && PQresultStatus(result.get()) == PGRES_FATAL_ERROR) {
            status = ResultError(conn_, result.get(), options_.slot, "streaming");
          } else {
            status = absl::UnavailableError(
                absl::StrCat("slot \"", options_.slot, "\": the server ended the stream"));
          }
        } else {
          status = ResultError(conn_, nullptr, options_.slot, "reading the stream");
        }
      }
      if (!status.ok()) {
        status = absl::Status(status.code(), absl::StrCat(status.message(), " (received through ",
                                                          FormatLsn(received_), ")"));
        if (!absl::IsUnavailable(status) && !absl::IsAborted(status)) return status;
        lost_ = status;
      }
      socket = PQsocket(conn_);
    }
    if (!chunk->empty()) {
      stream_offset_ += chunk->size();
      return true;
    }
    if (!lost_.ok()) {
      absl::Status reconnected = Reconnect(lost_);
      if (!reconnected.ok()) return reconnected;
      continue;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    // Only this thread replaces the connection, so its socket stays valid
    // while the lock is released for the wait.
    pollfd ready{socket, POLLIN, 0};
    const int timeout_ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(left)));
    if (poll(&ready, 1, timeout_ms) < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("slot \"", options_.slot, "\": waiting for the stream"));
    }
  }
}

absl::Status ReplicationSource::HandleMessage(const char* data, int size, std::string* chunk) {
  const size_t length = static_cast<size_t>(size);
  if (data[0] == 'w' && length >= 25) {
    // XLogData: dataStart, walEnd, sendTime, then the plugin's output.
    const uint64_t data_start = ReadUint64(data + 1);
    const uint64_t wal_end = ReadUint64(data + 9);
    received_ = std::max({received_, data_start, wal_end});
    absl::string_view payload(data + 25, length - 25);
    // test_decoding writes a commit at the transaction's end LSN.
    if (absl::StartsWith(payload, "COMMIT")) {
      commits_.emplace_back(stream_offset_ + chunk->size(), data_start);
      read_through_ = std::max(read_through_.value_or(0), data_start);
    }
    chunk->append(payload.data(), payload.size());
    chunk->push_back('\n');
    return absl::OkStatus();
  }
  if (data[0] == 'k' && length >= 18) {
    // Primary keepalive: walEnd, sendTime, replyRequested. Every commit before
    // walEnd has been sent, and so is in this or an earlier chunk.
    const uint64_t wal_end = ReadUint64(data + 1);
    received_ = std::max(received_, wal_end);
    read_through_ = std::max(read_through_.value_or(0), wal_end);
    if (data[17] != 0) return SendStatusLocked(/*reply_requested=*/false);
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("slot \"", options_.slot,
                                          "\": unexpected replication message of type '",
                                          absl::string_view(data, 1), "' and ", size, " bytes"));
}

absl::Status ReplicationSource::SendStatusLocked(bool reply_requested) {
  if (conn_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("slot \"", options_.slot, "\": not connected"));
  }
  // Flushed and applied: exactly what was acknowledged, never more. Written:
  // what arrived, which the server shows as write_lsn.
  const uint64_t flush = acknowledged_.load();
  const uint64_t write = std::max(received_, flush);
  std::string message = "r";
  AppendUint64(write, &message);
  AppendUint64(flush, &message);
  AppendUint64(flush, &message);
  AppendUint64(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()) - kPostgresEpochMicros),
               &message);
  message.push_back(reply_requested ? 1 : 0);
  if (PQputCopyData(conn_, message.data(), static_cast<int>(message.size())) <= 0 ||
      PQflush(conn_) != 0) {
    return ResultError(conn_, nullptr, options_.slot, "sending a status update");
  }
  last_status_ = absl::Now();
  return absl::OkStatus();
}

void ReplicationSource::FeedbackLoop() {
  for (;;) {
    absl::Time next;
    {
      std::lock_guard<std::mutex> lock(conn_mu_);
      if (conn_ != nullptr && absl::Now() >= last_status_ + options_.status_interval) {
        // A failure shows up in Read(), which reconnects.
        SendStatusLocked(/*reply_requested=*/false).IgnoreError();
      }
      next = last_status_ + options_.status_interval;
    }
    std::unique_lock<std::mutex> lock(feedback_mu_);
    const absl::Duration wait =
        std::max(next - absl::Now(), std::min(options_.status_interval, absl::Milliseconds(100)));
    feedback_cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [this] { return stop_feedback_; });
    if (stop_feedback_) return;
  }
}

std::optional<uint64_t> ReplicationSource::CommitLsn(uint64_t offset) {
  while (!commits_.empty() && commits_.front().first < offset) commits_.pop_front();
  if (commits_.empty() || commits_.front().first != offset) return std::nullopt;
  const uint64_t lsn = commits_.front().second;
  commits_.pop_front();
  return lsn;
}

std::optional<uint64_t> ReplicationSource::ReadThrough() { return read_through_; }

void ReplicationSource::Acknowledge(uint64_t lsn) { RaiseTo(&acknowledged_, lsn); }

absl::Status ReplicationSource::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  if (feedback_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(feedback_mu_);
      stop_feedback_ = true;
    }
    feedback_cv_.notify_all();
    feedback_.join();
  }
  std::lock_guard<std::mutex> lock(conn_mu_);
  if (conn_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "slot \"", options_.slot, "\": the connection was lost; acknowledged position ",
        FormatLsn(acknowledged_.load()), " not reported on close"));
  }
  absl::Status status = SendStatusLocked(/*reply_requested=*/false);
  if (status.ok() && PQputCopyEnd(conn_, nullptr) == 1 && PQflush(conn_) == 0) {
    // Let the server end the COPY too (bounded: whatever it still sends is
    // discarded). The status update went out first either way.
    const absl::Time deadline = absl::Now() + absl::Seconds(2);
    bool done = false;
    while (!done && absl::Now() < deadline) {
      if (PQconsumeInput(conn_) == 0) break;
      char* buffer = nullptr;
      int size;
      while ((size = PQgetCopyData(conn_, &buffer, /*async=*/1)) > 0) PQfreemem(buffer);
      if (size == -2) break;
      if (size == -1) {
        while (!PQisBusy(conn_)) {
          PGresult* result = PQgetResult(conn_);
          if (result == nullptr) {
            done = true;
            break;
          }
          PQclear(result);
        }
        if (done) break;
      }
      pollfd ready{PQsocket(conn_), POLLIN, 0};
      poll(&ready, 1, 50);
    }
  }
  PQfinish(conn_);
  conn_ = nullptr;
  return status;
}

void ReplicationSource::Warn(const absl::Status& status) const {
  if (options_.on_warning) options_.on_warning(status);
}

}  // namespace re_dms
