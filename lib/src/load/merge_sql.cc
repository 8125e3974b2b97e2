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

// The type and options of a column the loader creates (CREATE TABLE, ADD
// COLUMN). On Redshift a VARCHAR whose length is a guess must stay alterable
// (r_ALTER_TABLE): "You can't alter columns with UNIQUE, PRIMARY KEY, or
// FOREIGN KEY constraints", so a key column starts at the maximum width and is
// never widened; and "You can't alter a column with compression encodings
// BYTEDICT, RUNLENGTH, TEXT255, or TEXT32K", which ENCODE AUTO may choose, so
// a widenable column is ENCODE ZSTD (c_Compression_encodings; this turns the
// table's ENCODE AUTO off, and the other columns get the documented defaults).
std::string NewColumnType(const RedshiftLoaderOptions& options, TargetDialect dialect,
                          const ColumnDef& column, bool key) {
  if (!IsRedshift(dialect)) return PostgresTypeFor(column.type);
  RedshiftType type = RedshiftTypeFor(column.type, options.type_mapping);
  if (!type.widenable) return type.Sql();
  if (key) return absl::StrCat("VARCHAR(", kRedshiftMaxVarcharBytes, ")");
  return absl::StrCat(type.Sql(), " ENCODE ZSTD");
}

// r_CREATE_TABLE_NEW: DISTKEY and SORTKEY columns must be BOOLEAN, REAL,
// DOUBLE PRECISION, SMALLINT, INTEGER, BIGINT, DECIMAL, DATE, TIME, TIMETZ,
// TIMESTAMP, TIMESTAMPTZ, CHAR or VARCHAR; limitations-super: "You can't
// define SUPER columns as either a distribution or sort key". VARBYTE is not
// in the list either.
bool CanBeDistOrSortKey(const RedshiftLoaderOptions& options, absl::string_view source_type) {
  switch (RedshiftTypeFor(source_type, options.type_mapping).family) {
    case RedshiftType::Family::kSuper:
    case RedshiftType::Family::kVarbyte:
      return false;
    default:
      return true;
  }
}

bool IsCharacterType(absl::string_view catalog_type) {
  return absl::StartsWith(catalog_type, "character");  // character varying(n), character(n)
}

// Expressions over `expr` (of catalog type `type`) that are all equal exactly
// when the values are the same, usable in GROUP BY and PARTITION BY.
// PostgreSQL: the text output, since some types (json, point, xml) have no
// equality operator; both sides are rendered by the same session, so settings
// such as TimeZone affect them alike. Redshift:
//   - SUPER cannot be grouped or compared directly: its serialization, as
//     VARBYTE (JSON_SERIALIZE_TO_VARBYTE) since JSON_SERIALIZE "returns an
//     error when the JSON format exceeds the varchar limit" of 65535 bytes,
//     while a VARBYTE holds up to 16,777,216 bytes ("VARBYTE type"), as much
//     as a SUPER value, and can be joined on and grouped by;
//   - CHAR/VARCHAR compare with trailing blanks insignificant
//     (r_Character_types) and, in a database created COLLATE
//     CASE_INSENSITIVE, ignoring case: 'a' = 'a ' and 'A' = 'a' there, never
//     in PostgreSQL. So the value under COLLATE(..., 'case_sensitive')
//     (r_COLLATE) and its OCTET_LENGTH, which counts trailing blanks: two
//     strings equal ignoring trailing blanks and of the same length are the
//     same bytes;
//   - everything else: the value itself.
std::vector<std::string> ComparableParts(TargetDialect dialect, absl::string_view type,
                                         absl::string_view expr) {
  if (!IsRedshift(dialect)) return {absl::StrCat("CAST(", expr, " AS text)")};
  if (absl::EqualsIgnoreCase(type, "super")) {
    return {absl::StrCat("JSON_SERIALIZE_TO_VARBYTE(", expr, ")")};
  }
  if (IsCharacterType(type)) {
    return {absl::StrCat("COLLATE(", expr, ", 'case_sensitive')"),
            absl::StrCat("OCTET_LENGTH(", expr, ")")};
  }
  return {std::string(expr)};
}

