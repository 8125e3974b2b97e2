#include "re_dms/value_styles.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace re_dms {
namespace {

// The value types whose text depends on the source session's settings.
enum class Style { kNone, kDate, kTimestamp, kTimestampTz, kInterval, kBytea };
// How values of a column's type hold them.
enum class Shape { kScalar, kArray, kRange };

struct TypeStyle {
  Style style = Style::kNone;
  Shape shape = Shape::kScalar;
};

// From the type as format_type_be prints it: `timestamp(3) with time zone`,
// `interval day to second`, `date[]`, `tstzrange`. Called per value, so it
// looks at the first character before comparing anything.
TypeStyle Classify(absl::string_view type) {
  TypeStyle result;
  if (type.empty()) return result;
  const char first = type[0];
  if (first != 'd' && first != 't' && first != 'i' && first != 'b') return result;
  if (absl::ConsumeSuffix(&type, "[]")) result.shape = Shape::kArray;
  if (type == "date") {
    result.style = Style::kDate;
  } else if (type == "bytea") {
    result.style = Style::kBytea;
  } else if (absl::StartsWith(type, "timestamp(") || absl::StartsWith(type, "timestamp ")) {
    result.style =
        absl::EndsWith(type, " with time zone") ? Style::kTimestampTz : Style::kTimestamp;
  } else if (type == "interval" || absl::StartsWith(type, "interval(") ||
             absl::StartsWith(type, "interval ")) {
    result.style = Style::kInterval;
  } else if (result.shape == Shape::kScalar) {
    // Ranges and multiranges print their bounds with the element type's
    // output function.
    if (type == "daterange" || type == "datemultirange") {
      result = {Style::kDate, Shape::kRange};
    } else if (type == "tsrange" || type == "tsmultirange") {
      result = {Style::kTimestamp, Shape::kRange};
    } else if (type == "tstzrange" || type == "tstzmultirange") {
      result = {Style::kTimestampTz, Shape::kRange};
    }
  }
  return result;
}

// A cursor over a value's text; each Take* consumes only on success.
struct Cursor {
  absl::string_view text;
  size_t pos = 0;

