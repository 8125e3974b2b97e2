// The Pipeline with the real Parser, ChangeBatcher and CsvWriter, loading
// into an in-memory target that reads the staged CSV back (so values are
// checked byte for byte), and once through real S3 (s3rver) into a real
// PostgreSQL target with the RedshiftLoader.
//
// Streams are written here in test_decoding's text; a model applies the same
// changes so every test compares the whole target with what the source holds.

#include "re_dms/pipeline.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/compression.h"
#include "re_dms/csv_dialect.h"
#include "re_dms/redshift_loader.h"
#include "re_dms/s3_client.h"
#include "re_dms/s3_uploader.h"
#include "tests/support/pg_scratch.h"
#include "tests/tools/s3_scratch.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;

using Value = std::optional<std::string>;
// Per table: id -> v.
using TableRows = std::map<std::string, Value>;
using Tables = std::map<std::string, TableRows>;

const std::vector<Value>& HostileValues() {
  static const auto* values = new std::vector<Value>{
      std::string("plain"),
      std::string("O'Brien"),
      std::string("line\nbreak"),
      std::string(""),
      std::nullopt,
      std::string("a,b \"quoted\""),
      std::string("back\\slash"),
      std::string("NULL"),
      std::string("'' two quotes"),
  };
  return *values;
}

// Writes test_decoding text for tables public.<name> (id integer key, v text)
// and keeps the model of what the source holds after each commit.
class StreamBuilder {
 public:
  StreamBuilder& Begin() {
    ++xid_;
    absl::StrAppend(&text_, "BEGIN ", xid_, "\n");
    return *this;
  }
  StreamBuilder& Insert(const std::string& table, int id, const Value& v) {
    Row(table, "INSERT", id, v);
    pending_[table][absl::StrCat(id)] = v;
    return *this;
  }
  StreamBuilder& Update(const std::string& table, int id, const Value& v) {
    Row(table, "UPDATE", id, v);
    pending_[table][absl::StrCat(id)] = v;
    return *this;
  }
  StreamBuilder& Delete(const std::string& table, int id) {
    absl::StrAppend(&text_, "table public.", table, ": DELETE: id[integer]:", id, "\n");
    deleted_[table].insert(absl::StrCat(id));
    pending_[table].erase(absl::StrCat(id));
    return *this;
  }
  StreamBuilder& Commit() {
    ++commits_;
    absl::StrAppend(&text_, "COMMIT ", xid_, " (at 2026-11-28 00:00:", 10 + commits_ % 50,
                    ".5+00)\n");
    for (auto& [table, ids] : deleted_) {
      for (const std::string& id : ids) model_[table].erase(id);
    }
    for (auto& [table, rows] : pending_) {
      for (auto& [id, v] : rows) model_[table][id] = v;
    }
    deleted_.clear();
    pending_.clear();
    return *this;
  }
  // Raw bytes, e.g. garbage.
  StreamBuilder& Append(absl::string_view bytes) {
    absl::StrAppend(&text_, bytes);
    return *this;
  }

  const std::string& text() const { return text_; }
  // The source after the last commit.
  const Tables& model() const { return model_; }
  uint64_t commits() const { return commits_; }

 private:
  void Row(const std::string& table, absl::string_view kind, int id, const Value& v) {
    std::string value = v ? absl::StrCat("'", absl::StrReplaceAll(*v, {{"'", "''"}}), "'") : "null";
    absl::StrAppend(&text_, "table public.", table, ": ", kind, ": id[integer]:", id,
                    " v[text]:", value, "\n");
  }

  std::string text_;
  uint32_t xid_ = 700;
  uint64_t commits_ = 0;
  Tables model_;
  std::map<std::string, std::map<std::string, Value>> pending_;
  std::map<std::string, std::set<std::string>> deleted_;
};

// A random workload over `tables`: inserts, updates and deletes of
// hostile values; records which tables each commit touches.
StreamBuilder RandomWorkload(
    const std::vector<std::string>& tables, int transactions, uint32_t seed,
    std::map<uint64_t, std::set<std::string>>* touched_by_commit = nullptr) {
  StreamBuilder stream;
  std::mt19937 random(seed);
  std::map<std::string, std::set<int>> present;
  for (int t = 0; t < transactions; ++t) {
    stream.Begin();
    std::set<std::string> touched;
    const int changes = 1 + static_cast<int>(random() % 4);
    for (int c = 0; c < changes; ++c) {
      const std::string& table = tables[random() % tables.size()];
      const int id = static_cast<int>(random() % 20);
      const Value& v = HostileValues()[random() % HostileValues().size()];
      std::set<int>& ids = present[table];
      if (ids.count(id) == 0) {
        stream.Insert(table, id, v);
        ids.insert(id);
      } else if (random() % 3 == 0) {
        stream.Delete(table, id);
        ids.erase(id);
      } else {
        stream.Update(table, id, v);
      }
      touched.insert(table);
    }
    stream.Commit();
    if (touched_by_commit != nullptr) (*touched_by_commit)[stream.commits()] = touched;
  }
  return stream;
}

