// A streaming parser for the text that PostgreSQL's test_decoding plugin
// writes, as pg_recvlogical --file=- delivers it: each plugin message followed
// by one '\n'.
//
// The stream cannot be split on '\n': quoted values, quoted identifiers,
// message prefixes and message contents may hold raw newlines. A record is
// complete only when its syntax is complete (every literal closed, every
// column read, a message's `sz` content bytes present) and the byte after it
// is the '\n' pg_recvlogical appended. So the parser is fed bytes in chunks of
// any size and yields records as they become complete; how the input was
// chunked never changes the result.
//
// Usage:
//   Parser parser;
//   Record record;
//   while (read a chunk) {
//     parser.Feed(chunk);
//     for (;;) {
//       absl::StatusOr<bool> got = parser.Next(&record);
//       if (!got.ok()) return got.status();
//       if (!*got) break;
//       ... use record (its views die at the next Feed() or Next()) ...
//     }
//   }
//   return parser.Finish();
//
// Column values come out as the type's output function printed them: quotes
// removed and '' undoubled (backslashes stay), and bit strings' B'...' wrapper
// removed (`B'0101'` -> `0101`), since that is test_decoding's quoting, not
// the value. Booleans stay `true`/`false` as test_decoding spells them (their
// ::text form; the output function would say t/f).
//
// A Record's views point into the parser's input buffer, into storage the
// parser keeps for column names whose "" it undoubled, or into Record::owned;
// all die at the next Feed() or Next() (see change.h).
//
// Errors name the byte offset in the stream, the 1-based line, the table when
// known, and an excerpt of the input with unprintable bytes escaped. Bytes are
// never validated as UTF-8: values pass through exactly as PostgreSQL wrote
// them. Not thread-safe.

#ifndef RE_DMS_PARSER_H_
#define RE_DMS_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/change.h"

namespace re_dms {

struct ParserOptions {
  // Upper bound on one record's size. A stream whose pending record grows past
  // it (a literal that never closes, garbage without a record end) fails
  // instead of buffering without limit. PostgreSQL's own limit on a message is
  // 1 GB, so the default admits any message the server can send.
  size_t max_record_bytes = size_t{1} << 30;
  // Where the input starts in the stream, for records' offsets and lines and
  // for errors: a parser that reads back part of a stream names positions in
  // the whole.
  uint64_t first_offset = 0;
  uint64_t first_line = 1;
};

class ColumnHeaderCache;  // Internal to the parser.

class Parser {
 public:
  explicit Parser(ParserOptions options = {});
  ~Parser();

  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Appends the next bytes of the stream. Invalidates the views of the record
  // last returned by Next().
  void Feed(absl::string_view bytes);

  // Fills *record with the next complete record and returns true, or returns
  // false when more input is needed. On malformed input returns an
  // InvalidArgument error naming the byte offset, line and an excerpt; after
  // an error every call returns the same error. *record is reused: its
  // vectors keep their capacity.
  absl::StatusOr<bool> Next(Record* record);

  // Declares the end of the input. OK when every byte fed has been returned as
  // a record; DataLoss when the input ends inside a record (the pipe closed
  // mid-record); FailedPrecondition when complete records are still unread;
  // the parser's error when it has failed.
  absl::Status Finish();

  // The bytes of the record Next() returned last, with the '\n' after it;
  // valid until the next Feed() or Next().
  absl::string_view last_record_text() const {
    return absl::string_view(buffer_).substr(last_record_start_, pos_ - last_record_start_);
  }

  // Bytes of the stream returned as records so far.
  uint64_t bytes_consumed() const { return base_offset_ + pos_; }

 private:
  // Scans the record starting at buffer_[pos_]. Sets *complete = false when
  // the buffered bytes end before the record does.
  absl::Status ScanRecord(Record* record, bool* complete, size_t* record_end);
  void Compact();

  ParserOptions options_;
  std::string buffer_;
  size_t pos_ = 0;                // Start of the unread part of buffer_.
  size_t last_record_start_ = 0;  // Where the record Next() returned last began.
  uint64_t base_offset_ = 0;      // Stream offset of buffer_[0].
  uint64_t line_ = 1;             // Line of buffer_[pos_].
  // buffer_.size() when Next() last found the pending record incomplete: no
  // need to rescan until more bytes arrive.
  size_t incomplete_at_size_ = 0;
  absl::Status error_;
  // The previous row's ` name[type]:` column headers, which the next row of
  // the same table repeats byte for byte.
  std::unique_ptr<ColumnHeaderCache> headers_;
};

}  // namespace re_dms

#endif  // RE_DMS_PARSER_H_
