// ReplicationSource against the real PostgreSQL 15 of scripts/services: the
// stream and its commit LSNs equal what pg_logical_slot_peek_changes shows on
// a twin slot; keepalive replies; the slot's confirmed_flush_lsn follows
// Acknowledge() and never passes it; an idle slot advances; reconnects after
// pg_terminate_backend; each error names the slot and says what to do. The
// message mapping for states the shared server cannot be put in (wal_level)
// is checked on the pure functions.

#include "re_dms/replication_source.h"

#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/src/source/replication_checks.h"
#include "tests/support/pg_scratch.h"

namespace re_dms {
namespace {

using replication::FormatLsn;
using replication::ParseLsn;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDecodingOptions[] =
    "'include-xids', '1', 'include-timestamp', '1', 'skip-empty-xacts', '1'";

std::unique_ptr<testing::ScratchDatabase> NewDatabase() {
  absl::StatusOr<std::unique_ptr<testing::ScratchDatabase>> db =
      testing::ScratchDatabase::Create("replication_source");
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? *std::move(db) : nullptr;
}

// A column of the slot's row in pg_replication_slots, as text.
std::optional<std::string> SlotColumn(testing::ScratchDatabase* db, absl::string_view slot,
                                      absl::string_view column) {
  absl::StatusOr<std::vector<testing::TextRow>> rows = db->Query(absl::StrCat(
      "SELECT ", column, "::text FROM pg_replication_slots WHERE slot_name = '", slot, "'"));
  EXPECT_TRUE(rows.ok()) << rows.status();
  if (!rows.ok() || rows->empty()) return std::nullopt;
  return (*rows)[0][0];
}

uint64_t ConfirmedFlush(testing::ScratchDatabase* db, absl::string_view slot) {
  std::optional<std::string> text = SlotColumn(db, slot, "confirmed_flush_lsn");
  if (!text.has_value()) return 0;
  absl::StatusOr<uint64_t> lsn = ParseLsn(*text);
  EXPECT_TRUE(lsn.ok()) << lsn.status();
  return lsn.ok() ? *lsn : 0;
}

uint64_t CurrentWalLsn(testing::ScratchDatabase* db) {
  absl::StatusOr<std::vector<testing::TextRow>> rows =
      db->Query("SELECT pg_current_wal_lsn()::text");
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? ParseLsn(*(*rows)[0][0]).value_or(0) : 0;
}

// Polls `condition` for up to `timeout`.
template <typename Condition>
bool WaitFor(Condition condition, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return condition();
}

// What a reader sees: the stream so far, and the commit LSNs the source gave
// for each COMMIT line (asked in stream order, as the Pipeline does).
struct Reader {
  explicit Reader(ReplicationSource* source) : source(source) {}

  ReplicationSource* source;
  std::string stream;
  std::vector<uint64_t> commit_lsns;
  size_t scanned = 0;  // Lines before this offset were looked at.

  // Reads until `commits` COMMIT lines arrived in all, or `timeout`.
  void ReadCommits(size_t commits, absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (commit_lsns.size() < commits && absl::Now() < deadline) {
      std::string chunk;
      absl::StatusOr<bool> more = source->Read(&chunk);
      ASSERT_TRUE(more.ok()) << more.status();
      ASSERT_TRUE(*more);
      // Whole messages only.
      if (!chunk.empty()) {
        ASSERT_EQ(chunk.back(), '\n');
      }
      stream += chunk;
      for (size_t end; (end = stream.find('\n', scanned)) != std::string::npos; scanned = end + 1) {
        if (absl::StartsWith(absl::string_view(stream).substr(scanned), "COMMIT")) {
          std::optional<uint64_t> lsn = source->CommitLsn(scanned);
          ASSERT_TRUE(lsn.has_value()) << "no LSN for the commit at offset " << scanned;
          commit_lsns.push_back(*lsn);
        }
      }
    }
    ASSERT_EQ(commit_lsns.size(), commits) << "stream so far:\n" << stream;
  }

