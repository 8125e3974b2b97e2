// DDL capture's messages (ParseDdlMessage) arrive in the replication stream,
// so they are outside bytes like the rest of it: no crash, and what it accepts
// is whole -- one attnum per column, a previous name with both its parts, no
// columns for a drop -- and reads back the same from its own JSON.

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "re_dms/ddl_capture.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

nlohmann::json ColumnsJson(const std::vector<re_dms::ColumnDef>& columns,
                           const std::vector<int>& attnums) {
  nlohmann::json array = nlohmann::json::array();
  for (size_t i = 0; i < columns.size(); ++i) {
    nlohmann::json column = {
        {"name", columns[i].name}, {"type", columns[i].type}, {"attnum", attnums[i]}};
    if (columns[i].existing_rows_value) column["missing"] = *columns[i].existing_rows_value;
    array.push_back(std::move(column));
  }
  return array;
}

// The message that says what `event` says.
std::string Serialize(const re_dms::DdlEvent& event) {
  using Kind = re_dms::DdlEvent::Kind;
  nlohmann::json json = {{"version", 1},
                         {"event", event.kind == Kind::kCreate ? "create"
                                   : event.kind == Kind::kDrop ? "drop"
                                                               : "alter"},
                         {"command", event.command},
                         {"oid", event.oid},
                         {"schema", event.schema},
                         {"table", event.table}};
  if (event.previous_table) {
    json["previous_schema"] = *event.previous_schema;
    json["previous_table"] = *event.previous_table;
  }
  if (!event.previous_attnums.empty()) {
    json["previous_columns"] = ColumnsJson(event.previous_columns, event.previous_attnums);
  }
  if (event.kind != Kind::kDrop) {
    const char* identity[] = {"d", "i", "f", "n"};
    json["identity"] = identity[static_cast<int>(event.key.identity)];
    json["columns"] = ColumnsJson(event.columns, event.attnums);
    json["key"] = event.key.columns;
  }
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using re_dms::fuzz::Fail;
  const absl::string_view content(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<re_dms::DdlEvent> event = re_dms::ParseDdlMessage(content);
  if (!event.ok()) {
    if (event.status().message().empty()) Fail("an error without a message");
    return 0;
  }
  if (event->columns.size() != event->attnums.size() ||
      event->previous_columns.size() != event->previous_attnums.size()) {
    Fail("columns and attnums differ in number");
  }
  if (event->previous_schema.has_value() != event->previous_table.has_value()) {
    Fail("a previous name with one part");
  }
  if (event->kind == re_dms::DdlEvent::Kind::kDrop && !event->columns.empty()) {
    Fail("a drop with columns");
  }
  const std::string again_text = Serialize(*event);
  const absl::StatusOr<re_dms::DdlEvent> again = re_dms::ParseDdlMessage(again_text);
  if (!again.ok()) {
    // Names that are not UTF-8 do not survive JSON output; nothing else may fail.
    if (again_text.find("\xEF\xBF\xBD") == std::string::npos) {
      Fail(absl::StrCat("its own JSON does not read back: ", again.status().ToString(), "\n",
                        again_text));
    }
    return 0;
  }
  if (again->schema != event->schema || again->table != event->table || again->oid != event->oid ||
      again->attnums != event->attnums || again->key.columns != event->key.columns ||
      again->renamed() != event->renamed()) {
    Fail(absl::StrCat("read back differently: ", again_text));
  }
  return 0;
}
