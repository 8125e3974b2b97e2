#include "re_dms/type_mapping.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

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

// Dates and timestamps: only what the guide documents COPY to read is passed
// on. "Datetime types" gives Redshift's range (4713 BC to 294276 AD), but
// "DATEFORMAT and TIMEFORMAT strings" and "Using automatic recognition with
// DATEFORMAT and TIMEFORMAT" list no era marker and no year of more than four
// digits, so PostgreSQL's `0044-03-15 BC` or `10000-01-01` would be read in an
// undocumented way (or rejected by the whole COPY). Such values fail here,
// naming table, column and key; `infinity` has no Redshift equivalent at all.
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
  if (absl::EndsWith(value, " BC")) {
    return absl::OutOfRangeError(
        absl::StrCat(where, ": `", value,
                     "` is a BC date; Redshift's COPY documents no format for an era "
                     "(DATEFORMAT and TIMEFORMAT strings), so it is not loaded"));
  }
  if (dash > 4 || year > 9999) {
    return absl::OutOfRangeError(
        absl::StrCat(where, ": `", value,
                     "` has a year of more than four digits; Redshift's COPY documents "
                     "only YYYY (DATEFORMAT and TIMEFORMAT strings), so it is not loaded"));
  }
  return absl::OkStatus();
}

// TIMETZ: "Datetime types" documents offsets up to +14:59 / -14:59 (IANA's
// range); PostgreSQL accepts up to 15:59. `hh:mm:ss[.f]+hh[:mm[:ss]]`.
absl::Status FitTimetz(absl::string_view where, absl::string_view value) {
  size_t sign = value.find_last_of("+-");
  if (sign == absl::string_view::npos) return absl::OkStatus();
  std::vector<absl::string_view> parts = absl::StrSplit(value.substr(sign + 1), ':');
  int hours = 0, minutes = 0, seconds = 0;
  if (!absl::SimpleAtoi(parts[0], &hours) ||
      (parts.size() > 1 && !absl::SimpleAtoi(parts[1], &minutes)) ||
      (parts.size() > 2 && !absl::SimpleAtoi(parts[2], &seconds))) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": `", value, "` is not a PostgreSQL timetz"));
  }
  if (hours * 3600 + minutes * 60 + seconds > 14 * 3600 + 59 * 60 || seconds != 0) {
    return absl::OutOfRangeError(
        absl::StrCat(where, ": `", value,
                     "` has a UTC offset Redshift's TIMETZ does not document (up to "
                     "+/-14:59, whole minutes)"));
  }
  return absl::OkStatus();
}

// REAL / DOUBLE PRECISION: "Numeric types" (Floating-point types) documents
// neither NaN nor infinities for COPY, and gives REAL 6 significant digits
// with a smallest normal magnitude of about 1E-37 (DOUBLE 1E-307). PostgreSQL
// prints NaN, +-Infinity and subnormals such as 1e-45; each fails here
// instead of loading as whatever COPY makes of it.
absl::Status FitFloat(const RedshiftType& type, absl::string_view where, absl::string_view value) {
  if (absl::EqualsIgnoreCase(value, "NaN") || absl::StrContains(value, "nfinity")) {
    return absl::OutOfRangeError(
        absl::StrCat(where, ": `", value, "` has no documented Redshift ", type.Sql(),
                     " form (Numeric types); map the column to VARCHAR to keep it"));
  }
  std::string text(value);
  errno = 0;
  char* end = nullptr;
  double number = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": `", value, "` is not a floating-point number"));
  }
  const double smallest = type.family == Family::kReal ? 1.17549435e-38 : 2.2250738585072014e-308;
  if (number != 0 && std::fabs(number) < smallest) {
    return absl::OutOfRangeError(
        absl::StrCat(where, ": `", value, "` is a subnormal ", type.Sql(),
                     "; Redshift documents no range that holds it (Numeric types)"));
  }
  return absl::OkStatus();
}

