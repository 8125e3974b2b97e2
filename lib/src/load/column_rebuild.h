// Changed column types on Redshift. Redshift's ALTER COLUMN TYPE only
// lengthens a VARCHAR ("ALTER TABLE", ALTER COLUMN column_name TYPE
// updated_varchar_data_type_size); any other type change rebuilds the
// column the way AWS describes for it: add a column of the new type, copy
// the values over with a cast, drop the old column, rename the new one
// (each an ALTER TABLE that may run in a transaction block on a regular
// table, so the rebuild commits with the batch). The column moves to the
// end of the table, which the loader does not mind (it names columns).

#ifndef RE_DMS_LIB_SRC_COLUMN_REBUILD_H_
#define RE_DMS_LIB_SRC_COLUMN_REBUILD_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/src/load/merge_sql.h"
#include "re_dms/batch.h"
#include "re_dms/type_mapping.h"

namespace re_dms {

// The family of a Redshift column as format_type() prints it; nullopt for a
// type re_dms does not create (then no rebuild is attempted).
std::optional<RedshiftType::Family> RedshiftCatalogFamily(absl::string_view catalog_type);

// The rebuilds for the batch's columns whose mapped Redshift type is of
// another family than the target column's. A key column cannot be rebuilt
// (Redshift does not drop a DISTKEY or SORTKEY column, and the merge joins
// on it): an error naming the table, column and fix.
absl::StatusOr<std::vector<Statement>> RebuildChangedColumns(
    const TypeMappingOptions& mapping, const Batch& batch,
    const std::vector<TargetColumn>& existing);

}  // namespace re_dms

#endif  // RE_DMS_LIB_SRC_COLUMN_REBUILD_H_
