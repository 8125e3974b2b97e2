#include "re_dms/type_mapping.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace re_dms {
namespace {

using Family = RedshiftType::Family;

// A type name split into base name, modifiers and array-ness:
// `timestamp(3) with time zone` -> {"timestamp with time zone", {3}}.
struct ParsedType {
  std::string base;
  std::vector<int64_t> modifiers;
  bool is_array = false;
};

ParsedType Parse(absl::string_view type) {
  ParsedType parsed;
  type = absl::StripAsciiWhitespace(type);
  while (absl::ConsumeSuffix(&type, "[]")) parsed.is_array = true;
  size_t open = type.find('(');
  size_t close = type.find(')', open);
  if (open != absl::string_view::npos && close != absl::string_view::npos &&
      type[0] != '"') {
    for (absl::string_view part : absl::StrSplit(type.substr(open + 1, close - open - 1), ',')) {
      int64_t number = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &number)) {
        parsed.modifiers.push_back(number);
      }
    }
    parsed.base = absl::StrCat(absl::StripAsciiWhitespace(type.substr(0, open)),
                               type.substr(close + 1));
  } else {
    parsed.base = std::string(type);
  }
  return parsed;
}

RedshiftType Varchar(int64_t bytes, bool widenable) {
  RedshiftType type;
  type.family = Family::kVarchar;
  type.length = std::min(bytes, kRedshiftMaxVarcharBytes);
  type.widenable = widenable && type.length < kRedshiftMaxVarcharBytes;
  return type;
}

RedshiftType Simple(Family family) {
  RedshiftType type;
  type.family = family;
  return type;
}

// Types PostgreSQL knows in every database, as format_type prints them.
constexpr absl::string_view kPostgresBuiltins[] = {
    "smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean",
    "text", "character varying", "character", "\"char\"", "name", "bytea", "date",
    "timestamp without time zone", "timestamp with time zone", "time without time zone",
    "time with time zone", "interval", "json", "jsonb", "uuid", "xml", "money", "inet",
    "cidr", "macaddr", "macaddr8", "bit", "bit varying", "point", "line", "lseg", "box",
    "path", "polygon", "circle", "tsvector", "tsquery", "oid", "pg_lsn", "int4range",
    "int8range", "numrange", "tsrange", "tstzrange", "daterange", "int4multirange",
    "int8multirange", "nummultirange", "tsmultirange", "tstzmultirange", "datemultirange",
    "jsonpath", "txid_snapshot", "pg_snapshot", "regclass", "regtype", "xid", "xid8", "cid",
    "tid"};

bool IsDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// Checks a numeric's text against NUMERIC(precision, scale) without rounding.
absl::Status FitNumeric(const RedshiftType& type, absl::string_view where, absl::string_view value) {
  absl::string_view digits = value;
  absl::ConsumePrefix(&digits, "-");
  absl::ConsumePrefix(&digits, "+");
  absl::string_view integer = digits, fraction;
  size_t dot = digits.find('.');
  if (dot != absl::string_view::npos) {
    integer = digits.substr(0, dot);
    fraction = digits.substr(dot + 1);
  }
  if (!IsDigits(integer) || (dot != absl::string_view::npos && !fraction.empty() && !IsDigits(fraction))) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": numeric value `", value, "` has no Redshift NUMERIC equivalent (NaN and "
        "Infinity are not representable); map numeric to VARCHAR to keep it"));
  }
  while (integer.size() > 1 && integer[0] == '0') integer.remove_prefix(1);
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  int integer_digits = integer == "0" ? 0 : static_cast<int>(integer.size());
  if (integer_digits > type.precision - type.scale || static_cast<int>(fraction.size()) > type.scale) {
    return absl::OutOfRangeError(absl::StrCat(
        where, ": numeric value `", value, "` does not fit ", type.Sql(),
        " without rounding; raise the scale or map numeric to VARCHAR"));
  }
  return absl::OkStatus();
}

