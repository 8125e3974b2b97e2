#include "lib/src/load/merge_sql.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "lib/src/load/column_rebuild.h"
#include "lib/src/load/move_sql.h"
#include "re_dms/csv_dialect.h"

namespace re_dms {
namespace {

constexpr absl::string_view kCheckpointTable = "re_dms_checkpoints";
constexpr absl::string_view kCountsTable = "re_dms_delete_counts";
constexpr absl::string_view kKeepTable = "re_dms_keep";
constexpr absl::string_view kTargetAlias = "re_dms_t";

bool IsRedshift(TargetDialect dialect) { return dialect == TargetDialect::kRedshift; }

std::string StageName(size_t index) { return absl::StrCat("re_dms_stage_", index); }

std::string QualifiedName(absl::string_view schema, absl::string_view table) {
  return absl::StrCat(QuoteIdentifier(schema), ".", QuoteIdentifier(table));
}

std::string TargetName(const Batch& batch) { return QualifiedName(batch.schema, batch.table); }

std::string QuotedList(const std::vector<std::string>& names, absl::string_view prefix = "") {
  return absl::StrJoin(names, ", ", [prefix](std::string* out, const std::string& name) {
    absl::StrAppend(out, prefix, QuoteIdentifier(name));
  });
}

Statement Make(Statement::Kind kind, std::string sql, int file_index = -1) {
  Statement statement{kind, sql, sql, file_index, {}};
  return statement;
}

const TargetColumn* FindColumn(const std::vector<TargetColumn>& columns, absl::string_view name) {
  for (const TargetColumn& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

// The DDL type of a new target column.
std::string TargetTypeFor(const RedshiftLoaderOptions& options, TargetDialect dialect,
                          absl::string_view source_type) {
  if (IsRedshift(dialect)) return RedshiftTypeFor(source_type, options.type_mapping).Sql();
  return PostgresTypeFor(source_type);
}

// An expression over `expr` (of catalog type `type`) that compares equal
// exactly when the values are the same, usable in GROUP BY and PARTITION BY.
// PostgreSQL: the text output, since some types (json, point, xml) have no
// equality operator; both sides are rendered by the same session, so settings
// such as TimeZone affect them alike. Redshift: the value itself, SUPER
// serialized (SUPER cannot be grouped or compared directly).
std::string Comparable(TargetDialect dialect, absl::string_view type, absl::string_view expr) {
  if (!IsRedshift(dialect)) return absl::StrCat("CAST(", expr, " AS text)");
  if (absl::EqualsIgnoreCase(type, "super")) return absl::StrCat("JSON_SERIALIZE(", expr, ")");
  return std::string(expr);
}

// `text`, formatted as CsvWriter writes values of `column`, as a constant of
// the target type `type` holding what COPY loads from that text. A plain CAST
// does that except on Redshift for VARBYTE, where it would take the text's
// UTF-8 bytes rather than decode the hex ("TO_VARBYTE function"), and SUPER,
// where it would make a string scalar rather than parse the JSON
// ("JSON_PARSE function"; COPY from CSV parses SUPER values as JSON: "Using
// COPY to load data into SUPER columns").
std::string TypedConstant(const RedshiftLoaderOptions& options, TargetDialect dialect,
                          const ColumnDef& column, absl::string_view type,
                          absl::string_view text) {
  const std::string literal = QuoteLiteral(dialect, text);
  if (IsRedshift(dialect)) {
    switch (RedshiftTypeFor(column.type, options.type_mapping).family) {
      case RedshiftType::Family::kVarbyte:
        return absl::StrCat("TO_VARBYTE(", literal, ", 'hex')");
      case RedshiftType::Family::kSuper:
        return absl::StrCat("JSON_PARSE(", literal, ")");
      default:
        break;
    }
  }
  return absl::StrCat("CAST(", literal, " AS ", type, ")");
}

std::string NullSafeEqual(absl::string_view left, absl::string_view right) {
  return absl::StrCat("(", left, " = ", right, " OR (", left, " IS NULL AND ", right,
                      " IS NULL))");
}

// The staging table's type for a column: the target's, except that on
// Redshift VARCHARs stage at the maximum width so a longer value loads and
// can be measured (then the target is widened) instead of failing the COPY.
std::string StageType(TargetDialect dialect, const TargetColumn& column) {
  if (IsRedshift(dialect) && VarcharLength(column.type).has_value()) {
    return absl::StrCat("VARCHAR(", kRedshiftMaxVarcharBytes, ")");
  }
  return column.type;
}

std::string CompressionKeyword(Compression compression) {
  switch (compression) {
    case Compression::kGzip: return " GZIP";
    case Compression::kZstd: return " ZSTD";
    case Compression::kNone: return "";
  }
  return "";
}

// Redshift COPY of one data set; `loggable` gets the credentials redacted.
// Each option, with the AWS documentation (Database Developer Guide, "COPY")
// that justifies it:
//   FROM 's3://.../x.manifest' MANIFEST -- "Data sources: Amazon S3": with
//     MANIFEST the object is a JSON list of exactly the files to load (a plain
//     prefix would also match `part-10` when loading `part-1`).
//   IAM_ROLE 'arn' or ACCESS_KEY_ID/SECRET_ACCESS_KEY[/SESSION_TOKEN] --
//     "Authorization parameters": role-based or key-based access; temporary
//     credentials need SESSION_TOKEN.
//   CSV DELIMITER/QUOTE/NULL AS -- "Data format parameters" and "Data
//     conversion parameters", from csv_dialect.h (kRedshiftCsv).
//   ZSTD | GZIP -- "File compression parameters": the CsvWriter's compression.
//   DATEFORMAT 'auto' TIMEFORMAT 'auto' -- "DATEFORMAT and TIMEFORMAT strings"
//     / "Using automatic recognition": accepts PostgreSQL's ISO output,
//     including fractional seconds, `BC` and `+hh` offsets for TIMESTAMPTZ.
//   COMPUPDATE OFF STATUPDATE OFF -- "Data load operations": a staging table
//     is dropped at commit; compression analysis and statistics would only
//     cost time.
//   REGION -- "Data sources: Amazon S3": needed when the bucket is in another
//     region than the cluster.
// Not used on purpose: ACCEPTINVCHARS, TRUNCATECOLUMNS, ROUNDEC, EMPTYASNULL,
// BLANKSASNULL, MAXERROR -- each would change or drop values silently; the
// value policies of type_mapping.h apply before upload instead.
absl::StatusOr<Statement> RedshiftCopy(const RedshiftLoaderOptions& options,
                                       const StagedBatch& staged, size_t index,
                                       const AwsCredentials* credentials) {
  const StagedFile& file = staged.files[index];
  std::string source;
  std::string manifest;
  if (!file.s3_manifest_uri.empty()) {
    source = file.s3_manifest_uri;
    manifest = " MANIFEST";
  } else if (file.s3_uris.size() == 1) {
    source = file.s3_uris[0];
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "data set ", index, " has ", file.s3_uris.size(),
        " S3 objects and no manifest; upload the batch before loading it"));
  }
  std::string auth, redacted;
  if (!options.iam_role.empty()) {
    auth = absl::StrCat(" IAM_ROLE ", QuoteLiteral(TargetDialect::kRedshift, options.iam_role));
    redacted = auth;
  } else {
    if (credentials == nullptr) {
      return absl::FailedPreconditionError(
          "Redshift COPY needs an IAM role or S3 credentials; neither is configured");
    }
    auth = absl::StrCat(
        " ACCESS_KEY_ID ", QuoteLiteral(TargetDialect::kRedshift, credentials->access_key_id),
        " SECRET_ACCESS_KEY ",
        QuoteLiteral(TargetDialect::kRedshift, credentials->secret_access_key));
    redacted = " ACCESS_KEY_ID '<redacted>' SECRET_ACCESS_KEY '<redacted>'";
    if (!credentials->session_token.empty()) {
      absl::StrAppend(&auth, " SESSION_TOKEN ",
                      QuoteLiteral(TargetDialect::kRedshift, credentials->session_token));
      absl::StrAppend(&redacted, " SESSION_TOKEN '<redacted>'");
    }
  }
  std::string head = absl::StrCat("COPY ", QuoteIdentifier(StageName(index)), " (",
                                  QuotedList(file.columns), ") FROM ",
                                  QuoteLiteral(TargetDialect::kRedshift, source));
  std::string tail = absl::StrCat(" ", kRedshiftCsv.copy_options,
                                  CompressionKeyword(staged.compression), manifest,
                                  " DATEFORMAT 'auto' TIMEFORMAT 'auto'"
                                  " COMPUPDATE OFF STATUPDATE OFF");
  if (!options.s3_region.empty()) {
    absl::StrAppend(&tail, " REGION ", QuoteLiteral(TargetDialect::kRedshift, options.s3_region));
  }
  Statement statement = Make(Statement::Kind::kCopy, absl::StrCat(head, auth, tail),
                             static_cast<int>(index));
  statement.loggable = absl::StrCat(head, redacted, tail);
  return statement;
}

// DELETE ... USING `stage` WHERE the key columns match.
Statement DeleteByKey(const Batch& batch, absl::string_view stage) {
  std::vector<std::string> conditions;
  const std::string target = TargetName(batch);
  for (const std::string& key : batch.key_columns) {
    conditions.push_back(absl::StrCat(target, ".", QuoteIdentifier(key), " = ",
                                      QuoteIdentifier(stage), ".", QuoteIdentifier(key)));
  }
  return Make(Statement::Kind::kDelete,
              absl::StrCat("DELETE FROM ", target, " USING ", QuoteIdentifier(stage), " WHERE ",
                           absl::StrJoin(conditions, " AND ")));
}

// The multiset delete of a keyless table (see the header comment).
std::vector<Statement> MultisetDelete(TargetDialect dialect, const Batch& batch,
                                      const StagedFile& file, absl::string_view stage,
                                      const std::vector<TargetColumn>& target_columns) {
  const std::string target = TargetName(batch);
  const std::string counts = QuoteIdentifier(kCountsTable);
  const std::string keep = QuoteIdentifier(kKeepTable);
  const std::string alias = QuoteIdentifier(kTargetAlias);
  std::vector<std::string> grouped, partition, join, match, all_columns;
  for (const std::string& name : file.columns) {
    const TargetColumn* column = FindColumn(target_columns, name);
    const std::string type = column ? column->type : "";
    const std::string quoted = QuoteIdentifier(name);
    grouped.push_back(absl::StrCat(Comparable(dialect, type, quoted), " AS ", quoted));
    const std::string in_target = Comparable(dialect, type, absl::StrCat(alias, ".", quoted));
    partition.push_back(in_target);
    join.push_back(NullSafeEqual(in_target, absl::StrCat(counts, ".", quoted)));
    match.push_back(NullSafeEqual(Comparable(dialect, type, absl::StrCat(target, ".", quoted)),
                                  absl::StrCat(counts, ".", quoted)));
  }
  for (const TargetColumn& column : target_columns) all_columns.push_back(column.name);
  // GROUP BY positions: the same expressions as selected, on both dialects.
  std::vector<std::string> positions;
  for (size_t i = 1; i <= file.columns.size(); ++i) positions.push_back(absl::StrCat(i));
  std::vector<Statement> statements;
  statements.push_back(Make(
      Statement::Kind::kDelete,
      absl::StrCat("CREATE TEMP TABLE ", counts, " AS SELECT ", absl::StrJoin(grouped, ", "),
                   ", COUNT(*) AS \"re_dms_n\" FROM ", QuoteIdentifier(stage), " GROUP BY ",
                   absl::StrJoin(positions, ", "))));
  statements.push_back(Make(
      Statement::Kind::kDelete,
      absl::StrCat("CREATE TEMP TABLE ", keep, " AS SELECT ", QuotedList(all_columns),
                   " FROM (SELECT ", QuotedList(all_columns, absl::StrCat(alias, ".")),
                   ", ROW_NUMBER() OVER (PARTITION BY ", absl::StrJoin(partition, ", "),
                   ") AS \"re_dms_rn\", ", counts, ".\"re_dms_n\" FROM ", target, " AS ", alias,
                   " JOIN ", counts, " ON ", absl::StrJoin(join, " AND "),
                   ") AS \"re_dms_matches\" WHERE \"re_dms_rn\" > \"re_dms_n\"")));
  statements.push_back(Make(Statement::Kind::kDelete,
                            absl::StrCat("DELETE FROM ", target, " USING ", counts, " WHERE ",
                                         absl::StrJoin(match, " AND "))));
  statements.push_back(Make(Statement::Kind::kInsert,
                            absl::StrCat("INSERT INTO ", target, " (", QuotedList(all_columns),
                                         ") SELECT ", QuotedList(all_columns), " FROM ", keep)));
  statements.push_back(Make(Statement::Kind::kDropStage, absl::StrCat("DROP TABLE ", counts)));
  statements.push_back(Make(Statement::Kind::kDropStage, absl::StrCat("DROP TABLE ", keep)));
  return statements;
}

std::string OptionalNumber(const std::optional<uint64_t>& value) {
  return value.has_value() ? absl::StrCat(*value) : "NULL";
}

}  // namespace

absl::Status CheckIdentifier(TargetDialect dialect, absl::string_view name) {
  const size_t limit = IsRedshift(dialect) ? 127 : 63;
  if (name.empty()) return absl::InvalidArgumentError("empty identifier");
  if (name.size() > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identifier `", name.substr(0, 40), "...` is ", name.size(), " bytes; ",
        IsRedshift(dialect) ? "Redshift" : "PostgreSQL", " allows at most ", limit));
  }
  if (absl::StrContains(name, absl::string_view("\0", 1))) {
    return absl::InvalidArgumentError("identifier contains a NUL byte");
  }
  return absl::OkStatus();
}