// Splits CSV in the PostgreSQL dialect of csv_dialect.h: every value quoted,
// NULL an unquoted empty field.
std::vector<std::vector<Value>> ParseCsv(absl::string_view csv) {
  std::vector<std::vector<Value>> rows(1);
  size_t i = 0;
  bool field_started = false;
  while (i < csv.size()) {
    char c = csv[i];
    if (c == '"') {
      std::string value;
      ++i;
      for (;;) {
        if (csv[i] == '"') {
          if (i + 1 < csv.size() && csv[i + 1] == '"') {
            value.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        value.push_back(csv[i++]);
      }
      rows.back().push_back(value);
      field_started = true;
    } else if (c == ',') {
      if (!field_started) rows.back().push_back(std::nullopt);
      field_started = false;
      ++i;
    } else if (c == '\n') {
      if (!field_started) rows.back().push_back(std::nullopt);
      field_started = false;
      rows.emplace_back();
      ++i;
    } else {
      ADD_FAILURE() << "unexpected byte in CSV: " << c;
      ++i;
    }
  }
  rows.pop_back();  // After the last '\n'.
  return rows;
}

// The target: tables in memory, filled from the staged files.
class MemoryTarget {
 public:
  // Runs before each batch is applied, outside the target's lock; an error
  // fails the batch.
  std::function<absl::Status(const StagedBatch&)> before_apply;

  absl::Status Apply(const StagedBatch& staged) {
    const std::string& table = staged.batch.table;
    {
      absl::MutexLock lock(&mutex_);
      if (++active_[table] > 1) concurrent_loads_of_one_table_ = true;
    }
    absl::Status status = before_apply ? before_apply(staged) : absl::OkStatus();
    absl::MutexLock lock(&mutex_);
    --active_[table];
    if (!status.ok()) return status;
    sequences_[table].push_back(staged.batch.sequence);
    loaded_through_[table] = staged.batch.position.sequence;
    ++batches_;
    if (staged.batch.kind == Batch::Kind::kTruncate) tables_[table].clear();
    for (const StagedFile& file : staged.files) {
      std::string csv;
      for (const std::string& path : file.local_paths) {
        absl::Status read = DecompressFile(path, staged.compression, [&](absl::string_view bytes) {
          csv.append(bytes.data(), bytes.size());
          return absl::OkStatus();
        });
        if (!read.ok()) return read;
      }
      for (const std::vector<Value>& row : ParseCsv(csv)) {
        const std::string id = row.at(0).value();
        if (file.role == StagedFile::Role::kDelete) {
          tables_[table].erase(id);
        } else {
          tables_[table][id] = row.at(1);
        }
      }
    }
    return absl::OkStatus();
  }

  Tables tables() const {
    absl::MutexLock lock(&mutex_);
    Tables copy = tables_;
    for (auto it = copy.begin(); it != copy.end();) {
      it = it->second.empty() ? copy.erase(it) : std::next(it);
    }
    return copy;
  }
  std::map<std::string, std::vector<uint64_t>> sequences() const {
    absl::MutexLock lock(&mutex_);
    return sequences_;
  }
  // The commit through which each table's batches are loaded.
  std::map<std::string, uint64_t> loaded_through() const {
    absl::MutexLock lock(&mutex_);
    return loaded_through_;
  }
  // Waits until every table of `commits` is loaded through its commit there;
  // false if `timeout` passes first.
  bool AwaitLoadedThrough(const std::map<std::string, uint64_t>& commits,
                          absl::Duration timeout) const {
    auto loaded = [&] {
      mutex_.AssertReaderHeld();
      for (const auto& [table, commit] : commits) {
        auto it = loaded_through_.find(table);
        if (it == loaded_through_.end() || it->second < commit) return false;
      }
      return true;
    };
    absl::MutexLock lock(&mutex_);
    return mutex_.AwaitWithTimeout(absl::Condition(&loaded), timeout);
  }
  uint64_t batches() const {
    absl::MutexLock lock(&mutex_);
    return batches_;
  }
  bool concurrent_loads_of_one_table() const {
    absl::MutexLock lock(&mutex_);
    return concurrent_loads_of_one_table_;
  }

 private:
  mutable absl::Mutex mutex_;
  Tables tables_;
  std::map<std::string, int> active_;
  std::map<std::string, std::vector<uint64_t>> sequences_;
  std::map<std::string, uint64_t> loaded_through_;
  uint64_t batches_ = 0;
  bool concurrent_loads_of_one_table_ = false;
};

class MemoryLoader : public Loader {
 public:
  explicit MemoryLoader(MemoryTarget* target) : target_(target) {}
  absl::Status Apply(const StagedBatch& batch) override { return target_->Apply(batch); }
  absl::StatusOr<std::optional<Checkpoint>> GetCheckpoint(absl::string_view,
                                                          absl::string_view) override {
    return std::nullopt;
  }

 private:
  MemoryTarget* target_;
};

// Hands out the stream in chunks and counts them; can call a hook per chunk.
class CountingSource : public StreamSource {
 public:
  CountingSource(std::vector<std::string> chunks) : chunks_(std::move(chunks)) {}

  absl::StatusOr<bool> Read(std::string* chunk) override {
    if (next_ == chunks_.size()) return false;
    *chunk = chunks_[next_++];
    delivered_.store(next_);
    if (on_chunk) on_chunk(next_);
    return true;
  }
  size_t delivered() const { return delivered_.load(); }
  size_t size() const { return chunks_.size(); }

  // Called with the number of chunks delivered so far.
  std::function<void(size_t)> on_chunk;

 private:
  std::vector<std::string> chunks_;
  size_t next_ = 0;
  std::atomic<size_t> delivered_{0};
};

// One chunk per line: a stop or a limit can then fall anywhere.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    // Values here never hold "\ntable " or "\nCOMMIT", so a line ends at the
    // next '\n' that starts a record.
    size_t end = start;
    for (;;) {
      end = text.find('\n', end);
      if (end == std::string::npos || end + 1 == text.size()) break;
      absl::string_view next = absl::string_view(text).substr(end + 1);
      if (absl::StartsWith(next, "table ") || absl::StartsWith(next, "BEGIN ") ||
          absl::StartsWith(next, "COMMIT ")) {
        break;
      }
      ++end;
    }
    end = end == std::string::npos ? text.size() : end + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

std::string MakeTempDir(absl::string_view name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name, ".XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  return pattern;
}

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() {
    for (const char* table : {"a", "b", "c", "slow", "fast"}) {
      TableKey key;
      key.columns = {"id"};
      key.table_columns = {{"id", "integer"}, {"v", "text"}};
      keys_.Set("public", table, key);
    }
    options_.workers = 3;
    options_.batcher.max_rows = 5;
    options_.on_durable = [this](const SourcePosition& position) { OnDurable(position); };
    writer_options_.spool_directory = MakeTempDir("spool");
    writer_options_.dialect = kPostgresCsv;
    writer_options_.compression = Compression::kZstd;
    writer_options_.fsync = false;
  }

  std::unique_ptr<Pipeline> MakePipeline() {
    PipelineComponents components;
    components.keys = &keys_;
    components.writer = MakeCsvBatchWriter(writer_options_);
    components.make_loader = [this]() -> absl::StatusOr<std::unique_ptr<Loader>> {
      return std::make_unique<MemoryLoader>(&target_);
    };
    absl::StatusOr<std::unique_ptr<Pipeline>> pipeline =
        Pipeline::Create(options_, std::move(components));
    EXPECT_TRUE(pipeline.ok()) << pipeline.status();
    return pipeline.ok() ? *std::move(pipeline) : nullptr;
  }

  // Checks, at each report, that every commit up to the durable position is
  // loaded for every table it touched.
  void OnDurable(const SourcePosition& position) {
    absl::MutexLock lock(&durable_mutex_);
    if (!durable_.empty()) {
      EXPECT_GT(position.sequence, durable_.back());
    }
    durable_.push_back(position.sequence);
    const std::map<std::string, uint64_t> loaded = target_.loaded_through();
    for (const auto& [commit, tables] : touched_) {
      if (commit > position.sequence) break;
      for (const std::string& table : tables) {
        auto it = loaded.find(table);
        EXPECT_TRUE(it != loaded.end() && it->second >= commit)
            << "durable position " << position.sequence << " reported while commit " << commit
            << " of table " << table << " is not loaded";
      }
    }
  }

  std::vector<uint64_t> durable() {
    absl::MutexLock lock(&durable_mutex_);
    return durable_;
  }

  StreamBuilder RandomWorkload(const std::vector<std::string>& tables, int transactions,
                               uint32_t seed) {
    absl::MutexLock lock(&durable_mutex_);
    return re_dms::RandomWorkload(tables, transactions, seed, &touched_);
  }

  StaticKeyColumns keys_;
  MemoryTarget target_;
  PipelineOptions options_;
  CsvWriterOptions writer_options_;

  absl::Mutex durable_mutex_;
  std::vector<uint64_t> durable_;
  std::map<uint64_t, std::set<std::string>> touched_;
};

TEST_F(PipelineTest, EndOfInputLoadsEverythingExactly) {
  StreamBuilder stream = RandomWorkload({"a", "b", "c"}, 300, 1);
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  ASSERT_NE(pipeline, nullptr);
  // Odd-sized chunks split records and values anywhere.
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text(), 97);
  ASSERT_TRUE(pipeline->Run(source.get()).ok());

  EXPECT_EQ(target_.tables(), stream.model());
  ASSERT_FALSE(durable().empty());
  EXPECT_EQ(durable().back(), stream.commits());
  PipelineStats stats = pipeline->stats();
  EXPECT_EQ(stats.durable.sequence, stream.commits());
  EXPECT_EQ(stats.read.sequence, stream.commits());
  EXPECT_EQ(stats.commits_read, stream.commits());
  EXPECT_EQ(stats.batches_loaded, target_.batches());
  EXPECT_EQ(stats.tables, 3u);
  EXPECT_EQ(stats.batches_in_flight, 0u);
  EXPECT_EQ(stats.lag, absl::ZeroDuration());
  EXPECT_FALSE(target_.concurrent_loads_of_one_table());
  // Loaded batches leave nothing in the spool directory.
  EXPECT_TRUE(std::filesystem::is_empty(writer_options_.spool_directory));
}

