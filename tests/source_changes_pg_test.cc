// What the stream does not say (issue 14), against real servers: a workload
// runs at a scratch PostgreSQL source, test_decoding's stream of it is read
// only afterwards (as a lagging replicator reads it, when the source's
// catalog has moved on), and goes through the real ChangeBatcher (keys from
// the source's catalog), CsvWriter, S3 and the loader into a PostgreSQL
// target. Every test compares whole tables with the source.

#include <stdlib.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/change_batcher.h"
#include "re_dms/csv_writer.h"
#include "re_dms/ddl_capture.h"
#include "re_dms/key_columns.h"
#include "re_dms/parser.h"
#include "re_dms/redshift_loader.h"
#include "re_dms/s3_client.h"
#include "re_dms/s3_uploader.h"
#include "tests/support/pg_scratch.h"
#include "tests/support/pg_stream.h"
#include "tests/tools/s3_scratch.h"

namespace re_dms {
namespace {

using ::re_dms::testing::ScratchDatabase;
using ::re_dms::testing::TextRow;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class SourceChangesPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ScratchDatabase>> source = ScratchDatabase::Create("chg_src");
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = *std::move(source);
    absl::StatusOr<std::unique_ptr<ScratchDatabase>> target = ScratchDatabase::Create("chg_dst");
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = *std::move(target);

    const char* tmp = std::getenv("TEST_TMPDIR");
    spool_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/changes.XXXXXX");
    ASSERT_NE(mkdtemp(spool_.data()), nullptr);

    absl::StatusOr<std::string> endpoint = ::re_dms::testing::TestS3Endpoint();
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    S3ClientOptions s3_options;
    s3_options.endpoint = *endpoint;
    absl::StatusOr<std::unique_ptr<S3Client>> client =
        ::re_dms::testing::MakeTestS3Client(s3_options);
    ASSERT_TRUE(client.ok()) << client.status();
    s3_ = *std::move(client);
    bucket_ = ::re_dms::testing::UniqueBucketName("re-dms-changes");
    ASSERT_TRUE(s3_->CreateBucket(bucket_).ok());
    uploader_ = MakeS3Uploader(s3_.get(), {bucket_, "staging", 2});

    batcher_options_.tables.include = {"public.*"};
    batcher_options_.on_warning = [this](const absl::Status& status) {
      warnings_.push_back(std::string(status.message()));
    };
  }

  // Runs `workload` at the source (each element its own transaction unless
  // it says BEGIN/COMMIT) and captures the stream.
  std::string Capture(const std::vector<std::string>& workload) {
    absl::StatusOr<std::string> stream = ::re_dms::testing::CaptureChanges(*source_, workload);
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? *stream : "";
  }

  // The stream through batcher, CsvWriter, S3 and loader; the first error.
  absl::Status Replicate(const std::string& stream) {
    return ReplicateLive({[&] { return stream; }});
  }

