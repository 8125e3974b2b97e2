#include "cli/run.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
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
#include "re_dms/lsn.h"
#include "re_dms/pipeline.h"
#include "re_dms/redshift_loader.h"
#include "re_dms/replication_source.h"
#include "re_dms/retry.h"
#include "re_dms/s3_client.h"
#include "re_dms/s3_uploader.h"
#include "re_dms/source_encoding.h"
#include "re_dms/source_settings.h"
#include "re_dms/stream_source.h"
#include "re_dms/table_filter.h"
#include "re_dms/type_mapping.h"
#include "re_dms/value_styles.h"

// Flag names use underscores (Abseil's rule); on the command line dashes
// and underscores are the same. Help strings live in kHelpText.
ABSL_FLAG(std::string, source, "", "see --help");
ABSL_FLAG(std::string, target, "", "see --help");
ABSL_FLAG(std::string, source_encoding, "", "see --help");
ABSL_FLAG(std::string, target_schema, "", "see --help");
ABSL_FLAG(std::string, target_dialect, "auto", "see --help");
ABSL_FLAG(std::string, s3_bucket, "", "see --help");
ABSL_FLAG(std::string, s3_prefix, "re_dms", "see --help");
ABSL_FLAG(std::string, s3_region, "", "see --help");
ABSL_FLAG(std::string, s3_endpoint, "", "see --help");
ABSL_FLAG(std::string, s3_ca_file, "", "see --help");
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
ABSL_FLAG(std::string, slot, "", "see --help");
ABSL_FLAG(bool, create_slot, false, "see --help");
ABSL_FLAG(std::string, endpos, "", "see --help");
ABSL_FLAG(absl::Duration, ack_interval, absl::Seconds(10), "see --help");
ABSL_FLAG(absl::Duration, lock_timeout, absl::Seconds(30), "see --help");
ABSL_FLAG(absl::Duration, statement_timeout, absl::Minutes(30), "see --help");

namespace re_dms::cli {
namespace {

constexpr char kHelpText[] =
    R"(re_dms: stream PostgreSQL logical decoding into Amazon Redshift (or PostgreSQL), through S3.

Usage:
  re_dms --source=SOURCE --slot=re_dms --create-slot --target=TARGET --s3-bucket=BUCKET [flags]
  PGOPTIONS='-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3 -c bytea_output=hex' \
    pg_recvlogical -d SOURCE --slot re_dms --start --no-loop -o include-timestamp=1 -f - |
    re_dms --source=SOURCE --target=TARGET --s3-bucket=BUCKET [flags]
  re_dms inspect            show a test_decoding stream from stdin as JSON lines

re_dms reads the test_decoding plugin's changes from its own replication slot
(--slot) or, without --slot, as text on standard input; keeps each table's net
changes, writes them as compressed CSV, uploads the files to S3 and merges
them into the target, each source transaction in one target transaction per
table, tables in parallel, each table strictly in order. On a slot it
confirms to the server only what the target has committed, so a crash or a
kill loses nothing and replays nothing twice.

Every flag can also be set in the environment as RE_DMS_<FLAG>, upper case with
underscores (RE_DMS_S3_BUCKET=...); a flag on the command line wins.

test_decoding prints values with the settings of pg_recvlogical's session;
PGOPTIONS above gives it the ones re_dms reads exactly. A value printed in
another style (a non-ISO date, a zone abbreviation, a sql_standard interval,
escaped bytea) stops re_dms before it is loaded; defaults that the text
cannot show (extra_float_digits) are warned about at start-up.

Source and target:
  --source=CONNINFO        libpq conninfo of the source database, used to look
                           up each table's key (primary key or replica
                           identity), its settings and its encoding. Required.
  --source-encoding=NAME   For a SQL_ASCII source database only: the encoding
                           its non-ASCII bytes are in (e.g. LATIN1, UTF8).
                           Without it such bytes are an error. Values of other
                           databases are converted from their server_encoding
                           to UTF-8.
  --target=CONNINFO        libpq conninfo of the target: Redshift or PostgreSQL.
                           Required.
  --target-dialect=auto|redshift|postgres
                           How to load: Redshift COPY from S3, or PostgreSQL
                           COPY of the same files read back. auto asks the
                           target's version(). Default auto.
  --target-schema=NAME     Load every table into this schema instead of its
                           source schema (two source tables with one name are
                           then an error). Default: the source schema.

Replication slot (the recommended mode):
  --slot=NAME              Read this logical replication slot (test_decoding)
                           over a replication connection to --source; standard
                           input is not read. The role needs REPLICATION.
  --create-slot            Create the slot when it is missing.
  --endpos=LSN             Exit 0 once every transaction that committed at or
                           before LSN (e.g. 0/16B3748) is loaded and
                           acknowledged: a catch-up run.
  --ack-interval=DURATION  How often the slot is told what is loaded (and the
                           server that re_dms is alive). Default 10s.

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
  --s3-ca-file=PATH        PEM file of the CAs that sign a private endpoint's
                           certificate. Default: the system's. Always verified.
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

Target statements:
  --lock-timeout=DURATION  How long a load waits for a lock on its table before
                           it rolls back and retries (logged with the PIDs
                           holding the lock). PostgreSQL targets only; 0 waits
                           as long as --statement-timeout. Default 30s.
  --statement-timeout=DURATION
                           Longest any statement on the target may run.
                           Default 30m.

Output:
  --log-format=text|json   Log lines on stderr as text or JSON. Default text.
  --status-interval=DURATION
                           How often the status line is printed (changes/s,
                           batches loaded, tables, durable position, lag, and
                           what is stalled since when). Default 5s.
  Every retry of S3 or the target is logged as a warning (operation, cause,
  attempt, time spent), at most one a second per kind.

Stopping and guarantees:
  SIGINT/SIGTERM: stop reading at the next transaction boundary, load what was
  read, exit 0; a second signal stops within seconds: S3 requests and target
  statements in flight are cancelled and rolled back, and re_dms exits 1
  naming what was not loaded. A stream that ends inside a record or
  transaction, or that is not test_decoding's format, exits 1 with the error's
  byte offset and line, after loading every complete transaction read before
  it. To stop a pipe without losing what is in it, send SIGINT to
  pg_recvlogical, not to re_dms (README: Stopping and restarting).
  Without --slot, pg_recvlogical confirms changes to the server as soon as it
  writes them to the pipe, so what re_dms had not loaded when it crashed is
  lost: replay it from a fresh slot or snapshot, or use --slot.

Exit codes: 0 done, 1 failure, 2 bad flags.
)";