TEST_F(PipelineTest, TablesLoadInParallelAndEachStrictlyInOrder) {
  // `slow`'s first load waits until every batch of `fast` is loaded: if one
  // table's load held up another's, it would wait in vain.
  constexpr int kFastBatches = 12;
  StreamBuilder stream;
  stream.Begin().Insert("slow", 1, "first").Commit();
  for (int i = 0; i < kFastBatches; ++i) stream.Begin().Insert("fast", i, "x").Commit();
  for (int i = 2; i < 30; ++i) stream.Begin().Insert("slow", i, "later").Commit();
  options_.batcher.max_rows = 1;  // One batch per commit.
  options_.workers = 2;
  options_.max_batches_in_flight = 64;

  absl::Notification fast_done;
  std::atomic<bool> waited_in_vain{false};
  target_.before_apply = [&](const StagedBatch& staged) {
    if (staged.batch.table == "fast" && staged.batch.sequence == kFastBatches) {
      fast_done.Notify();
    }
    if (staged.batch.table == "slow" && staged.batch.sequence == 1 &&
        !fast_done.WaitForNotificationWithTimeout(absl::Seconds(60))) {
      waited_in_vain = true;
    }
    return absl::OkStatus();
  };
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text(), 64);
  ASSERT_TRUE(pipeline->Run(source.get()).ok());

  EXPECT_FALSE(waited_in_vain) << "the fast table's loads waited behind the slow table";
  EXPECT_FALSE(target_.concurrent_loads_of_one_table());
  std::map<std::string, std::vector<uint64_t>> sequences = target_.sequences();
  for (const auto& [table, applied] : sequences) {
    std::vector<uint64_t> expected(applied.size());
    std::iota(expected.begin(), expected.end(), 1);
    EXPECT_EQ(applied, expected) << table;
  }
  EXPECT_EQ(sequences["fast"].size(), static_cast<size_t>(kFastBatches));
  EXPECT_EQ(sequences["slow"].size(), 29u);
  EXPECT_EQ(target_.tables(), stream.model());
}