std::string QuoteIdentifier(absl::string_view name) {
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

std::string QuoteLiteral(TargetDialect dialect, absl::string_view text) {
  if (IsRedshift(dialect)) {
    return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "''"}, {"\\", "\\\\"}}), "'");
  }
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "''"}}), "'");
}

std::optional<int64_t> VarcharLength(absl::string_view catalog_type) {
  if (!absl::ConsumePrefix(&catalog_type, "character varying(") ||
      !absl::ConsumeSuffix(&catalog_type, ")")) {
    return std::nullopt;
  }
  int64_t length = 0;
  if (!absl::SimpleAtoi(catalog_type, &length)) return std::nullopt;
  return length;
}

absl::string_view StatementKindName(Statement::Kind kind) {
  switch (kind) {
    case Statement::Kind::kSchema: return "schema change";
    case Statement::Kind::kCreateStage: return "create staging table";
    case Statement::Kind::kCopy: return "COPY";
    case Statement::Kind::kAnalyze: return "ANALYZE";
    case Statement::Kind::kMeasure: return "measure VARCHAR widths";
    case Statement::Kind::kMove: return "move row";
    case Statement::Kind::kDelete: return "DELETE";
    case Statement::Kind::kInsert: return "INSERT";
    case Statement::Kind::kUpdate: return "UPDATE";
    case Statement::Kind::kTruncate: return "TRUNCATE";
    case Statement::Kind::kCheckpoint: return "checkpoint";
    case Statement::Kind::kDropStage: return "drop staging table";
  }
  return "statement";
}