// The flags above, by Abseil name, in the order --help lists them, each
// with a valid value that error messages show as an example.
struct FlagInfo {
  const char* name;
  const char* example;
};
constexpr FlagInfo kFlags[] = {
    {"source", "'host=db.example.com dbname=app user=re_dms'"},
    {"source_encoding", "LATIN1"},
    {"target", "'host=cluster.example.com port=5439 dbname=dev user=loader'"},
    {"target_dialect", "auto"},
    {"target_schema", "analytics"},
    {"include_tables", "'public.*,sales.order_*'"},
    {"exclude_tables", "'public.tmp_*'"},
    {"partition_pattern", "'_p\\d+$'"},
    {"on_source_drop", "keep"},
    {"s3_bucket", "my-staging-bucket"},
    {"s3_prefix", "re_dms"},
    {"s3_region", "us-east-1"},
    {"s3_endpoint", "https://s3.us-east-1.amazonaws.com"},
    {"s3_ca_file", "/etc/ssl/certs/private-ca.pem"},
    {"iam_role", "arn:aws:iam::123456789012:role/redshift-copy"},
    {"compression", "zstd"},
    {"delete_uploaded", "true"},
    {"flush_interval", "10s"},
    {"flush_rows", "1000000"},
    {"flush_bytes", "64MiB"},
    {"workers", "4"},
    {"spool_dir", "/var/tmp"},
    {"lock_timeout", "30s"},
    {"statement_timeout", "30m"},
    {"log_format", "text"},
    {"status_interval", "5s"},
    {"slot", "re_dms"},
    {"create_slot", "true"},
    {"endpos", "0/16B3748"},
    {"ack_interval", "10s"},
};

const FlagInfo* FindFlag(absl::string_view name) {
  for (const FlagInfo& flag : kFlags) {
    if (name == flag.name) return &flag;
  }
  return nullptr;
}

bool IsOurFlag(absl::string_view name) { return FindFlag(name) != nullptr; }

