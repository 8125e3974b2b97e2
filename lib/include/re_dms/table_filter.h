// TableFilter: which source tables replicate, and under which target name.
//
// Tables are selected by shell globs (fnmatch(3): `*`, `?`, `[...]`) over the
// unquoted `schema.table` name of the source table, e.g. `public.*` or
// `sales.order_*`. A table replicates when it matches some include glob (or
// there are none) and no exclude glob.
//
// Partitions can be renamed to their parent so that all of them land in one
// target table: a regular expression (ECMAScript syntax), anchored by the
// user, e.g. `_p\d+$` or `_\d{4}_\d{2}$`, whose first match is cut from the
// table name (`orders_2024_01` -> `orders`). This mirrors the seed's
// PARTITION_SUFFIX_REGEXP.

#ifndef RE_DMS_TABLE_FILTER_H_
#define RE_DMS_TABLE_FILTER_H_

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re_dms {

struct TableFilterOptions {
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  // Empty: no renaming.
  std::string partition_suffix;
};

class TableFilter {
 public:
  // Fails with InvalidArgument when partition_suffix is not a valid regex.
  static absl::StatusOr<TableFilter> Create(TableFilterOptions options);

  // Whether changes to schema.table replicate.
  bool Includes(absl::string_view schema, absl::string_view table) const;

  // The target table's name for source table `table`: the name without the
  // partition suffix when it has one, the name unchanged otherwise. An empty
  // result (the whole name matched) keeps the name unchanged.
  std::string TargetName(absl::string_view table) const;

  // Whether TargetName() can differ from the source name.
  bool renames() const { return suffix_ != nullptr; }

 private:
  explicit TableFilter(TableFilterOptions options) : options_(std::move(options)) {}

  TableFilterOptions options_;
  std::shared_ptr<const std::regex> suffix_;
};

}  // namespace re_dms

#endif  // RE_DMS_TABLE_FILTER_H_