  // Reads (and drops) for `duration`.
  void ReadFor(absl::Duration duration) {
    const absl::Time deadline = absl::Now() + duration;
    while (absl::Now() < deadline) {
      std::string chunk;
      absl::StatusOr<bool> more = source->Read(&chunk);
      ASSERT_TRUE(more.ok()) << more.status();
    }
  }
};

class ReplicationSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = NewDatabase();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Exec("CREATE TABLE t (id int PRIMARY KEY, v text)").ok());
  }

  void CreateSlot(absl::string_view slot, absl::string_view plugin = "test_decoding") {
    ASSERT_TRUE(db_->Exec(absl::StrCat("SELECT pg_create_logical_replication_slot('", slot, "', '",
                                       plugin, "')"))
                    .ok());
  }

  ReplicationSourceOptions Options(absl::string_view slot) {
    ReplicationSourceOptions options;
    options.conninfo = db_->conninfo();
    options.slot = std::string(slot);
    options.status_interval = absl::Milliseconds(200);
    options.reconnect.initial_backoff = absl::Milliseconds(50);
    options.reconnect.max_backoff = absl::Milliseconds(500);
    options.reconnect.deadline = absl::Seconds(30);
    options.on_warning = [this](const absl::Status& status) { warnings_.push_back(status); };
    return options;
  }

  std::unique_ptr<ReplicationSource> Open(ReplicationSourceOptions options) {
    absl::StatusOr<std::unique_ptr<ReplicationSource>> source =
        ReplicationSource::Open(std::move(options));
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? *std::move(source) : nullptr;
  }

  void Insert(int id) {
    ASSERT_TRUE(db_->Exec(absl::StrCat("INSERT INTO t VALUES (", id, ", 'row ", id, "')")).ok());
  }

  std::unique_ptr<testing::ScratchDatabase> db_;
  std::vector<absl::Status> warnings_;
};

TEST_F(ReplicationSourceTest, StreamAndCommitLsnsEqualTheSlotsOwnView) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE v (id int PRIMARY KEY, ts timestamptz, f float8, "
                        "iv interval, b bytea, d date)")
                  .ok());
  CreateSlot("main");
  CreateSlot("twin");
  ASSERT_TRUE(
      db_->Exec("INSERT INTO v VALUES (1, '2024-01-02 03:04:05.678+02', 0.1::float8 + 0.2::float8, "
                "'1 day 02:03:04', '\\x00ff', '2024-02-29')")
          .ok());
  ASSERT_TRUE(db_->Exec("BEGIN; UPDATE v SET f = 1e-300 WHERE id = 1; "
                        "INSERT INTO v VALUES (2, NULL, 'NaN', '-3 mons', '', '0001-01-01 BC'); "
                        "COMMIT")
                  .ok());
  ASSERT_TRUE(db_->Exec("DELETE FROM v WHERE id = 2").ok());

  ReplicationSourceOptions options = Options("main");
  // The user's own session options lose to the ones values depend on.
  options.conninfo +=
      " options='-c datestyle=German -c timezone=Asia/Tokyo -c extra_float_digits=0'";
  std::unique_ptr<ReplicationSource> source = Open(std::move(options));
  ASSERT_NE(source, nullptr);
  Reader reader{source.get()};
  reader.ReadCommits(3);

  // The twin slot, decoded in a session with the same settings.
  ASSERT_TRUE(db_->Exec("SET datestyle = ISO; SET intervalstyle = postgres; SET timezone = UTC; "
                        "SET extra_float_digits = 3; SET bytea_output = hex")
                  .ok());
  absl::StatusOr<std::vector<testing::TextRow>> rows =
      db_->Query(absl::StrCat("SELECT lsn::text, data FROM pg_logical_slot_peek_changes('twin', "
                              "NULL, NULL, ",
                              kDecodingOptions, ")"));
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::string expected;
  std::vector<uint64_t> expected_commits;
  for (const testing::TextRow& row : *rows) {
    absl::StrAppend(&expected, *row[1], "\n");
    if (absl::StartsWith(*row[1], "COMMIT")) expected_commits.push_back(*ParseLsn(*row[0]));
  }
  EXPECT_EQ(reader.stream, expected);
  EXPECT_THAT(reader.commit_lsns, ElementsAreArray(expected_commits));
  EXPECT_THAT(reader.stream,
              HasSubstr("ts[timestamp with time zone]:'2024-01-02 01:04:05.678+00'"));
  EXPECT_THAT(reader.stream, HasSubstr("f[double precision]:0.30000000000000004"));

  // Everything committed so far was returned, and no more than the WAL holds.
  std::optional<uint64_t> through = source->ReadThrough();
  ASSERT_TRUE(through.has_value());
  EXPECT_GE(*through, expected_commits.back());
  EXPECT_LE(*through, CurrentWalLsn(db_.get()));
  EXPECT_EQ(source->restarts(), 0u);
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
  EXPECT_TRUE(source->Close().ok());
}

