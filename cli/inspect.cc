#include "cli/inspect.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "re_dms/parser.h"

namespace re_dms::cli {
namespace {

std::string Str(absl::string_view view) { return std::string(view); }

nlohmann::ordered_json TupleToJson(const std::vector<Column>& columns) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Column& column : columns) {
    nlohmann::ordered_json item;
    item["name"] = Str(column.name);
    item["type"] = Str(column.type);
    switch (column.kind) {
      case ValueKind::kText:
        item["value"] = Str(column.text);
        break;
      case ValueKind::kNull:
        item["value"] = nullptr;
        break;
      case ValueKind::kUnchangedToast:
        item["unchanged_toast"] = true;
        break;
    }
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

nlohmann::ordered_json RecordToJson(const Record& record) {
  nlohmann::ordered_json out;
  out["offset"] = record.offset;
  out["line"] = record.line;
  out["kind"] = Str(RecordKindName(record.kind));
  if (record.xid.has_value()) out["xid"] = *record.xid;
  if (!record.commit_time.empty()) out["commit_time"] = Str(record.commit_time);
  switch (record.kind) {
    case RecordKind::kInsert:
    case RecordKind::kUpdate:
    case RecordKind::kDelete:
      out["schema"] = Str(record.table.schema);
      out["table"] = Str(record.table.name);
      if (record.has_old_key) out["old_key"] = TupleToJson(record.old_key);
      if (record.no_tuple_data) out["no_tuple_data"] = true;
      out["columns"] = TupleToJson(record.columns);
      break;
    case RecordKind::kTruncate: {
      nlohmann::ordered_json tables = nlohmann::ordered_json::array();
      for (const TableRef& table : record.truncated) {
        tables.push_back({{"schema", Str(table.schema)}, {"table", Str(table.name)}});
      }
      out["truncated"] = std::move(tables);
      out["restart_seqs"] = record.restart_seqs;
      out["cascade"] = record.cascade;
      break;
    }
    case RecordKind::kMessage:
      out["transactional"] = record.transactional;
      out["prefix"] = Str(record.prefix);
      out["content"] = Str(record.content);
      break;
    case RecordKind::kTwoPhase:
    case RecordKind::kStream:
      out["raw"] = Str(record.raw);
      break;
    case RecordKind::kBegin:
    case RecordKind::kCommit:
      break;
  }
  return out;
}

absl::Status Inspect(int in_fd, std::FILE* out) {
  Parser parser;
  Record record;
  std::vector<char> chunk(1 << 16);
  std::string line;
  for (;;) {
    ssize_t n = read(in_fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(
          absl::StrCat("reading stdin at byte ", parser.bytes_consumed(), ": ",
                       std::strerror(errno)));
    }
    if (n == 0) break;
    parser.Feed(absl::string_view(chunk.data(), static_cast<size_t>(n)));
    for (;;) {
      absl::StatusOr<bool> got = parser.Next(&record);
      if (!got.ok()) return got.status();
      if (!*got) break;
      line = RecordToJson(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), out);
    }
  }
  return parser.Finish();
}

int RunInspect(int argc, char** argv) {
  (void)argv;
  if (argc != 0) {
    std::fprintf(stderr,
                 "usage: re_dms inspect < stream\n"
                 "  Reads test_decoding output (as pg_recvlogical -f - writes it) on stdin and\n"
                 "  prints one JSON object per record.\n");
    return 2;
  }
  absl::Status status = Inspect(STDIN_FILENO, stdout);
  if (std::fflush(stdout) != 0 && status.ok()) {
    status = absl::UnavailableError(absl::StrCat("writing stdout: ", std::strerror(errno)));
  }
  if (!status.ok()) {
    // The message alone: a status code name ("INVALID_ARGUMENT: ") means
    // nothing to the person reading it.
    std::fprintf(stderr, "re_dms inspect: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace re_dms::cli
