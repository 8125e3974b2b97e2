// The loader against a real PostgreSQL target, the whole path: batches are
// written by the real CsvWriter (zstd), uploaded by the S3Uploader to the test
// S3 server, streamed back from S3 into COPY and merged; every test compares
// the whole target table with the expected rows.

#include <stdlib.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/src/load/pg_connection.h"
#include "re_dms/change_batcher.h"
#include "re_dms/csv_writer.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

std::optional<std::string> V(const char* text) { return std::string(text); }
constexpr std::nullopt_t kNull = std::nullopt;

// Passes the data through, calling `on_first_chunk` once when the first chunk
// of any data set has been streamed (used to kill the backend mid-COPY).
class InterceptingSource : public StagedFileSource {
 public:
  InterceptingSource(std::unique_ptr<StagedFileSource> inner, std::function<void()> on_first_chunk)
      : inner_(std::move(inner)), on_first_chunk_(std::move(on_first_chunk)) {}
  absl::Status Read(const StagedFile& file, Compression compression,
                    const std::function<absl::Status(absl::string_view)>& sink) override {
    return inner_->Read(file, compression, [&](absl::string_view chunk) {
      absl::Status status = sink(chunk);
      if (on_first_chunk_) {
        std::function<void()> once = std::move(on_first_chunk_);
        on_first_chunk_ = nullptr;
        once();
      }
      return status;
    });
  }

 private:
  std::unique_ptr<StagedFileSource> inner_;
  std::function<void()> on_first_chunk_;
};

std::string MakeSpool() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/loader.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  return pattern;
}

class LoaderPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ScratchDatabase>> db = ScratchDatabase::Create("loader");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    spool_ = MakeSpool();

    absl::StatusOr<std::string> endpoint = ::re_dms::testing::TestS3Endpoint();
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    S3ClientOptions s3_options;
    s3_options.endpoint = *endpoint;
    absl::StatusOr<std::unique_ptr<S3Client>> client =
        ::re_dms::testing::MakeTestS3Client(s3_options);
    ASSERT_TRUE(client.ok()) << client.status();
    s3_ = *std::move(client);
    bucket_ = ::re_dms::testing::UniqueBucketName("re-dms-loader");
    absl::Status created = s3_->CreateBucket(bucket_);
    ASSERT_TRUE(created.ok()) << created;
    uploader_ = MakeS3Uploader(s3_.get(), {bucket_, "staging", 4});
    options_.conninfo = db_->conninfo();
    options_.retry.initial_backoff = absl::Milliseconds(10);
    options_.checkpoint_schema = "re_dms";
  }

  RedshiftLoader& Loader() {
    if (loader_ == nullptr) {
      std::unique_ptr<StagedFileSource> source =
          local_source_ ? MakeLocalStagedFileSource() : MakeS3StagedFileSource(s3_.get());
      if (on_first_chunk_) {
        source = std::make_unique<InterceptingSource>(std::move(source), on_first_chunk_);
      }
      absl::StatusOr<std::unique_ptr<RedshiftLoader>> loader =
          RedshiftLoader::Create(options_, std::move(source));
      EXPECT_TRUE(loader.ok()) << loader.status();
      loader_ = *std::move(loader);
    }
    return *loader_;
  }

  // A batch of `table` in schema "app" with columns (id integer key, name
  // text, note text) unless changed by the caller.
  Batch NewBatch(uint64_t sequence, Batch::Kind kind = Batch::Kind::kRows) {
    Batch batch;
    batch.schema = "app";
    batch.table = "items";
    batch.sequence = sequence;
    batch.kind = kind;
    batch.position.lsn = 1000 + sequence;
    batch.position.xid = static_cast<uint32_t>(500 + sequence);
    batch.position.sequence = sequence;
    batch.position.commit_time = "2026-11-27 23:00:00.123456+00";
    batch.columns = {{"id", "integer"}, {"name", "text"}, {"note", "text"}};
    batch.key_columns = {"id"};
    return batch;
  }

  static RowGroup FullRows(const Batch& batch, std::vector<std::vector<Datum>> rows) {
    RowGroup group;
    for (size_t i = 0; i < batch.columns.size(); ++i) group.columns.push_back(static_cast<int>(i));
    group.rows = std::move(rows);
    return group;
  }

  absl::Status Apply(const Batch& batch) { return ApplyGroup({batch}); }

  // Stages and uploads every batch, then applies them as one group.
  absl::Status ApplyGroup(const std::vector<Batch>& batches) {
    CsvWriterOptions writer_options;
    writer_options.spool_directory = spool_;
    writer_options.dialect = kPostgresCsv;
    writer_options.fsync = false;
    std::vector<StagedBatch> staged;
    for (const Batch& batch : batches) {
      absl::StatusOr<StagedBatch> written = CsvWriter(writer_options).Write(batch);
      if (!written.ok()) return written.status();
      absl::Status uploaded = uploader_->Upload(&*written);
      if (!uploaded.ok()) return uploaded;
      staged.push_back(*std::move(written));
    }
    if (staged.size() == 1) return Loader().Apply(staged[0]);
    std::vector<const StagedBatch*> group;
    for (const StagedBatch& batch : staged) group.push_back(&batch);
    return Loader().ApplyGroup(group);
  }

  std::vector<TextRow> Rows(absl::string_view sql) {
    absl::StatusOr<std::vector<TextRow>> rows = db_->Query(sql);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<TextRow>{};
  }

  void KillLoaderBackend() {
    const int pid = loader_->backend_pid();
    absl::Status status = db_->Exec(absl::StrCat("SELECT pg_terminate_backend(", pid, ")"));
    ASSERT_TRUE(status.ok()) << status;
    // Wait until the backend is gone, so the loader's next step surely fails.
    for (int i = 0; i < 500; ++i) {
      if (Rows(absl::StrCat("SELECT 1 FROM pg_stat_activity WHERE pid = ", pid)).empty()) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::string spool_;
  std::unique_ptr<S3Client> s3_;
  std::string bucket_;
  std::unique_ptr<S3Uploader> uploader_;
  bool local_source_ = false;             // Read the spool instead of S3.
  std::function<void()> on_first_chunk_;  // See InterceptingSource.
  RedshiftLoaderOptions options_;
  std::unique_ptr<RedshiftLoader> loader_;
};

TEST_F(LoaderPgTest, DetectsPostgresAndCreatesTableWithPrimaryKey) {
  Batch batch = NewBatch(1);
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("one"), kNull}}));
  ASSERT_TRUE(Apply(batch).ok());
  EXPECT_EQ(Loader().dialect(), TargetDialect::kPostgres);
  EXPECT_THAT(Rows("SELECT id::text AS k, name, note FROM app.items"),
              ElementsAre(TextRow{V("1"), V("one"), kNull}));
  EXPECT_THAT(Rows("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                   "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND "
                   "i.indrelid = 'app.items'::regclass"),
              ElementsAre(TextRow{V("id")}));
  EXPECT_THAT(Rows("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                   "'app.items'::regclass AND attnum > 0 ORDER BY attnum"),
              ElementsAre(TextRow{V("integer")}, TextRow{V("text")}, TextRow{V("text")}));
}