TEST_F(ReplicationSourceTest, RepliesToKeepalivesWhenAsked) {
  CreateSlot("keepalive");
  ReplicationSourceOptions options = Options("keepalive");
  // No periodic updates: only the replies the server asks for (at half its
  // timeout) keep the connection.
  options.status_interval = absl::Hours(1);
  options.conninfo += " options='-c wal_sender_timeout=2s'";
  std::unique_ptr<ReplicationSource> source = Open(std::move(options));
  ASSERT_NE(source, nullptr);
  Reader reader{source.get()};
  reader.ReadFor(absl::Seconds(5));
  EXPECT_EQ(source->restarts(), 0u);
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
  absl::StatusOr<std::vector<testing::TextRow>> replies = db_->Query(
      "SELECT r.reply_time IS NOT NULL FROM pg_stat_replication r JOIN pg_replication_slots s "
      "ON s.active_pid = r.pid WHERE s.slot_name = 'keepalive'");
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 1u);
  EXPECT_EQ((*replies)[0][0], "t");
}

TEST_F(ReplicationSourceTest, StaysConnectedWhileTheReaderIsBlocked) {
  CreateSlot("blocked");
  ReplicationSourceOptions options = Options("blocked");
  options.status_interval = absl::Milliseconds(300);
  options.conninfo += " options='-c wal_sender_timeout=2s'";
  std::unique_ptr<ReplicationSource> source = Open(std::move(options));
  ASSERT_NE(source, nullptr);
  // Backpressure: nobody calls Read() for well over the timeout, while
  // changes pile up on the server side.
  ASSERT_TRUE(
      db_->Exec("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g").ok());
  absl::SleepFor(absl::Seconds(5));
  Insert(20001);
  Reader reader{source.get()};
  reader.ReadCommits(2);
  EXPECT_EQ(source->restarts(), 0u);
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
}

TEST_F(ReplicationSourceTest, WithoutStatusUpdatesTheServerWouldDropABlockedReader) {
  // The control for the test above: the same wait with no updates from the
  // feedback thread ends in a timeout, which Read() then repairs.
  CreateSlot("control");
  ReplicationSourceOptions options = Options("control");
  options.status_interval = absl::Hours(1);
  options.conninfo += " options='-c wal_sender_timeout=1s'";
  std::unique_ptr<ReplicationSource> source = Open(std::move(options));
  ASSERT_NE(source, nullptr);
  absl::SleepFor(absl::Seconds(4));
  Insert(1);
  Reader reader{source.get()};
  reader.ReadCommits(1);
  EXPECT_EQ(source->restarts(), 1u);
  ASSERT_FALSE(warnings_.empty());
  EXPECT_THAT(warnings_.front().message(), HasSubstr("slot \"control\""));
}

TEST_F(ReplicationSourceTest, ConfirmsExactlyWhatWasAcknowledged) {
  CreateSlot("ack");
  const uint64_t created = ConfirmedFlush(db_.get(), "ack");
  Insert(1);
  Insert(2);
  Insert(3);
  std::unique_ptr<ReplicationSource> source = Open(Options("ack"));
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->acknowledged(), created);
  Reader reader{source.get()};
  reader.ReadCommits(3);
  const std::vector<uint64_t> commits = reader.commit_lsns;

  // Read is not acknowledged: several status intervals later the slot has
  // not moved.
  reader.ReadFor(absl::Seconds(1));
  EXPECT_EQ(ConfirmedFlush(db_.get(), "ack"), created);

  source->Acknowledge(commits[0]);
  EXPECT_TRUE(WaitFor([&] { return ConfirmedFlush(db_.get(), "ack") == commits[0]; }))
      << FormatLsn(ConfirmedFlush(db_.get(), "ack")) << " vs " << FormatLsn(commits[0]);
  // The update says what arrived as written, and only the acknowledged
  // position as flushed and applied.
  absl::StatusOr<std::vector<testing::TextRow>> reported = db_->Query(
      "SELECT r.write_lsn::text, r.flush_lsn::text, r.replay_lsn::text FROM pg_stat_replication r "
      "JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = 'ack'");
  ASSERT_TRUE(reported.ok()) << reported.status();
  ASSERT_EQ(reported->size(), 1u);
  EXPECT_GE(ParseLsn((*reported)[0][0].value_or("")).value_or(0), commits[2]);
  EXPECT_EQ(ParseLsn((*reported)[0][1].value_or("")).value_or(0), commits[0]);
  EXPECT_EQ(ParseLsn((*reported)[0][2].value_or("")).value_or(0), commits[0]);
  source->Acknowledge(commits[0] - 1);  // Never backwards.
  EXPECT_EQ(source->acknowledged(), commits[0]);
  reader.ReadFor(absl::Seconds(1));
  EXPECT_EQ(ConfirmedFlush(db_.get(), "ack"), commits[0]);
  ASSERT_TRUE(source->Close().ok());
  source.reset();

  // A new run resumes after the acknowledged commit; Close() reports what
  // was acknowledged even when no periodic update would have.
  ReplicationSourceOptions options = Options("ack");
  options.status_interval = absl::Hours(1);
  source = Open(std::move(options));
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->acknowledged(), commits[0]);
  Reader again{source.get()};
  again.ReadCommits(2);
  EXPECT_THAT(again.commit_lsns, ElementsAreArray({commits[1], commits[2]}));
  source->Acknowledge(commits[1]);
  ASSERT_TRUE(source->Close().ok());
  EXPECT_TRUE(WaitFor([&] { return !SlotColumn(db_.get(), "ack", "active_pid").has_value(); }));
  EXPECT_EQ(ConfirmedFlush(db_.get(), "ack"), commits[1]);
}