TEST_F(PipelineTest, ASlowTargetSlowsReading) {
  // One transaction per chunk, one batch per transaction: the reader may be
  // ahead of the loads by at most the in-flight window (plus the chunk whose
  // batch waits for room).
  StreamBuilder stream;
  std::vector<std::string> chunks;
  for (int i = 0; i < 200; ++i) {
    const size_t before = stream.text().size();
    stream.Begin().Insert("a", i, std::string(100, 'x')).Commit();
    chunks.push_back(stream.text().substr(before));
  }
  options_.batcher.max_rows = 1;
  options_.workers = 1;
  options_.max_batches_in_flight = 3;
  options_.max_bytes_in_flight = 1;  // A single batch in memory at a time.
  CountingSource source(chunks);
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  std::atomic<uint64_t> applied{0};
  std::atomic<bool> overran{false};
  target_.before_apply = [&](const StagedBatch&) {
    PipelineStats stats = pipeline->stats();
    if (source.delivered() > applied.load() + 3 + 1 || stats.batches_in_flight > 3) {
      overran = true;
    }
    ++applied;
    return absl::OkStatus();
  };
  source.on_chunk = [&](size_t delivered) {
    if (delivered > applied.load() + 3 + 1) overran = true;
  };
  ASSERT_TRUE(pipeline->Run(&source).ok());
  EXPECT_FALSE(overran) << "the reader ran ahead of the loads by more than the window";
  EXPECT_EQ(applied.load(), 200u);
  EXPECT_EQ(target_.tables(), stream.model());
}

