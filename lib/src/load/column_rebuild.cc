#include "lib/src/load/column_rebuild.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace re_dms {

std::optional<RedshiftType::Family> RedshiftCatalogFamily(absl::string_view type) {
  using Family = RedshiftType::Family;
  if (type == "smallint") return Family::kSmallint;
  if (type == "integer") return Family::kInteger;
  if (type == "bigint") return Family::kBigint;
  if (absl::StartsWith(type, "numeric")) return Family::kNumeric;
  if (type == "real") return Family::kReal;
  if (type == "double precision") return Family::kDouble;
  if (type == "boolean") return Family::kBoolean;
  if (absl::StartsWith(type, "character varying")) return Family::kVarchar;
  if (absl::StartsWith(type, "character")) return Family::kChar;
  if (type == "date") return Family::kDate;
  if (type == "timestamp without time zone") return Family::kTimestamp;
  if (type == "timestamp with time zone") return Family::kTimestamptz;
  if (type == "time without time zone") return Family::kTime;
  if (type == "time with time zone") return Family::kTimetz;
  if (type == "super") return Family::kSuper;
  if (absl::StartsWith(type, "varbyte") || absl::StartsWith(type, "binary varying")) {
    return Family::kVarbyte;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<Statement>> RebuildChangedColumns(
    const TypeMappingOptions& mapping, const Batch& batch,
    const std::vector<TargetColumn>& existing) {
  using Family = RedshiftType::Family;
  const std::string target =
      absl::StrCat(QuoteIdentifier(batch.schema), ".", QuoteIdentifier(batch.table));
  std::vector<Statement> statements;
  auto add = [&](std::string sql) {
    statements.push_back(Statement{Statement::Kind::kSchema, sql, sql, -1, {}});
  };
  for (const ColumnDef& column : batch.columns) {
    const TargetColumn* current = nullptr;
    for (const TargetColumn& candidate : existing) {
      if (candidate.name == column.name) current = &candidate;
    }
    if (current == nullptr) continue;
    const std::optional<Family> have = RedshiftCatalogFamily(current->type);
    const RedshiftType wanted = RedshiftTypeFor(column.type, mapping);
    if (!have.has_value() || *have == wanted.family) continue;
    // Text of another length or padding: VARCHAR widening covers it.
    auto is_text = [](Family family) {
      return family == Family::kVarchar || family == Family::kChar;
    };
    if (is_text(*have) && is_text(wanted.family)) continue;
    if (std::find(batch.key_columns.begin(), batch.key_columns.end(), column.name) !=
        batch.key_columns.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "table ", target, " column ", QuoteIdentifier(column.name),
          ": the source changed the "
          "key column's type to ",
          column.type, " (target: ", current->type,
          "); Redshift cannot rebuild a key column (DISTKEY/SORTKEY), so re-create the target "
          "table and re-sync it"));
    }
    const std::string name = QuoteIdentifier(column.name);
    const std::string temporary = QuoteIdentifier(absl::StrCat("re_dms_new_", column.name));
    add(absl::StrCat("ALTER TABLE ", target, " ADD COLUMN ", temporary, " ", wanted.Sql()));
    // Through the text form, which is what the source's USING produced the
    // new values from as far as the stream shows (its later changes carry
    // them as text too). A value that does not convert fails the batch
    // naming this statement.
    add(absl::StrCat("UPDATE ", target, " SET ", temporary, " = CAST(CAST(", name, " AS VARCHAR(",
                     kRedshiftMaxVarcharBytes, ")) AS ", wanted.Sql(), ")"));
    add(absl::StrCat("ALTER TABLE ", target, " DROP COLUMN ", name));
    add(absl::StrCat("ALTER TABLE ", target, " RENAME COLUMN ", temporary, " TO ", name));
  }
  return statements;
}

}  // namespace re_dms