  bool AtEnd() const { return pos == text.size(); }
  bool Take(char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool Take(absl::string_view s) {
    if (absl::StartsWith(text.substr(pos), s)) {
      pos += s.size();
      return true;
    }
    return false;
  }
  // At least `min` digits; returns how many were taken (0 if fewer than min).
  size_t Digits(size_t min) {
    size_t end = pos;
    while (end < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) ++end;
    if (end - pos < min) return 0;
    const size_t count = end - pos;
    pos = end;
    return count;
  }
  bool ExactDigits(size_t n) {
    if (pos + n > text.size()) return false;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return false;
    }
    pos += n;
    return true;
  }
};

bool IsInfinity(absl::string_view text) { return text == "infinity" || text == "-infinity"; }

// `YYYY-MM-DD` (four or more year digits), as DateStyle ISO prints dates.
bool TakeIsoDate(Cursor* c) {
  return c->Digits(4) > 0 && c->Take('-') && c->ExactDigits(2) && c->Take('-') && c->ExactDigits(2);
}

bool IsIsoDate(absl::string_view text) {
  if (IsInfinity(text)) return true;
  Cursor c{text};
  if (!TakeIsoDate(&c)) return false;
  c.Take(" BC");
  return c.AtEnd();
}

// `YYYY-MM-DD HH:MM:SS[.f][+hh[:mm[:ss]]][ BC]`: ISO's form. A timestamptz
// always carries a numeric offset there; other DateStyles may print a zone
// abbreviation instead.
bool IsIsoTimestamp(absl::string_view text, bool with_zone) {
  if (IsInfinity(text)) return true;
  Cursor c{text};
  if (!TakeIsoDate(&c) || !c.Take(' ') || !c.ExactDigits(2) || !c.Take(':') || !c.ExactDigits(2) ||
      !c.Take(':') || !c.ExactDigits(2)) {
    return false;
  }
  if (c.Take('.') && c.Digits(1) == 0) return false;
  if (with_zone) {
    if (!c.Take('+') && !c.Take('-')) return false;
    if (!c.ExactDigits(2)) return false;
    for (int i = 0; i < 2 && c.Take(':'); ++i) {
      if (!c.ExactDigits(2)) return false;
    }
  }
  c.Take(" BC");
  return c.AtEnd();
}

// IntervalStyle postgres: `[+-]N year[s] [+-]N mon[s] [+-]N day[s]
// [+-]HH:MM:SS[.f]` (each part optional, at least one), hours at least two
// digits. sql_standard (`+1-2 +3 +4:05:06`, `3 4:05:06`, `0`), iso_8601
// (`P1Y2M`) and postgres_verbose (`@ 1 year`) fail. The pure time form with
// two-digit hours (`14:05:06`) is the same text with the same meaning in
// postgres and sql_standard, so it passes.
bool IsPostgresInterval(absl::string_view text) {
  if (IsInfinity(text)) return true;
  Cursor c{text};
  bool any = false;
  while (!c.AtEnd()) {
    if (any && !c.Take(' ')) return false;
    if (!c.Take('-')) c.Take('+');
    const size_t digits = c.Digits(1);
    if (digits == 0) return false;
    any = true;
    if (c.Take(':')) {
      // The time part comes last.
      if (digits < 2 || !c.ExactDigits(2) || !c.Take(':') || !c.ExactDigits(2)) return false;
      if (c.Take('.') && c.Digits(1) == 0) return false;
      return c.AtEnd();
    }
    if (!c.Take(' ')) return false;
    if (!(c.Take("years") || c.Take("year") || c.Take("mons") || c.Take("mon") || c.Take("days") ||
          c.Take("day"))) {
      return false;
    }
  }
  return any;
}

bool IsHexBytea(absl::string_view text) { return absl::StartsWith(text, "\\x"); }

bool ScalarOk(Style style, absl::string_view text) {
  switch (style) {
    case Style::kDate:
      return IsIsoDate(text);
    case Style::kTimestamp:
      return IsIsoTimestamp(text, false);
    case Style::kTimestampTz:
      return IsIsoTimestamp(text, true);
    case Style::kInterval:
      return IsPostgresInterval(text);
    case Style::kBytea:
      return IsHexBytea(text);
    case Style::kNone:
      return true;
  }
  return true;
}

// Checks each element of an array (`{a,"b c",NULL}`, `[1:2]={...}`), range
// (`[a,b)`, `empty`) or multirange (`{[a,b),[c,d)}`) literal; on failure
// sets *bad to the element. Quoted elements have their backslash escapes
// undone. Structure is not validated: PostgreSQL printed it.
bool ElementsOk(Style style, Shape shape, absl::string_view text, std::string* bad) {
  size_t i = 0;
  if (shape == Shape::kArray && !text.empty() && text[0] == '[') {
    // Explicit bounds: `[1:2]={...}`.
    const size_t equals = text.find('=');
    if (equals == absl::string_view::npos) return true;
    i = equals + 1;
  }
  auto structural = [](char c) {
    return c == '{' || c == '}' || c == '[' || c == ']' || c == '(' || c == ')' || c == ',';
  };
  std::string element;
  while (i < text.size()) {
    const char c = text[i];
    if (structural(c)) {
      ++i;
      continue;
    }
    element.clear();
    bool quoted = false;
    if (c == '"') {
      quoted = true;
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        element.push_back(text[i]);
      }
      ++i;  // The closing quote.
    } else {
      const size_t start = i;
      while (i < text.size() && !structural(text[i])) ++i;
      element.assign(text.data() + start, i - start);
    }
    if (!quoted && ((shape == Shape::kArray && element == "NULL") ||
                    (shape == Shape::kRange && element == "empty"))) {
      continue;
    }
    if (!ScalarOk(style, element)) {
      *bad = element;
      return false;
    }
  }
  return true;
}

// The value's beginning, for the message (a bytea may be megabytes).
std::string Excerpt(absl::string_view text) {
  constexpr size_t kMax = 48;
  std::string shown(text.substr(0, kMax));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  if (text.size() > kMax) shown += "...";
  return shown;
}