absl::StatusOr<std::vector<Statement>> PlanSchema(
    const RedshiftLoaderOptions& options, TargetDialect dialect, const Batch& batch,
    const std::optional<std::vector<TargetColumn>>& existing) {
  std::vector<Statement> statements;
  const std::string target = TargetName(batch);
  if (batch.kind == Batch::Kind::kDropTable) {
    // Transactional on both dialects, with the checkpoint that records it.
    if (existing.has_value()) {
      statements.push_back(Make(Statement::Kind::kSchema, absl::StrCat("DROP TABLE ", target)));
    }
    return statements;
  }
  if (!existing.has_value()) {
    if (batch.columns.empty()) {
      // A TRUNCATE of a table never seen with rows: nothing to create or empty.
      return statements;
    }
    statements.push_back(Make(Statement::Kind::kSchema,
                              absl::StrCat("CREATE SCHEMA IF NOT EXISTS ",
                                           QuoteIdentifier(batch.schema))));
    std::vector<std::string> definitions;
    for (const ColumnDef& column : batch.columns) {
      definitions.push_back(absl::StrCat(QuoteIdentifier(column.name), " ",
                                         TargetTypeFor(options, dialect, column.type)));
    }
    if (!batch.key_columns.empty()) {
      // Informational on Redshift ("Defining table constraints"): it is not
      // enforced, the merge keeps keys unique.
      definitions.push_back(absl::StrCat("PRIMARY KEY (", QuotedList(batch.key_columns), ")"));
    }
    std::string sql = absl::StrCat("CREATE TABLE ", target, " (",
                                   absl::StrJoin(definitions, ", "), ")");
    if (IsRedshift(dialect)) {
      RedshiftTableLayout layout;
      auto custom = options.layouts.find(absl::StrCat(batch.schema, ".", batch.table));
      if (custom != options.layouts.end()) {
        layout = custom->second;
      } else if (!batch.key_columns.empty()) {
        layout.distkey = batch.key_columns[0];
        layout.sortkey = batch.key_columns;
      }
      // "CREATE TABLE": DISTSTYLE KEY with DISTKEY(column), SORTKEY(columns).
      if (layout.distkey.has_value()) {
        absl::StrAppend(&sql, " DISTSTYLE KEY DISTKEY (", QuoteIdentifier(*layout.distkey), ")");
      } else {
        absl::StrAppend(&sql, " DISTSTYLE AUTO");
      }
      if (!layout.sortkey.empty()) {
        absl::StrAppend(&sql, " SORTKEY (", QuotedList(layout.sortkey), ")");
      }
    }
    statements.push_back(Make(Statement::Kind::kSchema, sql));
    return statements;
  }
  for (const ColumnDef& column : batch.columns) {
    if (FindColumn(*existing, column.name) != nullptr) continue;
    const std::string type = TargetTypeFor(options, dialect, column.type);
    statements.push_back(Make(Statement::Kind::kSchema,
                              absl::StrCat("ALTER TABLE ", target, " ADD COLUMN ",
                                           QuoteIdentifier(column.name), " ", type)));
    if (!column.existing_rows_value.has_value()) continue;
    // Every row the target holds now predates the column: this batch's own
    // rows are merged after the schema statements, in the same transaction.
    // They show the source's attmissingval, formatted as CsvWriter formats
    // the column's values for this dialect and cast like COPY loads them.
    std::string value = *column.existing_rows_value;
    const RedshiftValueFormatter formatter(options.type_mapping);
    if (IsRedshift(dialect) && formatter.Formats(column)) {
      value.clear();
      absl::Status formatted = formatter.Format(column, *column.existing_rows_value, &value);
      if (!formatted.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "table ", target, " column ", QuoteIdentifier(column.name),
            ": the value rows older than the added column show: ", formatted.message()));
      }
    }
    statements.push_back(Make(Statement::Kind::kUpdate,
                              absl::StrCat("UPDATE ", target, " SET ", QuoteIdentifier(column.name),
                                           " = ", TypedConstant(options, dialect, column, type,
                                                                value))));
  }
  if (!IsRedshift(dialect)) {
    // A source column whose type changed (ALTER COLUMN TYPE at the source):
    // convert through the text form, which is what the stream carries. Any
    // batch, not only kSchemaChange: a run that starts after the change
    // first sees the new type in an ordinary batch.
    // Redshift: see column_rebuild.h.
    for (const ColumnDef& column : batch.columns) {
      const TargetColumn* current = FindColumn(*existing, column.name);
      const std::string wanted = PostgresTypeFor(column.type);
      if (current == nullptr || current->type == wanted) continue;
      const std::string name = QuoteIdentifier(column.name);
      statements.push_back(Make(
          Statement::Kind::kSchema,
          absl::StrCat("ALTER TABLE ", target, " ALTER COLUMN ", name, " TYPE ", wanted,
                       " USING CAST(CAST(", name, " AS text) AS ", wanted, ")")));
    }
  }
  if (IsRedshift(dialect)) {
    absl::StatusOr<std::vector<Statement>> rebuilds =
        RebuildChangedColumns(options.type_mapping, batch, *existing);
    if (!rebuilds.ok()) return rebuilds.status();
    for (Statement& statement : *rebuilds) statements.push_back(std::move(statement));
  }
  if (batch.kind == Batch::Kind::kSchemaChange && options.drop_removed_columns) {
    for (const TargetColumn& column : *existing) {
      bool kept = std::any_of(batch.columns.begin(), batch.columns.end(),
                              [&](const ColumnDef& c) { return c.name == column.name; });
      if (kept) continue;
      statements.push_back(Make(Statement::Kind::kSchema,
                                absl::StrCat("ALTER TABLE ", target, " DROP COLUMN ",
                                             QuoteIdentifier(column.name))));
    }
  }
  return statements;
}

