// KeyColumns: which columns identify a row of a source table.
//
// The ChangeBatcher needs each table's key to merge changes of one row, and
// the loader needs it to merge a batch into the target. The answer comes from
// the source database's catalog: the replica identity index when the table is
// REPLICA IDENTITY USING INDEX, otherwise the primary key unless it is
// DEFERRABLE (PostgreSQL does not use such a key as the identity). A table
// with neither has no key: its inserts replicate, but its updates and deletes can
// only be identified by the whole old row, which PostgreSQL logs only under
// REPLICA IDENTITY FULL (rows then behave as a multiset, as in PostgreSQL's
// own subscriber).
//
// Catalog answers describe the table as it is now, not as it was when an old
// change was written; callers that see a table's shape change (a schema-change
// barrier) call Invalidate() so the next Lookup() asks again.

#ifndef RE_DMS_KEY_COLUMNS_H_
#define RE_DMS_KEY_COLUMNS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "re_dms/batch.h"

namespace re_dms {

// pg_class.relreplident: what PostgreSQL logs as the old row of an update or
// delete.
enum class ReplicaIdentity {
  kDefault,  // 'd': the primary key's columns (nothing when there is none).
  kIndex,    // 'i': the columns of the index chosen by REPLICA IDENTITY USING INDEX.
  kFull,     // 'f': every column of the old row (NULLs omitted by test_decoding).
  kNothing,  // 'n': nothing; updates and deletes cannot be identified.
};

absl::string_view ReplicaIdentityName(ReplicaIdentity identity);

struct TableKey {
  ReplicaIdentity identity = ReplicaIdentity::kDefault;
  // Names of the identifying columns, in index order. Empty: no key.
  std::vector<std::string> columns;
  // Every live column of the table in attnum order, typed as format_type()
  // prints it (which is what test_decoding prints), with the value rows older
  // than the column show for it (ColumnDef::existing_rows_value, from
  // pg_attribute.attmissingval). The batcher uses it when a change shows too
  // few columns to know the table's shape and when the shape changes.
  std::vector<ColumnDef> table_columns;
  // The table's pg_class oid, when the catalog was asked (0: unknown). A
  // table seen under one name whose oid later answers for another name was
  // renamed (see ChangeBatcher).
  uint32_t oid = 0;
};

// SQL text naming a table as `"schema"."table"`, quoted for error messages
// that tell the user what to run.
std::string QuotedTableName(absl::string_view schema, absl::string_view table);

class KeyColumns {
 public:
  virtual ~KeyColumns() = default;

  // The key of schema.table (unquoted names). NotFound when the table does
  // not exist; other errors when the source cannot be asked.
  virtual absl::StatusOr<TableKey> Lookup(absl::string_view schema, absl::string_view table) = 0;

  // Forgets any cached answer for schema.table.
  virtual void Invalidate(absl::string_view schema, absl::string_view table) = 0;
};

// Keys given up front: for tests, benchmarks, and sources whose catalog is not
// reachable. Lookup of a table not given returns NotFound.
class StaticKeyColumns : public KeyColumns {
 public:
  void Set(absl::string_view schema, absl::string_view table, TableKey key);

  absl::StatusOr<TableKey> Lookup(absl::string_view schema, absl::string_view table) override;
  // Does nothing: the given keys are the only answer there is.
  void Invalidate(absl::string_view schema, absl::string_view table) override;

 private:
  absl::flat_hash_map<std::string, TableKey> keys_;
};

// Asks the source PostgreSQL over libpq and caches each answer until
// Invalidate(). Thread-safe; lookups are serialized on one connection, which
// is reopened if it broke. Errors never include the conninfo (it may hold a
// password).
class PgKeyColumns : public KeyColumns {
 public:
  static absl::StatusOr<std::unique_ptr<PgKeyColumns>> Connect(absl::string_view conninfo);
  ~PgKeyColumns() override;

  PgKeyColumns(const PgKeyColumns&) = delete;
  PgKeyColumns& operator=(const PgKeyColumns&) = delete;

  absl::StatusOr<TableKey> Lookup(absl::string_view schema, absl::string_view table) override;
  void Invalidate(absl::string_view schema, absl::string_view table) override;

 private:
  struct Connection;
  explicit PgKeyColumns(std::string conninfo);

  absl::StatusOr<TableKey> Query(absl::string_view schema, absl::string_view table)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const std::string conninfo_;
  absl::Mutex mutex_;
  std::unique_ptr<Connection> connection_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, TableKey> cache_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace re_dms

#endif  // RE_DMS_KEY_COLUMNS_H_
