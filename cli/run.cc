#include "cli/run.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/logger.h"
#include "re_dms/batch_writer.h"
#include "re_dms/compression.h"
#include "re_dms/credentials.h"
#include "re_dms/csv_dialect.h"
#include "re_dms/csv_writer.h"
#include "re_dms/key_columns.h"
#include "re_dms/pipeline.h"
#include "re_dms/redshift_loader.h"
#include "re_dms/s3_client.h"
#include "re_dms/s3_uploader.h"
#include "re_dms/stream_source.h"
#include "re_dms/table_filter.h"
#include "re_dms/type_mapping.h"

// Flag names use underscores (Abseil's rule); on the command line dashes
// and underscores are the same. Help strings live in kHelpText.
ABSL_FLAG(std::string, source, "", "see --help");
ABSL_FLAG(std::string, target, "", "see --help");
ABSL_FLAG(std::string, target_schema, "", "see --help");
ABSL_FLAG(std::string, target_dialect, "auto", "see --help");
ABSL_FLAG(std::string, s3_bucket, "", "see --help");
ABSL_FLAG(std::string, s3_prefix, "re_dms", "see --help");
ABSL_FLAG(std::string, s3_region, "", "see --help");
ABSL_FLAG(std::string, s3_endpoint, "", "see --help");
ABSL_FLAG(std::string, iam_role, "", "see --help");
ABSL_FLAG(absl::Duration, flush_interval, absl::Seconds(60), "see --help");
ABSL_FLAG(int64_t, flush_rows, 1000000, "see --help");
ABSL_FLAG(std::string, flush_bytes, "64MiB", "see --help");
ABSL_FLAG(std::vector<std::string>, include_tables, {}, "see --help");
ABSL_FLAG(std::vector<std::string>, exclude_tables, {}, "see --help");
ABSL_FLAG(std::string, partition_pattern, "", "see --help");
ABSL_FLAG(std::string, on_source_drop, "keep", "see --help");
ABSL_FLAG(std::string, compression, "zstd", "see --help");
ABSL_FLAG(std::string, spool_dir, "", "see --help");
ABSL_FLAG(std::string, log_format, "text", "see --help");
ABSL_FLAG(int32_t, workers, 4, "see --help");
ABSL_FLAG(bool, delete_uploaded, false, "see --help");
ABSL_FLAG(absl::Duration, status_interval, absl::Seconds(5), "see --help");

namespace re_dms::cli {
namespace {

constexpr char kHelpText[] =
    R"(re_dms: stream PostgreSQL logical decoding into Amazon Redshift (or PostgreSQL), through S3.

Usage:
  pg_recvlogical -d SOURCE --slot re_dms --start --no-loop -o include-timestamp=1 -f - |
    re_dms --source=SOURCE --target=TARGET --s3-bucket=BUCKET [flags]
  re_dms inspect            show a test_decoding stream from stdin as JSON lines

re_dms reads the test_decoding plugin's text on standard input, keeps each
table's net changes, writes them as compressed CSV, uploads the files to S3
and merges them into the target, one transaction per batch, tables in
parallel, each table strictly in order.

Every flag can also be set in the environment as RE_DMS_<FLAG>, upper case with
underscores (RE_DMS_S3_BUCKET=...); a flag on the command line wins.

Source and target:
  --source=CONNINFO        libpq conninfo of the source database, used to look
                           up each table's key (primary key or replica
                           identity). Required.
  --target=CONNINFO        libpq conninfo of the target: Redshift or PostgreSQL.
                           Required.
  --target-dialect=auto|redshift|postgres
                           How to load: Redshift COPY from S3, or PostgreSQL
                           COPY of the same files read back. auto asks the
                           target's version(). Default auto.
  --target-schema=NAME     Load every table into this schema instead of its
                           source schema (two source tables with one name are
                           then an error). Default: the source schema.

Tables:
  --include-tables=GLOBS   Comma-separated globs over schema.table, e.g.
                           'public.*,sales.order_*'. Default: every table.
  --exclude-tables=GLOBS   Globs of tables to skip; they win over includes.
  --partition-pattern=RE   Regular expression cut from partition names so that
                           all partitions load into one table, e.g. '_p\d+$'.
  --on-source-drop=keep|drop
                           A table the source no longer has (dropped or renamed
                           before re_dms read its changes): keep its target
                           table and rows, applying what the stream identifies
                           exactly, or drop the target table. Default keep.

S3 staging:
  --s3-bucket=NAME         Bucket for the staged files. Required.
  --s3-prefix=PREFIX       Key prefix; each run adds run-<time>-<pid>/ below it.
                           Default re_dms.
  --s3-region=REGION       Bucket region. Default AWS_REGION, AWS_DEFAULT_REGION,
                           or us-east-1 with a custom endpoint.
  --s3-endpoint=URL        S3-compatible endpoint. Default AWS_ENDPOINT_URL_S3,
                           AWS_ENDPOINT_URL, else AWS itself.
  --iam-role=ARN           IAM role Redshift assumes to read the bucket. Without
                           it COPY uses re_dms's own credentials.
  --compression=zstd|gzip|none
                           Staged file compression. Default zstd.
  --delete-uploaded        Delete a batch's objects once it is loaded. Default:
                           keep them (give the bucket a lifecycle rule).
  AWS credentials come from the standard chain: AWS_ACCESS_KEY_ID and
  AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), ~/.aws/credentials and
  ~/.aws/config (AWS_PROFILE), ECS/EKS container credentials, EC2 metadata.

