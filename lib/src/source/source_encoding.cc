#include "re_dms/source_encoding.h"

#include <errno.h>
#include <iconv.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace re_dms {
namespace {

// PostgreSQL's server encodings (https://www.postgresql.org/docs/15/multibyte.html,
// "PostgreSQL Character Sets", Server = Yes) by glibc iconv's names. Not
// MULE_INTERNAL: iconv has no such encoding. Where PostgreSQL's and glibc's
// tables differ for a code point, glibc's is used.
struct EncodingName {
  const char* postgres;
  const char* iconv;
};
constexpr EncodingName kEncodings[] = {
    {"EUC_CN", "EUC-CN"},
    {"EUC_JP", "EUC-JP"},
    {"EUC_JIS_2004", "EUC-JISX0213"},
    {"EUC_KR", "EUC-KR"},
    {"EUC_TW", "EUC-TW"},
    {"ISO_8859_5", "ISO-8859-5"},
    {"ISO_8859_6", "ISO-8859-6"},
    {"ISO_8859_7", "ISO-8859-7"},
    {"ISO_8859_8", "ISO-8859-8"},
    {"KOI8R", "KOI8-R"},
    {"KOI8U", "KOI8-U"},
    {"LATIN1", "ISO-8859-1"},
    {"LATIN2", "ISO-8859-2"},
    {"LATIN3", "ISO-8859-3"},
    {"LATIN4", "ISO-8859-4"},
    {"LATIN5", "ISO-8859-9"},
    {"LATIN6", "ISO-8859-10"},
    {"LATIN7", "ISO-8859-13"},
    {"LATIN8", "ISO-8859-14"},
    {"LATIN9", "ISO-8859-15"},
    {"LATIN10", "ISO-8859-16"},
    {"UTF8", "UTF-8"},
    {"WIN866", "CP866"},
    {"WIN874", "CP874"},
    {"WIN1250", "CP1250"},
    {"WIN1251", "CP1251"},
    {"WIN1252", "CP1252"},
    {"WIN1253", "CP1253"},
    {"WIN1254", "CP1254"},
    {"WIN1255", "CP1255"},
    {"WIN1256", "CP1256"},
    {"WIN1257", "CP1257"},
    {"WIN1258", "CP1258"},
};

// PostgreSQL accepts names in any case and with or without `_`/`-` in
// places (`utf-8`, `Latin1`); so does this lookup.
std::string Normalized(absl::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '-' || c == '_') continue;
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

const EncodingName* Find(absl::string_view name) {
  const std::string wanted = Normalized(name);
  for (const EncodingName& encoding : kEncodings) {
    if (Normalized(encoding.postgres) == wanted) return &encoding;
  }
  return nullptr;
}

size_t FirstNonAscii(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) >= 0x80) return i;
  }
  return absl::string_view::npos;
}

std::string Hex(unsigned char byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof(buffer), "0x%02X", byte);
  return buffer;
}

// A name that may still hold unconverted bytes, printable in a message (logs
// are UTF-8, JSON among them).
std::string Printable(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80 || static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return out;
}

std::string Where(const Record& record) {
  return absl::StrCat("in the ", RecordKindName(record.kind), " at line ", record.line,
                      ", byte offset ", record.offset);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SourceEncoding>> SourceEncoding::Create(
    absl::string_view server_encoding, absl::string_view sql_ascii_as) {
  std::unique_ptr<SourceEncoding> encoding(new SourceEncoding());
  const bool sql_ascii = Normalized(server_encoding) == "SQLASCII";
  absl::string_view source = server_encoding;
  if (sql_ascii) {
    if (sql_ascii_as.empty()) {
      encoding->name_ = "SQL_ASCII";
      encoding->sql_ascii_ = true;
      return encoding;
    }
    source = sql_ascii_as;
  } else if (!sql_ascii_as.empty() && Normalized(sql_ascii_as) != Normalized(server_encoding)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the source database's encoding is ", server_encoding, ", so its bytes mean ",
                     server_encoding, " characters; an assumed encoding (", sql_ascii_as,
                     ") applies only to SQL_ASCII databases"));
  }
  const EncodingName* found = Find(source);
  if (found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "encoding ", source,
        " cannot be converted to UTF-8 (not a PostgreSQL server encoding that iconv knows; "
        "MULE_INTERNAL is not supported)"));
  }
  encoding->name_ = found->postgres;
  // A UTF8 database holds valid UTF-8 (PostgreSQL verifies it on input).
  // SQL_ASCII assumed to be UTF8 does not: it still goes through iconv,
  // which checks it.
  if (std::string(found->postgres) == "UTF8" && !sql_ascii) return encoding;
  iconv_t cd = iconv_open("UTF-8", found->iconv);
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    return absl::ErrnoToStatus(errno, absl::StrCat("iconv cannot convert ", found->postgres, " (",
                                                   found->iconv, ") to UTF-8"));
  }
  encoding->cd_ = cd;
  return encoding;
}