TEST_F(PipelineTest, DurablePositionWaitsForEveryTable) {
  // `b`'s third batch is held in the target until `a` and `c` have loaded
  // every commit, including the many after it that do not touch `b`. All
  // that time the durable position must stay before the held batch's
  // commit, and after the release reach the end.
  constexpr int kCommits = 30;
  constexpr uint64_t kHeldBatch = 3;
  options_.batcher.max_rows = 1;  // One batch per table per commit.
  // Room for all batches at once: were the window full of `b`'s waiting
  // batches, reading would wait for `b` (as it should; see
  // ASlowTargetSlowsReading) and `a` and `c` could never get ahead of it.
  options_.max_batches_in_flight = 3 * kCommits;
  const std::vector<Value>& values = HostileValues();
  StreamBuilder stream;
  uint64_t held_commit = 0;
  uint64_t commit_before_held = 0;  // Of b's batch before the held one.
  uint64_t b_batches = 0;
  for (int i = 1; i <= kCommits; ++i) {
    std::set<std::string> touched = {"a", "c"};
    stream.Begin().Insert("a", i, values[i % values.size()]);
    if (i % 2 == 0) {
      stream.Insert("b", i, values[(i + 1) % values.size()]);
      if (i % 6 == 0) stream.Update("b", i - 2, values[(i + 2) % values.size()]);
      touched.insert("b");
      if (++b_batches == kHeldBatch - 1) commit_before_held = i;
      if (b_batches == kHeldBatch) held_commit = i;
    }
    if (i % 5 == 0) stream.Update("c", i - 2, values[(i + 3) % values.size()]).Delete("a", i - 3);
    stream.Insert("c", i, values[(i + 4) % values.size()]).Commit();
    absl::MutexLock lock(&durable_mutex_);
    touched_[stream.commits()] = touched;
  }
  ASSERT_GT(commit_before_held, 0u);
  ASSERT_LT(held_commit, static_cast<uint64_t>(kCommits));

  // Safety timeouts only: the test is `small` (60 s in all).
  constexpr absl::Duration kTimeout = absl::Seconds(15);
  absl::Notification b_held;
  absl::Notification release_b;
  std::atomic<bool> hold_timed_out{false};
  target_.before_apply = [&](const StagedBatch& staged) {
    if (staged.batch.table == "b" && staged.batch.sequence == kHeldBatch) {
      EXPECT_EQ(staged.batch.position.sequence, held_commit);
      b_held.Notify();
      if (!release_b.WaitForNotificationWithTimeout(kTimeout)) hold_timed_out = true;
    }
    return absl::OkStatus();
  };
  options_.on_durable = [&](const SourcePosition& position) {
    OnDurable(position);
    // Computed before this call; if `b` is still held, it was held then.
    if (!release_b.HasBeenNotified()) {
      EXPECT_LT(position.sequence, held_commit)
          << "durable position reported while b's batch of commit " << held_commit << " is held";
    }
  };
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  ASSERT_NE(pipeline, nullptr);
  CountingSource source(Lines(stream.text()));
  absl::Status run_status = absl::UnknownError("Run did not return");
  std::thread runner([&] { run_status = pipeline->Run(&source); });

  // Failures here are EXPECTs so that `b` is released and Run joined.
  EXPECT_TRUE(b_held.WaitForNotificationWithTimeout(kTimeout)) << "b's batch never came to load";
  EXPECT_TRUE(target_.AwaitLoadedThrough({{"a", kCommits}, {"c", kCommits}}, kTimeout))
      << "a and c did not load past the held batch of b";
  // `a` and `c` are loaded through commit kCommits - 1 at least (each
  // table's batches load in order), `b` through the commit before
  // `held_commit`: that commit is the newest durable one.
  EXPECT_EQ(pipeline->stats().durable.sequence, held_commit - 1);
  for (uint64_t position : durable()) {
    EXPECT_LT(position, held_commit) << "reported while b's batch was held";
  }
  EXPECT_EQ(target_.loaded_through()["b"], commit_before_held);
  release_b.Notify();
  runner.join();

  ASSERT_TRUE(run_status.ok()) << run_status;
  EXPECT_FALSE(hold_timed_out) << "b's batch was never released";
  ASSERT_FALSE(durable().empty());
  EXPECT_EQ(durable().back(), stream.commits());
  EXPECT_EQ(pipeline->stats().durable.sequence, stream.commits());
  EXPECT_EQ(target_.sequences()["b"].size(), kCommits / 2u);
  EXPECT_EQ(target_.tables(), stream.model());
}

