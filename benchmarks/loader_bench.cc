// Loader throughput against PostgreSQL, side by side with plain COPY.
//
// Builds one upsert batch of N rows (default 1,000,000; argv[1] overrides),
// writes it with CsvWriter (zstd), uploads it to S3 (the test s3rver), then in
// one run measures, in a fresh database:
//   plain COPY    the same CSV (already decompressed, in memory) streamed with
//                 COPY ... FROM STDIN into an empty table of the same shape and
//                 primary key;
//   loader/empty  RedshiftLoader::Apply of the batch into a missing table
//                 (created, staged from S3, merged, checkpointed);
//   loader/update the same rows again as a newer batch over the full table,
//                 so every row is deleted and re-inserted.
// Prints rows/s of each and the loader/plain ratios (goal: >= 0.5).
// With `local` as the second argument the loader reads the spool directory
// instead of S3, isolating the merge from the S3 transfer.
//
// Needs RE_DMS_TEST_PG_CONNINFO and RE_DMS_TEST_S3_ENDPOINT (scripts/services).
// Run the binary directly: bazel build //benchmarks:loader_bench &&
//   bazel-bin/benchmarks/loader_bench [rows] [s3|local] [rounds]
// Rounds (default 3) interleave the three measurements; medians are reported.

#include <postgresql/libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "re_dms/aws_credentials.h"
#include "re_dms/compression.h"
#include "re_dms/csv_writer.h"
#include "re_dms/redshift_loader.h"
#include "re_dms/s3_client.h"
#include "re_dms/s3_uploader.h"
#include "tests/support/pg_scratch.h"