Batching:
  --flush-interval=DURATION
                           Load a table's changes at the latest this long after
                           the first one arrived (e.g. 10s, 1m). Default 60s.
  --flush-rows=N           ...or once a table holds N changed rows, at a commit.
                           Default 1000000.
  --flush-bytes=SIZE       ...or once it holds SIZE of changes (e.g. 64MiB);
                           larger transactions are cut at this size so memory
                           stays bounded. Default 64MiB.
  --workers=N              Tables loaded at once (one target connection each)
                           and batches staged at once. Default 4.
  --spool-dir=DIR          Local directory for staged files before upload (a
                           run directory is made inside and removed at exit).
                           Default $TMPDIR or /tmp.

Output:
  --log-format=text|json   Log lines on stderr as text or JSON. Default text.
  --status-interval=DURATION
                           How often the status line is printed (changes/s,
                           batches loaded, tables, durable position, lag).
                           Default 5s.

Stopping and guarantees:
  SIGINT/SIGTERM: stop reading at the next transaction boundary, load what was
  read, exit 0; a second signal stops at once and exits 1 if a transaction was
  left incomplete. A stream that ends inside a record or transaction, or that
  is not test_decoding's format, exits 1 with the error's byte offset and line,
  after loading every complete transaction read before it.
  pg_recvlogical confirms changes to the server as soon as it writes them to
  the pipe, so what re_dms had not loaded when it crashed is lost: replay it
  from a fresh slot or snapshot.

Exit codes: 0 done, 1 failure, 2 bad flags.
)";

// The flags above, by Abseil name, in the order --help lists them.
constexpr const char* kFlagNames[] = {
    "source",         "target",          "target_dialect",    "target_schema",
    "include_tables", "exclude_tables",  "partition_pattern", "on_source_drop",
    "s3_bucket",      "s3_prefix",       "s3_region",         "s3_endpoint",
    "iam_role",       "compression",     "delete_uploaded",   "flush_interval",
    "flush_rows",     "flush_bytes",     "workers",           "spool_dir",
    "log_format",     "status_interval",
};

bool IsOurFlag(absl::string_view name) {
  for (const char* flag : kFlagNames) {
    if (name == flag) return true;
  }
  return false;
}

// Sets flag `name` from `value`; `origin` names where it came from.
absl::Status SetFlag(absl::string_view name, absl::string_view value, absl::string_view origin) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  std::string error;
  if (flag == nullptr || !flag->ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", error));
  }
  return absl::OkStatus();
}

