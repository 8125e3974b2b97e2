// The SQL the loader runs, for both target dialects, as pure functions of the
// batch and the target's current shape -- so the exact statements can be
// golden-tested without a server.
//
// One batch is applied in one transaction (see RedshiftLoader):
//   1. DDL that makes the target able to hold the batch (PlanSchema).
//   2. PlanMerge: a temporary staging table per data set, COPY into it, then
//      the merge -- deletes by key, full-row upserts as delete+insert, partial
//      (unchanged-TOAST) upserts as UPDATE of only the present columns,
//      multiset deletes for keyless tables, or the TRUNCATE -- and finally the
//      checkpoint row.
//
// Keyless tables (REPLICA IDENTITY FULL) are multisets: a delete must remove
// exactly as many equal rows as it lists, NULL equal to NULL. Neither a ctid
// (Redshift has none) nor a row id is available, so the merge counts the
// listed rows per distinct value (GROUP BY treats NULLs as equal), saves the
// matching target rows beyond that count (ROW_NUMBER over the same grouping),
// deletes every matching row, and re-inserts the saved surplus. Rows that are
// equal in every compared column are interchangeable, so which copies survive
// does not matter.
//
// Redshift compares CHAR/VARCHAR with trailing blanks insignificant, and
// ignoring case in a COLLATE CASE_INSENSITIVE database; every key join and
// multiset grouping therefore compares strings under COLLATE(...,
// 'case_sensitive') and by OCTET_LENGTH too, and SUPER by its serialization
// as VARBYTE (merge_sql.cc, ComparableParts).
//
// Names: every identifier is double-quoted with embedded quotes doubled.
// Temporary tables and helper columns use the reserved prefix `re_dms_`.

#ifndef RE_DMS_LIB_SRC_MERGE_SQL_H_
#define RE_DMS_LIB_SRC_MERGE_SQL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/redshift_loader.h"
#include "re_dms/staged_batch.h"
#include "re_dms/type_mapping.h"

