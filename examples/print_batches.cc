// An example of embedding re_dms: a Pipeline whose loader is the program's
// own -- it prints each batch instead of loading it anywhere -- and whose
// table keys come from a rule instead of a source database.
//
//   pg_recvlogical ... -f - | print_batches
//   print_batches CONNINFO SLOT ENDPOS
//
// The second form runs the Pipeline on a replication slot (ReplicationSource)
// up to the WAL position ENDPOS: the Pipeline acknowledges each durable
// position to the slot itself, and the example prints it as it goes.
//
// prints, for every batch, its table, sequence, kind and position, then each
// staged CSV row with its role:
//
//   public.orders batch 1 (through commit #2): rows
//     delete "3"
//     upsert "1","O'Brien"
//
// Every table is assumed to be keyed by its column `id` (a real service would
// use PgKeyColumns against the source).

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "re_dms/batch_writer.h"
#include "re_dms/compression.h"
#include "re_dms/csv_dialect.h"
#include "re_dms/key_columns.h"
#include "re_dms/loader.h"
#include "re_dms/lsn.h"
#include "re_dms/pipeline.h"
#include "re_dms/replication_source.h"
#include "re_dms/stream_source.h"

namespace {

// Keys by convention: the column `id`.
class IdKeyColumns : public re_dms::KeyColumns {
 public:
  absl::StatusOr<re_dms::TableKey> Lookup(absl::string_view, absl::string_view) override {
    re_dms::TableKey key;
    key.columns = {"id"};
    return key;
  }
  void Invalidate(absl::string_view, absl::string_view) override {}
};

// A Loader that prints. Batches of different tables arrive from several
// threads; the mutex keeps each batch's lines together.
class PrintingLoader : public re_dms::Loader {
 public:
  explicit PrintingLoader(absl::Mutex* output_mutex) : output_mutex_(output_mutex) {}

  absl::Status Apply(const re_dms::StagedBatch& staged) override {
    const re_dms::Batch& batch = staged.batch;
    static constexpr const char* kKinds[] = {"rows", "truncate", "schema change", "drop table"};
    std::string text = absl::StrCat(batch.schema, ".", batch.table, " batch ", batch.sequence,
                                    " (through commit #", batch.position.sequence,
                                    "): ", kKinds[static_cast<int>(batch.kind)], "\n");
    for (const re_dms::StagedFile& file : staged.files) {
      const char* role = file.role == re_dms::StagedFile::Role::kDelete ? "delete"
                         : file.role == re_dms::StagedFile::Role::kMove ? "move"
                                                                        : "upsert";
      std::string csv;
      for (const std::string& path : file.local_paths) {
        absl::Status read =
            re_dms::DecompressFile(path, staged.compression, [&](absl::string_view bytes) {
              csv.append(bytes.data(), bytes.size());
              return absl::OkStatus();
            });
        if (!read.ok()) return read;
      }
      // Values may hold newlines; this is a display, so rows are shown as
      // the CSV lines they span.
      for (absl::string_view line : absl::StrSplit(csv, '\n', absl::SkipEmpty())) {
        absl::StrAppend(&text, "  ", role, " ", line, "\n");
      }
    }
    absl::MutexLock lock(output_mutex_);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<re_dms::Checkpoint>> GetCheckpoint(absl::string_view,
                                                                  absl::string_view) override {
    return std::nullopt;
  }

 private:
  absl::Mutex* output_mutex_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 1 && argc != 4) {
    std::fprintf(stderr, "usage: print_batches < stream, or print_batches CONNINFO SLOT ENDPOS\n");
    return 2;
  }
  char spool[] = "/tmp/print_batches.XXXXXX";
  if (mkdtemp(spool) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  IdKeyColumns keys;
  absl::Mutex output_mutex;

  re_dms::CsvWriterOptions writer_options;
  writer_options.spool_directory = spool;
  writer_options.dialect = re_dms::kPostgresCsv;
  writer_options.compression = re_dms::Compression::kNone;
  writer_options.fsync = false;

  std::unique_ptr<re_dms::StreamSource> input;
  re_dms::PipelineOptions options;
  options.workers = 2;
  options.transaction_spool_directory = spool;
  if (argc == 4) {
    absl::StatusOr<uint64_t> end = re_dms::ParseLsn(argv[3]);
    if (!end.ok()) {
      std::fprintf(stderr, "print_batches: ENDPOS: %s\n",
                   std::string(end.status().message()).c_str());
      return 2;
    }
    options.end_lsn = *end;
    re_dms::ReplicationSourceOptions slot;
    slot.conninfo = argv[1];
    slot.slot = argv[2];
    absl::StatusOr<std::unique_ptr<re_dms::ReplicationSource>> source =
        re_dms::ReplicationSource::Open(std::move(slot));
    if (!source.ok()) {
      std::fprintf(stderr, "print_batches: %s\n", std::string(source.status().message()).c_str());
      return 1;
    }
    input = *std::move(source);
  } else {
    input = re_dms::MakeFdStreamSource(STDIN_FILENO, "standard input");
  }
  // With a slot, each of these positions is acknowledged to the server by
  // the Pipeline as it is reported: the slot never confirms more.
  options.on_durable = [&](const re_dms::SourcePosition& position) {
    absl::MutexLock lock(&output_mutex);
    std::printf("durable through commit #%llu%s\n",
                static_cast<unsigned long long>(position.sequence),
                position.lsn ? absl::StrCat(" at ", re_dms::FormatLsn(*position.lsn)).c_str() : "");
  };
  re_dms::PipelineComponents components;
  components.keys = &keys;
  components.writer = re_dms::MakeCsvBatchWriter(writer_options);
  // No uploader: the loader reads the local files.
  components.make_loader = [&]() -> absl::StatusOr<std::unique_ptr<re_dms::Loader>> {
    return std::make_unique<PrintingLoader>(&output_mutex);
  };

  absl::StatusOr<std::unique_ptr<re_dms::Pipeline>> pipeline =
      re_dms::Pipeline::Create(options, std::move(components));
  absl::Status status = pipeline.status();
  if (status.ok()) status = (*pipeline)->Run(input.get());
  if (auto* slot = dynamic_cast<re_dms::ReplicationSource*>(input.get()); slot != nullptr) {
    // The final acknowledgement reaches the server.
    if (absl::Status closed = slot->Close(); status.ok()) status = closed;
  }
  rmdir(spool);
  if (!status.ok()) {
    std::fprintf(stderr, "print_batches: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