std::string WidenVarcharSql(const Batch& batch, absl::string_view column, int64_t bytes) {
  // Redshift "ALTER TABLE": ALTER COLUMN column_name TYPE
  // updated_varchar_data_type_size -- only VARCHAR length can change, and not
  // inside a transaction block.
  return absl::StrCat("ALTER TABLE ", TargetName(batch), " ALTER COLUMN ", QuoteIdentifier(column),
                      " TYPE VARCHAR(", bytes, ")");
}

absl::StatusOr<std::vector<Statement>> PlanMerge(const RedshiftLoaderOptions& options,
                                                 TargetDialect dialect,
                                                 const StagedBatch& staged,
                                                 const std::vector<TargetColumn>& target_columns,
                                                 const AwsCredentials* credentials) {
  const Batch& batch = staged.batch;
  const std::string target = TargetName(batch);
  std::vector<Statement> statements;

  if (batch.kind == Batch::Kind::kTruncate) {
    if (!target_columns.empty()) {
      // Redshift's TRUNCATE commits the transaction it runs in ("TRUNCATE",
      // usage notes), which would break atomicity with the checkpoint; an
      // unqualified DELETE is transactional.
      statements.push_back(Make(Statement::Kind::kTruncate,
                                IsRedshift(dialect) ? absl::StrCat("DELETE FROM ", target)
                                                    : absl::StrCat("TRUNCATE ", target)));
    }
  } else {
    // Stage every data set first, then merge in the batch's order: deletes,
    // then upserts.
    for (size_t i = 0; i < staged.files.size(); ++i) {
      const StagedFile& file = staged.files[i];
      const std::string stage = QuoteIdentifier(StageName(i));
      std::vector<std::string> definitions;
      for (const std::string& name : file.columns) {
        const TargetColumn* column = FindColumn(target_columns, MovedColumnName(name));
        if (column == nullptr) {
          return absl::FailedPreconditionError(absl::StrCat(
              "data set ", i, " has column `", name, "` that the target table lacks"));
        }
        definitions.push_back(absl::StrCat(QuoteIdentifier(name), " ", StageType(dialect, *column)));
      }
      statements.push_back(Make(Statement::Kind::kCreateStage,
                                absl::StrCat("CREATE TEMP TABLE ", stage, " (",
                                             absl::StrJoin(definitions, ", "), ")")));
      if (IsRedshift(dialect)) {
        absl::StatusOr<Statement> copy = RedshiftCopy(options, staged, i, credentials);
        if (!copy.ok()) return copy.status();
        statements.push_back(*std::move(copy));
        Statement measure = Make(Statement::Kind::kMeasure, "", static_cast<int>(i));
        std::vector<std::string> maxima;
        for (const std::string& name : file.columns) {
          std::optional<int64_t> length =
              VarcharLength(FindColumn(target_columns, MovedColumnName(name))->type);
          if (!length.has_value() || *length >= kRedshiftMaxVarcharBytes) continue;
          maxima.push_back(absl::StrCat("MAX(OCTET_LENGTH(", QuoteIdentifier(name), "))"));
          measure.measured_columns.push_back(name);
        }
        if (!maxima.empty()) {
          measure.sql = measure.loggable =
              absl::StrCat("SELECT ", absl::StrJoin(maxima, ", "), " FROM ", stage);
          statements.push_back(std::move(measure));
        }
      } else {
        statements.push_back(Make(
            Statement::Kind::kCopy,
            absl::StrCat("COPY ", stage, " (", QuotedList(file.columns), ") FROM STDIN (",
                         kPostgresCsv.copy_options, ")"),
            static_cast<int>(i)));
        // Temporary tables have no statistics until analysed; without them
        // the planner may pick a nested loop for the key join.
        statements.push_back(Make(Statement::Kind::kAnalyze, absl::StrCat("ANALYZE ", stage)));
      }
    }
    const bool keyed = !batch.key_columns.empty();
    // Moves read the rows at their old keys, so they come before the deletes.
    for (size_t i = 0; i < staged.files.size(); ++i) {
      if (staged.files[i].role != StagedFile::Role::kMove) continue;
      for (Statement& s : MoveRows(batch, StageName(i), i, target_columns)) {
        statements.push_back(std::move(s));
      }
    }
    for (size_t i = 0; i < staged.files.size(); ++i) {
      const StagedFile& file = staged.files[i];
      if (file.role == StagedFile::Role::kDelete) {
        if (keyed) {
          statements.push_back(DeleteByKey(batch, StageName(i)));
        } else {
          for (Statement& s : MultisetDelete(dialect, batch, file, StageName(i), target_columns)) {
            statements.push_back(std::move(s));
          }
        }
      }
    }
    for (size_t i = 0; i < staged.files.size(); ++i) {
      const StagedFile& file = staged.files[i];
      if (file.role != StagedFile::Role::kUpsert) continue;
      const std::string stage = QuoteIdentifier(StageName(i));
      const bool full_row = file.columns.size() == batch.columns.size();
      if (full_row) {
        if (keyed) statements.push_back(DeleteByKey(batch, StageName(i)));
        statements.push_back(Make(Statement::Kind::kInsert,
                                  absl::StrCat("INSERT INTO ", target, " (",
                                               QuotedList(file.columns), ") SELECT ",
                                               QuotedList(file.columns), " FROM ", stage)));
        continue;
      }
      if (!keyed) {
        return absl::FailedPreconditionError(absl::StrCat(
            "data set ", i, " updates some columns of a table without a key; a keyless "
            "table's rows can only be inserted and deleted whole"));
      }
      // Partial rows (unchanged TOAST columns omitted): update what is present.
      std::vector<std::string> assignments, conditions;
      for (const std::string& name : file.columns) {
        if (std::find(batch.key_columns.begin(), batch.key_columns.end(), name) !=
            batch.key_columns.end()) {
          conditions.push_back(absl::StrCat(target, ".", QuoteIdentifier(name), " = ", stage, ".",
                                            QuoteIdentifier(name)));
        } else {
          assignments.push_back(absl::StrCat(QuoteIdentifier(name), " = ", stage, ".",
                                             QuoteIdentifier(name)));
        }
      }
      if (conditions.size() != batch.key_columns.size()) {
        return absl::FailedPreconditionError(
            absl::StrCat("data set ", i, " lacks key columns of the table"));
      }
      if (assignments.empty()) continue;  // Only the key was present: nothing changes.
      statements.push_back(Make(Statement::Kind::kUpdate,
                                absl::StrCat("UPDATE ", target, " SET ",
                                             absl::StrJoin(assignments, ", "), " FROM ", stage,
                                             " WHERE ", absl::StrJoin(conditions, " AND "))));
    }
    for (size_t i = 0; i < staged.files.size(); ++i) {
      statements.push_back(Make(Statement::Kind::kDropStage,
                                absl::StrCat("DROP TABLE ", QuoteIdentifier(StageName(i)))));
    }
  }

  // The checkpoint, in the same transaction (one row per target table).
  const std::string checkpoints =
      QualifiedName(options.checkpoint_schema, kCheckpointTable);
  const std::string where =
      absl::StrCat(" WHERE \"target_schema\" = ", QuoteLiteral(dialect, batch.schema),
                   " AND \"target_table\" = ", QuoteLiteral(dialect, batch.table));
  statements.push_back(
      Make(Statement::Kind::kCheckpoint, absl::StrCat("DELETE FROM ", checkpoints, where)));
  const SourcePosition& position = batch.position;
  statements.push_back(Make(
      Statement::Kind::kCheckpoint,
      absl::StrCat("INSERT INTO ", checkpoints,
                   " (\"target_schema\", \"target_table\", \"lsn\", \"xid\", \"sequence\", "
                   "\"commit_time\", \"batch_sequence\", \"applied_at\") VALUES (",
                   QuoteLiteral(dialect, batch.schema), ", ", QuoteLiteral(dialect, batch.table),
                   ", ", OptionalNumber(position.lsn), ", ",
                   position.xid.has_value() ? absl::StrCat(*position.xid) : "NULL", ", ",
                   position.sequence, ", ",
                   position.commit_time.empty() ? "NULL"
                                                : QuoteLiteral(dialect, position.commit_time),
                   ", ", batch.sequence, ", ",
                   IsRedshift(dialect) ? "SYSDATE" : "(now() AT TIME ZONE 'UTC')", ")")));
  return statements;
}

