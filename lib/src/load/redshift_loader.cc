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
  for (const PgRow& row : *rows) {
    TargetColumn& column = columns.emplace_back();
    column.name = row[0].value_or("");
    column.type = row[1].value_or("");
  }
  if (dialect != TargetDialect::kRedshift || columns.empty()) return columns;
  // Which columns are dist/sort keys and how they are encoded decides what
  // ALTER TABLE may do (merge_sql.h, TargetColumn).
  absl::StatusOr<std::vector<PgRow>> roles =
      connection.Query(ColumnRolesSql(batch.schema, batch.table));
  if (!roles.ok()) return WithContext(roles.status(), "reading the target's column roles");
  for (const PgRow& row : *roles) {
    for (TargetColumn& column : columns) {
      if (column.name != row[0].value_or("")) continue;
      const std::string distkey = row[1].value_or("");
      column.distkey = distkey == "t" || distkey == "true";
      if (!absl::SimpleAtoi(row[2].value_or("0"), &column.sortkey)) column.sortkey = 0;
      column.encoding = row[3].value_or("");
    }
  }
  return columns;
}

// A failed Redshift COPY of `file`, with the rows SYS_LOAD_ERROR_DETAIL holds
// for it (LoadErrorsSql). The transaction is aborted: roll it back first, or
// the query would fail too.
absl::Status RedshiftCopyError(PgConnection& connection, const StagedFile& file,
                               const absl::Status& error) {
  connection.Rollback().IgnoreError();
  std::string details;
  absl::StatusOr<std::vector<PgRow>> rows = connection.Query(LoadErrorsSql(file));
  if (rows.ok()) {
    for (const PgRow& row : *rows) {
      absl::StrAppend(&details, "; file ", row[0].value_or("?"), " line ", row[1].value_or("?"),
                      " column ", row[2].value_or("?"), " (", row[4].value_or("?"),
                      "): ", row[3].value_or("?"));
    }
  }
  return absl::Status(error.code(), absl::StrCat(error.message(), details));
}

// After a lock timeout (rolled back already): who holds locks on the batch's
// table or the checkpoint table, so the operator can find the blocker.
// PostgreSQL only; Redshift keeps locks in STV_LOCKS without the holder's
// statement, and has no lock_timeout.
absl::Status WithLockHolders(PgConnection& connection, const RedshiftLoaderOptions& options,
                             const Batch& batch, const absl::Status& error) {
  const std::string table =
      absl::StrCat(QuoteIdentifier(batch.schema), ".", QuoteIdentifier(batch.table));
  const std::string checkpoints =
      absl::StrCat(QuoteIdentifier(options.checkpoint_schema), ".re_dms_checkpoints");
  absl::StatusOr<std::vector<PgRow>> rows = connection.Query(
      absl::StrCat("SELECT l.relation::regclass::text, l.pid, l.mode FROM pg_locks l "
                   "WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid() "
                   "AND l.relation IN (to_regclass(",
                   QuoteLiteral(TargetDialect::kPostgres, table), "), to_regclass(",
                   QuoteLiteral(TargetDialect::kPostgres, checkpoints), ")) ORDER BY 1, 2"));
  std::string holders;
  if (rows.ok()) {
    for (const PgRow& row : *rows) {
      absl::StrAppend(&holders, holders.empty() ? "" : ", ", row[0].value_or("?"), " by PID ",
                      row[1].value_or("?"), " (", row[2].value_or("?"), ")");
    }
  }
  return absl::Status(
      error.code(),
      absl::StrCat(
          "waiting for a lock on table ", batch.schema, ".", batch.table, " timed out after ",
          absl::FormatDuration(options.lock_timeout), " (lock_timeout); ",
          holders.empty() ? "no lock holder found any more" : absl::StrCat("locks held: ", holders),
          ": ", error.message()));
}

// The VARCHAR columns of `target` that the measured maxima outgrow, with the
// width each must be widened to; an error when Redshift cannot widen one.
absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> Outgrown(
    const Batch& batch, const Statement& measure, const PgRow& maxima,
    const std::vector<TargetColumn>& target) {
  std::vector<std::pair<std::string, int64_t>> widen;
  for (size_t c = 0; c < measure.measured_columns.size() && c < maxima.size(); ++c) {
    int64_t longest = 0;
    if (!maxima[c].has_value() || !absl::SimpleAtoi(*maxima[c], &longest)) continue;
    for (const TargetColumn& column : target) {
      if (column.name == measure.measured_columns[c] &&
          longest > VarcharLength(column.type).value_or(kRedshiftMaxVarcharBytes)) {
        absl::Status widenable = CheckWidenable(batch, column, longest);
        if (!widenable.ok()) return widenable;
        widen.emplace_back(column.name, WidenedLength(longest));
      }
    }
  }
  return widen;
}

