#include "re_dms/redshift_loader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/src/load/merge_sql.h"
#include "lib/src/load/pg_connection.h"

namespace re_dms {
namespace {

std::string FormatLsn(uint64_t lsn) {
  return absl::StrFormat("%X/%X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

// "table s.t batch 3 (lsn 0/16B3748, xid 750, commit 12)": what every error
// of a batch starts with.
std::string BatchContext(const Batch& batch) {
  std::string position = absl::StrCat("commit ", batch.position.sequence);
  if (batch.position.lsn.has_value()) {
    position = absl::StrCat("lsn ", FormatLsn(*batch.position.lsn), ", ", position);
  }
  if (batch.position.xid.has_value()) absl::StrAppend(&position, ", xid ", *batch.position.xid);
  return absl::StrCat("table ", batch.schema, ".", batch.table, " batch ", batch.sequence, " (",
                      position, ")");
}

absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

// The S3 objects a COPY of `file` reads, for error messages.
std::string FileObjects(const StagedFile& file) {
  if (!file.s3_manifest_uri.empty()) return file.s3_manifest_uri;
  if (!file.s3_uris.empty()) return absl::StrJoin(file.s3_uris, ", ");
  return absl::StrJoin(file.local_paths, ", ");
}

// The VARCHAR width to widen to: the next power of two that holds `needed`,
// so repeated growth takes few ALTERs, capped at Redshift's maximum.
int64_t WidenedLength(int64_t needed) {
  int64_t length = kRedshiftInitialVarcharBytes;
  while (length < needed && length < kRedshiftMaxVarcharBytes) length *= 2;
  return std::min(length, kRedshiftMaxVarcharBytes);
}

// The target table's columns; empty when it does not exist.
absl::StatusOr<std::vector<TargetColumn>> DescribeTarget(PgConnection& connection,
                                                         TargetDialect dialect,
                                                         const Batch& batch) {
  absl::StatusOr<std::vector<PgRow>> rows =
      connection.Query(DescribeTableSql(dialect, batch.schema, batch.table));
  if (!rows.ok()) return WithContext(rows.status(), "describing the target table");
  std::vector<TargetColumn> columns;
  for (const PgRow& row : *rows) columns.push_back({row[0].value_or(""), row[1].value_or("")});
  return columns;
}

// A failed Redshift COPY, with the rows stl_load_errors holds for it. The
// transaction is aborted: roll it back first, or the query would fail too.
absl::Status RedshiftCopyError(PgConnection& connection, const absl::Status& error) {
  connection.Exec("ROLLBACK").IgnoreError();
  std::string details;
  absl::StatusOr<std::vector<PgRow>> rows = connection.Query(LoadErrorsSql());
  if (rows.ok()) {
    for (const PgRow& row : *rows) {
      absl::StrAppend(&details, "; file ", row[0].value_or("?"), " line ", row[1].value_or("?"),
                      " column ", row[2].value_or("?"), ": ", row[3].value_or("?"), " (value `",
                      row[4].value_or(""), "`)");
    }
  }
  return absl::Status(error.code(), absl::StrCat(error.message(), details));
}

// The VARCHAR columns of `target` that the measured maxima outgrow, with the
// width each must be widened to.
std::vector<std::pair<std::string, int64_t>> Outgrown(const Statement& measure,
                                                      const PgRow& maxima,
                                                      const std::vector<TargetColumn>& target) {
  std::vector<std::pair<std::string, int64_t>> widen;
  for (size_t c = 0; c < measure.measured_columns.size() && c < maxima.size(); ++c) {
    int64_t longest = 0;
    if (!maxima[c].has_value() || !absl::SimpleAtoi(*maxima[c], &longest)) continue;
    for (const TargetColumn& column : target) {
      if (column.name == measure.measured_columns[c] &&
          longest > VarcharLength(column.type).value_or(kRedshiftMaxVarcharBytes)) {
        widen.emplace_back(column.name, WidenedLength(longest));
      }
    }
  }
  return widen;
}

absl::Status CheckBatchNames(TargetDialect dialect, const StagedBatch& staged) {
  const Batch& batch = staged.batch;
  std::vector<absl::string_view> names = {batch.schema, batch.table};
  for (const ColumnDef& column : batch.columns) names.push_back(column.name);
  for (const std::string& key : batch.key_columns) names.push_back(key);
  for (const StagedFile& file : staged.files) {
    for (const std::string& column : file.columns) names.push_back(column);
  }
  for (absl::string_view name : names) {
    absl::Status status = CheckIdentifier(dialect, name);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// A checkpoint row as ReadCheckpointSql reads it.
struct StoredCheckpoint {
  Checkpoint checkpoint;
  uint64_t batch_sequence = 0;
};

absl::StatusOr<StoredCheckpoint> ParseCheckpoint(const PgRow& row) {
  auto number = [](const std::optional<std::string>& text, absl::string_view column,
                   auto* value) -> absl::Status {
    if (text.has_value() && absl::SimpleAtoi(*text, value)) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat("checkpoint ", column, " `", text.value_or("NULL"),
                                            "` is not a number"));
  };
  StoredCheckpoint stored;
  SourcePosition& position = stored.checkpoint.position;
  absl::Status status = number(row[2], "sequence", &position.sequence);
  if (status.ok()) status = number(row[5], "batch_sequence", &stored.batch_sequence);
  if (status.ok() && row[0].has_value()) status = number(row[0], "lsn", &position.lsn.emplace());
  if (status.ok() && row[1].has_value()) status = number(row[1], "xid", &position.xid.emplace());
  if (!status.ok()) return status;
  position.commit_time = row[3].value_or("");  // Written as NULL when empty.
  stored.checkpoint.applied_at = row[4].value_or("");
  return stored;
}

// Whether the checkpoint shows `batch` applied already.
bool AlreadyApplied(const StoredCheckpoint& stored, const Batch& batch, bool retry) {
  const SourcePosition& applied = stored.checkpoint.position;
  const SourcePosition& position = batch.position;
  if (position.lsn.has_value() && applied.lsn.has_value()) {
    // Equal LSNs are ordered by batch sequence: see the header comment.
    if (*position.lsn < *applied.lsn) return true;
    if (*position.lsn == *applied.lsn && batch.sequence <= stored.batch_sequence) return true;
  }
  // A lost COMMIT reply: the earlier attempt wrote a checkpoint recording this
  // very batch. Batches of a table are applied one at a time, so nothing else
  // wrote it in between. Not checked on a first attempt: without an LSN,
  // positions of different runs are not comparable (loader.h).
  return retry && batch.sequence == stored.batch_sequence && position.lsn == applied.lsn &&
         position.xid == applied.xid && position.sequence == applied.sequence &&
         position.commit_time == applied.commit_time;
}

}  // namespace

// The target connection, behind a pimpl so the public header needs no libpq.
class RedshiftLoader::Session {
 public:
  explicit Session(std::unique_ptr<PgConnection> connection) : connection(std::move(connection)) {}
  std::unique_ptr<PgConnection> connection;
};

RedshiftLoader::RedshiftLoader(RedshiftLoaderOptions options,
                               std::unique_ptr<StagedFileSource> source)
    : options_(std::move(options)), source_(std::move(source)) {}

RedshiftLoader::~RedshiftLoader() = default;

int RedshiftLoader::backend_pid() const {
  return session_ ? session_->connection->BackendPid() : 0;
}

absl::StatusOr<std::unique_ptr<RedshiftLoader>> RedshiftLoader::Create(
    RedshiftLoaderOptions options, std::unique_ptr<StagedFileSource> source) {
  std::unique_ptr<RedshiftLoader> loader(new RedshiftLoader(std::move(options), std::move(source)));
  absl::Status connected = loader->EnsureConnected();
  if (!connected.ok()) return connected;
  absl::Status name = CheckIdentifier(loader->dialect_, loader->options_.checkpoint_schema);
  if (!name.ok()) return WithContext(name, "checkpoint schema");
  if (loader->dialect_ == TargetDialect::kPostgres && loader->source_ == nullptr) {
    return absl::InvalidArgumentError(
        "a PostgreSQL target needs a StagedFileSource to read staged files");
  }
  for (const std::string& sql : CheckpointTableSql(loader->options_)) {
    absl::Status status = loader->session_->connection->Exec(sql);
    if (!status.ok()) return WithContext(status, "creating the checkpoint table");
  }
  return loader;
}

absl::Status RedshiftLoader::EnsureConnected() {
  if (session_ != nullptr && session_->connection->IsHealthy()) return absl::OkStatus();
  session_.reset();
  PgConnectionOptions connection_options{options_.conninfo, options_.connect_timeout,
                                         options_.statement_timeout};
  absl::StatusOr<std::unique_ptr<PgConnection>> connection =
      PgConnection::Connect(connection_options);
  if (!connection.ok()) return connection.status();
  if (dialect_ == TargetDialect::kDetect) {
    dialect_ = options_.dialect;
    if (dialect_ == TargetDialect::kDetect) {
      absl::StatusOr<std::vector<PgRow>> version = (*connection)->Query("SELECT version()");
      if (!version.ok()) return WithContext(version.status(), "detecting the target dialect");
      bool redshift = !version->empty() && !(*version)[0].empty() && (*version)[0][0] &&
                      absl::StrContains(*(*version)[0][0], "Redshift");
      dialect_ = redshift ? TargetDialect::kRedshift : TargetDialect::kPostgres;
    }
  }
  // PostgreSQL: literals are written with only quotes doubled; intervals are
  // read in the style the stream carries; floats the merge renders as text
  // (CAST(... AS text) comparisons) keep every digit; staged files are UTF-8
  // whatever the target database's encoding. Redshift has neither
  // IntervalStyle (intervals load as VARCHAR there) nor values the loader
  // reads back as text, and speaks UTF-8 only, so it needs none of these.
  std::string setup =
      "SET standard_conforming_strings = on; SET IntervalStyle = postgres; "
      "SET extra_float_digits = 3; SET client_encoding = 'UTF8'";
  if (dialect_ == TargetDialect::kRedshift) {
    // Redshift "enable_case_sensitive_identifier": without it quoted names
    // fold to lower case too.
    setup = options_.case_sensitive_identifiers ? "SET enable_case_sensitive_identifier TO true"
                                                : "";
  }
  if (!setup.empty()) {
    absl::Status status = (*connection)->Exec(setup);
    if (!status.ok()) return WithContext(status, "session setup");
  }
  session_ = std::make_unique<Session>(*std::move(connection));
  return absl::OkStatus();
}

absl::Status RedshiftLoader::Apply(const StagedBatch& staged) {
  const std::string context = BatchContext(staged.batch);
  absl::Status names = CheckBatchNames(dialect_, staged);
  if (!names.ok()) return WithContext(names, context);
  bool retry = false;
  absl::Status status = RunWithRetries(
      options_.retry,
      [&]() -> absl::Status {
        absl::Status attempt = EnsureConnected();
        if (attempt.ok()) attempt = ApplyWithWidening(staged, retry);
        retry = true;
        if (attempt.ok()) return attempt;
        if (session_ != nullptr && session_->connection->IsHealthy()) {
          // A failed statement leaves the transaction aborted.
          session_->connection->Exec("ROLLBACK").IgnoreError();
        } else {
          session_.reset();
        }
        if (IsRetryablePgError(attempt)) ++retries_;
        return attempt;
      },
      IsRetryablePgError);
  if (!status.ok()) return WithContext(status, context);
  return absl::OkStatus();
}

absl::Status RedshiftLoader::ApplyWithWidening(const StagedBatch& staged, bool retry) {
  // Each round at least doubles one column, from 256 up to 65535 bytes.
  constexpr int kMaxRounds = 16;
  for (int round = 0; round < kMaxRounds; ++round) {
    std::vector<std::pair<std::string, int64_t>> widen;
    absl::Status status = ApplyOnce(staged, retry, &widen);
    if (!status.ok() || widen.empty()) return status;
    for (const auto& [column, bytes] : widen) {
      status = session_->connection->Exec(WidenVarcharSql(staged.batch, column, bytes));
      if (!status.ok()) return WithContext(status, absl::StrCat("widening column ", column));
    }
  }
  return absl::InternalError("VARCHAR widening did not settle");
}

absl::Status RedshiftLoader::ApplyOnce(const StagedBatch& staged, bool retry,
                                       std::vector<std::pair<std::string, int64_t>>* widen) {
  const Batch& batch = staged.batch;
  PgConnection& connection = *session_->connection;
  auto run = [&](absl::string_view kind, absl::string_view sql) -> absl::Status {
    if (options_.before_statement) options_.before_statement(kind);
    absl::Status status = connection.Exec(sql);
    if (status.ok() && options_.after_statement) status = options_.after_statement(kind);
    if (!status.ok()) return WithContext(status, kind);
    return absl::OkStatus();
  };

  absl::Status status = run("BEGIN", "BEGIN");
  if (!status.ok()) return status;

  absl::StatusOr<std::vector<PgRow>> checkpoint = connection.Query(
      ReadCheckpointSql(options_, dialect_, batch.schema, batch.table));
  if (!checkpoint.ok()) return WithContext(checkpoint.status(), "reading the checkpoint");
  if (!checkpoint->empty()) {
    absl::StatusOr<StoredCheckpoint> stored = ParseCheckpoint((*checkpoint)[0]);
    if (!stored.ok()) return stored.status();
    if (AlreadyApplied(*stored, batch, retry)) {
      ++skipped_batches_;
      return run("ROLLBACK", "ROLLBACK");
    }
  }

  absl::StatusOr<std::vector<TargetColumn>> target = DescribeTarget(connection, dialect_, batch);
  if (!target.ok()) return target.status();
  std::optional<std::vector<TargetColumn>> existing;
  if (!target->empty()) existing = *target;
  absl::StatusOr<std::vector<Statement>> schema = PlanSchema(options_, dialect_, batch, existing);
  if (!schema.ok()) return schema.status();
  for (const Statement& statement : *schema) {
    status = run(StatementKindName(statement.kind), statement.sql);
    if (!status.ok()) return status;
  }
  if (!schema->empty()) {
    target = DescribeTarget(connection, dialect_, batch);
    if (!target.ok()) return target.status();
  }

  std::optional<AwsCredentials> credentials;
  if (dialect_ == TargetDialect::kRedshift && options_.iam_role.empty() && options_.credentials) {
    absl::StatusOr<AwsCredentials> fetched = options_.credentials->GetCredentials();
    if (!fetched.ok()) return WithContext(fetched.status(), "S3 credentials for COPY");
    credentials = *std::move(fetched);
  }
  absl::StatusOr<std::vector<Statement>> plan =
      PlanMerge(options_, dialect_, staged, *target, credentials ? &*credentials : nullptr);
  if (!plan.ok()) return plan.status();

  for (const Statement& statement : *plan) {
    absl::string_view kind = StatementKindName(statement.kind);
    if (statement.kind == Statement::Kind::kCopy) {
      const StagedFile& file = staged.files[statement.file_index];
      const std::string what = absl::StrCat("COPY of ", FileObjects(file));
      if (options_.before_statement) options_.before_statement(kind);
      if (dialect_ == TargetDialect::kPostgres) {
        status = connection.CopyIn(statement.sql, [&](const PgConnection::CopyWriter& writer) {
          return source_->Read(file, staged.compression, writer);
        });
        if (!status.ok()) return WithContext(status, what);
        continue;
      }
      status = connection.Exec(statement.sql);
      if (!status.ok()) return WithContext(RedshiftCopyError(connection, status), what);
      continue;
    }
    if (statement.kind == Statement::Kind::kMeasure) {
      absl::StatusOr<std::vector<PgRow>> maxima = connection.Query(statement.sql);
      if (!maxima.ok()) return WithContext(maxima.status(), kind);
      if (maxima->size() != 1) return absl::InternalError("measuring returned no row");
      *widen = Outgrown(statement, (*maxima)[0], *target);
      if (!widen->empty()) return run("ROLLBACK", "ROLLBACK");
      continue;
    }
    status = run(kind, statement.sql);
    if (!status.ok()) return status;
  }
  return run("COMMIT", "COMMIT");
}

absl::StatusOr<std::optional<Checkpoint>> RedshiftLoader::GetCheckpoint(absl::string_view schema,
                                                                        absl::string_view table) {
  absl::Status status = EnsureConnected();
  if (!status.ok()) return status;
  absl::StatusOr<std::vector<PgRow>> rows =
      session_->connection->Query(ReadCheckpointSql(options_, dialect_, schema, table));
  if (!rows.ok()) {
    return WithContext(rows.status(), absl::StrCat("reading the checkpoint of ", schema, ".", table));
  }
  if (rows->empty()) return std::nullopt;
  absl::StatusOr<StoredCheckpoint> stored = ParseCheckpoint((*rows)[0]);
  if (!stored.ok()) {
    return WithContext(stored.status(), absl::StrCat("the checkpoint of ", schema, ".", table));
  }
  return stored->checkpoint;
}

}  // namespace re_dms