TEST_F(LoaderPgTest, InsertUpdateDeleteAndKeyChange) {
  Batch first = NewBatch(1);
  first.upserts.push_back(FullRows(
      first,
      {{V("1"), V("one"), V("a")}, {V("2"), V("two"), V("b")}, {V("3"), V("three"), kNull}}));
  ASSERT_TRUE(Apply(first).ok());

  Batch second = NewBatch(2);
  // Row 2 deleted, row 3 updated, row 1's key changed to 10, row 4 inserted.
  second.deletes = {{V("2")}, {V("1")}};
  second.upserts.push_back(FullRows(
      second,
      {{V("3"), V("THREE"), V("")}, {V("10"), V("one"), V("a")}, {V("4"), V("four"), kNull}}));
  ASSERT_TRUE(Apply(second).ok());

  EXPECT_THAT(Rows("SELECT id::text AS k, name, note FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("3"), V("THREE"), V("")}, TextRow{V("4"), V("four"), kNull},
                          TextRow{V("10"), V("one"), V("a")}));
}

TEST_F(LoaderPgTest, PartialRowsUpdateOnlyPresentColumns) {
  Batch first = NewBatch(1);
  first.upserts.push_back(FullRows(first, {{V("1"), V("one"), V("big toasted value 1")},
                                           {V("2"), V("two"), V("big toasted value 2")}}));
  ASSERT_TRUE(Apply(first).ok());

  Batch second = NewBatch(2);
  RowGroup partial;  // `note` was unchanged TOAST: only id and name present.
  partial.columns = {0, 1};
  partial.rows = {{V("1"), V("ONE")}};
  second.upserts.push_back(FullRows(second, {{V("3"), V("three"), V("x")}}));
  second.upserts.push_back(partial);
  ASSERT_TRUE(Apply(second).ok());

  EXPECT_THAT(Rows("SELECT id::text AS k, name, note FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("1"), V("ONE"), V("big toasted value 1")},
                          TextRow{V("2"), V("two"), V("big toasted value 2")},
                          TextRow{V("3"), V("three"), V("x")}));
}