std::string EnvironmentName(absl::string_view name) {
  return absl::StrCat("RE_DMS_", absl::AsciiStrToUpper(name));
}

// How each flag that was set was written: "--flush-interval", "-workers",
// "RE_DMS_WORKERS". Messages name a flag the way the user wrote it.
absl::flat_hash_map<std::string, std::string>& FlagOrigins() {
  static auto* origins = new absl::flat_hash_map<std::string, std::string>();
  return *origins;
}

std::string Shown(absl::string_view name) {
  auto it = FlagOrigins().find(name);
  if (it != FlagOrigins().end()) return it->second;
  return absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}}));
}

// "--workers=0: must be between 1 and 64, e.g. --workers=4" (or with
// RE_DMS_WORKERS when that is where the value came from).
absl::Status ValueError(absl::string_view name, absl::string_view value, absl::string_view what) {
  const FlagInfo* flag = FindFlag(name);
  const std::string shown = Shown(name);
  return absl::InvalidArgumentError(absl::StrCat(shown, "=", value, ": ", what, ", e.g. ", shown,
                                                 "=", flag != nullptr ? flag->example : ""));
}

// What a value of `flag`'s type looks like, for parse errors.
std::string Expectation(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<absl::Duration>()) {
    return "expected a duration with a unit (ms, s, m or h)";
  }
  if (flag.IsOfType<bool>()) return "expected true or false";
  if (flag.IsOfType<int32_t>() || flag.IsOfType<int64_t>()) return "expected a whole number";
  return "not a valid value";
}

// Sets flag `name` from `value`; `shown` is how the user wrote its name.
absl::Status SetFlag(absl::string_view name, absl::string_view value, absl::string_view shown) {
  FlagOrigins()[name] = std::string(shown);
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  std::string error;
  if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", shown));
  // Abseil's own message ("Illegal value '10' specified for flag
  // 'flush_interval'") names neither the flag as written nor a fix.
  if (!flag->ParseFrom(value, &error)) return ValueError(name, value, Expectation(*flag));
  return absl::OkStatus();
}

absl::Status ApplyEnvironment() {
  for (const FlagInfo& info : kFlags) {
    const std::string variable = EnvironmentName(info.name);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    absl::Status status = SetFlag(info.name, value, variable);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Levenshtein distance, for "did you mean" hints on misspelled variables.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// RE_DMS_* variables that set nothing: a misspelling would otherwise be
// silently ignored. RE_DMS_TEST_* and RE_DMS_BENCH_* belong to the project's
// tests and benchmarks. Only names are reported: values may be secrets.
std::vector<std::string> UnknownEnvironmentVariables() {
  std::vector<std::string> warnings;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const absl::string_view variable =
        absl::string_view(*entry).substr(0, absl::string_view(*entry).find('='));
    if (!absl::StartsWith(variable, "RE_DMS_") || absl::StartsWith(variable, "RE_DMS_TEST_") ||
        absl::StartsWith(variable, "RE_DMS_BENCH_")) {
      continue;
    }
    std::string closest;
    size_t best = 3;  // Suggest only close names.
    bool known = false;
    for (const FlagInfo& info : kFlags) {
      const std::string name = EnvironmentName(info.name);
      if (name == variable) known = true;
      const size_t distance = EditDistance(variable, name);
      if (distance < best) {
        best = distance;
        closest = name;
      }
    }
    if (known) continue;
    warnings.push_back(
        absl::StrCat(variable, " is set but is not a re_dms setting; ignored",
                     closest.empty() ? "" : absl::StrCat(" (did you mean ", closest, "?)")));
  }
  std::sort(warnings.begin(), warnings.end());
  return warnings;
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
    // The flag as written, dashes or underscores, one dash or two.
    const std::string shown(absl::string_view(argv[i]).substr(
        0, std::min(absl::string_view(argv[i]).find('='), absl::string_view(argv[i]).size())));
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
  std::string source_encoding;
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
  std::string slot;  // Empty: standard input.
  bool create_slot = false;
  std::optional<uint64_t> endpos;
  absl::Duration ack_interval;
  absl::Duration lock_timeout;
  absl::Duration statement_timeout;
};

// S3's naming rules for general purpose buckets
// (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html),
// checked at start so a typo fails before any data is read. The reason, or
// "" for a valid name.
std::string BucketNameProblem(absl::string_view name) {
  if (name.size() < 3 || name.size() > 63) return "must be 3 to 63 characters long";
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '.' && c != '-') {
      return "may hold only lower-case letters, digits, dots and hyphens";
    }
  }
  if (!absl::ascii_isalnum(name.front()) || !absl::ascii_isalnum(name.back())) {
    return "must begin and end with a letter or digit";
  }
  if (absl::StrContains(name, "..")) return "must not hold two dots in a row";
  const std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  if (labels.size() == 4 && std::all_of(labels.begin(), labels.end(), [](absl::string_view l) {
        return !l.empty() && std::all_of(l.begin(), l.end(), absl::ascii_isdigit);
      })) {
    return "must not look like an IP address";
  }
  for (const char* prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (absl::StartsWith(name, prefix)) return absl::StrCat("must not begin with ", prefix);
  }
  for (const char* suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
    if (absl::EndsWith(name, suffix)) return absl::StrCat("must not end with ", suffix);
  }
  return "";
}