absl::Status ApplyEnvironment() {
  for (const char* name : kFlagNames) {
    const std::string variable = absl::StrCat("RE_DMS_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    absl::Status status = SetFlag(name, value, variable);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Parses `--name=value`, `--name value`, `--flag`/`--noflag` for booleans.
// Sets *help on --help/-h. Everything else is an error.
absl::Status ApplyArguments(int argc, char** argv, bool* help) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "-help" || arg == "--helpfull") {
      *help = true;
      return absl::OkStatus();
    }
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg,
                       "\": re_dms reads the stream on standard input and takes only flags"));
    }
    std::optional<std::string> value;
    if (size_t equals = arg.find('='); equals != absl::string_view::npos) {
      value = std::string(arg.substr(equals + 1));
      arg = arg.substr(0, equals);
    }
    std::string name = absl::StrReplaceAll(arg, {{"-", "_"}});
    const std::string shown = absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}}));
    if (!IsOurFlag(name)) {
      // --noflag for booleans.
      if (!value && absl::StartsWith(name, "no") && IsOurFlag(name.substr(2)) &&
          absl::FindCommandLineFlag(name.substr(2))->IsOfType<bool>()) {
        absl::Status status = SetFlag(name.substr(2), "false", shown);
        if (!status.ok()) return status;
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", shown));
    }
    if (!value) {
      if (absl::FindCommandLineFlag(name)->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat(shown, " needs a value"));
      }
    }
    absl::Status status = SetFlag(name, *value, shown);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// "64MiB", "1GB", "1048576": binary and decimal units.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  struct Unit {
    const char* suffix;
    uint64_t factor;
  };
  static constexpr Unit kUnits[] = {
      {"KiB", uint64_t{1} << 10},
      {"MiB", uint64_t{1} << 20},
      {"GiB", uint64_t{1} << 30},
      {"KB", 1000},
      {"MB", 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
      {"B", 1},
  };
  absl::string_view number = absl::StripAsciiWhitespace(text);
  uint64_t factor = 1;
  for (const Unit& unit : kUnits) {
    if (absl::ConsumeSuffix(&number, unit.suffix)) {
      factor = unit.factor;
      break;
    }
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(number), &value) || value == 0 ||
      value > (uint64_t{1} << 40) / factor) {
    return absl::InvalidArgumentError(
        absl::StrCat("--flush-bytes=", text, ": expected a size such as 64MiB, 1GB or 1048576"));
  }
  return value * factor;
}

struct Config {
  std::string source;
  std::string target;
  std::string target_schema;
  TargetDialect dialect = TargetDialect::kDetect;
  std::string bucket;
  std::string prefix;
  std::string region;
  std::string endpoint;
  std::string iam_role;
  BatcherOptions batcher;
  Compression compression = Compression::kZstd;
  std::string spool_parent;
  LogFormat log_format = LogFormat::kText;
  int workers = 4;
  bool delete_uploaded = false;
  absl::Duration status_interval;
};