TEST_F(LoaderPgTest, LocalSourceReadsTheSpool) {
  local_source_ = true;
  Batch batch = NewBatch(1);
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("one"), kNull}, {V("2"), V(""), V("x")}}));
  ASSERT_TRUE(Apply(batch).ok());
  EXPECT_THAT(Rows("SELECT id::text AS k, name, note FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("1"), V("one"), kNull}, TextRow{V("2"), V(""), V("x")}));
}

TEST_F(LoaderPgTest, ATransactionsBatchesApplyAsOneAndOnce) {
  Batch first = NewBatch(1);
  first.upserts.push_back(FullRows(first, {{V("1"), V("one"), kNull}, {V("2"), V("two"), kNull}}));
  ASSERT_TRUE(Apply(first).ok());
  // One source transaction truncates and refills the table: the batcher
  // emits a group, every batch of it at the transaction's commit.
  Batch truncate = NewBatch(2, Batch::Kind::kTruncate);
  truncate.applies_with_next = true;
  Batch refill = NewBatch(3);
  refill.position = truncate.position;
  refill.upserts.push_back(FullRows(refill, {{V("3"), V("three"), kNull}}));
  ASSERT_TRUE(ApplyGroup({truncate, refill}).ok());
  EXPECT_THAT(Rows("SELECT id::text AS k, name FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("3"), V("three")}));
  // Replays (a restart from an older position) change nothing.
  ASSERT_TRUE(Apply(first).ok());
  ASSERT_TRUE(ApplyGroup({truncate, refill}).ok());
  EXPECT_EQ(Loader().skipped_batches(), 2u);
  EXPECT_THAT(Rows("SELECT id::text AS k, name FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("3"), V("three")}));
  // A group whose last batch fails leaves nothing of the transaction behind.
  Batch truncate_again = NewBatch(4, Batch::Kind::kTruncate);
  truncate_again.applies_with_next = true;
  Batch bad = NewBatch(5);
  bad.position = truncate_again.position;
  bad.upserts.push_back(FullRows(bad, {{V("not a number"), V("x"), kNull}}));
  EXPECT_FALSE(ApplyGroup({truncate_again, bad}).ok());
  EXPECT_THAT(Rows("SELECT id::text AS k, name FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("3"), V("three")}));
}

TEST_F(LoaderPgTest, AddedColumnsAddAndDroppedColumnsStayByDefault) {
  Batch first = NewBatch(1);
  first.upserts.push_back(FullRows(first, {{V("1"), V("one"), V("n1")}}));
  ASSERT_TRUE(Apply(first).ok());

  // The source dropped `note` and added `price numeric`.
  Batch change = NewBatch(2, Batch::Kind::kSchemaChange);
  change.columns = {{"id", "integer"}, {"name", "text"}, {"price", "numeric"}};
  ASSERT_TRUE(Apply(change).ok());
  Batch rows = NewBatch(3);
  rows.columns = change.columns;
  rows.upserts.push_back(FullRows(rows, {{V("2"), V("two"), V("12.50")}}));
  ASSERT_TRUE(Apply(rows).ok());

  EXPECT_THAT(Rows("SELECT id::text AS k, name, note, price::text FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("1"), V("one"), V("n1"), kNull},
                          TextRow{V("2"), V("two"), kNull, V("12.50")}));
}

// PostgreSQL stores a non-volatile ADD COLUMN ... DEFAULT in attmissingval
// and decodes no change for the rows that existed: the stream alone would
// leave them NULL in the target while the source shows the default.
TEST_F(LoaderPgTest, ColumnsAddedWithADefaultReachTheRowsThatExistedBefore) {
  absl::StatusOr<std::unique_ptr<ScratchDatabase>> source = ScratchDatabase::Create("loader_src");
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE((*source)->Exec("SET synchronous_commit = on").ok());
  absl::StatusOr<std::string> stream = ::re_dms::testing::CaptureChanges(
      **source, std::vector<std::string>{
                    "CREATE TABLE keyed (id int PRIMARY KEY, a text)",
                    "CREATE TABLE bag (v text)",
                    "INSERT INTO keyed VALUES (1, 'one'), (2, NULL)",
                    "INSERT INTO bag VALUES ('x'), ('x'), (NULL)",
                    "ALTER TABLE keyed ADD COLUMN c int DEFAULT 0",
                    "ALTER TABLE keyed ADD COLUMN d text DEFAULT 'x''y'",
                    "ALTER TABLE bag ADD COLUMN c int DEFAULT 0",
                    "ALTER TABLE bag ADD COLUMN d text DEFAULT 'x''y'",
                    // Reveal the new columns to the stream.
                    "INSERT INTO keyed VALUES (3, 'three', 5, NULL)",
                    "INSERT INTO bag VALUES ('z', NULL, 'w')",
                });
  ASSERT_TRUE(stream.ok()) << stream.status();

  absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys = PgKeyColumns::Connect((*source)->conninfo());
  ASSERT_TRUE(keys.ok()) << keys.status();
  BatcherOptions batcher_options;
  batcher_options.tables.include = {"public.*"};
  absl::StatusOr<std::unique_ptr<ChangeBatcher>> batcher =
      ChangeBatcher::Create(batcher_options, keys->get());
  ASSERT_TRUE(batcher.ok()) << batcher.status();
  Parser parser;
  parser.Feed(*stream);
  std::vector<Batch> ready;
  Record record;
  for (;;) {
    absl::StatusOr<bool> got = parser.Next(&record);
    ASSERT_TRUE(got.ok()) << got.status();
    if (!*got) break;
    absl::Status added = (*batcher)->Add(record, &ready);
    ASSERT_TRUE(added.ok()) << added;
  }
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_TRUE((*batcher)->FlushAll(&ready).ok());
  for (const Batch& batch : ready) {
    absl::Status applied = Apply(batch);
    ASSERT_TRUE(applied.ok()) << applied;
  }

  for (const char* table : {"keyed", "bag"}) {
    SCOPED_TRACE(table);
    const std::string sql =
        absl::StrCat("SELECT t::text FROM public.", table, " t ORDER BY t::text COLLATE \"C\"");
    absl::StatusOr<std::vector<TextRow>> expected = (*source)->Query(sql);
    ASSERT_TRUE(expected.ok()) << expected.status();
    EXPECT_EQ(Rows(sql), *expected);
  }
  EXPECT_THAT(Rows("SELECT c::text, d FROM public.keyed WHERE id = 1"),
              ElementsAre(TextRow{V("0"), V("x'y")}));
}

TEST_F(LoaderPgTest, ChangedColumnTypesFollowTheSource) {
  Batch first = NewBatch(1);
  first.upserts.push_back(FullRows(first, {{V("1"), V("one"), V("n1")}}));
  ASSERT_TRUE(Apply(first).ok());
  // ALTER TABLE ... ALTER id TYPE bigint, note TYPE integer at the source.
  Batch change = NewBatch(2, Batch::Kind::kSchemaChange);
  change.columns = {{"id", "bigint"}, {"name", "text"}, {"note", "text"}};
  ASSERT_TRUE(Apply(change).ok());
  Batch rows = NewBatch(3);
  rows.columns = change.columns;
  rows.upserts.push_back(FullRows(rows, {{V("9000000000"), V("big"), kNull}}));
  ASSERT_TRUE(Apply(rows).ok());
  EXPECT_THAT(Rows("SELECT id::text AS k, name FROM app.items ORDER BY id"),
              ElementsAre(TextRow{V("1"), V("one")}, TextRow{V("9000000000"), V("big")}));
  EXPECT_THAT(Rows("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                   "'app.items'::regclass AND attname = 'id'"),
              ElementsAre(TextRow{V("bigint")}));
}

TEST_F(LoaderPgTest, DroppedColumnsAreDroppedWithTheOption) {
  options_.drop_removed_columns = true;
  Batch first = NewBatch(1);
  first.upserts.push_back(FullRows(first, {{V("1"), V("one"), V("n1")}}));
  ASSERT_TRUE(Apply(first).ok());
  Batch change = NewBatch(2, Batch::Kind::kSchemaChange);
  change.columns = {{"id", "integer"}, {"name", "text"}};
  ASSERT_TRUE(Apply(change).ok());
  EXPECT_THAT(Rows("SELECT attname FROM pg_attribute WHERE attrelid = 'app.items'::regclass AND "
                   "attnum > 0 AND NOT attisdropped ORDER BY attnum"),
              ElementsAre(TextRow{V("id")}, TextRow{V("name")}));
}

TEST_F(LoaderPgTest, KeylessDeletesRemoveExactlyAsManyRowsAsListed) {
  Batch first = NewBatch(1);
  first.key_columns.clear();
  first.upserts.push_back(FullRows(first, {{V("1"), V("a"), kNull},
                                           {V("1"), V("a"), kNull},
                                           {V("1"), V("a"), kNull},
                                           {V("2"), kNull, V("")},
                                           {V("2"), kNull, V("")},
                                           {V("2"), V(""), V("")}}));
  ASSERT_TRUE(Apply(first).ok());

  Batch second = NewBatch(2);
  second.key_columns.clear();
  // Two of the three (1,a,NULL); one (2,NULL,''), which must not match (2,'','').
  second.deletes = {{V("1"), V("a"), kNull}, {V("1"), V("a"), kNull}, {V("2"), kNull, V("")}};
  second.upserts.push_back(FullRows(second, {{V("3"), V("c"), kNull}}));
  ASSERT_TRUE(Apply(second).ok());

  EXPECT_THAT(Rows("SELECT id::text AS k, name, note FROM app.items"),
              UnorderedElementsAreArray(std::vector<TextRow>{{V("1"), V("a"), kNull},
                                                             {V("2"), kNull, V("")},
                                                             {V("2"), V(""), V("")},
                                                             {V("3"), V("c"), kNull}}));
}

// A column dropped at the source stays in the target (by default) with the
// values it had: a keyless delete must match on the batch's columns only.
TEST_F(LoaderPgTest, KeylessDeleteAfterDroppedColumnMatchesOnTheBatchColumns) {
  Batch first = NewBatch(1);
  first.key_columns.clear();
  first.upserts.push_back(FullRows(first, {{V("1"), V("a"), V("n1")},
                                           {V("1"), V("a"), V("n1")},
                                           {V("1"), V("a"), V("n2")},
                                           {V("2"), kNull, V("n3")}}));
  ASSERT_TRUE(Apply(first).ok());
  Batch change = NewBatch(2, Batch::Kind::kSchemaChange);
  change.key_columns.clear();
  change.columns = {{"id", "integer"}, {"name", "text"}};
  ASSERT_TRUE(Apply(change).ok());

  Batch second = NewBatch(3);
  second.key_columns.clear();
  second.columns = change.columns;
  second.deletes = {{V("1"), V("a")}, {V("2"), kNull}};
  ASSERT_TRUE(Apply(second).ok());

  // Compared on the source's columns: which (1,'a') went is not observable there.
  EXPECT_THAT(Rows("SELECT id::text AS k, name FROM app.items"),
              UnorderedElementsAreArray(std::vector<TextRow>{{V("1"), V("a")}, {V("1"), V("a")}}));
  EXPECT_THAT(Rows("SELECT count(*)::text FROM app.items WHERE note IS NOT NULL"),
              ElementsAre(TextRow{V("2")}));
}

TEST_F(LoaderPgTest, ApplyingTheSameBatchTwiceChangesNothing) {
  Batch batch = NewBatch(1);
  batch.key_columns.clear();  // Keyless: a second insert would duplicate rows.
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("a"), kNull}}));
  ASSERT_TRUE(Apply(batch).ok());
  ASSERT_TRUE(Apply(batch).ok());
  EXPECT_EQ(Loader().skipped_batches(), 1u);
  EXPECT_THAT(Rows("SELECT id::text FROM app.items"), ElementsAre(TextRow{V("1")}));

  // An older LSN is skipped too.
  Batch older = batch;
  older.position.lsn = 5;
  ASSERT_TRUE(Apply(older).ok());
  EXPECT_THAT(Rows("SELECT id::text FROM app.items"), ElementsAre(TextRow{V("1")}));

  absl::StatusOr<std::optional<Checkpoint>> checkpoint = Loader().GetCheckpoint("app", "items");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  ASSERT_TRUE(checkpoint->has_value());
  EXPECT_EQ((*checkpoint)->position.lsn, batch.position.lsn);
  EXPECT_EQ((*checkpoint)->position.xid, batch.position.xid);
  EXPECT_EQ((*checkpoint)->position.sequence, 1u);
  EXPECT_EQ((*checkpoint)->position.commit_time, "2026-11-27 23:00:00.123456+00");
  EXPECT_FALSE((*checkpoint)->applied_at.empty());
}

TEST_F(LoaderPgTest, PositionsWithoutLsnAreRecordedButNeverSkip) {
  Batch batch = NewBatch(1);
  batch.key_columns.clear();
  batch.position.lsn.reset();
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("a"), kNull}}));
  ASSERT_TRUE(Apply(batch).ok());
  ASSERT_TRUE(Apply(batch).ok());
  EXPECT_EQ(Loader().skipped_batches(), 0u);
  EXPECT_EQ(Rows("SELECT id FROM app.items").size(), 2u);
  absl::StatusOr<std::optional<Checkpoint>> checkpoint = Loader().GetCheckpoint("app", "items");
  ASSERT_TRUE(checkpoint.ok() && checkpoint->has_value());
  EXPECT_FALSE((*checkpoint)->position.lsn.has_value());
  EXPECT_EQ((*checkpoint)->position.xid, 501u);
  absl::StatusOr<std::optional<Checkpoint>> none = Loader().GetCheckpoint("app", "other");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

// Without LSNs (pg_recvlogical pipe), across connection loss on a keyless
// table, where applying twice would duplicate rows: a batch whose COMMIT the
// server never ran is applied by the retry, even though it carries the same
// position as the batch before it (a mid-transaction cut), and a batch whose
// COMMIT reply was lost after the server committed is not applied again.
TEST_F(LoaderPgTest, LostCommitReplyWithoutLsnIsNotAppliedTwice) {
  bool kill_before_commit = false;
  bool lose_commit_reply = false;
  options_.before_statement = [&](absl::string_view kind) {
    if (kind != "COMMIT" || !kill_before_commit) return;
    kill_before_commit = false;
    KillLoaderBackend();
  };
  options_.after_statement = [&](absl::string_view kind) {
    if (kind != "COMMIT" || !lose_commit_reply) return absl::OkStatus();
    lose_commit_reply = false;
    KillLoaderBackend();
    return absl::UnavailableError("connection lost before the COMMIT reply arrived");
  };
  auto keyless = [&](uint64_t sequence) {
    Batch batch = NewBatch(sequence);
    batch.key_columns.clear();
    batch.position.lsn.reset();
    return batch;
  };

  Batch first = keyless(1);
  first.upserts.push_back(FullRows(first, {{V("1"), V("a"), kNull}, {V("1"), V("a"), kNull}}));
  ASSERT_TRUE(Apply(first).ok());

  Batch cut = keyless(2);
  cut.position = first.position;
  cut.deletes = {{V("1"), V("a"), kNull}};
  cut.upserts.push_back(FullRows(cut, {{V("2"), V("b"), V("")}}));
  kill_before_commit = true;
  absl::Status status = Apply(cut);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(kill_before_commit);
  EXPECT_EQ(Loader().retries(), 1u);
  EXPECT_THAT(Rows("SELECT id::text AS k, name, note FROM app.items"),
              UnorderedElementsAreArray(
                  std::vector<TextRow>{{V("1"), V("a"), kNull}, {V("2"), V("b"), V("")}}));

  Batch third = keyless(3);
  third.position.sequence = 2;
  third.deletes = {{V("1"), V("a"), kNull}};
  third.upserts.push_back(FullRows(third, {{V("2"), V("b"), V("")}, {V("3"), V("c"), kNull}}));
  lose_commit_reply = true;
  status = Apply(third);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(lose_commit_reply);
  EXPECT_EQ(Loader().retries(), 2u);
  EXPECT_EQ(Loader().skipped_batches(), 1u);
  EXPECT_THAT(Rows("SELECT id::text AS k, name, note FROM app.items"),
              UnorderedElementsAreArray(std::vector<TextRow>{
                  {V("2"), V("b"), V("")}, {V("2"), V("b"), V("")}, {V("3"), V("c"), kNull}}));
  EXPECT_THAT(Rows("SELECT lsn::text, xid::text, sequence::text, batch_sequence::text "
                   "FROM re_dms.re_dms_checkpoints"),
              ElementsAre(TextRow{kNull, V("503"), V("2"), V("3")}));
}

TEST_F(LoaderPgTest, HostileIdentifiersAndValuesRoundTrip) {
  Batch batch = NewBatch(1);
  batch.schema = "We\"ird Schema";
  batch.table = "select";
  batch.columns = {{"order", "integer"},
                   {"a\"b c", "text"},
                   {"Spaß ünï 名前", "character varying"},
                   {"From", "jsonb"}};
  batch.key_columns = {"order"};
  const std::vector<std::vector<Datum>> rows = {
      {V("1"), V("O'Brien"), V("line1\nline2\r\n"), V("{\"k\": \"v,\\\"q\\\"\"}")},
      {V("2"), V(""), kNull, kNull},
      {V("3"), V("comma, \"quoted\" and \\backslash\\N"), V("  spaces  "), V("[]")},
      {V("4"), V("NULL"), V("\\."), V("null")},
      {V("5"), V("ünïcödé 😀"), V("'"), V("{}")},
  };
  batch.upserts.push_back(FullRows(batch, rows));
  absl::Status status = Apply(batch);
  ASSERT_TRUE(status.ok()) << status;
  std::vector<TextRow> expected;
  for (const auto& row : rows) expected.push_back(TextRow(row.begin(), row.end()));
  EXPECT_EQ(Rows("SELECT \"order\"::text, \"a\"\"b c\", \"Spaß ünï 名前\", \"From\"::text FROM "
                 "\"We\"\"ird Schema\".\"select\" ORDER BY 1"),
            expected);
  // The same batch again (same LSN) is a no-op, even with these names.
  ASSERT_TRUE(Apply(batch).ok());
  EXPECT_EQ(Loader().skipped_batches(), 1u);
}

TEST_F(LoaderPgTest, OverlongIdentifierIsAClearError) {
  Batch batch = NewBatch(1);
  batch.table = std::string(200, 't');
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("a"), kNull}}));
  absl::Status status = Apply(batch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("200 bytes"));
  EXPECT_THAT(status.message(), HasSubstr("batch 1 (lsn 0/3E9"));
}