// The conninfo flag `name` parses, or libpq's reason why not, without any
// value of the conninfo (RedactConninfoError).
absl::Status CheckConninfo(absl::string_view name) {
  const std::string conninfo = absl::GetFlag(name == "source" ? FLAGS_source : FLAGS_target);
  const std::string error = ConninfoParseError(conninfo);
  if (error.empty()) return absl::OkStatus();
  const FlagInfo* flag = FindFlag(name);
  return absl::InvalidArgumentError(absl::StrCat(Shown(name), ": not a valid conninfo: ", error,
                                                 "; e.g. ", Shown(name), "=", flag->example));
}

// Checks every flag before anything starts; the error is one line.
absl::StatusOr<Config> ValidatedConfig() {
  Config config;
  config.source = absl::GetFlag(FLAGS_source);
  config.target = absl::GetFlag(FLAGS_target);
  config.source_encoding = absl::GetFlag(FLAGS_source_encoding);
  config.bucket = absl::GetFlag(FLAGS_s3_bucket);
  if (config.source.empty())
    return absl::InvalidArgumentError("--source is required (conninfo of the source database)");
  if (config.target.empty())
    return absl::InvalidArgumentError("--target is required (conninfo of the target database)");
  if (config.bucket.empty())
    return absl::InvalidArgumentError("--s3-bucket is required (where batches are staged)");
  for (const char* conninfo : {"source", "target"}) {
    if (absl::Status status = CheckConninfo(conninfo); !status.ok()) return status;
  }
  if (std::string problem = BucketNameProblem(config.bucket); !problem.empty()) {
    return ValueError("s3_bucket", config.bucket,
                      absl::StrCat("not a valid S3 bucket name: it ", problem));
  }

  const std::string dialect = absl::GetFlag(FLAGS_target_dialect);
  if (dialect == "auto") {
    config.dialect = TargetDialect::kDetect;
  } else if (dialect == "redshift") {
    config.dialect = TargetDialect::kRedshift;
  } else if (dialect == "postgres" || dialect == "postgresql") {
    config.dialect = TargetDialect::kPostgres;
  } else {
    return ValueError("target_dialect", dialect, "expected auto, redshift or postgres");
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
    return ValueError("compression", compression, "expected zstd, gzip or none");
  }
  config.compression = *parsed;

  const absl::Duration interval = absl::GetFlag(FLAGS_flush_interval);
  if (interval <= absl::ZeroDuration()) {
    return ValueError("flush_interval", absl::FormatDuration(interval), "must be positive");
  }
  const int64_t rows = absl::GetFlag(FLAGS_flush_rows);
  if (rows < 1) return ValueError("flush_rows", absl::StrCat(rows), "must be at least 1");
  const std::string flush_bytes = absl::GetFlag(FLAGS_flush_bytes);
  absl::StatusOr<uint64_t> bytes = ParseByteSize(flush_bytes);
  if (!bytes.ok()) {
    return ValueError("flush_bytes", flush_bytes,
                      "expected a size from 1 byte to 1TiB, such as 64MiB, 1GB or 1048576");
  }
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
    return ValueError("partition_pattern", config.batcher.tables.partition_suffix,
                      filter.status().message());
  }

  config.slot = absl::GetFlag(FLAGS_slot);
  config.create_slot = absl::GetFlag(FLAGS_create_slot);
  if (config.create_slot && config.slot.empty()) {
    return absl::InvalidArgumentError("--create-slot needs --slot=NAME");
  }
  if (const std::string endpos = absl::GetFlag(FLAGS_endpos); !endpos.empty()) {
    if (config.slot.empty()) {
      return absl::InvalidArgumentError(
          "--endpos needs --slot; reading a pipe, give --endpos to pg_recvlogical");
    }
    absl::StatusOr<uint64_t> lsn = ParseLsn(endpos);
    if (!lsn.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--endpos=", endpos, ": expected an LSN such as 0/16B3748"));
    }
    config.endpos = *lsn;
  }
  config.ack_interval = absl::GetFlag(FLAGS_ack_interval);
  if (config.ack_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--ack-interval must be positive, e.g. 10s");
  }

  config.workers = absl::GetFlag(FLAGS_workers);
  if (config.workers < 1 || config.workers > 64) {
    return ValueError("workers", absl::StrCat(config.workers), "must be between 1 and 64");
  }
  config.spool_parent = absl::GetFlag(FLAGS_spool_dir);
  if (config.spool_parent.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    config.spool_parent = tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : "/tmp";
  } else if (!std::filesystem::is_directory(config.spool_parent)) {
    return ValueError("spool_dir", config.spool_parent, "not a directory");
  }
  const std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (log_format == "text") {
    config.log_format = LogFormat::kText;
  } else if (log_format == "json") {
    config.log_format = LogFormat::kJson;
  } else {
    return ValueError("log_format", log_format, "expected text or json");
  }
  config.delete_uploaded = absl::GetFlag(FLAGS_delete_uploaded);
  config.status_interval = absl::GetFlag(FLAGS_status_interval);
  if (config.status_interval <= absl::ZeroDuration()) {
    return ValueError("status_interval", absl::FormatDuration(config.status_interval),
                      "must be positive");
  }
  config.lock_timeout = absl::GetFlag(FLAGS_lock_timeout);
  if (config.lock_timeout < absl::ZeroDuration()) {
    return ValueError("lock_timeout", absl::FormatDuration(config.lock_timeout),
                      "must be 0 (no limit) or positive");
  }
  config.statement_timeout = absl::GetFlag(FLAGS_statement_timeout);
  if (config.statement_timeout < absl::Seconds(1)) {
    return ValueError("statement_timeout", absl::FormatDuration(config.statement_timeout),
                      "must be at least 1s");
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

// Turns the S3 client's and the loaders' RetryEvents into warnings and into
// the status line's "stalled" fields, so an operator can tell a stall from a
// quiet source. Warnings are limited to one a second per kind ("S3",
// "target"); the next one says how many were left out.
class RetryReporter {
 public:
  explicit RetryReporter(Logger* log) : log_(log) {}

  std::function<void(const RetryEvent&)> For(std::string kind) {
    return [this, kind = std::move(kind)](const RetryEvent& event) { Report(kind, event); };
  }

  // The oldest operation still retrying, for the status line.
  void AddStatusFields(LogFields* fields) {
    absl::MutexLock lock(&mutex_);
    const Stall* oldest = nullptr;
    const std::string* operation = nullptr;
    for (const auto& [name, stall] : stalls_) {
      if (oldest == nullptr || stall.since < oldest->since) {
        oldest = &stall;
        operation = &name;
      }
    }
    if (oldest == nullptr) return;
    // S3 operations name themselves ("S3 PutObject s3://..."); loads do not.
    fields->emplace_back("stalled", absl::StartsWith(*operation, oldest->kind)
                                        ? *operation
                                        : absl::StrCat(oldest->kind, " ", *operation));
    fields->emplace_back("stalled_since", FormatTime(oldest->since));
    fields->emplace_back("stalled_attempts", absl::StrCat(oldest->attempts));
    fields->emplace_back("stalled_cause", oldest->cause);
    if (stalls_.size() > 1) fields->emplace_back("stalls", absl::StrCat(stalls_.size()));
  }

 private:
  struct Stall {
    std::string kind;
    absl::Time since;
    int attempts = 0;
    std::string cause;
  };

  // The cause without the operation it usually starts with, which the
  // "operation" field already names.
  static std::string Cause(const RetryEvent& event) {
    absl::string_view cause = event.cause.message();
    absl::ConsumePrefix(&cause, event.operation) && absl::ConsumePrefix(&cause, ": ");
    return std::string(cause);
  }
  static std::string FormatTime(absl::Time time) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  }
  static std::string Round(absl::Duration duration) {
    return absl::FormatDuration(absl::Trunc(duration, absl::Milliseconds(100)));
  }

  void Report(const std::string& kind, const RetryEvent& event) {
    const absl::Time now = absl::Now();
    const std::string operation(event.operation);
    const bool retrying = event.kind == RetryEvent::Kind::kRetrying;
    int left_out = 0;
    {
      absl::MutexLock lock(&mutex_);
      if (retrying) {
        Stall& stall = stalls_[operation];
        stall.kind = kind;
        stall.since = now - event.elapsed;
        stall.attempts = event.attempts;
        stall.cause = Cause(event);
      } else {
        stalls_.erase(operation);
        // A final failure is reported by whoever gets the error.
        if (!event.succeeded) return;
      }
      // Recoveries are not limited: one per stall, and they end what the
      // warnings began.
      absl::Time& last = last_warning_[kind];
      if (retrying && now - last < absl::Seconds(1)) {
        ++suppressed_[kind];
        return;
      }
      if (retrying) last = now;
      std::swap(left_out, suppressed_[kind]);
    }
    LogFields fields = {{"operation", operation}, {"attempt", absl::StrCat(event.attempts)}};
    if (retrying) {
      fields.emplace_back("spent", Round(event.elapsed));
      fields.emplace_back("next_attempt_in", Round(event.next_delay));
      fields.emplace_back("cause", Cause(event));
    } else {
      fields.emplace_back("recovered_after", Round(event.elapsed));
    }
    if (left_out > 0) fields.emplace_back("retries_not_logged", absl::StrCat(left_out));
    log_->Log(retrying ? "warn" : "info", absl::StrCat(kind, retrying ? " retrying" : " recovered"),
              fields);
  }

  Logger* const log_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Stall> stalls_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, absl::Time> last_warning_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, int> suppressed_ ABSL_GUARDED_BY(mutex_);
};