// Checks every flag before anything starts; the error is one line.
absl::StatusOr<Config> ValidatedConfig() {
  Config config;
  config.source = absl::GetFlag(FLAGS_source);
  config.target = absl::GetFlag(FLAGS_target);
  config.bucket = absl::GetFlag(FLAGS_s3_bucket);
  if (config.source.empty())
    return absl::InvalidArgumentError("--source is required (conninfo of the source database)");
  if (config.target.empty())
    return absl::InvalidArgumentError("--target is required (conninfo of the target database)");
  if (config.bucket.empty())
    return absl::InvalidArgumentError("--s3-bucket is required (where batches are staged)");

  const std::string dialect = absl::GetFlag(FLAGS_target_dialect);
  if (dialect == "auto") {
    config.dialect = TargetDialect::kDetect;
  } else if (dialect == "redshift") {
    config.dialect = TargetDialect::kRedshift;
  } else if (dialect == "postgres" || dialect == "postgresql") {
    config.dialect = TargetDialect::kPostgres;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--target-dialect=", dialect, ": expected auto, redshift or postgres"));
  }
  config.target_schema = absl::GetFlag(FLAGS_target_schema);

  config.prefix =
      std::string(absl::StripSuffix(absl::StripPrefix(absl::GetFlag(FLAGS_s3_prefix), "/"), "/"));
  config.endpoint = ResolveS3Endpoint(absl::GetFlag(FLAGS_s3_endpoint));
  absl::StatusOr<std::string> region =
      ResolveS3Region(absl::GetFlag(FLAGS_s3_region), config.endpoint);
  if (!region.ok()) return region.status();
  config.region = *region;
  config.iam_role = absl::GetFlag(FLAGS_iam_role);

  const std::string compression = absl::GetFlag(FLAGS_compression);
  absl::StatusOr<Compression> parsed = ParseCompression(compression);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--compression=", compression, ": expected zstd, gzip or none"));
  }
  config.compression = *parsed;

  const absl::Duration interval = absl::GetFlag(FLAGS_flush_interval);
  if (interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--flush-interval must be positive, e.g. 10s");
  }
  const int64_t rows = absl::GetFlag(FLAGS_flush_rows);
  if (rows < 1) return absl::InvalidArgumentError("--flush-rows must be at least 1");
  absl::StatusOr<uint64_t> bytes = ParseByteSize(absl::GetFlag(FLAGS_flush_bytes));
  if (!bytes.ok()) return bytes.status();
  config.batcher.max_age = interval;
  config.batcher.max_rows = static_cast<uint64_t>(rows);
  config.batcher.max_bytes = *bytes;
  config.batcher.tables.include = absl::GetFlag(FLAGS_include_tables);
  config.batcher.tables.exclude = absl::GetFlag(FLAGS_exclude_tables);
  config.batcher.tables.partition_suffix = absl::GetFlag(FLAGS_partition_pattern);
  const std::string on_source_drop = absl::GetFlag(FLAGS_on_source_drop);
  if (on_source_drop == "keep") {
    config.batcher.on_source_drop = SourceDropPolicy::kKeep;
  } else if (on_source_drop == "drop") {
    config.batcher.on_source_drop = SourceDropPolicy::kDrop;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--on-source-drop=", on_source_drop, ": expected keep or drop"));
  }
  absl::StatusOr<TableFilter> filter = TableFilter::Create(config.batcher.tables);
  if (!filter.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--partition-pattern: ", filter.status().message()));
  }

  config.workers = absl::GetFlag(FLAGS_workers);
  if (config.workers < 1 || config.workers > 64) {
    return absl::InvalidArgumentError("--workers must be between 1 and 64");
  }
  config.spool_parent = absl::GetFlag(FLAGS_spool_dir);
  if (config.spool_parent.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    config.spool_parent = tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : "/tmp";
  } else if (!std::filesystem::is_directory(config.spool_parent)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--spool-dir=", config.spool_parent, ": not a directory"));
  }
  const std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (log_format == "text") {
    config.log_format = LogFormat::kText;
  } else if (log_format == "json") {
    config.log_format = LogFormat::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-format=", log_format, ": expected text or json"));
  }
  config.delete_uploaded = absl::GetFlag(FLAGS_delete_uploaded);
  config.status_interval = absl::GetFlag(FLAGS_status_interval);
  if (config.status_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--status-interval must be positive, e.g. 5s");
  }
  if (isatty(STDIN_FILENO)) {
    return absl::InvalidArgumentError(
        "standard input is a terminal: pipe pg_recvlogical's output into re_dms (see --help)");
  }
  return config;
}

std::atomic<int> signals_received{0};

void OnSignal(int) { signals_received.fetch_add(1); }

void InstallSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string DescribeDurable(const SourcePosition& position) {
  if (position.sequence == 0) return "none";
  std::string text = absl::StrCat("commit #", position.sequence);
  if (position.xid) absl::StrAppend(&text, " xid ", *position.xid);
  if (!position.commit_time.empty()) absl::StrAppend(&text, " at ", position.commit_time);
  return text;
}

LogFields StatusFields(const PipelineStats& stats, double changes_per_second) {
  return {
      {"changes", absl::StrCat(stats.changes_read)},
      {"changes_per_s", absl::StrCat(static_cast<uint64_t>(changes_per_second + 0.5))},
      {"batches_loaded", absl::StrCat(stats.batches_loaded)},
      {"rows_loaded", absl::StrCat(stats.rows_loaded)},
      {"tables", absl::StrCat(stats.tables)},
      {"in_flight", absl::StrCat(stats.batches_in_flight)},
      {"durable", DescribeDurable(stats.durable)},
      {"lag", absl::FormatDuration(absl::Trunc(stats.lag, absl::Milliseconds(100)))},
  };
}

