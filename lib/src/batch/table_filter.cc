#include "re_dms/table_filter.h"

#include <fnmatch.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace re_dms {
namespace {

bool MatchesAny(const std::vector<std::string>& globs, const std::string& name) {
  for (const std::string& glob : globs) {
    if (fnmatch(glob.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<TableFilter> TableFilter::Create(TableFilterOptions options) {
  std::string pattern = options.partition_suffix;
  TableFilter filter(std::move(options));
  if (pattern.empty()) return filter;
  try {
    filter.suffix_ = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition suffix pattern `", pattern, "` is not a valid regular expression: ",
                     error.what()));
  }
  return filter;
}

bool TableFilter::Includes(absl::string_view schema, absl::string_view table) const {
  if (options_.include.empty() && options_.exclude.empty()) return true;
  const std::string name = absl::StrCat(schema, ".", table);
  if (!options_.include.empty() && !MatchesAny(options_.include, name)) return false;
  return !MatchesAny(options_.exclude, name);
}

std::string TableFilter::TargetName(absl::string_view table) const {
  std::string name(table);
  if (suffix_ == nullptr) return name;
  std::smatch match;
  if (!std::regex_search(name, match, *suffix_) || match.length(0) == 0 ||
      match.length(0) == static_cast<std::smatch::difference_type>(name.size())) {
    return name;
  }
  return name.erase(match.position(0), match.length(0));
}

}  // namespace re_dms