TEST_F(ReplicationSourceTest, IdleSlotAdvancesWhileAnotherDatabaseWrites) {
  CreateSlot("idle");
  const uint64_t created = ConfirmedFlush(db_.get(), "idle");
  std::unique_ptr<testing::ScratchDatabase> busy = NewDatabase();
  ASSERT_NE(busy, nullptr);
  ASSERT_TRUE(busy->Exec("CREATE TABLE w (id serial PRIMARY KEY, v text)").ok());
  std::unique_ptr<ReplicationSource> source = Open(Options("idle"));
  ASSERT_NE(source, nullptr);
  Reader reader{source.get()};
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline &&
         (!source->ReadThrough().has_value() || *source->ReadThrough() <= created)) {
    ASSERT_TRUE(busy->Exec("INSERT INTO w (v) SELECT repeat('y', 100) FROM "
                           "generate_series(1, 100)")
                    .ok());
    reader.ReadFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(source->ReadThrough().has_value());
  const uint64_t through = *source->ReadThrough();
  EXPECT_GT(through, created);
  EXPECT_LE(through, CurrentWalLsn(db_.get()));
  EXPECT_TRUE(reader.stream.empty()) << reader.stream;  // Nothing of this database.
  source->Acknowledge(through);
  EXPECT_TRUE(WaitFor([&] { return ConfirmedFlush(db_.get(), "idle") == through; }))
      << FormatLsn(ConfirmedFlush(db_.get(), "idle")) << " vs " << FormatLsn(through);
}

TEST_F(ReplicationSourceTest, ReconnectsAfterTheWalsenderIsTerminated) {
  CreateSlot("restart");
  Insert(1);
  Insert(2);
  std::unique_ptr<ReplicationSource> source = Open(Options("restart"));
  ASSERT_NE(source, nullptr);
  Reader reader{source.get()};
  reader.ReadCommits(2);
  const std::vector<uint64_t> before = reader.commit_lsns;
  source->Acknowledge(before[0]);
  ASSERT_TRUE(WaitFor([&] { return ConfirmedFlush(db_.get(), "restart") == before[0]; }));

  std::optional<std::string> pid = SlotColumn(db_.get(), "restart", "active_pid");
  ASSERT_TRUE(pid.has_value());
  ASSERT_TRUE(db_->Exec(absl::StrCat("SELECT pg_terminate_backend(", *pid, ")")).ok());
  Insert(3);
  // The stream comes again from the acknowledged commit: the second
  // transaction once more, then the new one.
  reader.ReadCommits(4);
  EXPECT_EQ(source->restarts(), 1u);
  EXPECT_EQ(reader.commit_lsns[2], before[1]);
  EXPECT_GT(reader.commit_lsns[3], before[1]);
  EXPECT_THAT(reader.stream, HasSubstr("id[integer]:3"));
  ASSERT_FALSE(warnings_.empty());
  EXPECT_THAT(warnings_.front().message(), HasSubstr("slot \"restart\""));
  EXPECT_THAT(warnings_.front().message(), HasSubstr("terminating connection"));
  std::optional<std::string> new_pid = SlotColumn(db_.get(), "restart", "active_pid");
  ASSERT_TRUE(new_pid.has_value());
  EXPECT_NE(*new_pid, *pid);
}