// Everything a run holds, torn down in reverse order.
class Replication {
 public:
  Replication(Config config, Logger* log) : config_(std::move(config)), log_(log) {}
  ~Replication() {
    if (!spool_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(spool_, ignored);
    }
  }

  // Connects everything; errors before any input is read.
  absl::Status Start();
  // Reads standard input to its end or a stop; the exit code.
  int Run();

 private:
  const Config config_;
  Logger* const log_;
  std::string spool_;
  std::string run_id_;
  std::shared_ptr<CredentialsProvider> credentials_;
  std::unique_ptr<S3Client> s3_;
  std::unique_ptr<S3Uploader> uploader_;
  std::unique_ptr<PgKeyColumns> keys_;
  std::unique_ptr<RedshiftValueFormatter> formatter_;
  std::unique_ptr<Pipeline> pipeline_;
};

absl::Status Replication::Start() {
  run_id_ = absl::StrCat(
      "run-", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()), "-", getpid());
  std::string spool_template = absl::StrCat(config_.spool_parent, "/re_dms-", run_id_, "-XXXXXX");
  if (mkdtemp(spool_template.data()) == nullptr) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("creating the spool directory in ", config_.spool_parent));
  }
  spool_ = spool_template;

  credentials_ = MakeDefaultCredentialsProvider(CredentialChainOptions{});
  S3ClientOptions s3_options;
  s3_options.region = config_.region;
  s3_options.endpoint = config_.endpoint;
  absl::StatusOr<std::unique_ptr<S3Client>> s3 = S3Client::Create(s3_options, credentials_);
  if (!s3.ok()) return s3.status();
  s3_ = *std::move(s3);
  S3UploaderOptions upload_options;
  upload_options.bucket = config_.bucket;
  upload_options.prefix =
      config_.prefix.empty() ? run_id_ : absl::StrCat(config_.prefix, "/", run_id_);
  uploader_ = MakeS3Uploader(s3_.get(), upload_options);

  absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys = PgKeyColumns::Connect(config_.source);
  if (!keys.ok()) {
    return absl::Status(keys.status().code(), absl::StrCat("source: ", keys.status().message()));
  }
  keys_ = *std::move(keys);

  RedshiftLoaderOptions loader_options;
  loader_options.conninfo = config_.target;
  loader_options.dialect = config_.dialect;
  if (!config_.target_schema.empty()) loader_options.checkpoint_schema = config_.target_schema;
  loader_options.iam_role = config_.iam_role;
  loader_options.credentials = credentials_;
  loader_options.s3_region = config_.region;
  S3Client* s3_client = s3_.get();
  auto make_loader = [loader_options, s3_client]() -> absl::StatusOr<std::unique_ptr<Loader>> {
    absl::StatusOr<std::unique_ptr<RedshiftLoader>> loader =
        RedshiftLoader::Create(loader_options, MakeS3StagedFileSource(s3_client));
    if (!loader.ok()) {
      return absl::Status(loader.status().code(),
                          absl::StrCat("target: ", loader.status().message()));
    }
    return std::unique_ptr<Loader>(*std::move(loader));
  };
  // The first loader tells the dialect, which decides how files are written.
  absl::StatusOr<std::unique_ptr<Loader>> first = make_loader();
  if (!first.ok()) return first.status();
  const TargetDialect dialect = static_cast<RedshiftLoader&>(**first).dialect();

  CsvWriterOptions writer_options;
  writer_options.spool_directory = spool_;
  writer_options.compression = config_.compression;
  if (dialect == TargetDialect::kRedshift) {
    writer_options.dialect = kRedshiftCsv;
    formatter_ = std::make_unique<RedshiftValueFormatter>(loader_options.type_mapping);
    writer_options.formatter = formatter_.get();
  } else {
    writer_options.dialect = kPostgresCsv;
  }

  PipelineOptions options;
  options.batcher = config_.batcher;
  options.workers = config_.workers;
  options.target_schema = config_.target_schema;
  options.delete_uploaded = config_.delete_uploaded;
  options.on_loaded = [this](const StagedBatch& staged, absl::Duration load_time) {
    uint64_t rows = 0;
    for (const StagedFile& file : staged.files) rows += file.rows;
    log_->Info("loaded", {{"table", absl::StrCat(staged.batch.schema, ".", staged.batch.table)},
                          {"batch", absl::StrCat(staged.batch.sequence)},
                          {"rows", absl::StrCat(rows)},
                          {"through", DescribeDurable(staged.batch.position)},
                          {"load_time",
                           absl::FormatDuration(absl::Trunc(load_time, absl::Milliseconds(1)))}});
  };
  options.on_warning = [this](const absl::Status& status) { log_->Warn(status.message()); };
  PipelineComponents components;
  components.keys = keys_.get();
  components.writer = MakeCsvBatchWriter(writer_options);
  components.uploader = uploader_.get();
  auto first_loader = std::make_shared<std::unique_ptr<Loader>>(*std::move(first));
  components.make_loader = [first_loader,
                            make_loader]() -> absl::StatusOr<std::unique_ptr<Loader>> {
    if (*first_loader != nullptr) return std::move(*first_loader);
    return make_loader();
  };
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline =
      Pipeline::Create(std::move(options), std::move(components));
  if (!pipeline.ok()) return pipeline.status();
  pipeline_ = *std::move(pipeline);

  log_->Info("started",
             {{"source", RedactConninfo(config_.source)},
              {"target", RedactConninfo(config_.target)},
              {"dialect", dialect == TargetDialect::kRedshift ? "redshift" : "postgres"},
              {"staging", absl::StrCat("s3://", config_.bucket, "/", upload_options.prefix, "/")},
              {"spool", spool_},
              {"workers", absl::StrCat(config_.workers)}});
  return absl::OkStatus();
}