// Everything a run holds, torn down in reverse order.
class Replication {
 public:
  Replication(Config config, Logger* log) : config_(std::move(config)), log_(log), retries_(log) {}
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
  RetryReporter retries_;
  // Cancelled by the second stop request (through the pipeline), read by the
  // S3 client and the loaders: everything in flight gives up at once.
  CancelToken cancel_;
  std::string spool_;
  std::string run_id_;
  std::shared_ptr<CredentialsProvider> credentials_;
  std::unique_ptr<S3Client> s3_;
  std::unique_ptr<S3Uploader> uploader_;
  std::unique_ptr<PgKeyColumns> keys_;
  std::unique_ptr<SourceEncoding> encoding_;
  std::unique_ptr<RedshiftValueFormatter> formatter_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<ReplicationSource> slot_;  // With --slot.
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
  s3_options.retry.on_retry = retries_.For("S3");
  s3_options.retry.cancel = &cancel_;
  s3_options.ca_file = absl::GetFlag(FLAGS_s3_ca_file);
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
  // What pg_recvlogical's session prints cannot be seen from here; the
  // defaults it starts from can, and the encoding its bytes are in.
  absl::StatusOr<SourceSettings> settings = ReadSourceSettings(config_.source);
  if (!settings.ok()) {
    return absl::Status(settings.status().code(),
                        absl::StrCat("source: ", settings.status().message()));
  }
  for (const std::string& warning : settings->warnings) log_->Warn(warning);
  absl::StatusOr<std::unique_ptr<SourceEncoding>> encoding =
      SourceEncoding::Create(settings->server_encoding, config_.source_encoding);
  if (!encoding.ok()) {
    return absl::Status(encoding.status().code(),
                        absl::StrCat("--source-encoding: ", encoding.status().message()));
  }
  encoding_ = *std::move(encoding);