TEST_F(ReplicationSourceTest, SlotDroppedWhileDisconnectedIsAPermanentError) {
  ReplicationSourceOptions options = Options("dropped");
  options.create_slot = true;  // Used at Open only: never to re-create.
  std::unique_ptr<ReplicationSource> source = Open(std::move(options));
  ASSERT_NE(source, nullptr);
  std::optional<std::string> pid = SlotColumn(db_.get(), "dropped", "active_pid");
  ASSERT_TRUE(pid.has_value());
  ASSERT_TRUE(db_->Exec(absl::StrCat("SELECT pg_terminate_backend(", *pid, ")")).ok());
  ASSERT_TRUE(WaitFor([&] { return !SlotColumn(db_.get(), "dropped", "active_pid").has_value(); }));
  ASSERT_TRUE(db_->Exec("SELECT pg_drop_replication_slot('dropped')").ok());
  absl::StatusOr<bool> read;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::string chunk;
  while ((read = source->Read(&chunk)).ok() && absl::Now() < deadline) {
  }
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
  EXPECT_THAT(read.status().message(), HasSubstr("\"dropped\""));
  EXPECT_FALSE(SlotColumn(db_.get(), "dropped", "slot_name").has_value());
}

TEST_F(ReplicationSourceTest, MissingSlotNamesTheFlagAndIsCreatedWhenAsked) {
  ReplicationSourceOptions options = Options("missing");
  absl::StatusOr<std::unique_ptr<ReplicationSource>> source = ReplicationSource::Open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_TRUE(absl::IsNotFound(source.status())) << source.status();
  EXPECT_THAT(source.status().message(), HasSubstr("\"missing\""));
  EXPECT_THAT(source.status().message(), HasSubstr("--create-slot"));

  options.create_slot = true;
  std::unique_ptr<ReplicationSource> created = Open(options);
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(SlotColumn(db_.get(), "missing", "plugin"), "test_decoding");
  Insert(1);
  Reader reader{created.get()};
  reader.ReadCommits(1);
}

TEST_F(ReplicationSourceTest, SlotOfAnotherPluginKindOrDatabase) {
  CreateSlot("pgout", "pgoutput");
  ASSERT_TRUE(db_->Exec("SELECT pg_create_physical_replication_slot('phys')").ok());
  std::unique_ptr<testing::ScratchDatabase> other = NewDatabase();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(
      other->Exec("SELECT pg_create_logical_replication_slot('elsewhere', 'test_decoding')").ok());

  absl::StatusOr<std::unique_ptr<ReplicationSource>> source =
      ReplicationSource::Open(Options("pgout"));
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("\"pgout\""));
  EXPECT_THAT(source.status().message(), HasSubstr("uses the plugin pgoutput"));

  source = ReplicationSource::Open(Options("phys"));
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("\"phys\" is a physical slot"));

  source = ReplicationSource::Open(Options("elsewhere"));
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(),
              HasSubstr("\"elsewhere\" belongs to database \"" + other->name() + "\""));
  ASSERT_TRUE(db_->Exec("SELECT pg_drop_replication_slot('phys')").ok());
}

TEST_F(ReplicationSourceTest, SlotActiveInAnotherProcessNamesItsPid) {
  CreateSlot("busy");
  std::unique_ptr<ReplicationSource> holder = Open(Options("busy"));
  ASSERT_NE(holder, nullptr);
  std::optional<std::string> pid = SlotColumn(db_.get(), "busy", "active_pid");
  ASSERT_TRUE(pid.has_value());
  absl::StatusOr<std::unique_ptr<ReplicationSource>> source =
      ReplicationSource::Open(Options("busy"));
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("\"busy\""));
  EXPECT_THAT(source.status().message(), HasSubstr("PID " + *pid));
}

TEST_F(ReplicationSourceTest, RoleWithoutReplicationSaysHowToGrantIt) {
  CreateSlot("norepl");
  const std::string role = absl::StrCat("re_dms_norepl_", getpid());
  ASSERT_TRUE(db_->Exec(absl::StrCat("CREATE ROLE ", role, " LOGIN")).ok());
  ReplicationSourceOptions options = Options("norepl");
  options.conninfo += absl::StrCat(" user=", role, " password=sekrit-do-not-print");
  absl::StatusOr<std::unique_ptr<ReplicationSource>> source = ReplicationSource::Open(options);
  ASSERT_TRUE(db_->Exec(absl::StrCat("DROP ROLE ", role)).ok());
  ASSERT_FALSE(source.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(source.status())) << source.status();
  EXPECT_THAT(source.status().message(), HasSubstr("\"norepl\""));
  EXPECT_THAT(source.status().message(),
              HasSubstr(absl::StrCat("ALTER ROLE \"", role, "\" REPLICATION")));
  EXPECT_THAT(source.status().message(), Not(HasSubstr("sekrit")));
}