TEST_F(PipelineTest, PermanentLoadFailureStopsWithANamedError) {
  StreamBuilder stream = RandomWorkload({"a", "b"}, 400, 3);
  options_.batcher.max_rows = 1;
  options_.max_batches_in_flight = 4;
  std::atomic<uint64_t> failed_commit{0};
  target_.before_apply = [&](const StagedBatch& staged) {
    if (staged.batch.table == "b" && staged.batch.sequence == 2) {
      failed_commit = staged.batch.position.sequence;
      return absl::PermissionDeniedError(
          "COPY of s3://bucket/staging/b/000000000002-upsert-0.manifest.json: access denied");
    }
    return absl::OkStatus();
  };
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  CountingSource source(Lines(stream.text()));
  absl::Status status = pipeline->Run(&source);
  ASSERT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(status.message(), HasSubstr("table public.b, batch 2"));
  EXPECT_THAT(status.message(), HasSubstr("loading into the target"));
  EXPECT_THAT(status.message(), HasSubstr("through commit #"));
  EXPECT_THAT(status.message(), HasSubstr("000000000002-upsert-0.manifest.json"));
  EXPECT_LT(source.delivered(), source.size()) << "reading should stop at the failure";
  EXPECT_EQ(target_.sequences()["b"], std::vector<uint64_t>{1});
  // Batches end at commits here (one row each): the failed one's changes
  // belong to its commit, which must not become durable.
  ASSERT_GT(failed_commit.load(), 0u);
  if (!durable().empty()) {
    EXPECT_LT(durable().back(), failed_commit.load());
  }
  EXPECT_LT(pipeline->stats().durable.sequence, failed_commit.load());
}

TEST_F(PipelineTest, WriteFailureNamesTheStageAndTable) {
  // A NUL byte cannot be staged (neither COPY accepts it): CsvWriter refuses.
  StreamBuilder stream;
  stream.Begin().Insert("a", 1, "fine").Commit();
  stream.Begin().Insert("c", 2, std::string("nul\0byte", 8)).Commit();
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text());
  absl::Status status = pipeline->Run(source.get());
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("table public.c, batch 1"));
  EXPECT_THAT(status.message(), HasSubstr("writing its files"));
}

TEST_F(PipelineTest, StopRequestFinishesTheOpenTransactionAndWhatWasRead) {
  // The stop arrives in the middle of transaction 50; it is read to its
  // commit and loaded with everything before it; nothing after is read.
  StreamBuilder full = RandomWorkload({"a", "b", "c"}, 100, 4);
  StreamBuilder through50 = RandomWorkload({"a", "b", "c"}, 50, 4);
  std::vector<std::string> lines = Lines(full.text());
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  CountingSource source(lines);
  // The line after BEGIN of the 50th transaction.
  const size_t stop_at = Lines(through50.text()).size() - 2;
  ASSERT_TRUE(absl::StartsWith(lines[stop_at - 1], "table ")) << lines[stop_at - 1];
  source.on_chunk = [&](size_t delivered) {
    if (delivered == stop_at) pipeline->RequestStop();
  };
  ASSERT_TRUE(pipeline->Run(&source).ok());
  EXPECT_EQ(target_.tables(), through50.model());
  EXPECT_EQ(durable().back(), 50u);
  EXPECT_LT(source.delivered(), lines.size());
}

TEST_F(PipelineTest, SecondStopInsideATransactionAbortsWithoutLoadingIt) {
  StreamBuilder stream;
  stream.Begin().Insert("a", 1, "kept").Insert("b", 1, "kept").Commit();
  stream.Begin().Insert("a", 2, "open").Insert("a", 3, "open");
  stream.Begin();  // Never reached.
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  CountingSource source(Lines(stream.text()));
  source.on_chunk = [&](size_t delivered) {
    // Chunk 6, the open transaction's first change, has been read; chunk 7
    // is being delivered.
    if (delivered == 7) {
      pipeline->RequestStop();
      pipeline->RequestStop();
    }
  };
  absl::Status status = pipeline->Run(&source);
  ASSERT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(status.message(), HasSubstr("second request"));
  EXPECT_THAT(status.message(), HasSubstr("transaction that began at line 5"));
  // The open transaction was held apart until its COMMIT, so every committed
  // row loads, also of `a`, which the open transaction touched.
  Tables expected = {{"a", {{"1", "kept"}}}, {"b", {{"1", "kept"}}}};
  EXPECT_EQ(target_.tables(), expected);
  EXPECT_EQ(durable().back(), 1u);
}

