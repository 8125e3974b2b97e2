// Column types on the target, derived from the type names the source stream
// prints (format_type output, e.g. `character varying`, `numeric`, `integer[]`),
// and the value policies for what Redshift cannot hold. docs/type-mapping.md
// is the table this implements; keep the two in step.
//
// test_decoding prints types without modifiers, so `varchar(20)` arrives as
// `character varying` and `numeric(10,2)` as `numeric`. Both forms are
// accepted: a modifier, when present, is honoured.
//
// Redshift VARCHAR lengths count bytes while PostgreSQL's count characters, so
// a character-limited source column gets 4 bytes per character (UTF-8's
// maximum), capped at 65535; columns of unknown length start at 256 bytes and
// the loader widens them in place when a longer value arrives.

#ifndef RE_DMS_TYPE_MAPPING_H_
#define RE_DMS_TYPE_MAPPING_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "re_dms/value_formatter.h"

namespace re_dms {

// What to do with a value Redshift cannot hold (longer than the VARCHAR,
// VARBYTE or SUPER limit, a date beyond Redshift's range, a NaN numeric).
enum class OverflowPolicy {
  kFail,      // Default: an error naming table, column and key.
  kTruncate,  // Strings are cut at a UTF-8 character boundary and counted;
              // values that cannot be shortened (dates, NaN) still fail.
};

struct TypeMappingOptions {
  // json/jsonb as SUPER (default) or as VARCHAR(65535) holding the text.
  bool json_as_super = true;
  // Unconstrained `numeric` (what test_decoding always prints): as
  // NUMERIC(38, unconstrained_numeric_scale), rejecting values that would
  // need rounding, or, with numeric_as_varchar, the exact text in a VARCHAR.
  bool numeric_as_varchar = false;
  int unconstrained_numeric_scale = 10;
  OverflowPolicy overflow = OverflowPolicy::kFail;
};

// A Redshift column type and what values it accepts.
struct RedshiftType {
  enum class Family {
    kSmallint,
    kInteger,
    kBigint,
    kNumeric,
    kReal,
    kDouble,
    kBoolean,
    kVarchar,
    kChar,
    kDate,
    kTimestamp,
    kTimestamptz,
    kTime,
    kTimetz,
    kSuper,
    kVarbyte,
  };
  Family family = Family::kVarchar;
  // Bytes for kVarchar/kChar/kVarbyte/kSuper; precision and scale for kNumeric.
  int64_t length = 0;
  int precision = 0;
  int scale = 0;
  // Whether the loader may widen this VARCHAR when a longer value arrives (its
  // length was a guess, not the source's declared limit).
  bool widenable = false;

  // The type as written in DDL, e.g. `VARCHAR(256)`, `NUMERIC(38,10)`.
  std::string Sql() const;
};

inline constexpr int64_t kRedshiftMaxVarcharBytes = 65535;
// "Numeric types": "The maximum scale is 37".
inline constexpr int kRedshiftMaxNumericScale = 37;
inline constexpr int64_t kRedshiftInitialVarcharBytes = 256;
// SUPER holds up to 16 MB per value (Redshift "SUPER type" limitations).
inline constexpr int64_t kRedshiftMaxSuperBytes = 16 * 1024 * 1024;
// VARBYTE holds up to 1,024,000 bytes (Redshift "VARBYTE type").
inline constexpr int64_t kRedshiftMaxVarbyteBytes = 1024000;

// The Redshift type for a source column type.
RedshiftType RedshiftTypeFor(absl::string_view source_type, const TypeMappingOptions& options);

// The PostgreSQL target keeps the source type, as printed, for PostgreSQL's
// built-in types; other names (enums, domains, composite types: they need not
// exist in the target database) become `text`, which holds their output exactly.
std::string PostgresTypeFor(absl::string_view source_type);

// Rewrites `value` (the source's text output) into what Redshift's COPY loads
// as the same value in a column of `type`, applying the overflow policy:
//   bytea `\x0a0b` -> `0a0b` (VARBYTE loads hex from CSV);
//   numeric checked against precision/scale (never rounded), NaN/Infinity fail;
//   dates/timestamps in a form COPY does not document (BC, years of five or
//   more digits) and `infinity` fail;
//   timetz offsets beyond +/-14:59, float NaN/Infinity and subnormals fail;
//   SUPER values with a string over 65535 bytes or a repeated attribute name
//   in one object fail; an empty bytea fails under kFail (it would load NULL);
//   strings over the type's byte limit fail, or are cut at a UTF-8 boundary
//   under kTruncate, incrementing *truncated.
// `where` names the value for errors ("table s.t column c key (1)").
absl::Status FitValueForRedshift(const RedshiftType& type, OverflowPolicy policy,
                                 absl::string_view where, std::string* value, uint64_t* truncated);

// The longest prefix of `text` of at most `max_bytes` bytes that ends on a
// UTF-8 character boundary.
absl::string_view TruncateUtf8(absl::string_view text, size_t max_bytes);

// The CsvWriter hook for Redshift-bound files: applies FitValueForRedshift to
// every value of the columns whose type needs it (numeric, dates, bytea,
// strings and SUPER), so the file holds what Redshift loads as the same value
// and the overflow policy is enforced before upload -- Redshift's COPY would
// otherwise round numerics silently (it truncates to the column's scale unless
// ROUNDEC) or reject the whole load.
class RedshiftValueFormatter final : public ValueFormatter {
 public:
  explicit RedshiftValueFormatter(TypeMappingOptions options) : options_(options) {}

  bool Formats(const ColumnDef& column) const override;
  absl::Status Format(const ColumnDef& column, absl::string_view text,
                      std::string* out) const override;

  // Values shortened under OverflowPolicy::kTruncate so far.
  uint64_t truncated_values() const { return truncated_.load(); }

 private:
  TypeMappingOptions options_;
  mutable std::atomic<uint64_t> truncated_{0};
};

}  // namespace re_dms

#endif  // RE_DMS_TYPE_MAPPING_H_