std::vector<std::string> CheckpointTableSql(const RedshiftLoaderOptions& options) {
  // lsn is NUMERIC(20,0): an LSN is an unsigned 64-bit number, beyond BIGINT.
  // The same DDL serves both dialects.
  return {
      absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", QuoteIdentifier(options.checkpoint_schema)),
      absl::StrCat("CREATE TABLE IF NOT EXISTS ",
                   QualifiedName(options.checkpoint_schema, kCheckpointTable),
                   " (\"target_schema\" VARCHAR(512) NOT NULL, \"target_table\" VARCHAR(512) NOT "
                   "NULL, \"lsn\" NUMERIC(20,0), \"xid\" BIGINT, \"sequence\" BIGINT NOT NULL, "
                   "\"commit_time\" VARCHAR(64), \"batch_sequence\" BIGINT NOT NULL, "
                   "\"applied_at\" TIMESTAMP NOT NULL, "
                   "PRIMARY KEY (\"target_schema\", \"target_table\"))"),
  };
}

std::string ReadCheckpointSql(const RedshiftLoaderOptions& options, TargetDialect dialect,
                              absl::string_view schema, absl::string_view table) {
  return absl::StrCat(
      "SELECT \"lsn\", \"xid\", \"sequence\", \"commit_time\", \"applied_at\", "
      "\"batch_sequence\" FROM ",
      QualifiedName(options.checkpoint_schema, kCheckpointTable),
      " WHERE \"target_schema\" = ", QuoteLiteral(dialect, schema),
      " AND \"target_table\" = ", QuoteLiteral(dialect, table));
}

std::string DescribeTableSql(TargetDialect dialect, absl::string_view schema,
                             absl::string_view table) {
  // The catalogs, not information_schema: format_type gives the full type
  // (with length) on both dialects.
  return absl::StrCat(
      "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
      "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON a.attrelid = c.oid "
      "JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = ",
      QuoteLiteral(dialect, schema), " AND c.relname = ", QuoteLiteral(dialect, table),
      " AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum");
}

std::string LoadErrorsSql() {
  // "STL_LOAD_ERRORS" and "PG_LAST_COPY_ID": the COPY id is updated when a
  // COPY fails on invalid data, so this finds the rows of the failed load.
  return "SELECT TRIM(filename), line_number, TRIM(colname), TRIM(err_reason), "
         "TRIM(raw_field_value) FROM stl_load_errors WHERE query = pg_last_copy_id() "
         "ORDER BY line_number LIMIT 10";
}

}  // namespace re_dms