  // As Replicate, with the stream in parts that one batcher reads in turn,
  // each part captured only once the batcher has read the one before: the
  // source's catalog is then as a replicator keeping up sees it.
  absl::Status ReplicateLive(const std::vector<std::function<std::string()>>& parts) {
    absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys = PgKeyColumns::Connect(source_->conninfo());
    if (!keys.ok()) return keys.status();
    absl::StatusOr<std::unique_ptr<ChangeBatcher>> batcher =
        ChangeBatcher::Create(batcher_options_, keys->get());
    if (!batcher.ok()) return batcher.status();
    RedshiftLoaderOptions loader_options;
    loader_options.conninfo = target_->conninfo();
    loader_options.checkpoint_schema = "re_dms";
    absl::StatusOr<std::unique_ptr<RedshiftLoader>> loader =
        RedshiftLoader::Create(loader_options, MakeS3StagedFileSource(s3_.get()));
    if (!loader.ok()) return loader.status();
    CsvWriterOptions writer_options;
    writer_options.spool_directory = spool_;
    writer_options.dialect = kPostgresCsv;
    writer_options.fsync = false;
    const CsvWriter writer(writer_options);

    std::vector<Batch> ready;
    for (const std::function<std::string()>& part : parts) {
      Parser parser;
      parser.Feed(part());
      Record record;
      for (;;) {
        absl::StatusOr<bool> got = parser.Next(&record);
        if (!got.ok()) return got.status();
        if (!*got) break;
        absl::Status added = (*batcher)->Add(record, &ready);
        if (!added.ok()) return added;
      }
      absl::Status finished = parser.Finish();
      if (!finished.ok()) return finished;
    }
    absl::Status status = (*batcher)->FlushAll(&ready);
    if (!status.ok()) return status;
    for (const Batch& batch : ready) {
      absl::StatusOr<StagedBatch> staged = writer.Write(batch);
      if (!staged.ok()) return staged.status();
      status = uploader_->Upload(&*staged);
      if (status.ok()) status = (*loader)->Apply(*staged);
      // A replay, as after a crash between load and acknowledgement (no LSN:
      // the loader cannot skip it).
      if (status.ok() && apply_twice_) status = (*loader)->Apply(*staged);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  static std::vector<TextRow> Rows(ScratchDatabase& db, absl::string_view table) {
    absl::StatusOr<std::vector<TextRow>> rows = db.Query(
        absl::StrCat("SELECT CASE WHEN length(t::text) > 60 THEN left(t::text, 60) || '... md5 ' "
                     "|| md5(t::text) ELSE t::text END FROM public.",
                     table, " t ORDER BY t::text COLLATE \"C\""));
    EXPECT_TRUE(rows.ok()) << table << ": " << rows.status();
    return rows.ok() ? *rows : std::vector<TextRow>{};
  }

  void ExpectEqual(absl::string_view table) {
    SCOPED_TRACE(table);
    std::vector<TextRow> expected = Rows(*source_, table);
    EXPECT_FALSE(expected.empty());
    EXPECT_EQ(Rows(*target_, table), expected);
  }

  bool TargetHas(absl::string_view table) {
    absl::StatusOr<std::vector<TextRow>> rows =
        target_->Query(absl::StrCat("SELECT to_regclass('public.", table, "')::text"));
    return rows.ok() && rows->size() == 1 && (*rows)[0][0].has_value();
  }

  std::unique_ptr<ScratchDatabase> source_;
  std::unique_ptr<ScratchDatabase> target_;
  std::string spool_;
  std::unique_ptr<S3Client> s3_;
  std::string bucket_;
  std::unique_ptr<S3Uploader> uploader_;
  BatcherOptions batcher_options_;
  bool apply_twice_ = false;  // Apply every batch twice (Replicate).
  std::vector<std::string> warnings_;
};

// A value TOASTed out of line: 40 kB of digits that do not compress well.
constexpr absl::string_view kToastedValue =
    "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 1250) g)";

TEST_F(SourceChangesPgTest, KeyChangeOverUnchangedToastMovesTheRow) {
  batcher_options_.max_rows = 1;  // Every commit a batch: the insert is loaded first.
  const std::string stream = Capture({
      "CREATE TABLE moved (id int PRIMARY KEY, n int, big text)",
      "ALTER TABLE moved ALTER big SET STORAGE EXTERNAL",
      absl::StrCat("INSERT INTO moved SELECT g, g, ", kToastedValue,
                   " || g FROM generate_series(1, 4) g"),
      "UPDATE moved SET id = 10 WHERE id = 1",
      "UPDATE moved SET id = 20, n = 21 WHERE id = 2",
      // Within one transaction: moved twice, and moved then changed.
      "BEGIN; UPDATE moved SET id = 30 WHERE id = 3; UPDATE moved SET id = 31 WHERE id = 30; "
      "UPDATE moved SET n = 0 WHERE id = 31; COMMIT",
      // Moved into a key freed in the same transaction.
      "BEGIN; DELETE FROM moved WHERE id = 10; UPDATE moved SET id = 10 WHERE id = 4; COMMIT",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("moved");
}

TEST_F(SourceChangesPgTest, MovesThatSwapKeysInsideOneBatch) {
  const std::string stream = Capture({
      "CREATE TABLE swap (id int PRIMARY KEY, big text)",
      "ALTER TABLE swap ALTER big SET STORAGE EXTERNAL",
      absl::StrCat("INSERT INTO swap SELECT g, ", kToastedValue,
                   " || g FROM generate_series(1, 3) g"),
  });
  ASSERT_TRUE(Replicate(stream).ok());
  // A swap of keys through a spare one, all in one later batch.
  const std::string moves = Capture({
      "BEGIN; UPDATE swap SET id = 100 WHERE id = 1; UPDATE swap SET id = 1 WHERE id = 2; "
      "UPDATE swap SET id = 2 WHERE id = 100; COMMIT",
  });
  absl::Status status = Replicate(moves);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("swap");
}

// A replayed batch finds no row at the old key: the moved row stays as the
// first application left it, and its partial upsert is idempotent; also
// when it moved into a key freed in the same batch. (Not replay-safe, see
// README: a batch that moves a row away and then inserts a new row at the
// old key, and a cycle of moves.)
TEST_F(SourceChangesPgTest, ReplayedMoveChangesNothing) {
  const std::string stream = Capture({
      "CREATE TABLE replayed (id int PRIMARY KEY, n int, big text)",
      "ALTER TABLE replayed ALTER big SET STORAGE EXTERNAL",
      absl::StrCat("INSERT INTO replayed SELECT g, g, ", kToastedValue,
                   " || g FROM generate_series(1, 3) g"),
  });
  ASSERT_TRUE(Replicate(stream).ok());
  apply_twice_ = true;
  const std::string moves = Capture({
      "BEGIN; UPDATE replayed SET id = 10, n = 0 WHERE id = 1; "
      "UPDATE replayed SET id = 11 WHERE id = 10; DELETE FROM replayed WHERE id = 3; "
      "UPDATE replayed SET id = 3 WHERE id = 2; COMMIT",
  });
  absl::Status status = Replicate(moves);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("replayed");
}

TEST_F(SourceChangesPgTest, DroppedTableDoesNotStopTheOthers) {
  batcher_options_.max_rows = 2;
  const std::string stream = Capture({
      "CREATE TABLE before_t (id int PRIMARY KEY, v text)",
      "CREATE TABLE gone (id int PRIMARY KEY, v text)",
      "CREATE TABLE after_t (id int PRIMARY KEY, v text)",
      "INSERT INTO before_t VALUES (1, 'a'), (2, 'b')",
      "INSERT INTO gone VALUES (1, 'x'), (2, 'y'), (3, 'z')",
      "UPDATE gone SET v = 'y2' WHERE id = 2",
      "DELETE FROM gone WHERE id = 3",
      "UPDATE gone SET id = 4 WHERE id = 1",
      "INSERT INTO after_t VALUES (1, 'c')",
      "UPDATE before_t SET v = 'b2' WHERE id = 2",
      "DROP TABLE gone",
      "INSERT INTO after_t VALUES (2, 'd')",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("before_t");
  ExpectEqual("after_t");
  // What the stream identifies exactly is applied: the inserts, the delete
  // and the key change name their rows; the plain update does not.
  // The update that keeps its key comes before any change names the key:
  // skipped, and said so.
  EXPECT_EQ(Rows(*target_, "gone"),
            (std::vector<TextRow>{{std::string("(2,y)")}, {std::string("(4,x)")}}));
  ASSERT_EQ(warnings_.size(), 2u);
  EXPECT_THAT(warnings_[0], HasSubstr("\"public\".\"gone\""));
  EXPECT_THAT(warnings_[0], HasSubstr("no longer exists in the source"));
  EXPECT_THAT(warnings_[1], HasSubstr("update on table \"public\".\"gone\""));
  EXPECT_THAT(warnings_[1], HasSubstr("skipped"));
}

TEST_F(SourceChangesPgTest, DroppedTableIsDroppedInTheTargetWithTheOption) {
  batcher_options_.on_source_drop = SourceDropPolicy::kDrop;
  const std::string first = Capture({
      "CREATE TABLE gone (id int PRIMARY KEY, v text)",
      "CREATE TABLE kept (id int PRIMARY KEY, v text)",
      "INSERT INTO gone VALUES (1, 'x')",
      "INSERT INTO kept VALUES (1, 'k')",
  });
  ASSERT_TRUE(Replicate(first).ok());
  ASSERT_TRUE(TargetHas("gone"));
  const std::string second = Capture({
      "UPDATE gone SET v = 'x2' WHERE id = 1",
      "INSERT INTO kept VALUES (2, 'l')",
      "DROP TABLE gone",
  });
  absl::Status status = Replicate(second);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(TargetHas("gone"));
  ExpectEqual("kept");
}

TEST_F(SourceChangesPgTest, ChangedColumnTypesBetweenAndInsideBatches) {
  const std::string stream = Capture({
      "CREATE TABLE typed (id int PRIMARY KEY, n int, s text)",
      "CREATE TABLE typed1 (id int PRIMARY KEY, n int, s text)",
      "INSERT INTO typed VALUES (1, 1, '11'), (2, NULL, '22')",
      "INSERT INTO typed1 VALUES (1, 1, '11'), (2, NULL, '22')",
  });
  ASSERT_TRUE(Replicate(stream).ok());
  // typed: each change in its own batch; typed1: all in one batch.
  batcher_options_.max_rows = 1;
  std::string between = Capture({
      "ALTER TABLE typed ALTER n TYPE bigint",
      "INSERT INTO typed VALUES (3, 30000000000, '33')",
      "ALTER TABLE typed ALTER s TYPE int USING s::int",
      "UPDATE typed SET s = s + 1",
  });
  absl::Status status = Replicate(between);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("typed");
  batcher_options_.max_rows = 1000;
  std::string inside = Capture({
      "BEGIN; INSERT INTO typed1 VALUES (3, 3, '33'); ALTER TABLE typed1 ALTER n TYPE bigint; "
      "INSERT INTO typed1 VALUES (4, 40000000000, '44'); "
      "ALTER TABLE typed1 ALTER s TYPE int USING s::int; UPDATE typed1 SET s = s + 1; COMMIT",
  });
  status = Replicate(inside);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("typed1");
}

TEST_F(SourceChangesPgTest, TableWhoseChangesCancelOutExistsEmpty) {
  const std::string stream = Capture({
      "CREATE TABLE fleeting (id int PRIMARY KEY, v text)",
      "CREATE TABLE fleeting_bag (v text)",
      "ALTER TABLE fleeting_bag REPLICA IDENTITY FULL",
      "BEGIN; INSERT INTO fleeting VALUES (1, 'a'); UPDATE fleeting SET v = 'b'; "
      "DELETE FROM fleeting; COMMIT",
      "BEGIN; INSERT INTO fleeting_bag VALUES ('a'); DELETE FROM fleeting_bag; COMMIT",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  for (const char* table : {"fleeting", "fleeting_bag"}) {
    ASSERT_TRUE(TargetHas(table)) << table;
    EXPECT_THAT(Rows(*target_, table), IsEmpty());
  }
}

TEST_F(SourceChangesPgTest, RenamedTableDoesNotStopAndSaysWhatItCannotKnow) {
  batcher_options_.max_rows = 1;
  const std::string stream = Capture({
      "CREATE TABLE rn (id int PRIMARY KEY, v text)",
      "INSERT INTO rn VALUES (1, 'a'), (2, 'b')",
      "DELETE FROM rn WHERE id = 2",
      "ALTER TABLE rn RENAME TO rn2",
      "INSERT INTO rn2 VALUES (3, 'c')",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_FALSE(warnings_.empty());
  EXPECT_THAT(warnings_[0], HasSubstr("dropped or renamed"));
  // Without DDL capture the stream does not say that rn became rn2.
  EXPECT_EQ(Rows(*target_, "rn"), (std::vector<TextRow>{{std::string("(1,a)")}}));
  EXPECT_EQ(Rows(*target_, "rn2"), (std::vector<TextRow>{{std::string("(3,c)")}}));
}

// Without DDL capture, a rename that happens after re_dms looked the table up
// (a replicator keeping up) is known by the table's oid: the target table is
// renamed, between batches and inside one.
TEST_F(SourceChangesPgTest, RenameAfterTheLookupRenamesTheTarget) {
  for (uint64_t max_rows : {uint64_t{1}, uint64_t{1'000'000}}) {
    SCOPED_TRACE(absl::StrCat("max_rows ", max_rows));
    batcher_options_.max_rows = max_rows;
    const std::string name = absl::StrCat("lr_", max_rows);
    absl::Status status = ReplicateLive({
        [&] {
          return Capture(
              {absl::StrCat("CREATE TABLE ", name, " (id int PRIMARY KEY, n int, s text)"),
               absl::StrCat("INSERT INTO ", name, " VALUES (1, 1, '1'), (2, 2, '2')")});
        },
        [&] {
          return Capture({
              absl::StrCat("ALTER TABLE ", name, " RENAME TO ", name, "_b"),
              absl::StrCat("ALTER TABLE ", name,
                           "_b ALTER COLUMN n TYPE bigint, "
                           "ALTER COLUMN s TYPE int USING s::int"),
              absl::StrCat("INSERT INTO ", name, "_b VALUES (3, 30000000000, 3)"),
              absl::StrCat("DELETE FROM ", name, "_b WHERE id = 2"),
          });
        },
    });
    ASSERT_TRUE(status.ok()) << status;
    ExpectEqual(name + "_b");
    EXPECT_FALSE(TargetHas(name));
  }
  ASSERT_FALSE(warnings_.empty());
  EXPECT_THAT(warnings_[0], HasSubstr("renamed table"));
}

// Without DDL capture the stream does not say that the table was re-created:
// the old table's changes must not be read with the new table's key (they
// do not even show its column), and nothing stops.
TEST_F(SourceChangesPgTest, TableRecreatedWithAnotherKeyDoesNotMixTheKeys) {
  batcher_options_.on_source_drop = SourceDropPolicy::kDrop;  // Not for a re-created table.
  const std::string stream = Capture({
      "CREATE TABLE rc (id int PRIMARY KEY, v text)",
      "INSERT INTO rc VALUES (1, 'a'), (2, 'b')",
      "DELETE FROM rc WHERE id = 1",
      "DROP TABLE rc",
      "CREATE TABLE rc (k text PRIMARY KEY, n int)",
      "INSERT INTO rc VALUES ('x', 5)",
      "UPDATE rc SET n = 6",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_FALSE(warnings_.empty());
  EXPECT_THAT(warnings_[0], HasSubstr("dropped and re-created"));
  absl::StatusOr<std::vector<TextRow>> rows =
      target_->Query("SELECT id::text, v, k, n::text FROM public.rc ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status();
  // The old table's rows as the stream left them, and the new table's.
  EXPECT_EQ(*rows, (std::vector<TextRow>{
                       {std::string("2"), std::string("b"), std::nullopt, std::nullopt},
                       {std::nullopt, std::nullopt, std::string("x"), std::string("6")}}));
}

// With DDL capture installed at the source, the stream says what the catalog
// cannot: every case below is replicated exactly.
class DdlCapturePgTest : public SourceChangesPgTest {
 protected:
  void SetUp() override {
    SourceChangesPgTest::SetUp();
    if (HasFatalFailure()) return;
    absl::Status installed = InstallDdlCapture(source_->conninfo());
    ASSERT_TRUE(installed.ok()) << installed;
  }

  void ExpectMissing(absl::string_view table) {
    EXPECT_FALSE(TargetHas(table)) << table << " is still in the target";
  }
};

TEST_F(DdlCapturePgTest, RenamedTableKeepsItsTargetTableAndRows) {
  for (uint64_t max_rows : {uint64_t{1}, uint64_t{1'000'000}}) {  // Between batches, inside one.
    SCOPED_TRACE(absl::StrCat("max_rows ", max_rows));
    batcher_options_.max_rows = max_rows;
    const std::string name = absl::StrCat("rn_", max_rows);
    const std::string stream = Capture({
        absl::StrCat("CREATE TABLE ", name, " (id int PRIMARY KEY, v text)"),
        absl::StrCat("INSERT INTO ", name, " VALUES (1, 'a'), (2, 'b'), (3, 'O''Brien')"),
        absl::StrCat("DELETE FROM ", name, " WHERE id = 2"),
        absl::StrCat("ALTER TABLE ", name, " RENAME TO ", name, "_new"),
        absl::StrCat("INSERT INTO ", name, "_new VALUES (4, E'line\\nbreak')"),
        absl::StrCat("UPDATE ", name, "_new SET v = NULL WHERE id = 1"),
    });
    absl::Status status = Replicate(stream);
    ASSERT_TRUE(status.ok()) << status;
    ExpectEqual(name + "_new");
    ExpectMissing(name);
  }
  EXPECT_THAT(warnings_, IsEmpty());
}

TEST_F(DdlCapturePgTest, TablesSwappedByRenamesInOneTransaction) {
  const std::string stream = Capture({
      "CREATE TABLE sw (id int PRIMARY KEY, v text)",
      "CREATE TABLE sw_next (id int PRIMARY KEY, v text)",
      "INSERT INTO sw VALUES (1, 'old')",
      "INSERT INTO sw_next VALUES (2, 'new')",
      "BEGIN; ALTER TABLE sw RENAME TO sw_old; ALTER TABLE sw_next RENAME TO sw; "
      "INSERT INTO sw VALUES (3, 'newer'); COMMIT",
      "DROP TABLE sw_old",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("sw");
  ExpectMissing("sw_next");
}

TEST_F(DdlCapturePgTest, ColumnDroppedAndAddedAgainBetweenBatches) {
  batcher_options_.max_rows = 1;
  const std::string stream = Capture({
      "CREATE TABLE da (id int PRIMARY KEY, c text, n int)",
      "INSERT INTO da VALUES (1, 'x', 1), (2, 'y', 2)",
      "ALTER TABLE da DROP COLUMN c",
      "ALTER TABLE da ADD COLUMN c text",
      "INSERT INTO da VALUES (3, 3, 'z')",
      "UPDATE da SET n = 20 WHERE id = 2",
      // Dropped and added in one statement, with a default this time.
      "ALTER TABLE da DROP COLUMN n, ADD COLUMN n int DEFAULT 7",
      "DELETE FROM da WHERE id = 1",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("da");
}

// The table predates the installation: its first captured statement drops
// and adds a column of the same name and type, which only the attnums the
// installation logged tell apart from no change.
TEST_F(DdlCapturePgTest, ColumnDroppedAndAddedInTheFirstCapturedStatement) {
  ASSERT_TRUE(UninstallDdlCapture(source_->conninfo()).ok());
  batcher_options_.max_rows = 1;
  std::vector<std::string> workload = {
      "CREATE TABLE fa (id int PRIMARY KEY, c text, d text)",
      "INSERT INTO fa VALUES (1, 'x', 'a'), (2, 'y', 'b')",
  };
  for (const std::string& statement : DdlCaptureInstallSql()) workload.push_back(statement);
  workload.push_back("ALTER TABLE fa DROP COLUMN c, ADD COLUMN c text DEFAULT 'new'");
  workload.push_back("ALTER TABLE fa RENAME COLUMN d TO e");
  workload.push_back("INSERT INTO fa VALUES (3, 'e3', 'z')");
  absl::Status status = Replicate(Capture(workload));
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("fa");
}

TEST_F(DdlCapturePgTest, RenamedColumnKeepsItsValues) {
  batcher_options_.max_rows = 1;
  const std::string stream = Capture({
      "CREATE TABLE rc (id int PRIMARY KEY, before text)",
      "INSERT INTO rc VALUES (1, 'kept'), (2, 'also kept')",
      "ALTER TABLE rc RENAME COLUMN before TO after",
      "INSERT INTO rc VALUES (3, 'new')",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("rc");
}

TEST_F(DdlCapturePgTest, TableDroppedAndRecreatedWithAnotherKey) {
  for (SourceDropPolicy policy : {SourceDropPolicy::kKeep, SourceDropPolicy::kDrop}) {
    batcher_options_.on_source_drop = policy;
    const std::string name = policy == SourceDropPolicy::kKeep ? "rk" : "rd";
    SCOPED_TRACE(name);
    const std::string stream = Capture({
        absl::StrCat("CREATE TABLE ", name, " (id int PRIMARY KEY, v text)"),
        absl::StrCat("INSERT INTO ", name, " VALUES (1, 'a'), (2, 'b')"),
        absl::StrCat("DELETE FROM ", name, " WHERE id = 1"),
        absl::StrCat("DROP TABLE ", name),
        absl::StrCat("CREATE TABLE ", name, " (k text PRIMARY KEY, id int)"),
        absl::StrCat("INSERT INTO ", name, " VALUES ('x', 2), ('y', 3)"),
        absl::StrCat("UPDATE ", name, " SET k = 'z' WHERE k = 'y'"),
        absl::StrCat("DELETE FROM ", name, " WHERE k = 'x'"),
    });
    absl::Status status = Replicate(stream);
    ASSERT_TRUE(status.ok()) << status;
    ExpectEqual(name);
  }
  EXPECT_THAT(warnings_, IsEmpty());
}

TEST_F(DdlCapturePgTest, CreateTableAsAfterADropKeepsItsRows) {
  const std::string stream = Capture({
      "CREATE TABLE ca (id int PRIMARY KEY, v text)",
      "INSERT INTO ca VALUES (1, 'old')",
      "BEGIN; DROP TABLE ca; CREATE TABLE ca AS SELECT g AS id, 'new ' || g AS v "
      "FROM generate_series(1, 3) g; COMMIT",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("ca");
}

TEST_F(DdlCapturePgTest, RenamedPartitionTruncated) {
  const std::string stream = Capture({
      "CREATE TABLE pt (id int, part text, PRIMARY KEY (id, part)) PARTITION BY LIST (part)",
      "CREATE TABLE pt_a PARTITION OF pt FOR VALUES IN ('a')",
      "CREATE TABLE pt_b PARTITION OF pt FOR VALUES IN ('b')",
      "INSERT INTO pt VALUES (1, 'a'), (2, 'a'), (3, 'b')",
      "ALTER TABLE pt_a RENAME TO pt_a_old",
      "TRUNCATE pt_a_old",
      "INSERT INTO pt VALUES (4, 'a'), (5, 'b')",
  });
  absl::Status status = Replicate(stream);
  ASSERT_TRUE(status.ok()) << status;
  ExpectEqual("pt_a_old");
  ExpectEqual("pt_b");
  ExpectMissing("pt_a");
}

TEST_F(DdlCapturePgTest, UninstallRemovesEveryObject) {
  ASSERT_TRUE(UninstallDdlCapture(source_->conninfo()).ok());
  absl::StatusOr<std::vector<TextRow>> left = source_->Query(
      "SELECT count(*)::text FROM pg_event_trigger WHERE evtname LIKE 're_dms%' UNION ALL "
      "SELECT count(*)::text FROM pg_namespace WHERE nspname = 're_dms'");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ(*left, (std::vector<TextRow>{{std::string("0")}, {std::string("0")}}));
  // Installing again after that works, and twice in a row too.
  EXPECT_TRUE(InstallDdlCapture(source_->conninfo()).ok());
  EXPECT_TRUE(InstallDdlCapture(source_->conninfo()).ok());
}

}  // namespace
}  // namespace re_dms
