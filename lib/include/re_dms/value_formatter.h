// ValueFormatter: how CsvWriter turns a column's PostgreSQL text into the
// text the target loads, supplied by the target's dialect (for example bytea
// `\x..` as bare hex for a Redshift VARBYTE, timestamptz converted to UTC).

#ifndef RE_DMS_VALUE_FORMATTER_H_
#define RE_DMS_VALUE_FORMATTER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "re_dms/batch.h"

namespace re_dms {

class ValueFormatter {
 public:
  virtual ~ValueFormatter() = default;

  // Whether values of `column` need Format at all. CsvWriter asks once per
  // column of a data set and copies the text of the others unchanged, which
  // keeps the common case free of per-value calls.
  virtual bool Formats(const ColumnDef& column) const = 0;

  // Appends to `*out` the target's text for `text`, a non-NULL value of
  // `column` exactly as PostgreSQL printed it. A value the target cannot
  // represent is an InvalidArgument saying why; CsvWriter adds the table,
  // column and row key. Must be safe to call from several threads.
  virtual absl::Status Format(const ColumnDef& column, absl::string_view text,
                              std::string* out) const = 0;
};

// The default: PostgreSQL's text, unchanged, for every column.
class PostgresTextFormatter final : public ValueFormatter {
 public:
  bool Formats(const ColumnDef&) const override { return false; }
  absl::Status Format(const ColumnDef&, absl::string_view text, std::string* out) const override {
    out->append(text.data(), text.size());
    return absl::OkStatus();
  }
};

}  // namespace re_dms

#endif  // RE_DMS_VALUE_FORMATTER_H_