TEST_F(LoaderPgTest, FailuresNameTableBatchAndStatement) {
  Batch batch = NewBatch(1);
  batch.upserts.push_back(FullRows(batch, {{V("not a number"), V("a"), kNull}}));
  absl::Status status = Apply(batch);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(),
              HasSubstr("table app.items batch 1 (lsn 0/3E9, commit 1, xid 501)"));
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("COPY of s3://", bucket_, "/staging/")));
  EXPECT_THAT(status.message(), HasSubstr("invalid input syntax for type integer"));
  // Nothing was applied, not even the table's creation.
  EXPECT_TRUE(Rows("SELECT 1 FROM pg_class WHERE relname = 'items'").empty());
}

TEST_F(LoaderPgTest, SerializationFailureIsRetriedOtherErrorsAreNot) {
  // The target raises 40001 on the first INSERT only: a sequence survives the
  // rollback, so the retried transaction gets past it.
  ASSERT_TRUE(db_->Exec(R"sql(
      CREATE SCHEMA app;
      CREATE TABLE app.items (id integer, name text, note text);
      CREATE SEQUENCE app.attempts;
      CREATE FUNCTION app.fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('app.attempts') = 1 THEN
          RAISE EXCEPTION 'simulated conflict' USING ERRCODE = 'serialization_failure';
        END IF;
        IF NEW.name = 'forbidden' THEN
          RAISE EXCEPTION 'forbidden row' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_once BEFORE INSERT ON app.items
        FOR EACH ROW EXECUTE FUNCTION app.fail_once();
  )sql")
                  .ok());
  Batch batch = NewBatch(1);
  batch.key_columns.clear();
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("a"), kNull}}));
  absl::Status status = Apply(batch);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(Loader().retries(), 1u);
  EXPECT_THAT(Rows("SELECT id::text FROM app.items"), ElementsAre(TextRow{V("1")}));

  Batch bad = NewBatch(2);
  bad.key_columns.clear();
  bad.upserts.push_back(FullRows(bad, {{V("2"), V("forbidden"), kNull}}));
  status = Apply(bad);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("table app.items batch 2"));
  EXPECT_THAT(status.message(),
              HasSubstr("INSERT: statement failed (SQLSTATE 23514): forbidden row"));
  EXPECT_EQ(Loader().retries(), 1u);  // Not retried.
  EXPECT_THAT(Rows("SELECT id::text FROM app.items"), ElementsAre(TextRow{V("1")}));
}