  RedshiftLoaderOptions loader_options;
  loader_options.conninfo = config_.target;
  loader_options.dialect = config_.dialect;
  if (!config_.target_schema.empty()) loader_options.checkpoint_schema = config_.target_schema;
  loader_options.iam_role = config_.iam_role;
  loader_options.credentials = credentials_;
  loader_options.s3_region = config_.region;
  loader_options.lock_timeout = config_.lock_timeout;
  loader_options.statement_timeout = config_.statement_timeout;
  loader_options.retry.on_retry = retries_.For("target");
  loader_options.retry.cancel = &cancel_;
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
  options.end_lsn = config_.endpos;
  options.transaction_spool_directory = spool_;
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
  // Everything is made UTF-8 first, so a style error names the table and
  // column in UTF-8 like every log line (the forms checked are ASCII, which
  // the conversion leaves as they are).
  SourceEncoding* to_utf8 = encoding_->is_utf8() ? nullptr : encoding_.get();
  options.prepare_record = [to_utf8](Record* record) -> absl::Status {
    if (to_utf8 != nullptr) {
      if (absl::Status converted = to_utf8->Convert(record); !converted.ok()) return converted;
    }
    return CheckValueStyles(*record);
  };
  PipelineComponents components;
  components.keys = keys_.get();
  components.writer = MakeCsvBatchWriter(writer_options);
  components.uploader = uploader_.get();
  components.cancel = &cancel_;
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