TEST_F(PipelineTest, GarbageStopsWithTheParsersErrorAfterLoadingCompleteTransactions) {
  StreamBuilder stream = RandomWorkload({"a", "b"}, 20, 5);
  const Tables before_garbage = stream.model();
  // Physical lines: some values hold newlines.
  const uint64_t lines_before = std::count(stream.text().begin(), stream.text().end(), '\n');
  stream.Append("this is not test_decoding output\n");
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text(), 1000);
  absl::Status status = pipeline->Run(source.get());
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("line ", lines_before + 1)));
  EXPECT_EQ(target_.tables(), before_garbage);
  EXPECT_EQ(durable().back(), 20u);
}

TEST_F(PipelineTest, StreamEndingInsideARecordIsDataLoss) {
  StreamBuilder stream = RandomWorkload({"a", "b"}, 10, 6);
  const Tables complete = stream.model();
  stream.Begin().Append("table public.a: INSERT: id[integer]:99 v[text]:'never clo");
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text(), 50);
  absl::Status status = pipeline->Run(source.get());
  ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_EQ(target_.tables(), complete);
  EXPECT_EQ(durable().back(), 10u);
}

TEST_F(PipelineTest, StreamEndingInsideATransactionLoadsEveryCommittedOne) {
  StreamBuilder stream;
  stream.Begin().Insert("a", 1, "committed").Insert("b", 1, "committed").Commit();
  stream.Begin().Insert("b", 2, "uncommitted");
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text());
  absl::Status status = pipeline->Run(source.get());
  ASSERT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("transaction that began at line 5"));
  EXPECT_EQ(target_.tables(), stream.model());
  EXPECT_EQ(durable().back(), 1u);
}

TEST_F(PipelineTest, AChangeOneTableCannotTakeDoesNotHoldBackTheOthers) {
  StreamBuilder stream = RandomWorkload({"a", "b"}, 7, 8);
  const Tables committed = stream.model();
  // `nokey` has no key and no REPLICA IDENTITY FULL: its update cannot be
  // placed, which stops the run.
  TableKey no_key;
  no_key.table_columns = {{"id", "integer"}, {"v", "text"}};
  keys_.Set("public", "nokey", no_key);
  stream.Begin().Update("nokey", 1, "fails").Commit();
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text(), 100);
  absl::Status status = pipeline->Run(source.get());
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("REPLICA IDENTITY FULL"));
  EXPECT_EQ(target_.tables(), committed);
}

TEST_F(PipelineTest, TargetSchemaMapsEveryTableAndRefusesCollisions) {
  TableKey key;
  key.columns = {"id"};
  key.table_columns = {{"id", "integer"}, {"v", "text"}};
  keys_.Set("other", "a", key);
  options_.target_schema = "landing";
  std::vector<std::string> schemas;
  target_.before_apply = [&](const StagedBatch& staged) {
    schemas.push_back(staged.batch.schema);
    return absl::OkStatus();
  };
  StreamBuilder stream;
  stream.Begin().Insert("a", 1, "x").Insert("b", 1, "y").Commit();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text());
  ASSERT_TRUE(MakePipeline()->Run(source.get()).ok());
  EXPECT_EQ(schemas, (std::vector<std::string>{"landing", "landing"}));

  stream.Append("BEGIN 900\ntable other.a: INSERT: id[integer]:1 v[text]:'y'\nCOMMIT 900\n");
  source = MakeStringStreamSource(stream.text());
  std::unique_ptr<Pipeline> pipeline = MakePipeline();
  absl::Status status = pipeline->Run(source.get());
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("public.a and other.a would both load into landing.a"));
  // The refused batch was never loaded: commit 2 is not durable.
  EXPECT_LT(pipeline->stats().durable.sequence, 2u);
}