SourceEncoding::~SourceEncoding() {
  if (cd_ != nullptr) iconv_close(static_cast<iconv_t>(cd_));
}

absl::Status SourceEncoding::ConvertText(absl::string_view* text, Record* record,
                                         absl::FunctionRef<std::string()> what) {
  const size_t first = FirstNonAscii(*text);
  if (first == absl::string_view::npos) return absl::OkStatus();
  if (sql_ascii_) {
    return absl::FailedPreconditionError(absl::StrCat(
        what(), " holds the byte ", Hex(static_cast<unsigned char>((*text)[first])),
        " (at its byte ", first,
        "), but the source database's encoding is SQL_ASCII, which does not say which "
        "character that is. re_dms does not load a guess: name the encoding the applications "
        "write (re_dms --source-encoding=LATIN1, UTF8, ...)"));
  }
  iconv_t cd = static_cast<iconv_t>(cd_);
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // Initial state.
  // Every server encoding takes at most 3 UTF-8 bytes per input byte (a
  // single byte can become U+20AC, 3 bytes); E2BIG still grows it.
  std::string out;
  out.resize(text->size() * 3 + 4);
  char* in = const_cast<char*>(text->data());
  size_t in_left = text->size();
  char* out_ptr = out.data();
  size_t out_left = out.size();
  while (in_left > 0) {
    if (iconv(cd, &in, &in_left, &out_ptr, &out_left) != static_cast<size_t>(-1)) break;
    if (errno == E2BIG) {
      const size_t used = out_ptr - out.data();
      out.resize(out.size() * 2);
      out_ptr = out.data() + used;
      out_left = out.size() - used;
      continue;
    }
    const size_t position = in - text->data();
    const unsigned char byte = static_cast<unsigned char>(*in);
    return absl::FailedPreconditionError(
        absl::StrCat(what(), " holds the byte ", Hex(byte), " (at its byte ", position, "), which ",
                     errno == EINVAL ? "begins an incomplete character" : "is not a character",
                     " of the source encoding ", name_,
                     ", so it has no UTF-8 form; re_dms loads only text it can convert exactly"));
  }
  out.resize(out_ptr - out.data());
  record->owned.push_back(std::move(out));
  *text = record->owned.back();
  return absl::OkStatus();
}

absl::Status SourceEncoding::Convert(Record* record) {
  if (is_utf8()) return absl::OkStatus();
  auto convert_table = [&](TableRef* table) -> absl::Status {
    auto name = [&] {
      return absl::StrCat("the name of table ", Printable(table->schema), ".",
                          Printable(table->name), " ", Where(*record));
    };
    if (absl::Status s = ConvertText(&table->schema, record, name); !s.ok()) return s;
    return ConvertText(&table->name, record, name);
  };
  for (TableRef& table : record->truncated) {
    if (absl::Status s = convert_table(&table); !s.ok()) return s;
  }
  if (record->kind != RecordKind::kInsert && record->kind != RecordKind::kUpdate &&
      record->kind != RecordKind::kDelete) {
    return absl::OkStatus();
  }
  if (absl::Status s = convert_table(&record->table); !s.ok()) return s;
  for (std::vector<Column>* columns : {&record->columns, &record->old_key}) {
    const bool old_key = columns == &record->old_key;
    for (Column& column : *columns) {
      auto header = [&] {
        return absl::StrCat("table ", record->table.schema, ".", record->table.name, ", column ",
                            Printable(column.name), " (", Printable(column.type),
                            old_key ? ", old key" : "", "), ", Where(*record), ": ");
      };
      if (absl::Status s = ConvertText(&column.name, record,
                                       [&] { return absl::StrCat(header(), "the column name"); });
          !s.ok()) {
        return s;
      }
      if (absl::Status s = ConvertText(&column.type, record,
                                       [&] { return absl::StrCat(header(), "the type name"); });
          !s.ok()) {
        return s;
      }
      if (column.kind != ValueKind::kText) continue;
      if (absl::Status s = ConvertText(&column.text, record,
                                       [&] { return absl::StrCat(header(), "the value"); });
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace re_dms