// A second stop request while a load waits for a lock another session holds:
// the waiting statement is cancelled on the server, the batch rolled back,
// and Apply returns kCancelled at once instead of waiting for the lock.
TEST_F(LoaderPgTest, CancelStopsAStatementWaitingForALockAndRollsBack) {
  ASSERT_TRUE(db_->Exec("CREATE SCHEMA app; "
                        "CREATE TABLE app.items (id integer PRIMARY KEY, name text, note text)")
                  .ok());
  CancelToken cancel;
  options_.retry.cancel = &cancel;
  options_.lock_timeout = absl::ZeroDuration();  // Wait as long as it takes.
  Loader();
  absl::StatusOr<std::unique_ptr<PgConnection>> holder = PgConnection::Connect({db_->conninfo()});
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE((*holder)->Exec("BEGIN; LOCK TABLE app.items IN ACCESS EXCLUSIVE MODE").ok());
  const int loader_pid = Loader().backend_pid();
  std::thread canceller([&] {
    absl::StatusOr<std::unique_ptr<PgConnection>> watcher =
        PgConnection::Connect({db_->conninfo()});
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    for (int i = 0; i < 600; ++i) {
      absl::StatusOr<std::vector<PgRow>> waiting = (*watcher)->Query(absl::StrCat(
          "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid = ", loader_pid));
      if (waiting.ok() && !waiting->empty()) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    cancel.Cancel();
  });
  Batch batch = NewBatch(1);
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("a"), kNull}}));
  absl::Status status = Apply(batch);
  canceller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_THAT(status.message(), HasSubstr("table app.items batch 1"));
  EXPECT_THAT(status.message(), HasSubstr("second stop request"));
  ASSERT_TRUE((*holder)->Exec("ROLLBACK").ok());
  EXPECT_THAT(Rows("SELECT id::text FROM app.items"), ElementsAre());
  EXPECT_THAT(Rows("SELECT 1 FROM re_dms.re_dms_checkpoints"), ElementsAre());
}

