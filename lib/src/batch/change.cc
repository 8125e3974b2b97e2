#include "re_dms/change.h"

namespace re_dms {

absl::string_view RecordKindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::kBegin:
      return "begin";
    case RecordKind::kCommit:
      return "commit";
    case RecordKind::kInsert:
      return "insert";
    case RecordKind::kUpdate:
      return "update";
    case RecordKind::kDelete:
      return "delete";
    case RecordKind::kTruncate:
      return "truncate";
    case RecordKind::kMessage:
      return "message";
    case RecordKind::kTwoPhase:
      return "two_phase";
    case RecordKind::kStream:
      return "stream";
  }
  return "unknown";
}

void Record::Clear() {
  kind = RecordKind::kBegin;
  xid.reset();
  commit_time = {};
  lsn.reset();
  table = {};
  columns.clear();
  old_key.clear();
  has_old_key = false;
  no_tuple_data = false;
  truncated.clear();
  restart_seqs = false;
  cascade = false;
  transactional = false;
  prefix = {};
  content = {};
  raw = {};
  offset = 0;
  line = 0;
  owned.clear();
}

}  // namespace re_dms