absl::Status CheckBatchNames(const RedshiftLoaderOptions& options, TargetDialect dialect,
                             const StagedBatch& staged) {
  const Batch& batch = staged.batch;
  std::vector<absl::string_view> names = {batch.schema, batch.table};
  for (const ColumnDef& column : batch.columns) names.push_back(column.name);
  for (const std::string& key : batch.key_columns) names.push_back(key);
  for (const StagedFile& file : staged.files) {
    for (const std::string& column : file.columns) names.push_back(column);
  }
  for (absl::string_view name : names) {
    absl::Status status = CheckIdentifier(dialect, name);
    if (status.ok()) status = CheckIdentifierCase(options, dialect, name);
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
    return absl::DataLossError(
        absl::StrCat("checkpoint ", column, " `", text.value_or("NULL"), "` is not a number"));
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

// Whether the checkpoint shows `batch` applied already. `renames_into`: the
// batch's group renames a table to the batch's name. A checkpoint with
// batch_sequence 0 is the one a rename leaves on the old name (merge_sql.cc):
// it says the old name's table is applied through the rename, not that the
// table renamed into the name later is; tables swapped by renames in one
// transaction meet exactly that.
bool AlreadyApplied(const StoredCheckpoint& stored, const Batch& batch, bool retry,
                    bool renames_into) {
  if (renames_into && stored.batch_sequence == 0) return false;
  const SourcePosition& applied = stored.checkpoint.position;
  const SourcePosition& position = batch.position;
  // Each LSN is one commit, applied to a table in one group (loader.h).
  if (position.lsn.has_value() && applied.lsn.has_value()) return *position.lsn <= *applied.lsn;
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
                                         options_.statement_timeout, options_.retry.cancel};
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
  // What each setting is for: SessionSetupSql. A setting the server does not
  // show afterwards (e.g. a cluster that ignores it) stops the loader here
  // rather than letting names or times be read differently later.
  for (const SessionSetting& setting : SessionSetupSql(options_, dialect_)) {
    absl::Status status = (*connection)->Exec(setting.set_sql);
    if (!status.ok()) return WithContext(status, absl::StrCat("session setup: ", setting.set_sql));
    if (setting.show_sql.empty()) continue;
    absl::StatusOr<std::vector<PgRow>> shown = (*connection)->Query(setting.show_sql);
    if (!shown.ok()) return WithContext(shown.status(), setting.show_sql);
    const std::string value =
        !shown->empty() && !(*shown)[0].empty() ? (*shown)[0][0].value_or("") : "";
    if (std::none_of(setting.expected.begin(), setting.expected.end(),
                     [&](const std::string& e) { return absl::EqualsIgnoreCase(e, value); })) {
      return absl::FailedPreconditionError(absl::StrCat("session setup: after `", setting.set_sql,
                                                        "` the target shows `", value, "` for `",
                                                        setting.show_sql, "`"));
    }
  }
  session_ = std::make_unique<Session>(*std::move(connection));
  return absl::OkStatus();
}

absl::Status RedshiftLoader::Apply(const StagedBatch& staged) { return ApplyGroup({&staged}); }

absl::Status RedshiftLoader::ApplyGroup(const std::vector<const StagedBatch*>& group) {
  if (group.empty()) return absl::OkStatus();
  std::string context = BatchContext(group.back()->batch);
  if (group.size() > 1) {
    absl::StrAppend(&context, " (with batches ", group.front()->batch.sequence, " to ",
                    group.back()->batch.sequence - 1, " of the same source transaction)");
  }
  for (const StagedBatch* staged : group) {
    absl::Status names = CheckBatchNames(options_, dialect_, *staged);
    if (!names.ok()) return WithContext(names, context);
  }
  bool retry = false;
  absl::Status status = RunWithRetries(
      options_.retry, absl::StrCat("load of ", context),
      [&]() -> absl::Status {
        absl::Status attempt = EnsureConnected();
        if (attempt.ok()) attempt = ApplyWithWidening(group, retry);
        retry = true;
        if (attempt.ok()) return attempt;
        if (session_ != nullptr && session_->connection->IsHealthy()) {
          // A failed (or cancelled) statement leaves the transaction aborted.
          session_->connection->Rollback().IgnoreError();
          if (IsLockTimeout(attempt) && dialect_ == TargetDialect::kPostgres) {
            attempt =
                WithLockHolders(*session_->connection, options_, group.back()->batch, attempt);
          }
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

absl::Status RedshiftLoader::ApplyWithWidening(const std::vector<const StagedBatch*>& group,
                                               bool retry) {
  // Each round at least doubles one column, from 256 up to 65535 bytes.
  constexpr int kMaxRounds = 16;
  for (int round = 0; round < kMaxRounds; ++round) {
    std::vector<std::pair<std::string, int64_t>> widen;
    const StagedBatch* widened = nullptr;
    absl::Status status = ApplyOnce(group, retry, &widen, &widened);
    if (!status.ok() || widen.empty()) return status;
    for (const auto& [column, bytes] : widen) {
      status = session_->connection->Exec(WidenVarcharSql(widened->batch, column, bytes));
      if (!status.ok()) return WithContext(status, absl::StrCat("widening column ", column));
    }
  }
  return absl::InternalError("VARCHAR widening did not settle");
}

absl::Status RedshiftLoader::ApplyOnce(const std::vector<const StagedBatch*>& group, bool retry,
                                       std::vector<std::pair<std::string, int64_t>>* widen,
                                       const StagedBatch** widened) {
  const Batch& last = group.back()->batch;
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

  // The group's batches share the last one's position (Batch::applies_with_next).
  absl::StatusOr<std::vector<PgRow>> checkpoint =
      connection.Query(ReadCheckpointSql(options_, dialect_, last.schema, last.table));
  if (!checkpoint.ok()) return WithContext(checkpoint.status(), "reading the checkpoint");
  if (!checkpoint->empty()) {
    absl::StatusOr<StoredCheckpoint> stored = ParseCheckpoint((*checkpoint)[0]);
    if (!stored.ok()) return stored.status();
    const bool renames_into =
        std::any_of(group.begin(), group.end(), [&](const StagedBatch* staged) {
          return staged->batch.kind == Batch::Kind::kRenameTable &&
                 staged->batch.renamed_schema == last.schema &&
                 staged->batch.renamed_table == last.table;
        });
    if (AlreadyApplied(*stored, last, retry, renames_into)) {
      ++skipped_batches_;
      return run("ROLLBACK", "ROLLBACK");
    }
  }

  std::optional<AwsCredentials> credentials;
  for (const StagedBatch* staged : group) {
    status = MergeOne(*staged, run, &credentials, widen);
    if (!status.ok()) return status;
    if (!widen->empty()) {
      *widened = staged;
      return run("ROLLBACK", "ROLLBACK");
    }
  }
  return run("COMMIT", "COMMIT");
}

absl::Status RedshiftLoader::MergeOne(
    const StagedBatch& staged,
    const std::function<absl::Status(absl::string_view, absl::string_view)>& run,
    std::optional<AwsCredentials>* credentials,
    std::vector<std::pair<std::string, int64_t>>* widen) {
  const Batch& batch = staged.batch;
  PgConnection& connection = *session_->connection;
  absl::Status status;
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

  if (dialect_ == TargetDialect::kRedshift && options_.iam_role.empty() && options_.credentials &&
      !credentials->has_value()) {
    absl::StatusOr<AwsCredentials> fetched = options_.credentials->GetCredentials();
    if (!fetched.ok()) return WithContext(fetched.status(), "S3 credentials for COPY");
    *credentials = *std::move(fetched);
  }
  absl::StatusOr<std::vector<Statement>> plan = PlanMerge(
      options_, dialect_, staged, *target, credentials->has_value() ? &**credentials : nullptr);
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
      if (!status.ok()) return WithContext(RedshiftCopyError(connection, file, status), what);
      continue;
    }
    if (statement.kind == Statement::Kind::kMeasure) {
      absl::StatusOr<std::vector<PgRow>> maxima = connection.Query(statement.sql);
      if (!maxima.ok()) return WithContext(maxima.status(), kind);
      if (maxima->size() != 1) return absl::InternalError("measuring returned no row");
      absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> outgrown =
          Outgrown(batch, statement, (*maxima)[0], *target);
      if (!outgrown.ok()) return outgrown.status();
      *widen = *std::move(outgrown);
      if (!widen->empty()) return absl::OkStatus();  // The caller rolls back.
      continue;
    }
    status = run(kind, statement.sql);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Checkpoint>> RedshiftLoader::GetCheckpoint(absl::string_view schema,
                                                                        absl::string_view table) {
  absl::Status status = EnsureConnected();
  if (!status.ok()) return status;
  absl::StatusOr<std::vector<PgRow>> rows =
      session_->connection->Query(ReadCheckpointSql(options_, dialect_, schema, table));
  if (!rows.ok()) {
    return WithContext(rows.status(),
                       absl::StrCat("reading the checkpoint of ", schema, ".", table));
  }
  if (rows->empty()) return std::nullopt;
  absl::StatusOr<StoredCheckpoint> stored = ParseCheckpoint((*rows)[0]);
  if (!stored.ok()) {
    return WithContext(stored.status(), absl::StrCat("the checkpoint of ", schema, ".", table));
  }
  return stored->checkpoint;
}

}  // namespace re_dms