// With lock_timeout, a lock held elsewhere fails the attempt, which is rolled
// back and retried; the error names the table and the PID holding the lock.
TEST_F(LoaderPgTest, LockTimeoutIsRetriedAndNamesTheLockHolder) {
  ASSERT_TRUE(db_->Exec("CREATE SCHEMA app; "
                        "CREATE TABLE app.items (id integer PRIMARY KEY, name text, note text)")
                  .ok());
  options_.lock_timeout = absl::Milliseconds(200);
  options_.retry.max_attempts = 2;
  int retries_seen = 0;
  options_.retry.on_retry = [&](const RetryEvent& event) {
    if (event.kind == RetryEvent::Kind::kRetrying) ++retries_seen;
  };
  Loader();
  absl::StatusOr<std::unique_ptr<PgConnection>> holder = PgConnection::Connect({db_->conninfo()});
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE((*holder)->Exec("BEGIN; LOCK TABLE app.items IN ACCESS EXCLUSIVE MODE").ok());
  Batch batch = NewBatch(1);
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("a"), kNull}}));
  absl::Status status = Apply(batch);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(status.message(),
              HasSubstr("waiting for a lock on table app.items timed out after 200ms"));
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("app.items by PID ", (*holder)->BackendPid(),
                                                       " (AccessExclusiveLock)")));
  EXPECT_THAT(status.message(), HasSubstr("gave up after 2 attempts"));
  EXPECT_EQ(retries_seen, 1);
  // Once the lock is free the same batch loads.
  ASSERT_TRUE((*holder)->Exec("ROLLBACK").ok());
  status = Apply(batch);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(Rows("SELECT id::text FROM app.items"), ElementsAre(TextRow{V("1")}));
}