// `left = right` for key columns of catalog type `type` (never NULL), with
// PostgreSQL's meaning on both dialects (see ComparableParts).
std::string KeyEqual(TargetDialect dialect, absl::string_view type, absl::string_view left,
                     absl::string_view right) {
  if (!IsRedshift(dialect)) return absl::StrCat(left, " = ", right);
  std::vector<std::string> left_parts = ComparableParts(dialect, type, left);
  std::vector<std::string> right_parts = ComparableParts(dialect, type, right);
  std::vector<std::string> conditions;
  for (size_t i = 0; i < left_parts.size(); ++i) {
    conditions.push_back(absl::StrCat(left_parts[i], " = ", right_parts[i]));
  }
  return absl::StrJoin(conditions, " AND ");
}

std::string CatalogType(const std::vector<TargetColumn>& columns, absl::string_view name) {
  const TargetColumn* column = FindColumn(columns, name);
  return column != nullptr ? column->type : "";
}

// `text`, formatted as CsvWriter writes values of `column`, as a constant of
// the target type `type` holding what COPY loads from that text. A plain CAST
// does that except on Redshift for VARBYTE, where it would take the text's
// UTF-8 bytes rather than decode the hex ("TO_VARBYTE function"), and SUPER,
// where it would make a string scalar rather than parse the JSON
// ("JSON_PARSE function"; COPY from CSV parses SUPER values as JSON: "Using
// COPY to load data into SUPER columns").
std::string TypedConstant(const RedshiftLoaderOptions& options, TargetDialect dialect,
                          const ColumnDef& column, absl::string_view type, absl::string_view text) {
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
  return absl::StrCat("(", left, " = ", right, " OR (", left, " IS NULL AND ", right, " IS NULL))");
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
    case Compression::kGzip:
      return " GZIP";
    case Compression::kZstd:
      return " ZSTD";
    case Compression::kNone:
      return "";
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
//     conversion parameters", from csv_dialect.h (kRedshiftCsv). NULL AS '\0'
//     for every column: copy-parameters-data-conversion documents "If a field
//     contains only NUL, you can use NULL AS to replace the null terminator
//     with NULL by specifying '\0'" without limiting it to CHAR/VARCHAR, and
//     it is the only marker no PostgreSQL value can hold. That non-character
//     columns (BIGINT, NUMERIC, TIMESTAMPTZ, BOOLEAN, SUPER, VARBYTE) read it
//     as NULL is the one part not spelled out ("Preparing your input data"
//     speaks of CHAR and VARCHAR): scripts/redshift-check loads a NULL of
//     every type to show it on a real cluster.
//   ZSTD | GZIP -- "File compression parameters": the CsvWriter's compression.
//   DATEFORMAT 'auto' TIMEFORMAT 'auto' -- "DATEFORMAT and TIMEFORMAT strings"
//     / "Using automatic recognition": accepts PostgreSQL's ISO output,
//     including fractional seconds and `+hh` offsets for TIMESTAMPTZ. Forms
//     these pages do not list (BC, five-digit years) are refused before
//     upload (type_mapping.h).
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
    return absl::FailedPreconditionError(
        absl::StrCat("data set ", index, " has ", file.s3_uris.size(),
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
    auth = absl::StrCat(" ACCESS_KEY_ID ",
                        QuoteLiteral(TargetDialect::kRedshift, credentials->access_key_id),
                        " SECRET_ACCESS_KEY ",
                        QuoteLiteral(TargetDialect::kRedshift, credentials->secret_access_key));
    redacted = " ACCESS_KEY_ID '<redacted>' SECRET_ACCESS_KEY '<redacted>'";
    if (!credentials->session_token.empty()) {
      absl::StrAppend(&auth, " SESSION_TOKEN ",
                      QuoteLiteral(TargetDialect::kRedshift, credentials->session_token));
      absl::StrAppend(&redacted, " SESSION_TOKEN '<redacted>'");
    }
  }
  std::string head =
      absl::StrCat("COPY ", QuoteIdentifier(StageName(index)), " (", QuotedList(file.columns),
                   ") FROM ", QuoteLiteral(TargetDialect::kRedshift, source));
  std::string tail =
      absl::StrCat(" ", kRedshiftCsv.copy_options, CompressionKeyword(staged.compression), manifest,
                   " DATEFORMAT 'auto' TIMEFORMAT 'auto'"
                   " COMPUPDATE OFF STATUPDATE OFF");
  if (!options.s3_region.empty()) {
    absl::StrAppend(&tail, " REGION ", QuoteLiteral(TargetDialect::kRedshift, options.s3_region));
  }
  Statement statement =
      Make(Statement::Kind::kCopy, absl::StrCat(head, auth, tail), static_cast<int>(index));
  statement.loggable = absl::StrCat(head, redacted, tail);
  return statement;
}

// DELETE ... USING `stage` WHERE the key columns match.
Statement DeleteByKey(TargetDialect dialect, const Batch& batch, absl::string_view stage,
                      const std::vector<TargetColumn>& target_columns) {
  std::vector<std::string> conditions;
  const std::string target = TargetName(batch);
  for (const std::string& key : batch.key_columns) {
    conditions.push_back(KeyEqual(dialect, CatalogType(target_columns, key),
                                  absl::StrCat(target, ".", QuoteIdentifier(key)),
                                  absl::StrCat(QuoteIdentifier(stage), ".", QuoteIdentifier(key))));
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
  size_t parts = 0;
  for (size_t c = 0; c < file.columns.size(); ++c) {
    const std::string& name = file.columns[c];
    const std::string type = CatalogType(target_columns, name);
    const std::string quoted = QuoteIdentifier(name);
    std::vector<std::string> staged = ComparableParts(dialect, type, quoted);
    std::vector<std::string> in_target =
        ComparableParts(dialect, type, absl::StrCat(alias, ".", quoted));
    std::vector<std::string> in_delete =
        ComparableParts(dialect, type, absl::StrCat(target, ".", quoted));
    for (size_t p = 0; p < staged.size(); ++p, ++parts) {
      // The first part keeps the column's name; further parts (Redshift's
      // string lengths) get helper names.
      const std::string counted =
          p == 0 ? quoted : QuoteIdentifier(absl::StrCat("re_dms_c", c, "_", p));
      grouped.push_back(absl::StrCat(staged[p], " AS ", counted));
      partition.push_back(in_target[p]);
      join.push_back(NullSafeEqual(in_target[p], absl::StrCat(counts, ".", counted)));
      match.push_back(NullSafeEqual(in_delete[p], absl::StrCat(counts, ".", counted)));
    }
  }
  for (const TargetColumn& column : target_columns) all_columns.push_back(column.name);
  // GROUP BY positions: the same expressions as selected, on both dialects.
  std::vector<std::string> positions;
  for (size_t i = 1; i <= parts; ++i) positions.push_back(absl::StrCat(i));
  std::vector<Statement> statements;
  statements.push_back(
      Make(Statement::Kind::kDelete,
           absl::StrCat("CREATE TEMP TABLE ", counts, " AS SELECT ", absl::StrJoin(grouped, ", "),
                        ", COUNT(*) AS \"re_dms_n\" FROM ", QuoteIdentifier(stage), " GROUP BY ",
                        absl::StrJoin(positions, ", "))));
  statements.push_back(
      Make(Statement::Kind::kDelete,
           absl::StrCat("CREATE TEMP TABLE ", keep, " AS SELECT ", QuotedList(all_columns),
                        " FROM (SELECT ", QuotedList(all_columns, absl::StrCat(alias, ".")),
                        ", ROW_NUMBER() OVER (PARTITION BY ", absl::StrJoin(partition, ", "),
                        ") AS \"re_dms_rn\", ", counts, ".\"re_dms_n\" FROM ", target, " AS ",
                        alias, " JOIN ", counts, " ON ", absl::StrJoin(join, " AND "),
                        ") AS \"re_dms_matches\" WHERE \"re_dms_rn\" > \"re_dms_n\"")));
  statements.push_back(
      Make(Statement::Kind::kDelete, absl::StrCat("DELETE FROM ", target, " USING ", counts,
                                                  " WHERE ", absl::StrJoin(match, " AND "))));
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
    return absl::InvalidArgumentError(
        absl::StrCat("identifier `", name.substr(0, 40), "...` is ", name.size(), " bytes; ",
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
    case Statement::Kind::kSchema:
      return "schema change";
    case Statement::Kind::kCreateStage:
      return "create staging table";
    case Statement::Kind::kCopy:
      return "COPY";
    case Statement::Kind::kAnalyze:
      return "ANALYZE";
    case Statement::Kind::kMeasure:
      return "measure VARCHAR widths";
    case Statement::Kind::kMove:
      return "move row";
    case Statement::Kind::kDelete:
      return "DELETE";
    case Statement::Kind::kInsert:
      return "INSERT";
    case Statement::Kind::kUpdate:
      return "UPDATE";
    case Statement::Kind::kTruncate:
      return "TRUNCATE";
    case Statement::Kind::kCheckpoint:
      return "checkpoint";
    case Statement::Kind::kDropStage:
      return "drop staging table";
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
  if (batch.kind == Batch::Kind::kRenameTable) {
    // Nothing to rename when the table never reached the target.
    if (!existing.has_value()) return statements;
    const std::string renamed = QualifiedName(batch.renamed_schema, batch.renamed_table);
    // The source had no table of the new name when it renamed: a target
    // table of that name is a leftover (a dropped table kept by
    // --on-source-drop=keep).
    statements.push_back(
        Make(Statement::Kind::kSchema, absl::StrCat("DROP TABLE IF EXISTS ", renamed)));
    if (batch.renamed_schema == batch.schema) {
      // Both dialects (Redshift "ALTER TABLE": RENAME TO new_name, in a
      // transaction block).
      statements.push_back(
          Make(Statement::Kind::kSchema, absl::StrCat("ALTER TABLE ", target, " RENAME TO ",
                                                      QuoteIdentifier(batch.renamed_table))));
      return statements;
    }
    statements.push_back(
        Make(Statement::Kind::kSchema,
             absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", QuoteIdentifier(batch.renamed_schema))));
    if (IsRedshift(dialect)) {
      // Redshift's ALTER TABLE cannot move a table to another schema; CREATE
      // TABLE ... (LIKE ...) keeps its columns, encodings, distribution and
      // sort keys ("CREATE TABLE": LIKE parent_table).
      statements.push_back(
          Make(Statement::Kind::kSchema,
               absl::StrCat("CREATE TABLE ", renamed, " (LIKE ", target, " INCLUDING DEFAULTS)")));
      statements.push_back(Make(Statement::Kind::kInsert,
                                absl::StrCat("INSERT INTO ", renamed, " SELECT * FROM ", target)));
      statements.push_back(Make(Statement::Kind::kSchema, absl::StrCat("DROP TABLE ", target)));
      return statements;
    }
    statements.push_back(
        Make(Statement::Kind::kSchema, absl::StrCat("ALTER TABLE ", target, " SET SCHEMA ",
                                                    QuoteIdentifier(batch.renamed_schema))));
    if (batch.renamed_table != batch.table) {
      statements.push_back(
          Make(Statement::Kind::kSchema,
               absl::StrCat("ALTER TABLE ", QualifiedName(batch.renamed_schema, batch.table),
                            " RENAME TO ", QuoteIdentifier(batch.renamed_table))));
    }
    return statements;
  }
  if (!existing.has_value()) {
    if (batch.columns.empty()) {
      // A TRUNCATE of a table never seen with rows: nothing to create or empty.
      return statements;
    }
    statements.push_back(
        Make(Statement::Kind::kSchema,
             absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", QuoteIdentifier(batch.schema))));
    std::vector<std::string> definitions;
    for (const ColumnDef& column : batch.columns) {
      const bool key = std::find(batch.key_columns.begin(), batch.key_columns.end(), column.name) !=
                       batch.key_columns.end();
      definitions.push_back(absl::StrCat(QuoteIdentifier(column.name), " ",
                                         NewColumnType(options, dialect, column, key)));
    }
    if (!batch.key_columns.empty()) {
      // Informational on Redshift ("Defining table constraints"): it is not
      // enforced, the merge keeps keys unique.
      definitions.push_back(absl::StrCat("PRIMARY KEY (", QuotedList(batch.key_columns), ")"));
    }
    std::string sql =
        absl::StrCat("CREATE TABLE ", target, " (", absl::StrJoin(definitions, ", "), ")");
    if (IsRedshift(dialect)) {
      RedshiftTableLayout layout;
      auto custom = options.layouts.find(absl::StrCat(batch.schema, ".", batch.table));
      if (custom != options.layouts.end()) {
        layout = custom->second;
        std::vector<std::string> named = layout.sortkey;
        if (layout.distkey.has_value()) named.push_back(*layout.distkey);
        for (const std::string& name : named) {
          auto column = std::find_if(batch.columns.begin(), batch.columns.end(),
                                     [&](const ColumnDef& c) { return c.name == name; });
          if (column == batch.columns.end()) {
            return absl::InvalidArgumentError(
                absl::StrCat("table ", target, ": the configured layout names column ",
                             QuoteIdentifier(name), ", which the table does not have"));
          }
          if (!CanBeDistOrSortKey(options, column->type)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "table ", target, " column ", QuoteIdentifier(name), ": a ",
                RedshiftTypeFor(column->type, options.type_mapping).Sql(),
                " column cannot be a DISTKEY or SORTKEY (CREATE TABLE); change the layout"));
          }
        }
      } else {
        // The key columns that may be keys of the layout, in key order; a
        // table whose key has none gets DISTSTYLE AUTO and no sort key.
        for (const std::string& key : batch.key_columns) {
          auto column = std::find_if(batch.columns.begin(), batch.columns.end(),
                                     [&](const ColumnDef& c) { return c.name == key; });
          if (column == batch.columns.end() || !CanBeDistOrSortKey(options, column->type)) {
            continue;
          }
          if (!layout.distkey.has_value()) layout.distkey = key;
          layout.sortkey.push_back(key);
        }
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
  // DDL capture's column renames, then its re-added columns: a target column
  // of such a name holds the dropped column's values, so it goes, and the
  // ADD COLUMN below makes it anew.
  std::vector<TargetColumn> target_now = *existing;
  for (const auto& [from, to] : batch.renamed_columns) {
    auto column = std::find_if(target_now.begin(), target_now.end(),
                               [&](const TargetColumn& c) { return c.name == from; });
    if (column == target_now.end() || FindColumn(target_now, to) != nullptr) continue;
    statements.push_back(Make(Statement::Kind::kSchema,
                              absl::StrCat("ALTER TABLE ", target, " RENAME COLUMN ",
                                           QuoteIdentifier(from), " TO ", QuoteIdentifier(to))));
    column->name = to;
  }
  for (const std::string& name : batch.added_columns) {
    auto column = std::find_if(target_now.begin(), target_now.end(),
                               [&](const TargetColumn& c) { return c.name == name; });
    if (column == target_now.end()) continue;
    if (IsRedshift(dialect) && (column->distkey || column->sortkey != 0)) {
      // r_ALTER_TABLE: a DISTKEY or SORTKEY column cannot be dropped.
      return absl::FailedPreconditionError(absl::StrCat(
          "table ", target, " column ", QuoteIdentifier(name),
          ": the source dropped and added the column again, but it is the target's DISTKEY or a "
          "SORTKEY column, which Redshift cannot drop; re-create the target table and re-sync it"));
    }
    statements.push_back(
        Make(Statement::Kind::kSchema,
             absl::StrCat("ALTER TABLE ", target, " DROP COLUMN ", QuoteIdentifier(name))));
    target_now.erase(column);
  }
  for (const ColumnDef& column : batch.columns) {
    if (FindColumn(target_now, column.name) != nullptr) continue;
    const std::string type = TargetTypeFor(options, dialect, column.type);
    // Never a key column of the table: its PRIMARY KEY was declared at CREATE.
    statements.push_back(
        Make(Statement::Kind::kSchema,
             absl::StrCat("ALTER TABLE ", target, " ADD COLUMN ", QuoteIdentifier(column.name), " ",
                          NewColumnType(options, dialect, column, /*key=*/false))));
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
    statements.push_back(
        Make(Statement::Kind::kUpdate,
             absl::StrCat("UPDATE ", target, " SET ", QuoteIdentifier(column.name), " = ",
                          TypedConstant(options, dialect, column, type, value))));
  }
  if (!IsRedshift(dialect)) {
    // A source column whose type changed (ALTER COLUMN TYPE at the source):
    // convert through the text form, which is what the stream carries. Any
    // batch, not only kSchemaChange: a run that starts after the change
    // first sees the new type in an ordinary batch.
    // Redshift: see column_rebuild.h.
    for (const ColumnDef& column : batch.columns) {
      const TargetColumn* current = FindColumn(target_now, column.name);
      const std::string wanted = PostgresTypeFor(column.type);
      if (current == nullptr || current->type == wanted) continue;
      const std::string name = QuoteIdentifier(column.name);
      statements.push_back(
          Make(Statement::Kind::kSchema,
               absl::StrCat("ALTER TABLE ", target, " ALTER COLUMN ", name, " TYPE ", wanted,
                            " USING CAST(CAST(", name, " AS text) AS ", wanted, ")")));
    }
  }
  if (IsRedshift(dialect)) {
    absl::StatusOr<std::vector<Statement>> rebuilds =
        RebuildChangedColumns(options.type_mapping, batch, target_now);
    if (!rebuilds.ok()) return rebuilds.status();
    for (Statement& statement : *rebuilds) statements.push_back(std::move(statement));
  }
  if (batch.kind == Batch::Kind::kSchemaChange && options.drop_removed_columns) {
    for (const TargetColumn& column : target_now) {
      bool kept = std::any_of(batch.columns.begin(), batch.columns.end(),
                              [&](const ColumnDef& c) { return c.name == column.name; });
      if (kept) continue;
      // r_ALTER_TABLE: "You can't drop a column that is the distribution key
      // (DISTKEY) or a sort key (SORTKEY)". Such a column stays, NULL for new
      // rows, as every removed column does without drop_removed_columns.
      if (IsRedshift(dialect) && (column.distkey || column.sortkey != 0)) continue;
      statements.push_back(Make(
          Statement::Kind::kSchema,
          absl::StrCat("ALTER TABLE ", target, " DROP COLUMN ", QuoteIdentifier(column.name))));
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
                                                 TargetDialect dialect, const StagedBatch& staged,
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
          return absl::FailedPreconditionError(
              absl::StrCat("data set ", i, " has column `", name, "` that the target table lacks"));
        }
        definitions.push_back(
            absl::StrCat(QuoteIdentifier(name), " ", StageType(dialect, *column)));
      }
      statements.push_back(Make(
          Statement::Kind::kCreateStage,
          absl::StrCat("CREATE TEMP TABLE ", stage, " (", absl::StrJoin(definitions, ", "), ")")));
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
        statements.push_back(Make(Statement::Kind::kCopy,
                                  absl::StrCat("COPY ", stage, " (", QuotedList(file.columns),
                                               ") FROM STDIN (", kPostgresCsv.copy_options, ")"),
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
          statements.push_back(DeleteByKey(dialect, batch, StageName(i), target_columns));
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
        if (keyed) statements.push_back(DeleteByKey(dialect, batch, StageName(i), target_columns));
        statements.push_back(
            Make(Statement::Kind::kInsert,
                 absl::StrCat("INSERT INTO ", target, " (", QuotedList(file.columns), ") SELECT ",
                              QuotedList(file.columns), " FROM ", stage)));
        continue;
      }
      if (!keyed) {
        return absl::FailedPreconditionError(
            absl::StrCat("data set ", i,
                         " updates some columns of a table without a key; a keyless "
                         "table's rows can only be inserted and deleted whole"));
      }
      // Partial rows (unchanged TOAST columns omitted): update what is present.
      std::vector<std::string> assignments, conditions;
      for (const std::string& name : file.columns) {
        if (std::find(batch.key_columns.begin(), batch.key_columns.end(), name) !=
            batch.key_columns.end()) {
          conditions.push_back(KeyEqual(dialect, CatalogType(target_columns, name),
                                        absl::StrCat(target, ".", QuoteIdentifier(name)),
                                        absl::StrCat(stage, ".", QuoteIdentifier(name))));
        } else {
          assignments.push_back(
              absl::StrCat(QuoteIdentifier(name), " = ", stage, ".", QuoteIdentifier(name)));
        }
      }
      if (conditions.size() != batch.key_columns.size()) {
        return absl::FailedPreconditionError(
            absl::StrCat("data set ", i, " lacks key columns of the table"));
      }
      if (assignments.empty()) continue;  // Only the key was present: nothing changes.
      statements.push_back(
          Make(Statement::Kind::kUpdate,
               absl::StrCat("UPDATE ", target, " SET ", absl::StrJoin(assignments, ", "), " FROM ",
                            stage, " WHERE ", absl::StrJoin(conditions, " AND "))));
    }
    for (size_t i = 0; i < staged.files.size(); ++i) {
      statements.push_back(Make(Statement::Kind::kDropStage,
                                absl::StrCat("DROP TABLE ", QuoteIdentifier(StageName(i)))));
    }
  }

  // The checkpoint, in the same transaction (one row per target table).
  // applied_at is UTC on both dialects: on Redshift SYSDATE is "in the current
  // session time zone" (r_SYSDATE), which SessionSetupSql sets to UTC.
  const std::string checkpoints = QualifiedName(options.checkpoint_schema, kCheckpointTable);
  auto where = [&](absl::string_view schema, absl::string_view table) {
    return absl::StrCat(" WHERE \"target_schema\" = ", QuoteLiteral(dialect, schema),
                        " AND \"target_table\" = ", QuoteLiteral(dialect, table));
  };
  // A renamed table's checkpoint goes with it, and its old name keeps one
  // at the rename: a replay from before the rename finds its transactions on
  // the old name applied, rather than a table to create anew.
  std::vector<std::pair<std::string, std::string>> names = {{batch.schema, batch.table}};
  if (batch.kind == Batch::Kind::kRenameTable) {
    names.emplace_back(batch.renamed_schema, batch.renamed_table);
  }
  const SourcePosition& position = batch.position;
  for (const auto& [schema, table] : names) {
    // The old name's row is the one with batch_sequence 0 (see AlreadyApplied).
    const uint64_t batch_sequence =
        &table == &names.front().second && names.size() > 1 ? 0 : batch.sequence;
    statements.push_back(Make(Statement::Kind::kCheckpoint,
                              absl::StrCat("DELETE FROM ", checkpoints, where(schema, table))));
    statements.push_back(Make(
        Statement::Kind::kCheckpoint,
        absl::StrCat(
            "INSERT INTO ", checkpoints,
            " (\"target_schema\", \"target_table\", \"lsn\", \"xid\", \"sequence\", "
            "\"commit_time\", \"batch_sequence\", \"applied_at\") VALUES (",
            QuoteLiteral(dialect, schema), ", ", QuoteLiteral(dialect, table), ", ",
            OptionalNumber(position.lsn), ", ",
            position.xid.has_value() ? absl::StrCat(*position.xid) : "NULL", ", ",
            position.sequence, ", ",
            position.commit_time.empty() ? "NULL" : QuoteLiteral(dialect, position.commit_time),
            ", ", batch_sequence, ", ",
            IsRedshift(dialect) ? "SYSDATE" : "(now() AT TIME ZONE 'UTC')", ")")));
  }
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

std::string LoadErrorsSql(const StagedFile& file) {
  // SYS_LOAD_ERROR_DETAIL: session_id is "the process identifier of the
  // process running the copy" (pg_backend_pid()), file_name "the complete path
  // to the input file", character(256) so compared trimmed.
  std::vector<std::string> objects;
  for (const std::string& uri : file.s3_uris) {
    objects.push_back(QuoteLiteral(TargetDialect::kRedshift, uri));
  }
  if (objects.empty()) objects.push_back("''");
  return absl::StrCat(
      "SELECT TRIM(file_name), line_number, TRIM(column_name), TRIM(error_message), "
      "TRIM(column_type) FROM sys_load_error_detail WHERE session_id = pg_backend_pid() AND "
      "TRIM(file_name) IN (",
      absl::StrJoin(objects, ", "), ") ORDER BY start_time DESC, line_number LIMIT 10");
}

std::string ColumnRolesSql(absl::string_view schema, absl::string_view table) {
  return absl::StrCat(
      "SELECT column_name, distkey, sortkey, TRIM(encoding) FROM svv_redshift_columns "
      "WHERE database_name = CURRENT_DATABASE() AND schema_name = ",
      QuoteLiteral(TargetDialect::kRedshift, schema),
      " AND table_name = ", QuoteLiteral(TargetDialect::kRedshift, table));
}

absl::Status CheckWidenable(const Batch& batch, const TargetColumn& column, int64_t needed_bytes) {
  const std::string what =
      absl::StrCat("table ", TargetName(batch), " column ", QuoteIdentifier(column.name), " (",
                   column.type, ") must hold a value of ", needed_bytes, " bytes");
  if (std::find(batch.key_columns.begin(), batch.key_columns.end(), column.name) !=
      batch.key_columns.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what,
        ", but it is a key column and Redshift cannot alter a PRIMARY KEY column "
        "(ALTER TABLE); recreate the table with the column as VARCHAR(65535), as re_dms "
        "creates key columns, and re-sync it"));
  }
  for (absl::string_view encoding : {"bytedict", "runlength", "text255", "text32k"}) {
    if (absl::EqualsIgnoreCase(column.encoding, encoding)) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ", but it is encoded ", column.encoding,
                       " and Redshift cannot alter such a column (ALTER TABLE); run ALTER TABLE ",
                       TargetName(batch), " ALTER COLUMN ", QuoteIdentifier(column.name),
                       " ENCODE ZSTD, then restart"));
    }
  }
  return absl::OkStatus();
}

std::vector<SessionSetting> SessionSetupSql(const RedshiftLoaderOptions& options,
                                            TargetDialect dialect) {
  if (!IsRedshift(dialect)) {
    // PostgreSQL: literals are written with only quotes doubled; intervals are
    // read in the style the stream carries; floats the merge renders as text
    // (CAST(... AS text) comparisons) keep every digit; staged files are UTF-8
    // whatever the target database's encoding. Redshift has neither
    // IntervalStyle (intervals load as VARCHAR there) nor values the loader
    // reads back as text, and speaks UTF-8 only, so it needs none of these.
    std::vector<SessionSetting> settings = {{"SET standard_conforming_strings = on", "", {}},
                                            {"SET IntervalStyle = postgres", "", {}},
                                            {"SET extra_float_digits = 3", "", {}},
                                            {"SET client_encoding = 'UTF8'", "", {}}};
    // Redshift has no lock_timeout; there --statement-timeout bounds a wait.
    if (options.lock_timeout > absl::ZeroDuration()) {
      settings.push_back(
          {absl::StrCat("SET lock_timeout = ",
                        std::max<int64_t>(1, absl::ToInt64Milliseconds(options.lock_timeout))),
           "",
           {}});
    }
    return settings;
  }
  std::vector<SessionSetting> settings;
  if (options.case_sensitive_identifiers) {
    // r_enable_case_sensitive_identifier: without it quoted names fold to
    // lower case too; SHOW proves that the cluster accepted it.
    settings.push_back({"SET enable_case_sensitive_identifier TO true",
                        "SHOW enable_case_sensitive_identifier",
                        {"on", "true"}});
  }
  // r_timezone_config; SYSDATE is "in the current session time zone".
  settings.push_back({"SET timezone TO 'UTC'", "SHOW timezone", {"UTC", "utc"}});
  return settings;
}

absl::Status CheckIdentifierCase(const RedshiftLoaderOptions& options, TargetDialect dialect,
                                 absl::string_view name) {
  if (!IsRedshift(dialect) || options.case_sensitive_identifiers) return absl::OkStatus();
  if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return absl::InvalidArgumentError(
        absl::StrCat("identifier `", name,
                     "` has upper-case letters, which Redshift folds to lower case "
                     "unless enable_case_sensitive_identifier is on (Names and identifiers); turn "
                     "case_sensitive_identifiers back on or rename it"));
  }
  return absl::OkStatus();
}

}  // namespace re_dms