// SUPER from CSV is parsed as JSON by COPY. Two documented limits would fail
// the whole COPY with an error that names neither column nor key, so they are
// checked here: limitations-super "a single string value loaded to SUPER is
// limited to the maximum VARCHAR length of 65535 bytes", and
// super-configurations "The same attribute name cannot appear in the same
// object" (PostgreSQL `json` keeps duplicate keys; `jsonb` never has them).
class SuperChecker : public nlohmann::json::json_sax_t {
 public:
  std::string problem;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& value) override { return CheckString(value, "string value"); }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& value) override {
    if (!CheckString(value, "attribute name")) return false;
    if (!keys_.back().insert(value).second) {
      problem = absl::StrCat("attribute `", TruncateUtf8(value, 64),
                             "` appears twice in one object; SUPER allows each name once "
                             "(super-configurations)");
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    problem = absl::StrCat("not valid JSON at byte ", position);
    return false;
  }

 private:
  bool CheckString(const string_t& value, absl::string_view what) {
    if (static_cast<int64_t>(value.size()) <= kRedshiftMaxVarcharBytes) return true;
    problem = absl::StrCat("a ", what, " of ", value.size(),
                           " bytes; SUPER holds strings of at most 65535 bytes "
                           "(limitations-super)");
    return false;
  }
  std::vector<std::set<std::string>> keys_;
};

absl::Status FitSuper(absl::string_view where, absl::string_view value) {
  SuperChecker checker;
  nlohmann::json::sax_parse(value.begin(), value.end(), &checker);
  if (checker.problem.empty()) return absl::OkStatus();
  return absl::OutOfRangeError(
      absl::StrCat(where, ": json value has ", checker.problem,
                   "; map json to VARCHAR (json_as_super = false) to keep it as text"));
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
    // "Numeric types": precision up to 38, scale from 0 to 37 and not above
    // the precision. PostgreSQL 15 also allows numeric(2,5) or numeric(3,-2);
    // those keep their exact text in a VARCHAR.
    const int64_t scale = parsed.modifiers.size() > 1 ? parsed.modifiers[1] : 0;
    if (!parsed.modifiers.empty() && parsed.modifiers[0] <= 38 && scale >= 0 &&
        scale <= kRedshiftMaxNumericScale && scale <= parsed.modifiers[0]) {
      RedshiftType type = Simple(Family::kNumeric);
      type.precision = static_cast<int>(parsed.modifiers[0]);
      type.scale = static_cast<int>(scale);
      return type;
    }
    if (!parsed.modifiers.empty() || options.numeric_as_varchar) {
      return Varchar(kRedshiftInitialVarcharBytes, true);
    }
    RedshiftType type = Simple(Family::kNumeric);
    type.precision = 38;
    type.scale = std::clamp(options.unconstrained_numeric_scale, 0, kRedshiftMaxNumericScale);
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
    case Family::kTimetz:
      return FitTimetz(where, *value);
    case Family::kReal:
    case Family::kDouble:
      return FitFloat(type, where, *value);
    case Family::kVarbyte:
      if (!absl::StartsWith(*value, "\\x")) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": bytea value is not in hex output format (set bytea_output = hex)"));
      }
      value->erase(0, 2);
      if (value->empty() && policy == OverflowPolicy::kFail) {
        // t_preparing-input-data: "Empty fields for other data types, such
        // as INT, are always loaded with NULL"; nothing documents an empty
        // VARBYTE from CSV, so an empty bytea would probably read back NULL.
        return absl::OutOfRangeError(absl::StrCat(
            where,
            ": empty bytea; Redshift's COPY loads an empty non-character field as NULL "
            "(Preparing your input data), so it is not loaded (OverflowPolicy::kTruncate "
            "loads it anyway)"));
      }
      if (static_cast<int64_t>(value->size()) / 2 > type.length) {
        return absl::OutOfRangeError(absl::StrCat(where, ": bytea value of ", value->size() / 2,
                                                  " bytes exceeds VARBYTE's ", type.length));
      }
      return absl::OkStatus();
    case Family::kVarchar:
    case Family::kChar:
    case Family::kSuper: {
      if (type.family == Family::kSuper) {
        absl::Status status = FitSuper(where, *value);
        if (!status.ok()) return status;
      }
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
    case Family::kReal:
    case Family::kDouble:
    case Family::kTimetz:
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
