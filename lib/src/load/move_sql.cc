#include "lib/src/load/move_sql.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace re_dms {

absl::string_view MovedColumnName(absl::string_view name) {
  absl::ConsumePrefix(&name, StagedFile::kMoveFromPrefix);
  return name;
}

std::vector<Statement> MoveRows(const Batch& batch, absl::string_view stage, size_t index,
                                const std::vector<TargetColumn>& target_columns) {
  const std::string target =
      absl::StrCat(QuoteIdentifier(batch.schema), ".", QuoteIdentifier(batch.table));
  const std::string alias = QuoteIdentifier("re_dms_t");
  const std::string staged = QuoteIdentifier(stage);
  const std::string moved = QuoteIdentifier(absl::StrCat("re_dms_moved_", index));
  auto is_key = [&](const std::string& name) {
    return std::find(batch.key_columns.begin(), batch.key_columns.end(), name) !=
           batch.key_columns.end();
  };
  // Every column the target has, the kept ones the source dropped included:
  // a move keeps the whole row.
  std::vector<std::string> selected, names;
  for (const TargetColumn& column : target_columns) {
    const std::string name = QuoteIdentifier(column.name);
    names.push_back(name);
    selected.push_back(is_key(column.name) ? absl::StrCat(staged, ".", name, " AS ", name)
                                           : absl::StrCat(alias, ".", name));
  }
  std::vector<std::string> from_old, at_new;
  for (const std::string& key : batch.key_columns) {
    const std::string name = QuoteIdentifier(key);
    // Key columns are never NULL (primary key or replica identity index).
    from_old.push_back(absl::StrCat(alias, ".", name, " = ", staged, ".",
                                    QuoteIdentifier(StagedFile::kMoveFromPrefix + key)));
    at_new.push_back(absl::StrCat(target, ".", name, " = ", moved, ".", name));
  }
  auto make = [](Statement::Kind kind, std::string sql) {
    return Statement{kind, sql, sql, -1, {}};
  };
  const std::string columns = absl::StrJoin(names, ", ");
  return {
      make(Statement::Kind::kMove,
           absl::StrCat("CREATE TEMP TABLE ", moved, " AS SELECT ", absl::StrJoin(selected, ", "),
                        " FROM ", target, " AS ", alias, " JOIN ", staged, " ON ",
                        absl::StrJoin(from_old, " AND "))),
      make(Statement::Kind::kMove, absl::StrCat("DELETE FROM ", target, " USING ", moved,
                                                " WHERE ", absl::StrJoin(at_new, " AND "))),
      make(Statement::Kind::kMove, absl::StrCat("INSERT INTO ", target, " (", columns,
                                                ") SELECT ", columns, " FROM ", moved)),
      make(Statement::Kind::kDropStage, absl::StrCat("DROP TABLE ", moved)),
  };
}

}  // namespace re_dms
