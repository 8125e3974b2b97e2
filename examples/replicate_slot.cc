// An example of a service reading a slot itself: a ReplicationSource feeds a
// Parser, each committed transaction is "applied" (here: printed), and only
// then acknowledged, so the slot's confirmed position never passes what was
// applied. A crash replays from the last acknowledged commit.
//
//   replicate_slot CONNINFO SLOT [--create-slot] [--commits=N]
//
// prints one line per transaction and stops after N of them (or on SIGINT /
// SIGTERM), closing the source so that the server learns the last position:
//
//   commit xid 745 at 0/1A2B3C8: 3 changes
//
// A real service applies the changes to its target and acknowledges what that
// target made durable -- e.g. the Pipeline's durable position.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "re_dms/lsn.h"
#include "re_dms/parser.h"
#include "re_dms/replication_source.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void RequestStop(int) { stop_requested = 1; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CONNINFO SLOT [--create-slot] [--commits=N]\n", argv[0]);
    return 2;
  }
  re_dms::ReplicationSourceOptions options;
  options.conninfo = argv[1];
  options.slot = argv[2];
  uint64_t max_commits = 0;  // 0: until stopped.
  for (int i = 3; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--create-slot") {
      options.create_slot = true;
    } else if (absl::ConsumePrefix(&arg, "--commits=") && absl::SimpleAtoi(arg, &max_commits)) {
    } else {
      std::fprintf(stderr, "unknown argument: %s\n", argv[i]);
      return 2;
    }
  }
  // Reconnects are worth a log line, not a failure.
  options.on_warning = [](const absl::Status& status) {
    std::fprintf(stderr, "warning: %s\n", std::string(status.message()).c_str());
  };
  std::signal(SIGINT, RequestStop);
  std::signal(SIGTERM, RequestStop);

  absl::StatusOr<std::unique_ptr<re_dms::ReplicationSource>> opened =
      re_dms::ReplicationSource::Open(std::move(options));
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  re_dms::ReplicationSource& source = **opened;

  // The Parser's offsets count from the start of its input; after a restart
  // the source resends from the acknowledged commit, so a transaction left
  // open is dropped and begins again.
  re_dms::Parser parser;
  re_dms::Record record;
  std::string chunk;
  uint64_t restarts = 0, commits = 0, changes = 0;
  uint64_t applied = 0;  // End LSN of the last commit applied.
  bool in_transaction = false;
  while (stop_requested == 0 && (max_commits == 0 || commits < max_commits)) {
    absl::StatusOr<bool> more = source.Read(&chunk);
    if (!more.ok()) {
      std::fprintf(stderr, "%s\n", more.status().ToString().c_str());
      return 1;
    }
    if (source.restarts() != restarts) {
      restarts = source.restarts();
      in_transaction = false;
      changes = 0;
    }
    if (chunk.empty()) {
      // Idle: nothing pending, so everything the server has sent is applied
      // and a quiet database does not make its slot hold WAL.
      if (!in_transaction && source.ReadThrough().has_value()) {
        source.Acknowledge(*source.ReadThrough());
      }
      continue;
    }
    parser.Feed(chunk);
    for (;;) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) {
        std::fprintf(stderr, "%s\n", got.status().ToString().c_str());
        return 1;
      }
      if (!*got) break;
      if (record.kind == re_dms::RecordKind::kBegin) {
        in_transaction = true;
        changes = 0;
      } else if (record.kind == re_dms::RecordKind::kCommit) {
        std::optional<uint64_t> lsn = source.CommitLsn(record.offset);
        in_transaction = false;
        // After a restart the server resends from the slot's confirmed
        // position, which may lag what was acknowledged (status updates go
        // out every few seconds): a commit seen before is skipped.
        if (lsn.has_value() && *lsn <= applied) continue;
        // Applied (printed) first, acknowledged after.
        std::printf("commit xid %u at %s: %llu changes\n", record.xid.value_or(0),
                    lsn ? re_dms::FormatLsn(*lsn).c_str() : "?",
                    static_cast<unsigned long long>(changes));
        std::fflush(stdout);
        if (lsn.has_value()) {
          applied = *lsn;
          source.Acknowledge(applied);
        }
        ++commits;
      } else {
        ++changes;
      }
    }
  }
  absl::Status closed = source.Close();
  if (!closed.ok()) {
    std::fprintf(stderr, "%s\n", closed.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "acknowledged through %s\n",
               re_dms::FormatLsn(source.acknowledged()).c_str());
  return 0;
}
