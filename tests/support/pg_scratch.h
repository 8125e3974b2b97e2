// Test support: a throwaway database on the PostgreSQL server that
// ./scripts/test starts (RE_DMS_TEST_PG_CONNINFO), with helpers to run SQL and
// read results as text.

#ifndef RE_DMS_TESTS_SUPPORT_PG_SCRATCH_H_
#define RE_DMS_TESTS_SUPPORT_PG_SCRATCH_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re_dms::testing {

// The test server's conninfo, or an error naming the variable when unset.
absl::StatusOr<std::string> ServerConninfo();

using TextRow = std::vector<std::optional<std::string>>;

// A database created with a unique name and dropped (with its replication
// slots) when the object goes away.
class ScratchDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<ScratchDatabase>> Create(absl::string_view prefix);
  ~ScratchDatabase();

  const std::string& name() const { return name_; }
  // Conninfo for this database.
  const std::string& conninfo() const { return conninfo_; }

  // Runs one or more statements; an error carries the server's message.
  absl::Status Exec(absl::string_view sql);
  // Runs a query and returns every row as text (NULL as std::nullopt).
  absl::StatusOr<std::vector<TextRow>> Query(absl::string_view sql);

 private:
  ScratchDatabase(std::string server_conninfo, std::string name);

  std::string server_conninfo_;
  std::string name_;
  std::string conninfo_;
  struct Connection;
  std::unique_ptr<Connection> connection_;
};

}  // namespace re_dms::testing

#endif  // RE_DMS_TESTS_SUPPORT_PG_SCRATCH_H_
