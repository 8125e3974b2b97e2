// "Move row" (Batch::moves) as SQL for both dialects: part of the loader's
// merge (merge_sql.h), in the batch's transaction, before its deletes.

#ifndef RE_DMS_LIB_SRC_MOVE_SQL_H_
#define RE_DMS_LIB_SRC_MOVE_SQL_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "lib/src/load/merge_sql.h"

namespace re_dms {

// For a moves data set staged (new key, then old key under
// StagedFile::kMoveFromPrefix) in `stage`: copies each target row found at an
// old key, with its key replaced by the new one, into a temporary table
// first, so that moves whose keys form a chain or a cycle read the rows as
// they were before the batch; then replaces the rows at the new keys with
// the copies. Replay-safe for moves that do not form a cycle: once applied,
// the old key holds no row, so a replay copies nothing and leaves the new
// key's row alone (its partial upsert is idempotent).
std::vector<Statement> MoveRows(const Batch& batch, absl::string_view stage, size_t index,
                                const std::vector<TargetColumn>& target_columns);

// The target column a moves data set's column is staged as: `name` itself,
// or the key column it names after the prefix.
absl::string_view MovedColumnName(absl::string_view name);

}  // namespace re_dms

#endif  // RE_DMS_LIB_SRC_MOVE_SQL_H_