// Kills the loader's backend right before the statement of `kind` runs, or,
// for "streaming", while COPY data is being sent -- once.
class LoaderKillTest : public LoaderPgTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(LoaderKillTest, LostConnectionIsRetriedAndAppliedExactlyOnce) {
  bool killed = false;
  const std::string stage = GetParam();
  if (stage == "streaming") {
    on_first_chunk_ = [&] {
      killed = true;
      KillLoaderBackend();
    };
  } else {
    options_.before_statement = [&](absl::string_view kind) {
      if (killed || kind != stage) return;
      killed = true;
      KillLoaderBackend();
    };
  }
  Batch batch = NewBatch(1);
  batch.key_columns.clear();  // Keyless: applying twice would duplicate.
  batch.upserts.push_back(FullRows(batch, {{V("1"), V("a"), kNull}, {V("2"), V("b"), kNull}}));
  absl::Status status = Apply(batch);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(killed);
  EXPECT_EQ(Loader().retries(), 1u);
  EXPECT_THAT(Rows("SELECT id::text FROM app.items"),
              UnorderedElementsAreArray(std::vector<TextRow>{{V("1")}, {V("2")}}));
  EXPECT_THAT(Rows("SELECT lsn::text FROM re_dms.re_dms_checkpoints"),
              ElementsAre(TextRow{V("1001")}));
}

INSTANTIATE_TEST_SUITE_P(AtEveryStage, LoaderKillTest,
                         ::testing::Values("BEGIN", "COPY", "streaming", "INSERT", "checkpoint",
                                           "COMMIT"));

TEST(PgConnectionTest, TlsIsRequiredForRemoteHostsUnlessConfigured) {
  EXPECT_EQ(*EffectiveSslMode("host=127.0.0.1 port=5432"), "prefer");
  EXPECT_EQ(*EffectiveSslMode("host=/var/run/postgresql"), "prefer");
  EXPECT_EQ(*EffectiveSslMode("host=localhost,::1"), "prefer");
  EXPECT_EQ(*EffectiveSslMode("host=cluster.abc.us-east-1.redshift.amazonaws.com port=5439"),
            "require");
  EXPECT_EQ(*EffectiveSslMode("postgresql://user@db.example.com/dw"), "require");
  EXPECT_EQ(*EffectiveSslMode("host=db.example.com sslmode=verify-full"), "verify-full");
  absl::StatusOr<std::string> bad = EffectiveSslMode("host='unterminated password=hunter2");
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), ::testing::Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace re_dms
