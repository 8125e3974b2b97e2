// ReplicationSource: a StreamSource that reads a logical replication slot
// (test_decoding) over PostgreSQL's streaming replication protocol, and
// confirms to the server only the positions its caller acknowledges.
//
// Unlike `pg_recvlogical | re_dms`, which confirms whatever it has written into
// the pipe, the slot's confirmed_flush_lsn moves only to what Acknowledge() was
// given -- what the target has durably applied -- so a crash anywhere loses
// nothing: the next run resumes from the slot and the checkpoints skip what was
// already loaded.
//
//   ReplicationSourceOptions options;
//   options.conninfo = "host=db.example.com dbname=shop user=re_dms";
//   options.slot = "re_dms";
//   auto source = ReplicationSource::Open(std::move(options));
//   // Read() as any StreamSource; Acknowledge(lsn) once `lsn` is loaded.
//   (*source)->Close();

#ifndef RE_DMS_REPLICATION_SOURCE_H_
#define RE_DMS_REPLICATION_SOURCE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "re_dms/retry.h"
#include "re_dms/stream_source.h"

typedef struct pg_conn PGconn;

namespace re_dms {

struct ReplicationSourceOptions {
  // libpq conninfo (keyword/value or URI) of the source database. re_dms adds
  // replication=database and the session settings that make values print
  // exactly (ISO dates, UTC, hex bytea, shortest-exact floats); those win
  // over the same settings in the conninfo's own `options`.
  std::string conninfo;
  // The logical slot to read: 1-63 characters of [a-z0-9_].
  std::string slot;
  // Create the slot (test_decoding) when it is missing; otherwise a missing
  // slot is an error.
  bool create_slot = false;
  // How often a standby status update reports the acknowledged position,
  // also while nobody calls Read() (a blocked pipeline must not make the
  // server's wal_sender_timeout drop the connection). pg_recvlogical's 10 s.
  absl::Duration status_interval = absl::Seconds(10);
  // Read() returns an empty chunk after waiting this long for data.
  absl::Duration idle_wait = absl::Milliseconds(100);
  // Read() returns at most about this many bytes (whole messages; one larger
  // message is returned alone).
  size_t max_chunk_bytes = size_t{1} << 20;
  absl::Duration connect_timeout = absl::Seconds(10);
  // Backoff between reconnect attempts after the connection is lost; the
  // deadline bounds one outage. Permanent errors (slot dropped, permission)
  // are not retried.
  // Its `cancel` ends an outage's wait at once (a second stop request).
  RetryPolicy reconnect{/*max_attempts=*/1000,
                        /*initial_backoff=*/absl::Milliseconds(200),
                        /*max_backoff=*/absl::Seconds(30),
                        /*deadline=*/absl::Minutes(30),
                        /*on_retry=*/{},
                        /*cancel=*/nullptr};
  // Told of each lost connection (with its cause) and each failed reconnect
  // attempt, from the thread calling Read(). Never holds credentials.
  std::function<void(const absl::Status&)> on_warning;
};

// Not copyable. Read(), CommitLsn(), ReadThrough() and Close() belong to one
// reading thread; Acknowledge(), acknowledged() and restarts() may be called
// from any thread.
class ReplicationSource final : public StreamSource {
 public:
  // Connects, checks the slot (and creates it when asked), and starts
  // streaming from the slot's confirmed position. Errors name the slot and
  // say what to do: a missing slot (--create-slot), one of another plugin,
  // physical or of another database, one active in another process (its
  // PID), wal_level not logical, a role without REPLICATION.
  static absl::StatusOr<std::unique_ptr<ReplicationSource>> Open(ReplicationSourceOptions options);

  ~ReplicationSource() override;  // Close()s when not yet closed.
  ReplicationSource(const ReplicationSource&) = delete;
  ReplicationSource& operator=(const ReplicationSource&) = delete;

  // Whole test_decoding messages, each followed by '\n' (the text
  // `pg_recvlogical -f -` writes). A lost connection is re-established here,
  // with backoff, and streaming restarts from the slot (restarts() + 1):
  // Read() then blocks for up to options.reconnect.deadline. Permanent errors
  // (slot dropped, permission) are returned. Never returns false: the stream
  // has no end.
  //
  // After a restart the server resends from the slot's confirmed position,
  // which lags Acknowledge() by up to one status interval: commits already
  // returned may come again (the StreamSource contract).
  absl::StatusOr<bool> Read(std::string* chunk) override;
  // The commit's end LSN, as pg_logical_slot_peek_changes shows it.
  std::optional<uint64_t> CommitLsn(uint64_t offset) override;
  // The newest of the server's keepalive WAL end and the returned commits'
  // LSNs; nullopt before either arrived. A keepalive can come while a
  // transaction is half returned, so acknowledge it only with nothing open.
  std::optional<uint64_t> ReadThrough() override;
  uint64_t restarts() const override { return restarts_.load(); }
  // Raises the position the next status update reports as flushed; a lower
  // one is ignored.
  void Acknowledge(uint64_t lsn) override;

  // Sends a final status update with the acknowledged position, ends the
  // COPY and closes the connection. Read() afterwards fails.
  absl::Status Close();

  // What status updates report as flushed: the slot's confirmed position when
  // streaming started, raised by Acknowledge().
  uint64_t acknowledged() const { return acknowledged_.load(); }
  const std::string& slot() const { return options_.slot; }

 private:
  explicit ReplicationSource(ReplicationSourceOptions options);

  // Connects, checks or creates the slot, and starts streaming. The caller
  // holds no lock; the connection is published under conn_mu_. Only the
  // initial connection may create the slot.
  absl::Status Connect(bool initial);
  // Drops the connection after a loss and reconnects with backoff.
  absl::Status Reconnect(const absl::Status& cause);
  // Handles one CopyData message; appends XLogData to *chunk. Holds conn_mu_.
  absl::Status HandleMessage(const char* data, int size, std::string* chunk);
  // Sends a standby status update. Holds conn_mu_.
  absl::Status SendStatusLocked(bool reply_requested);
  void FeedbackLoop();
  void Warn(const absl::Status& status) const;

  const ReplicationSourceOptions options_;

  // libpq is not thread-safe: every use of conn_ holds conn_mu_, which is
  // never held while waiting for the socket.
  std::mutex conn_mu_;
  PGconn* conn_ = nullptr;  // Streaming when non-null.
  uint64_t received_ = 0;   // Newest WAL position heard of (write).
  absl::Time last_status_;  // When the last status update went out.

  std::atomic<uint64_t> acknowledged_{0};
  std::atomic<uint64_t> restarts_{0};

  // Reading thread only.
  bool closed_ = false;
  absl::Status lost_;           // Why the connection broke, until reconnected.
  uint64_t stream_offset_ = 0;  // Bytes returned by Read() so far.
  std::deque<std::pair<uint64_t, uint64_t>> commits_;  // (offset, end LSN).
  std::optional<uint64_t> read_through_;

  std::mutex feedback_mu_;
  std::condition_variable feedback_cv_;
  bool stop_feedback_ = false;
  std::thread feedback_;
};

}  // namespace re_dms

#endif  // RE_DMS_REPLICATION_SOURCE_H_
