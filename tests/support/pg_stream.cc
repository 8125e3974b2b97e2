#include "tests/support/pg_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"

namespace re_dms::testing {
namespace {

struct Output {
  std::string out;
  std::string err;
  int wait_status = 0;
};

// Runs argv[0] with arguments argv, collecting stdout and stderr, and sends
// it SIGINT once `done(stdout so far)` holds; kills it after `timeout`.
absl::StatusOr<Output> Run(const std::vector<std::string>& argv, absl::Duration timeout,
                           const std::function<bool(const std::string&)>& done) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  Output output;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&output.out, &output.err};
  absl::Time deadline = absl::Now() + timeout;
  int open_fds = 2;
  bool timed_out = false;
  bool interrupted = false;
  while (open_fds > 0) {
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0) {
      timed_out = true;
      break;
    }
    int ready = poll(fds, 2, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char chunk[65536];
      ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
      if (n > 0) {
        sinks[i]->append(chunk, static_cast<size_t>(n));
        if (i == 0 && !interrupted && done(output.out)) {
          kill(pid, SIGINT);
          interrupted = true;
        }
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (timed_out) kill(pid, SIGKILL);
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  waitpid(pid, &output.wait_status, 0);
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        argv[0], " did not finish within ", absl::FormatDuration(timeout), "; stderr: ", output.err));
  }
  return output;
}

}  // namespace

absl::StatusOr<ChangeCapture> ChangeCapture::Start(ScratchDatabase& db, CaptureOptions options) {
  const char* bin = std::getenv("RE_DMS_TEST_PG_BIN");
  if (bin == nullptr || *bin == '\0') {
    return absl::FailedPreconditionError(
        "RE_DMS_TEST_PG_BIN is not set (the directory holding pg_recvlogical): run the tests "
        "through ./scripts/test");
  }
  static std::atomic<int> counter{0};
  std::string slot = absl::StrCat("re_dms_capture_", getpid(), "_", counter++);
  absl::Status created = db.Exec(absl::StrCat(
      "SELECT pg_create_logical_replication_slot('", slot, "', 'test_decoding')"));
  if (!created.ok()) return created;
  return ChangeCapture(&db, bin, std::move(slot), std::move(options));
}

// Why not pg_recvlogical --endpos=pg_current_wal_lsn(): on PostgreSQL 15 it
// stops as soon as a keepalive reports the server's WAL position past endpos,
// which can arrive while the slot's output is still being sent: captures
// ended after a BEGIN, or halfway through a streamed transaction. Instead a
// non-transactional message with a unique prefix is written now; it is
// decoded in WAL order, after everything committed before it, so once it
// arrives the capture is complete, and pg_recvlogical is stopped.
absl::StatusOr<std::string> ChangeCapture::ReadToCurrentLsn() {
  std::string prefix = absl::StrCat("re_dms_capture_end_", slot_, "_", reads_++);
  absl::Status marked =
      db_->Exec(absl::StrCat("SELECT pg_logical_emit_message(false, '", prefix, "', '')"));
  if (!marked.ok()) return marked;
  const std::string marker =
      absl::StrCat("message: transactional: 0 prefix: ", prefix, ", sz: 0 content:\n");
  // Where the marker record starts, or npos. Its prefix is unique, so only
  // the marker itself can match at the start of a record.
  auto find_marker = [&marker](const std::string& out) {
    if (out.compare(0, marker.size(), marker) == 0) return size_t{0};
    size_t at = out.find("\n" + marker);
    return at == std::string::npos ? at : at + 1;
  };
  std::vector<std::string> argv = {absl::StrCat(bin_, "/pg_recvlogical"),
                                   "--dbname=" + db_->conninfo(),
                                   "--slot=" + slot_,
                                   "--start",
                                   "--no-loop",
                                   "--file=-"};
  for (const std::string& option : options_.plugin_options) {
    argv.push_back("--option=" + option);
  }
  absl::StatusOr<Output> run = Run(argv, options_.timeout, [&](const std::string& out) {
    return find_marker(out) != std::string::npos;
  });
  if (!run.ok()) return run.status();
  size_t end = find_marker(run->out);
  if (end == std::string::npos) {
    return absl::InternalError(absl::StrCat("pg_recvlogical on slot ", slot_,
                                            " ended before the end marker (wait status ",
                                            run->wait_status, "): ", run->err));
  }
  run->out.resize(end);
  return std::move(run->out);
}

absl::StatusOr<std::string> CaptureChanges(ScratchDatabase& db,
                                           const std::vector<std::string>& workload,
                                           const CaptureOptions& options) {
  absl::StatusOr<ChangeCapture> capture = ChangeCapture::Start(db, options);
  if (!capture.ok()) return capture.status();
  for (const std::string& statement : workload) {
    absl::Status done = db.Exec(statement);
    if (!done.ok()) return done;
  }
  return capture->ReadToCurrentLsn();
}

absl::StatusOr<std::string> CaptureChanges(ScratchDatabase& db, absl::string_view workload_sql,
                                           const CaptureOptions& options) {
  return CaptureChanges(db, std::vector<std::string>{std::string(workload_sql)}, options);
}

}  // namespace re_dms::testing
