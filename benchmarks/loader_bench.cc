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
//   bazel-bin/benchmarks/loader_bench [rows] [local]

#include <postgresql/libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

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

double RowsPerSecond(uint64_t rows, absl::Duration elapsed) {
  return static_cast<double>(rows) / absl::ToDoubleSeconds(elapsed);
}

int Run(int argc, char** argv) {
  uint64_t rows = 1000000;
  if (argc > 1 && !absl::SimpleAtoi(argv[1], &rows)) {
    return Fail("rows", absl::InvalidArgumentError(argv[1]));
  }
  const bool local = argc > 2 && absl::string_view(argv[2]) == "local";
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
  status = (*db)->Exec(
      "CREATE SCHEMA plain; CREATE TABLE plain.orders (id bigint PRIMARY KEY, customer text, "
      "amount numeric, placed_at timestamp with time zone, note text)");
  if (!status.ok()) return Fail("plain table", status);
  PGconn* conn = PQconnectdb((*db)->conninfo().c_str());
  start = absl::Now();
  PGresult* result = PQexec(conn, "COPY plain.orders FROM STDIN (FORMAT csv, NULL '')");
  PQclear(result);
  for (size_t offset = 0; offset < csv.size(); offset += 1 << 20) {
    size_t n = std::min<size_t>(1 << 20, csv.size() - offset);
    PQputCopyData(conn, csv.data() + offset, static_cast<int>(n));
  }
  PQputCopyEnd(conn, nullptr);
  result = PQgetResult(conn);
  bool copy_ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  PQclear(result);
  absl::Duration plain_time = absl::Now() - start;
  PQfinish(conn);
  if (!copy_ok) return Fail("plain COPY", absl::InternalError("failed"));

  RedshiftLoaderOptions options;
  options.conninfo = (*db)->conninfo();
  // Time per statement kind: each statement runs until the next one starts.
  std::vector<std::pair<std::string, absl::Time>> marks;
  options.before_statement = [&](absl::string_view kind) {
    marks.emplace_back(std::string(kind), absl::Now());
  };
  auto print_marks = [&](absl::Time end) {
    for (size_t i = 0; i < marks.size(); ++i) {
      absl::Time next = i + 1 < marks.size() ? marks[i + 1].second : end;
      std::printf("    %-22s %7.2f s\n", marks[i].first.c_str(),
                  absl::ToDoubleSeconds(next - marks[i].second));
    }
    marks.clear();
  };
  absl::StatusOr<std::unique_ptr<RedshiftLoader>> loader =
      RedshiftLoader::Create(options, local ? MakeLocalStagedFileSource()
                                            : MakeS3StagedFileSource(s3->get()));
  if (!loader.ok()) return Fail("loader", loader.status());
  start = absl::Now();
  status = (*loader)->Apply(*staged);
  if (!status.ok()) return Fail("loader/empty", status);
  absl::Duration empty_time = absl::Now() - start;
  std::printf("loader/empty statements:\n");
  print_marks(start + empty_time);
  StagedBatch again = *staged;
  again.batch.sequence = 2;
  again.batch.position.lsn = 1002;
  start = absl::Now();
  status = (*loader)->Apply(again);
  if (!status.ok()) return Fail("loader/update", status);
  absl::Duration update_time = absl::Now() - start;
  std::printf("loader/update statements:\n");
  print_marks(start + update_time);

  absl::StatusOr<std::vector<testing::TextRow>> count =
      (*db)->Query("SELECT count(*) FROM bench.orders");
  if (!count.ok()) return Fail("count", count.status());

  const double plain = RowsPerSecond(rows, plain_time);
  std::printf("loader source: %s\n", local ? "local spool" : "S3");
  std::printf("rows %llu, CSV %.1f MB (zstd %.1f MB); CsvWriter %.2f s, upload %.2f s\n",
              static_cast<unsigned long long>(rows), csv.size() / 1e6,
              staged->files[0].bytes / 1e6, absl::ToDoubleSeconds(write_time),
              absl::ToDoubleSeconds(upload_time));
  std::printf("plain COPY     %8.2f s %10.0f rows/s\n", absl::ToDoubleSeconds(plain_time), plain);
  std::printf("loader/empty   %8.2f s %10.0f rows/s  %.2fx plain\n",
              absl::ToDoubleSeconds(empty_time), RowsPerSecond(rows, empty_time),
              RowsPerSecond(rows, empty_time) / plain);
  std::printf("loader/update  %8.2f s %10.0f rows/s  %.2fx plain\n",
              absl::ToDoubleSeconds(update_time), RowsPerSecond(rows, update_time),
              RowsPerSecond(rows, update_time) / plain);
  std::printf("target rows after both: %s\n", (*count)[0][0].value_or("?").c_str());
  status = uploader->Delete(*staged);
  if (!status.ok()) return Fail("cleanup", status);
  std::filesystem::remove_all(spool);
  return 0;
}

}  // namespace
}  // namespace re_dms

int main(int argc, char** argv) { return re_dms::Run(argc, argv); }
