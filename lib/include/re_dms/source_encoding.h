// SourceEncoding: converts the text of a stream's records from the source
// database's encoding to UTF-8, the encoding every staged file and target
// session uses.
//
// Output plugins are not converted to the client's encoding: test_decoding
// prints names and values in the database's encoding (server_encoding). A
// LATIN1 database's `é` arrives as the byte 0xE9; loaded as is, a UTF-8
// target refuses it, or, where the bytes happen to form valid UTF-8
// (0xC3 0xA9 is `Ã©` in LATIN1), stores other characters silently.
//
// The conversion is glibc's iconv, on parsed values, never on the raw
// stream: test_decoding's messages carry byte counts (`sz`) that a converted
// stream would no longer match. Values that are plain ASCII (every
// PostgreSQL server encoding is an ASCII superset) are left as they are, so
// the cost is one scan of each value; only the others are converted.
//
// SQL_ASCII databases store bytes without saying what they mean. Their
// non-ASCII bytes are converted from the encoding the caller names, or,
// when it names none, are an error: re_dms does not guess.

#ifndef RE_DMS_SOURCE_ENCODING_H_
#define RE_DMS_SOURCE_ENCODING_H_

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/change.h"

namespace re_dms {

class SourceEncoding {
 public:
  // `server_encoding` as PostgreSQL names it (SHOW server_encoding): UTF8,
  // LATIN1, WIN1252, EUC_JP, ... `sql_ascii_as`: for a SQL_ASCII database,
  // the encoding its non-ASCII bytes are in (a PostgreSQL name too); must be
  // empty or equal to `server_encoding` for any other database.
  // InvalidArgument for an encoding iconv cannot convert (MULE_INTERNAL).
  static absl::StatusOr<std::unique_ptr<SourceEncoding>> Create(absl::string_view server_encoding,
                                                                absl::string_view sql_ascii_as);
  ~SourceEncoding();

  SourceEncoding(const SourceEncoding&) = delete;
  SourceEncoding& operator=(const SourceEncoding&) = delete;

  // True when Convert changes nothing (a UTF8 database): callers may skip it.
  bool is_utf8() const { return cd_ == nullptr && !sql_ascii_; }
  // The encoding values are read as, e.g. "LATIN1", or "SQL_ASCII" when none.
  const std::string& name() const { return name_; }

  // Rewrites the table and column names, types and text values (new row and
  // old key) and truncated tables of `record` to UTF-8; converted text goes
  // into record->owned. Logical messages (kMessage) are left as they are:
  // their content is the application's bytes, which re_dms does not load.
  // FailedPrecondition naming the table, column, line, byte offset and the
  // offending byte when a byte sequence is not a character of the source
  // encoding (it has no UTF-8 form), or is non-ASCII in SQL_ASCII without an
  // assumed encoding. Not thread-safe (one iconv state).
  absl::Status Convert(Record* record);

 private:
  SourceEncoding() = default;
  // Converts `*text` in place (a view into record->owned when it changed);
  // `what` describes it for errors (called only on an error).
  absl::Status ConvertText(absl::string_view* text, Record* record,
                           absl::FunctionRef<std::string()> what);

  std::string name_;
  bool sql_ascii_ = false;  // SQL_ASCII with no assumed encoding.
  void* cd_ = nullptr;      // iconv_t to UTF-8; null when nothing converts.
};

}  // namespace re_dms

#endif  // RE_DMS_SOURCE_ENCODING_H_