// The trailing alphabetic word of a timestamptz printed under a non-ISO
// DateStyle (`... 10:36:07 IST`, `... 10:36:07.5 IST BC`), or empty.
absl::string_view ZoneAbbreviation(absl::string_view text) {
  absl::ConsumeSuffix(&text, " BC");
  size_t start = text.size();
  while (start > 0 && absl::ascii_isalpha(static_cast<unsigned char>(text[start - 1]))) --start;
  if (start == text.size() || start == 0 || text[start - 1] != ' ') return {};
  return text.substr(start);
}

// Why `element` is not loadable, naming the setting: the middle of the
// message.
std::string Explain(Style style, absl::string_view element) {
  const std::string shown = absl::StrCat("'", Excerpt(element), "'");
  switch (style) {
    case Style::kDate:
    case Style::kTimestamp:
      return absl::StrCat(
          shown,
          " is not in ISO form (YYYY-MM-DD): the source session's DateStyle is not ISO, and the "
          "target would read day and month by its own DateStyle");
    case Style::kTimestampTz: {
      std::string text = absl::StrCat(shown, " is not in ISO form (YYYY-MM-DD hh:mm:ss+hh:mm)");
      const absl::string_view zone = ZoneAbbreviation(element);
      if (!zone.empty()) {
        absl::StrAppend(&text, " and carries the TimeZone abbreviation '", zone,
                        "' instead of a numeric offset (abbreviations are ambiguous: the target "
                        "reads them with its own timezone_abbreviations, e.g. IST is India's or "
                        "Israel's)");
      }
      absl::StrAppend(&text,
                      ": the source session's DateStyle is not ISO, and the target would read day "
                      "and month by its own DateStyle");
      return text;
    }
    case Style::kInterval:
      return absl::StrCat(shown,
                          " is not in IntervalStyle postgres: the source session's IntervalStyle "
                          "is sql_standard, iso_8601 or postgres_verbose, whose signs and fields "
                          "the target would not read the same way");
    case Style::kBytea:
      return absl::StrCat(shown,
                          " is not hex (\\x...): the source session's bytea_output is escape, "
                          "which the target would not decode to the same bytes (Redshift's "
                          "VARBYTE reads hex only)");
    case Style::kNone:
      break;
  }
  return shown;
}

absl::Status StyleError(const Record& record, const Column& column, Style style,
                        absl::string_view element, bool old_key) {
  return absl::FailedPreconditionError(absl::StrCat(
      "table ", record.table.schema, ".", record.table.name, ", column ", column.name, " (",
      column.type, old_key ? ", old key" : "", "), in the ", RecordKindName(record.kind),
      " at line ", record.line, ", byte offset ", record.offset, ": ", Explain(style, element),
      ". re_dms does not load a guess: run pg_recvlogical with the session settings re_dms "
      "reads, PGOPTIONS='",
      kPipeSessionOptions,
      "' (or options='...' in its conninfo; see README, Usage), and replay this transaction "
      "and the ones after it (pg_recvlogical has confirmed them to the slot)"));
}

absl::Status CheckColumns(const Record& record, const std::vector<Column>& columns, bool old_key) {
  for (const Column& column : columns) {
    if (column.kind != ValueKind::kText) continue;
    const TypeStyle type = Classify(column.type);
    if (type.style == Style::kNone) continue;
    if (type.shape == Shape::kScalar) {
      if (!ScalarOk(type.style, column.text)) {
        return StyleError(record, column, type.style, column.text, old_key);
      }
      continue;
    }
    std::string bad;
    if (!ElementsOk(type.style, type.shape, column.text, &bad)) {
      return StyleError(record, column, type.style, bad, old_key);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckValueStyles(const Record& record) {
  if (record.kind != RecordKind::kInsert && record.kind != RecordKind::kUpdate &&
      record.kind != RecordKind::kDelete) {
    return absl::OkStatus();
  }
  if (absl::Status status = CheckColumns(record, record.columns, false); !status.ok()) {
    return status;
  }
  return CheckColumns(record, record.old_key, true);
}

}  // namespace re_dms