  if (!config_.slot.empty()) {
    ReplicationSourceOptions slot_options;
    slot_options.conninfo = config_.source;
    slot_options.slot = config_.slot;
    slot_options.create_slot = config_.create_slot;
    slot_options.status_interval = config_.ack_interval;
    slot_options.reconnect.cancel = &cancel_;
    slot_options.on_warning = [this](const absl::Status& status) { log_->Warn(status.message()); };
    absl::StatusOr<std::unique_ptr<ReplicationSource>> slot =
        ReplicationSource::Open(std::move(slot_options));
    if (!slot.ok()) return slot.status();
    slot_ = *std::move(slot);
  }

  log_->Info("started",
             {{"source", RedactConninfo(config_.source)},
              {"target", RedactConninfo(config_.target)},
              {"dialect", dialect == TargetDialect::kRedshift ? "redshift" : "postgres"},
              {"staging", absl::StrCat("s3://", config_.bucket, "/", upload_options.prefix, "/")},
              {"spool", spool_},
              {"input", slot_ ? absl::StrCat("slot ", config_.slot, " from ",
                                             FormatLsn(slot_->acknowledged()))
                              : std::string("standard input")},
              {"source_encoding", encoding_->name()},
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
        if (stops_requested == 1) {
          log_->Info("stop requested: finishing the open transaction and loading what was read");
        } else if (stops_requested == 2) {
          log_->Warn(
              "second stop request: stopping now; committed work in flight gets 5s to load, "
              "then S3 requests and target statements are cancelled and rolled back");
        }
        pipeline_->RequestStop();
      }
      const absl::Time now = absl::Now();
      if (now - last_status >= config_.status_interval) {
        PipelineStats stats = pipeline_->stats();
        const double rate = static_cast<double>(stats.changes_read - last_changes) /
                            absl::ToDoubleSeconds(now - last_status);
        LogFields fields = StatusFields(stats, rate);
        retries_.AddStatusFields(&fields);
        log_->Info("status", fields);
        last_status = now;
        last_changes = stats.changes_read;
      }
    }
  });
  const absl::Time start = absl::Now();
  std::unique_ptr<StreamSource> stdin_source;
  StreamSource* input = slot_.get();
  if (input == nullptr) {
    stdin_source = MakeFdStreamSource(STDIN_FILENO, "standard input");
    input = stdin_source.get();
  }
  absl::Status status = pipeline_->Run(input);
  done.Notify();
  monitor.join();
  if (slot_ != nullptr) {
    // The last acknowledgement reaches the server before re_dms exits.
    absl::Status closed = slot_->Close();
    if (!closed.ok()) log_->Warn(closed.message());
    log_->Info("slot acknowledged",
               {{"slot", config_.slot}, {"confirmed", FormatLsn(slot_->acknowledged())}});
  }

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
  for (const std::string& warning : UnknownEnvironmentVariables()) log.Warn(warning);
  InstallSignalHandlers();
  Replication replication(*std::move(config), &log);
  if (absl::Status started = replication.Start(); !started.ok()) {
    log.Error("cannot start", {{"error", std::string(started.message())}});
    return 1;
  }
  return replication.Run();
}

}  // namespace re_dms::cli