int Replication::Run() {
  absl::Notification done;
  // Watches for signals (the handler only counts them) and prints the
  // status line.
  std::thread monitor([&] {
    int stops_requested = 0;
    absl::Time last_status = absl::Now();
    uint64_t last_changes = 0;
    while (!done.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      const int signals = signals_received.load();
      while (stops_requested < signals) {
        ++stops_requested;
        log_->Info(stops_requested == 1
                       ? "stop requested: finishing the open transaction and loading what was read"
                       : "second stop request: stopping now");
        pipeline_->RequestStop();
      }
      const absl::Time now = absl::Now();
      if (now - last_status >= config_.status_interval) {
        PipelineStats stats = pipeline_->stats();
        const double rate = static_cast<double>(stats.changes_read - last_changes) /
                            absl::ToDoubleSeconds(now - last_status);
        log_->Info("status", StatusFields(stats, rate));
        last_status = now;
        last_changes = stats.changes_read;
      }
    }
  });
  const absl::Time start = absl::Now();
  std::unique_ptr<StreamSource> input = MakeFdStreamSource(STDIN_FILENO, "standard input");
  absl::Status status = pipeline_->Run(input.get());
  done.Notify();
  monitor.join();

  PipelineStats stats = pipeline_->stats();
  const double seconds = std::max(1e-9, absl::ToDoubleSeconds(absl::Now() - start));
  LogFields fields = StatusFields(stats, static_cast<double>(stats.changes_read) / seconds);
  if (!status.ok()) {
    fields.insert(fields.begin(), {"error", std::string(status.message())});
    log_->Error("stopped on an error", fields);
    return 1;
  }
  log_->Info("done", fields);
  return 0;
}

}  // namespace

int RunReplication(int argc, char** argv) {
  bool help = false;
  absl::Status parsed = ApplyEnvironment();
  if (parsed.ok()) parsed = ApplyArguments(argc, argv, &help);
  if (help) {
    std::fputs(kHelpText, stdout);
    return 0;
  }
  absl::StatusOr<Config> config = parsed.ok() ? ValidatedConfig() : absl::StatusOr<Config>(parsed);
  if (!config.ok()) {
    std::fprintf(stderr, "re_dms: %s (re_dms --help explains the flags)\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  Logger log(config->log_format, stderr);
  InstallSignalHandlers();
  Replication replication(*std::move(config), &log);
  if (absl::Status started = replication.Start(); !started.ok()) {
    log.Error("cannot start", {{"error", std::string(started.message())}});
    return 1;
  }
  return replication.Run();
}

}  // namespace re_dms::cli