namespace re_dms {

// Redshift and PostgreSQL both limit identifiers to 127 bytes (Redshift
// "Names and identifiers"; PostgreSQL's NAMEDATALEN is 64 by default, so it
// truncates at 63 and we refuse names longer than that on it too).
absl::Status CheckIdentifier(TargetDialect dialect, absl::string_view name);
// `"name"` with embedded `"` doubled. Call CheckIdentifier first.
std::string QuoteIdentifier(absl::string_view name);
// A string literal: `'` doubled; on Redshift `\` doubled too (Redshift treats
// backslash as an escape in literals: see its QUOTE_LITERAL function).
std::string QuoteLiteral(TargetDialect dialect, absl::string_view text);

// A column of the target table as its catalog describes it (format_type text,
// e.g. `character varying(256)`).
struct TargetColumn {
  std::string name;
  std::string type;
  // Redshift only, from SVV_REDSHIFT_COLUMNS (ColumnRolesSql): whether the
  // column is the distribution key, its position in the sort key (0: none),
  // and its compression encoding. They decide what ALTER TABLE may do to it.
  bool distkey = false;
  int sortkey = 0;
  std::string encoding;
};

// For `character varying(n)`: n; otherwise nullopt.
std::optional<int64_t> VarcharLength(absl::string_view catalog_type);

struct Statement {
  enum class Kind {
    kSchema,       // CREATE/ALTER of the target table or schema.
    kCreateStage,  // CREATE TEMP TABLE for a data set.
    kCopy,         // COPY into a staging table (file_index says which).
    kAnalyze,      // Statistics for a staging table.
    kMeasure,      // Redshift: longest value per VARCHAR column of a stage.
    kMove,         // "Move row": a key change over values only the target holds.
    kDelete,
    kInsert,
    kUpdate,
    kTruncate,
    kCheckpoint,
    kDropStage,
  };
  Kind kind;
  std::string sql;
  // What may be logged or put into an error: `sql` with credentials redacted.
  std::string loggable;
  // kCopy and kMeasure: index into StagedBatch::files.
  int file_index = -1;
  // kMeasure: the measured columns, in the order of the result's values.
  std::vector<std::string> measured_columns;
};

absl::string_view StatementKindName(Statement::Kind kind);

// DDL to run before the merge so the target holds every column of the batch
// (for a kDropTable batch: DROP TABLE when it exists):
// CREATE SCHEMA/TABLE when `existing` is nullopt (table missing), else ADD
// COLUMN for new columns, each followed, when the column has an
// existing_rows_value, by an UPDATE that gives every row the target already
// holds that value (the batch's own rows are merged later); on PostgreSQL,
// ALTER COLUMN TYPE for columns whose source type changed; for a
// kSchemaChange batch, with
// drop_removed_columns, DROP COLUMN for columns the source no longer has.
absl::StatusOr<std::vector<Statement>> PlanSchema(
    const RedshiftLoaderOptions& options, TargetDialect dialect, const Batch& batch,
    const std::optional<std::vector<TargetColumn>>& existing);

// ALTER TABLE ... ALTER COLUMN ... TYPE VARCHAR(bytes) (Redshift only; must run
// outside a transaction block).
std::string WidenVarcharSql(const Batch& batch, absl::string_view column, int64_t bytes);
// Whether Redshift lets WidenVarcharSql alter `column` (r_ALTER_TABLE: not a
// PRIMARY KEY column, not one encoded BYTEDICT, RUNLENGTH, TEXT255 or
// TEXT32K); otherwise a FailedPrecondition naming table, column and what to do.
absl::Status CheckWidenable(const Batch& batch, const TargetColumn& column, int64_t needed_bytes);

// Everything inside the batch's transaction after PlanSchema, ending with the
// checkpoint write. `target` is the table as it is after PlanSchema ran.
// `credentials` is used for Redshift COPY when no IAM role is configured.
absl::StatusOr<std::vector<Statement>> PlanMerge(const RedshiftLoaderOptions& options,
                                                 TargetDialect dialect,
                                                 const StagedBatch& staged,
                                                 const std::vector<TargetColumn>& target,
                                                 const AwsCredentials* credentials);

// The checkpoint table's DDL (both dialects) and its read for one table:
// lsn, xid, sequence, commit_time, applied_at, batch_sequence.
std::vector<std::string> CheckpointTableSql(const RedshiftLoaderOptions& options);
std::string ReadCheckpointSql(const RedshiftLoaderOptions& options, TargetDialect dialect,
                              absl::string_view schema, absl::string_view table);
// The target table's columns in order (empty result: the table is missing).
std::string DescribeTableSql(TargetDialect dialect, absl::string_view schema,
                             absl::string_view table);
// Redshift: column name, distkey, sortkey and encoding of each column of the
// table (SVV_REDSHIFT_COLUMNS), to fill TargetColumn's Redshift fields.
std::string ColumnRolesSql(absl::string_view schema, absl::string_view table);
// Redshift: the load errors of a failed COPY of `file` by this session, from
// SYS_LOAD_ERROR_DETAIL (documented for provisioned clusters and Serverless,
// where STL_LOAD_ERRORS stays empty). Matched on session and the data set's
// S3 objects rather than PG_LAST_COPY_ID(), which is read after the ROLLBACK
// and need not name the COPY that failed.
std::string LoadErrorsSql(const StagedFile& file);

// Statements that set up every target session, and the setting each must
// show afterwards (empty: nothing to check). Redshift: identifiers keep their
// case (r_names, enable_case_sensitive_identifier) and the session's time
// zone is UTC, so SYSDATE in the checkpoint's applied_at is UTC (r_SYSDATE:
// "in the current session time zone"). PostgreSQL: standard_conforming_strings.
struct SessionSetting {
  std::string set_sql;
  std::string show_sql;
  std::vector<std::string> expected;  // Any of these values.
};
std::vector<SessionSetting> SessionSetupSql(const RedshiftLoaderOptions& options,
                                            TargetDialect dialect);
// Redshift with case_sensitive_identifiers off folds every name to lower
// case, so a name with an upper-case letter would be created as another name
// than the catalog lookups search for: refused, naming it.
absl::Status CheckIdentifierCase(const RedshiftLoaderOptions& options, TargetDialect dialect,
                                 absl::string_view name);

}  // namespace re_dms

#endif  // RE_DMS_LIB_SRC_MERGE_SQL_H_