// Redshift dates run from 4713 BC to 294276 AD (Redshift "Datetime types").
absl::Status FitDate(absl::string_view where, absl::string_view value) {
  if (absl::StrContains(value, "infinity")) {
    return absl::OutOfRangeError(
        absl::StrCat(where, ": `", value, "` has no Redshift equivalent"));
  }
  size_t dash = value.find('-');
  int64_t year = 0;
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(value.substr(0, dash), &year)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": `", value, "` is not an ISO date (set DateStyle ISO on the source)"));
  }
  bool bc = absl::EndsWith(value, " BC");
  if ((!bc && year > 294276) || (bc && year > 4713)) {
    return absl::OutOfRangeError(
        absl::StrCat(where, ": `", value, "` is outside Redshift's date range (4713 BC to 294276 AD)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string RedshiftType::Sql() const {
  switch (family) {
    case Family::kSmallint: return "SMALLINT";
    case Family::kInteger: return "INTEGER";
    case Family::kBigint: return "BIGINT";
    case Family::kNumeric: return absl::StrCat("NUMERIC(", precision, ",", scale, ")");
    case Family::kReal: return "REAL";
    case Family::kDouble: return "DOUBLE PRECISION";
    case Family::kBoolean: return "BOOLEAN";
    case Family::kVarchar: return absl::StrCat("VARCHAR(", length, ")");
    case Family::kChar: return absl::StrCat("CHAR(", length, ")");
    case Family::kDate: return "DATE";
    case Family::kTimestamp: return "TIMESTAMP";
    case Family::kTimestamptz: return "TIMESTAMPTZ";
    case Family::kTime: return "TIME";
    case Family::kTimetz: return "TIMETZ";
    case Family::kSuper: return "SUPER";
    case Family::kVarbyte: return absl::StrCat("VARBYTE(", length, ")");
  }
  return "VARCHAR(65535)";
}

RedshiftType RedshiftTypeFor(absl::string_view source_type, const TypeMappingOptions& options) {
  ParsedType parsed = Parse(source_type);
  // Arrays, ranges and everything without a Redshift counterpart keep
  // PostgreSQL's text form.
  if (parsed.is_array) return Varchar(kRedshiftMaxVarcharBytes, false);
  const std::string& base = parsed.base;
  if (base == "smallint") return Simple(Family::kSmallint);
  if (base == "integer") return Simple(Family::kInteger);
  if (base == "bigint" || base == "oid" || base == "xid") return Simple(Family::kBigint);
  if (base == "real") return Simple(Family::kReal);
  if (base == "double precision") return Simple(Family::kDouble);
  if (base == "boolean") return Simple(Family::kBoolean);
  if (base == "date") return Simple(Family::kDate);
  if (base == "timestamp without time zone") return Simple(Family::kTimestamp);
  if (base == "timestamp with time zone") return Simple(Family::kTimestamptz);
  if (base == "time without time zone") return Simple(Family::kTime);
  if (base == "time with time zone") return Simple(Family::kTimetz);
  if (base == "numeric") {
    if (!parsed.modifiers.empty() && parsed.modifiers[0] <= 38) {
      RedshiftType type = Simple(Family::kNumeric);
      type.precision = static_cast<int>(parsed.modifiers[0]);
      type.scale = parsed.modifiers.size() > 1 ? static_cast<int>(parsed.modifiers[1]) : 0;
      return type;
    }
    if (!parsed.modifiers.empty() || options.numeric_as_varchar) {
      return Varchar(kRedshiftInitialVarcharBytes, true);
    }
    RedshiftType type = Simple(Family::kNumeric);
    type.precision = 38;
    type.scale = options.unconstrained_numeric_scale;
    return type;
  }
  if (base == "character varying" || base == "character") {
    // char(n) keeps its blank padding as text: Redshift CHAR is single-byte only.
    if (!parsed.modifiers.empty()) return Varchar(parsed.modifiers[0] * 4, false);
    return Varchar(kRedshiftInitialVarcharBytes, true);
  }
  if (base == "text" || base == "xml") return Varchar(kRedshiftMaxVarcharBytes, false);
  if (base == "json" || base == "jsonb") {
    if (!options.json_as_super) return Varchar(kRedshiftMaxVarcharBytes, false);
    RedshiftType type = Simple(Family::kSuper);
    type.length = kRedshiftMaxSuperBytes;
    return type;
  }
  if (base == "bytea") {
    RedshiftType type = Simple(Family::kVarbyte);
    type.length = kRedshiftMaxVarbyteBytes;
    return type;
  }
  if (base == "uuid") {
    RedshiftType type = Simple(Family::kChar);
    type.length = 36;
    return type;
  }
  // interval, inet/cidr, money, enums, domains, ranges, geometric, ...
  return Varchar(kRedshiftInitialVarcharBytes, true);
}

std::string PostgresTypeFor(absl::string_view source_type) {
  ParsedType parsed = Parse(source_type);
  // test_decoding prints types without typmods, and a bare `character` or
  // `bit` means length 1: char(5) and bit(4) values would not fit. Their
  // unbounded forms accept the same text exactly (padding included).
  if (parsed.modifiers.empty()) {
    if (parsed.base == "character") return parsed.is_array ? "bpchar[]" : "bpchar";
    if (parsed.base == "bit") return parsed.is_array ? "bit varying[]" : "bit varying";
  }
  for (absl::string_view builtin : kPostgresBuiltins) {
    if (parsed.base == builtin) return std::string(absl::StripAsciiWhitespace(source_type));
  }
  return parsed.is_array ? "text[]" : "text";
}

absl::string_view TruncateUtf8(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the
  // character that does not fit.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

absl::Status FitValueForRedshift(const RedshiftType& type, OverflowPolicy policy,
                                 absl::string_view where, std::string* value,
                                 uint64_t* truncated) {
  switch (type.family) {
    case Family::kNumeric:
      return FitNumeric(type, where, *value);
    case Family::kDate:
    case Family::kTimestamp:
    case Family::kTimestamptz:
      return FitDate(where, *value);
    case Family::kVarbyte:
      if (!absl::StartsWith(*value, "\\x")) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": bytea value is not in hex output format (set bytea_output = hex)"));
      }
      value->erase(0, 2);
      if (static_cast<int64_t>(value->size()) / 2 > type.length) {
        return absl::OutOfRangeError(absl::StrCat(where, ": bytea value of ", value->size() / 2,
                                                  " bytes exceeds VARBYTE's ", type.length));
      }
      return absl::OkStatus();
    case Family::kVarchar:
    case Family::kChar:
    case Family::kSuper: {
      // Widenable columns grow to the Redshift maximum, so that is the limit.
      int64_t limit = type.widenable ? kRedshiftMaxVarcharBytes : type.length;
      if (static_cast<int64_t>(value->size()) <= limit) return absl::OkStatus();
      if (policy == OverflowPolicy::kTruncate && type.family != Family::kSuper) {
        value->resize(TruncateUtf8(*value, static_cast<size_t>(limit)).size());
        if (truncated != nullptr) ++*truncated;
        return absl::OkStatus();
      }
      return absl::OutOfRangeError(absl::StrCat(where, ": value of ", value->size(),
                                                " bytes exceeds ", type.Sql(), "'s ", limit,
                                                "-byte limit"));
    }
    default:
      return absl::OkStatus();
  }
}

bool RedshiftValueFormatter::Formats(const ColumnDef& column) const {
  switch (RedshiftTypeFor(column.type, options_).family) {
    case Family::kNumeric:
    case Family::kDate:
    case Family::kTimestamp:
    case Family::kTimestamptz:
    case Family::kVarbyte:
    case Family::kVarchar:
    case Family::kChar:
    case Family::kSuper:
      return true;
    default:
      return false;
  }
}

absl::Status RedshiftValueFormatter::Format(const ColumnDef& column, absl::string_view text,
                                            std::string* out) const {
  std::string value(text);
  uint64_t truncated = 0;
  absl::Status status = FitValueForRedshift(RedshiftTypeFor(column.type, options_),
                                            options_.overflow, absl::StrCat("column ", column.name),
                                            &value, &truncated);
  if (!status.ok()) return absl::InvalidArgumentError(status.message());
  truncated_ += truncated;
  out->append(value);
  return absl::OkStatus();
}

}  // namespace re_dms