TEST_F(ReplicationSourceTest, BadInputNeverEchoesThePassword) {
  ReplicationSourceOptions options = Options("any");
  options.conninfo = "host=127.0.0.1 password=sekrit-do-not-print 'unterminated";
  absl::StatusOr<std::unique_ptr<ReplicationSource>> source = ReplicationSource::Open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(source.status())) << source.status();
  EXPECT_THAT(source.status().message(), Not(HasSubstr("sekrit")));

  options = Options("Bad-Name");
  source = ReplicationSource::Open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(source.status())) << source.status();
}

// States the shared server cannot be put in, on the mapping itself.
TEST(ReplicationChecksTest, WalLevelNotLogical) {
  absl::Status status = replication::CheckWalLevel("replica", "s1");
  EXPECT_TRUE(absl::IsFailedPrecondition(status));
  EXPECT_THAT(status.message(), HasSubstr("slot \"s1\""));
  EXPECT_THAT(status.message(), HasSubstr("wal_level = replica"));
  EXPECT_THAT(status.message(), HasSubstr("wal_level = logical"));
  EXPECT_TRUE(replication::CheckWalLevel("logical", "s1").ok());
  // The same, reported by the server when the slot is created.
  EXPECT_TRUE(absl::IsFailedPrecondition(replication::ServerError(
      "55000", "logical decoding requires wal_level >= logical", "s1", "CREATE_REPLICATION_SLOT")));
}

TEST(ReplicationChecksTest, ConnectionErrorsAreClassified) {
  absl::Status pg16 = replication::ConnectError(
      "connection to server at \"10.0.0.1\", port 5432 failed: FATAL:  permission denied to "
      "start WAL sender\n",
      "app", "s1");
  EXPECT_TRUE(absl::IsPermissionDenied(pg16)) << pg16;
  EXPECT_THAT(pg16.message(), HasSubstr("ALTER ROLE \"app\" REPLICATION"));
  EXPECT_TRUE(absl::IsUnavailable(replication::ConnectError(
      "connection to server at \"10.0.0.1\", port 5432 failed: Connection refused", "app", "s1")));
  EXPECT_TRUE(absl::IsUnavailable(
      replication::ConnectError("FATAL:  the database system is starting up", "app", "s1")));
  EXPECT_TRUE(absl::IsPermissionDenied(replication::ConnectError(
      "FATAL:  password authentication failed for user \"app\"", "app", "s1")));
  EXPECT_TRUE(absl::IsUnavailable(
      replication::ServerError("57P01", "terminating connection", "s1", "streaming")));
  EXPECT_TRUE(absl::IsUnavailable(replication::ServerError("", "server closed", "s1", "x")));
  EXPECT_TRUE(absl::IsAborted(
      replication::ServerError("55006", "replication slot \"s1\" is active for PID 7", "s1", "x")));
  EXPECT_TRUE(absl::IsNotFound(replication::ServerError("42704", "gone", "s1", "x")));
  EXPECT_TRUE(absl::IsInternal(replication::ServerError("58P01", "WAL removed", "s1", "x")));
}

TEST(ReplicationChecksTest, LsnsAndSessionOptions) {
  EXPECT_EQ(FormatLsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(*ParseLsn("16/B374D848"), 0x16B374D848u);
  EXPECT_EQ(*ParseLsn("0/0"), 0u);
  EXPECT_FALSE(ParseLsn("16B374D848").ok());
  EXPECT_FALSE(ParseLsn("/1").ok());
  const std::string options = replication::SessionOptions("-c datestyle=German");
  EXPECT_TRUE(absl::StartsWith(options, "-c datestyle=German -c datestyle=ISO")) << options;
  EXPECT_THAT(replication::SessionOptions(""), HasSubstr("-c bytea_output=hex"));
  EXPECT_TRUE(replication::CheckSlotName("re_dms_1").ok());
  EXPECT_FALSE(replication::CheckSlotName("").ok());
  EXPECT_FALSE(replication::CheckSlotName("x\"; DROP").ok());
  EXPECT_FALSE(replication::CheckSlotName(std::string(64, 'a')).ok());
}

}  // namespace
}  // namespace re_dms