TEST(ChangeBatcherFloorTest, OldestBufferedPositionTracksTheOldestPendingChange) {
  StaticKeyColumns keys;
  TableKey key;
  key.columns = {"id"};
  keys.Set("public", "a", key);
  keys.Set("public", "b", key);
  BatcherOptions options;
  absl::StatusOr<std::unique_ptr<ChangeBatcher>> batcher = ChangeBatcher::Create(options, &keys);
  ASSERT_TRUE(batcher.ok());
  Parser parser;
  Record record;
  std::vector<Batch> ready;
  auto feed = [&](const std::string& text) {
    parser.Feed(text);
    while (*parser.Next(&record)) ASSERT_TRUE((*batcher)->Add(record, &ready).ok());
  };
  EXPECT_FALSE((*batcher)->oldest_buffered_position().has_value());
  feed("BEGIN 1\nCOMMIT 1\n");
  EXPECT_EQ((*batcher)->position().sequence, 1u);
  feed("BEGIN 2\ntable public.a: INSERT: id[integer]:1\nCOMMIT 2\n");
  ASSERT_TRUE((*batcher)->oldest_buffered_position().has_value());
  EXPECT_EQ((*batcher)->oldest_buffered_position()->sequence, 1u);
  feed("BEGIN 3\ntable public.b: INSERT: id[integer]:1\nCOMMIT 3\n");
  EXPECT_EQ((*batcher)->oldest_buffered_position()->sequence, 1u);
  EXPECT_EQ((*batcher)->position().sequence, 3u);
  // `a` leaves (flushed); `b`'s change arrived after commit 2.
  ASSERT_TRUE((*batcher)->FlushAll(&ready).ok());
  EXPECT_FALSE((*batcher)->oldest_buffered_position().has_value());
  feed("BEGIN 4\ntable public.b: INSERT: id[integer]:2\n");
  EXPECT_EQ((*batcher)->oldest_buffered_position()->sequence, 3u);
}

// The whole path against the real servers: CsvWriter (zstd) -> S3Uploader ->
// s3rver -> RedshiftLoader (PostgreSQL dialect) -> PostgreSQL.
TEST(PipelineIntegrationTest, StreamReachesPostgresThroughS3) {
  absl::StatusOr<std::unique_ptr<testing::ScratchDatabase>> db =
      testing::ScratchDatabase::Create("pipeline");
  ASSERT_TRUE(db.ok()) << db.status();
  absl::StatusOr<std::string> endpoint = testing::TestS3Endpoint();
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  S3ClientOptions s3_options;
  s3_options.endpoint = *endpoint;
  absl::StatusOr<std::unique_ptr<S3Client>> s3 = testing::MakeTestS3Client(s3_options);
  ASSERT_TRUE(s3.ok()) << s3.status();
  const std::string bucket = testing::UniqueBucketName("re-dms-pipeline");
  absl::Status created = (*s3)->CreateBucket(bucket);
  ASSERT_TRUE(created.ok()) << created;
  std::unique_ptr<S3Uploader> uploader = MakeS3Uploader(s3->get(), {bucket, "pipeline", 4});

  StaticKeyColumns keys;
  for (const char* table : {"a", "b"}) {
    TableKey key;
    key.columns = {"id"};
    key.table_columns = {{"id", "integer"}, {"v", "text"}};
    keys.Set("public", table, key);
  }
  StreamBuilder stream = RandomWorkload({"a", "b"}, 60, 7);

  PipelineOptions options;
  options.workers = 2;
  options.batcher.max_rows = 10;
  options.delete_uploaded = true;
  CsvWriterOptions writer_options;
  writer_options.spool_directory = MakeTempDir("pipeline-spool");
  writer_options.dialect = kPostgresCsv;
  PipelineComponents components;
  components.keys = &keys;
  components.writer = MakeCsvBatchWriter(writer_options);
  components.uploader = uploader.get();
  S3Client* client = s3->get();
  const std::string conninfo = (*db)->conninfo();
  components.make_loader = [client, conninfo]() -> absl::StatusOr<std::unique_ptr<Loader>> {
    RedshiftLoaderOptions loader_options;
    loader_options.conninfo = conninfo;
    absl::StatusOr<std::unique_ptr<RedshiftLoader>> loader =
        RedshiftLoader::Create(loader_options, MakeS3StagedFileSource(client));
    if (!loader.ok()) return loader.status();
    return std::unique_ptr<Loader>(*std::move(loader));
  };
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline =
      Pipeline::Create(options, std::move(components));
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  std::unique_ptr<StreamSource> source = MakeStringStreamSource(stream.text(), 4096);
  absl::Status status = (*pipeline)->Run(source.get());
  ASSERT_TRUE(status.ok()) << status;

  for (const char* table : {"a", "b"}) {
    absl::StatusOr<std::vector<testing::TextRow>> rows =
        (*db)->Query(absl::StrCat("SELECT id::text, v FROM public.", table, " ORDER BY id"));
    ASSERT_TRUE(rows.ok()) << rows.status();
    TableRows actual;
    for (const testing::TextRow& row : *rows) actual[*row[0]] = row[1];
    const auto it = stream.model().find(table);
    EXPECT_EQ(actual, it == stream.model().end() ? TableRows() : it->second) << table;
  }
  // --delete-uploaded: nothing is left under the prefix.
  absl::StatusOr<std::vector<S3ObjectInfo>> left = (*s3)->ListAllObjects(bucket, "pipeline/");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_TRUE(left->empty()) << left->size() << " objects left, e.g. " << (*left)[0].key;
}

}  // namespace
}  // namespace re_dms
