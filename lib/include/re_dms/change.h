// The change model: what PostgreSQL's test_decoding plugin reports, as typed records.
//
// A Record is one message of the decoding stream (one row of
// pg_logical_slot_get_changes(), one message written by pg_recvlogical). The
// Parser yields them in stream order; a committed transaction appears as a
// kBegin record, its changes, and a kCommit record.
//
// Lifetime: every string_view in a Record points either into the
// Parser's input buffer or into storage owned by the Record itself (only
// values whose quoting had to be undone, i.e. that contained ''). Views stay
// valid until the next call to Parser::Next() or Parser::Feed(). Consumers
// that keep data longer (the ChangeBatcher) copy it.

#ifndef RE_DMS_CHANGE_H_
#define RE_DMS_CHANGE_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace re_dms {

// A table as PostgreSQL names it, with identifier quoting already undone:
// `"Weird Schema"."a""b"` becomes {schema: `Weird Schema`, name: `a"b`}.
struct TableRef {
  absl::string_view schema;
  absl::string_view name;

  friend bool operator==(const TableRef& a, const TableRef& b) {
    return a.schema == b.schema && a.name == b.name;
  }
};

// The state of one column's value in a tuple.
enum class ValueKind {
  kText,           // `text` holds exactly what the type's output function printed.
  kNull,           // SQL NULL (printed `null`, never quoted).
  kUnchangedToast  // An out-of-line value that the WAL record did not carry.
};

struct Column {
  absl::string_view name;  // Unquoted attribute name.
  absl::string_view type;  // As format_type_be printed it: `character varying`, `integer[]`.
  ValueKind kind = ValueKind::kText;
  // For kText: the value with test_decoding's quoting undone (`'it''s'` ->
  // `it's`; backslashes stay as they are). Empty for kNull/kUnchangedToast.
  absl::string_view text;
};

enum class RecordKind {
  kBegin,
  kCommit,
  kInsert,
  kUpdate,
  kDelete,
  kTruncate,
  kMessage,
  // Two-phase (PREPARE TRANSACTION / COMMIT PREPARED / ROLLBACK PREPARED)
  // and streaming (`opening a streamed block ...`) lines. They carry no row
  // data; consumers that cannot honour them must fail rather than skip.
  kTwoPhase,
  kStream,
};

absl::string_view RecordKindName(RecordKind kind);

struct Record {
  RecordKind kind = RecordKind::kBegin;

  // kBegin/kCommit (and kTwoPhase/kStream when printed): the top-level xid,
  // absent when the slot was read with include-xids=0.
  std::optional<uint32_t> xid;
  // kCommit (and kTwoPhase/kStream): the `(at ...)` text of include-timestamp,
  // verbatim, e.g. `2017-05-10 12:07:21.272494-04`; empty when absent.
  absl::string_view commit_time;
  // kBegin/kCommit: the end LSN of the transaction's commit record, when the
  // source knows LSNs (a replication connection; test_decoding's text does not
  // carry them). The Pipeline sets it on both, since it reads a transaction up
  // to its commit before the ChangeBatcher sees the transaction's BEGIN.
  std::optional<uint64_t> lsn;

  // kInsert/kUpdate/kDelete: the table. kTruncate: `truncated` instead.
  TableRef table;
  // kInsert: the new row. kUpdate: the new row. kDelete: the old key or, under
  // REPLICA IDENTITY FULL, the old row (NULL columns are omitted by the
  // plugin). Empty with `no_tuple_data`.
  std::vector<Column> columns;
  // kUpdate only: the `old-key:` tuple when the plugin printed one (key
  // changed, or REPLICA IDENTITY FULL). NULL columns are omitted.
  std::vector<Column> old_key;
  bool has_old_key = false;
  // `(no-tuple-data)`: the plugin had no tuple to show.
  bool no_tuple_data = false;

  // kTruncate.
  std::vector<TableRef> truncated;
  bool restart_seqs = false;
  bool cascade = false;

  // kMessage.
  bool transactional = false;
  absl::string_view prefix;
  absl::string_view content;  // Exactly `sz` bytes.

  // kTwoPhase/kStream: the line as printed, for error messages and `inspect`.
  absl::string_view raw;

  // Where the record starts in the stream: byte offset and 1-based line.
  uint64_t offset = 0;
  uint64_t line = 0;

  // Backing storage for unescaped text; see the lifetime note above. A deque
  // so that growing it never moves strings that views already point into.
  std::deque<std::string> owned;

  void Clear();
};

}  // namespace re_dms

#endif  // RE_DMS_CHANGE_H_