namespace re_dms {
namespace {

int Fail(absl::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", std::string(what).c_str(), status.ToString().c_str());
  return 1;
}

Batch MakeBatch(uint64_t rows, uint64_t sequence) {
  Batch batch;
  batch.schema = "bench";
  batch.table = "orders";
  batch.sequence = sequence;
  batch.position.lsn = 1000 + sequence;
  batch.position.sequence = sequence;
  batch.columns = {{"id", "bigint"},
                   {"customer", "text"},
                   {"amount", "numeric"},
                   {"placed_at", "timestamp with time zone"},
                   {"note", "text"}};
  batch.key_columns = {"id"};
  RowGroup group;
  group.columns = {0, 1, 2, 3, 4};
  group.rows.reserve(rows);
  for (uint64_t i = 0; i < rows; ++i) {
    group.rows.push_back({absl::StrCat(i), absl::StrCat("customer ", i % 9973, " O'Brien"),
                          absl::StrCat(i % 100000, ".", i % 100),
                          absl::StrCat("2026-11-", 10 + i % 18, " 12:34:56.", i % 999999, "+00"),
                          i % 7 == 0 ? Datum() : Datum(absl::StrCat("note, \"quoted\" ", i))});
  }
  batch.upserts.push_back(std::move(group));
  return batch;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int Run(int argc, char** argv) {
  uint64_t rows = 1000000;
  if (argc > 1 && !absl::SimpleAtoi(argv[1], &rows)) {
    return Fail("rows", absl::InvalidArgumentError(argv[1]));
  }
  const bool local = argc > 2 && absl::string_view(argv[2]) == "local";
  int rounds = 3;
  if (argc > 3 && (!absl::SimpleAtoi(argv[3], &rounds) || rounds < 1)) {
    return Fail("rounds", absl::InvalidArgumentError(argv[3]));
  }
  const char* endpoint = std::getenv("RE_DMS_TEST_S3_ENDPOINT");
  if (endpoint == nullptr) {
    return Fail("setup", absl::FailedPreconditionError("RE_DMS_TEST_S3_ENDPOINT is not set"));
  }
  absl::StatusOr<std::unique_ptr<testing::ScratchDatabase>> db =
      testing::ScratchDatabase::Create("loader_bench");
  if (!db.ok()) return Fail("database", db.status());

  const char* tmp = std::getenv("TMPDIR");
  std::string spool = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/loader_bench.XXXXXX");
  if (mkdtemp(spool.data()) == nullptr) return Fail("spool", absl::InternalError("mkdtemp"));
  CsvWriterOptions writer_options;
  writer_options.spool_directory = spool;
  writer_options.dialect = kPostgresCsv;
  writer_options.fsync = false;
  Batch first = MakeBatch(rows, 1);
  absl::Time start = absl::Now();
  absl::StatusOr<StagedBatch> staged = CsvWriter(writer_options).Write(first);
  if (!staged.ok()) return Fail("CsvWriter", staged.status());
  absl::Duration write_time = absl::Now() - start;
  first.upserts.clear();

  S3ClientOptions s3_options;
  s3_options.endpoint = endpoint;
  s3_options.region = "us-east-1";
  absl::StatusOr<std::unique_ptr<S3Client>> s3 =
      S3Client::Create(s3_options, MakeStaticCredentialsProvider({"S3RVER", "S3RVER", "", {}}));
  if (!s3.ok()) return Fail("S3 client", s3.status());
  std::string bucket = absl::StrCat("re-dms-loader-bench-", getpid());
  absl::Status status = (*s3)->CreateBucket(bucket);
  if (!status.ok()) return Fail("bucket", status);
  std::unique_ptr<S3Uploader> uploader = MakeS3Uploader(s3->get(), {bucket, "bench", 8});
  start = absl::Now();
  status = uploader->Upload(&*staged);
  if (!status.ok()) return Fail("upload", status);
  absl::Duration upload_time = absl::Now() - start;

  // Plain COPY of the same CSV, decompressed into memory first.
  std::string csv;
  for (const std::string& path : staged->files[0].local_paths) {
    status = DecompressFile(path, staged->compression, [&](absl::string_view chunk) {
      csv.append(chunk.data(), chunk.size());
      return absl::OkStatus();
    });
    if (!status.ok()) return Fail("decompress", status);
  }
  status = (*db)->Exec("CREATE SCHEMA plain");
  if (!status.ok()) return Fail("plain schema", status);
  PGconn* conn = PQconnectdb((*db)->conninfo().c_str());
  auto plain_copy = [&]() -> absl::StatusOr<absl::Duration> {
    absl::Status created = (*db)->Exec(
        "DROP TABLE IF EXISTS plain.orders; CREATE TABLE plain.orders (id bigint PRIMARY KEY, "
        "customer text, amount numeric, placed_at timestamp with time zone, note text)");
    if (!created.ok()) return created;
    absl::Time begin = absl::Now();
    PGresult* result = PQexec(conn, "COPY plain.orders FROM STDIN (FORMAT csv, NULL '')");
    PQclear(result);
    for (size_t offset = 0; offset < csv.size(); offset += 1 << 20) {
      size_t n = std::min<size_t>(1 << 20, csv.size() - offset);
      PQputCopyData(conn, csv.data() + offset, static_cast<int>(n));
    }
    PQputCopyEnd(conn, nullptr);
    result = PQgetResult(conn);
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    while ((result = PQgetResult(conn)) != nullptr) PQclear(result);
    if (!ok) return absl::InternalError(PQerrorMessage(conn));
    return absl::Now() - begin;
  };

  RedshiftLoaderOptions options;
  options.conninfo = (*db)->conninfo();
  // Time per statement kind: each statement runs until the next one starts.
  std::vector<std::pair<std::string, absl::Time>> marks;
  options.before_statement = [&](absl::string_view kind) {
    marks.emplace_back(std::string(kind), absl::Now());
  };
  auto print_marks = [&](absl::string_view title, absl::Time end) {
    std::printf("  %s, by statement:\n", std::string(title).c_str());
    for (size_t i = 0; i < marks.size(); ++i) {
      absl::Time next = i + 1 < marks.size() ? marks[i + 1].second : end;
      std::printf("    %-22s %7.2f s\n", marks[i].first.c_str(),
                  absl::ToDoubleSeconds(next - marks[i].second));
    }
  };
  absl::StatusOr<std::unique_ptr<RedshiftLoader>> loader =
      RedshiftLoader::Create(options, local ? MakeLocalStagedFileSource()
                                            : MakeS3StagedFileSource(s3->get()));
  if (!loader.ok()) return Fail("loader", loader.status());
  auto apply = [&](const StagedBatch& batch) -> absl::StatusOr<absl::Duration> {
    marks.clear();
    absl::Time begin = absl::Now();
    absl::Status applied = (*loader)->Apply(batch);
    if (!applied.ok()) return applied;
    return absl::Now() - begin;
  };
  StagedBatch again = *staged;
  again.batch.sequence = 2;
  again.batch.position.lsn = 1002;

  // Interleaved rounds, medians: the machine may be shared and noisy.
  std::vector<double> plain_s, empty_s, update_s;
  std::printf("loader source: %s; %d rounds\n", local ? "local spool" : "S3", rounds);
  for (int round = 0; round < rounds; ++round) {
    absl::StatusOr<absl::Duration> plain_time = plain_copy();
    if (!plain_time.ok()) return Fail("plain COPY", plain_time.status());
    status = (*db)->Exec("DROP TABLE IF EXISTS bench.orders; DELETE FROM public.re_dms_checkpoints");
    if (!status.ok()) return Fail("reset", status);
    absl::StatusOr<absl::Duration> empty_time = apply(*staged);
    if (!empty_time.ok()) return Fail("loader/empty", empty_time.status());
    if (round + 1 == rounds) print_marks("loader/empty", absl::Now());
    absl::StatusOr<absl::Duration> update_time = apply(again);
    if (!update_time.ok()) return Fail("loader/update", update_time.status());
    if (round + 1 == rounds) print_marks("loader/update", absl::Now());
    plain_s.push_back(absl::ToDoubleSeconds(*plain_time));
    empty_s.push_back(absl::ToDoubleSeconds(*empty_time));
    update_s.push_back(absl::ToDoubleSeconds(*update_time));
    std::printf("  round %d: plain %.2f s, loader/empty %.2f s, loader/update %.2f s\n", round + 1,
                plain_s.back(), empty_s.back(), update_s.back());
  }
  PQfinish(conn);
  absl::StatusOr<std::vector<testing::TextRow>> count =
      (*db)->Query("SELECT count(*) FROM bench.orders");
  if (!count.ok()) return Fail("count", count.status());

  const double plain = static_cast<double>(rows) / Median(plain_s);
  const double empty = static_cast<double>(rows) / Median(empty_s);
  const double update = static_cast<double>(rows) / Median(update_s);
  std::printf("rows %llu, CSV %.1f MB (zstd %.1f MB); CsvWriter %.2f s, upload %.2f s\n",
              static_cast<unsigned long long>(rows), csv.size() / 1e6,
              staged->files[0].bytes / 1e6, absl::ToDoubleSeconds(write_time),
              absl::ToDoubleSeconds(upload_time));
  std::printf("medians:\n");
  std::printf("plain COPY     %8.2f s %10.0f rows/s\n", Median(plain_s), plain);
  std::printf("loader/empty   %8.2f s %10.0f rows/s  %.2fx plain\n", Median(empty_s), empty,
              empty / plain);
  std::printf("loader/update  %8.2f s %10.0f rows/s  %.2fx plain\n", Median(update_s), update,
              update / plain);
  std::printf("target rows after the last round: %s\n", (*count)[0][0].value_or("?").c_str());
  status = uploader->Delete(*staged);
  if (!status.ok()) return Fail("cleanup", status);
  std::filesystem::remove_all(spool);
  return 0;
}

}  // namespace
}  // namespace re_dms

int main(int argc, char** argv) { return re_dms::Run(argc, argv); }
