// RedshiftLoader: the Loader for Amazon Redshift and, with the same merge, for
// PostgreSQL (the second target, and the stand-in for Redshift in tests).
//
// Per batch, in one transaction: staging tables shaped like the data sets,
// COPY into them, the merge into the target table, the checkpoint row
// (merge_sql.h documents the statements). The dialects differ only in how
// data reaches the staging tables:
//   Redshift    COPY ... FROM 's3://...manifest' MANIFEST, authorised by an IAM
//               role or the credentials of `credentials` (session token
//               included), reading the CSV dialect and compression the
//               CsvWriter used (csv_dialect.h).
//   PostgreSQL  the same objects, read back through a StagedFileSource
//               (normally from S3, decompressed) and streamed with
//               COPY ... FROM STDIN.
//
// Connection loss and serialization failures (40001, 40P01) roll the
// transaction back, reconnect, and retry the whole batch with exponential
// backoff. The retry applies the batch exactly once, with or without an LSN:
// when the connection dropped after the server committed but before its reply
// arrived, the retry finds the checkpoint row recording this very batch (its
// sequence and position) and returns OK without applying it again.
//
// With LSNs (Loader contract), a batch is skipped when its LSN is older than
// the checkpoint's, or equal to it with a batch sequence not above the
// checkpoint's: TRUNCATE, schema-change and mid-transaction batches carry the
// position of the commit before them, so an LSN alone does not tell them from
// the batch that commit ended.
//
// Identifiers: always double-quoted, so names keep their case. Redshift folds
// even quoted identifiers to lower case unless the session (or cluster
// parameter group) sets enable_case_sensitive_identifier to true; the loader
// sets it per session when `case_sensitive_identifiers` is on (default) and
// checks with SHOW that it took, so a cluster default cannot undo it. With
// it off, names with upper-case letters are refused (they would be created
// under another name than the catalog lookups search for). Each Redshift
// session also runs in time zone UTC, so the checkpoint's applied_at is UTC.
//
// Redshift refusals the loader turns into clear errors rather than a failed
// ALTER: a VARCHAR that must grow but is a PRIMARY KEY column (created at the
// maximum width by this loader, so only older tables) or is encoded BYTEDICT,
// RUNLENGTH, TEXT255 or TEXT32K. A failed COPY's rows are read from
// SYS_LOAD_ERROR_DETAIL.
//
// Not thread-safe: one Apply at a time per instance (one connection).

#ifndef RE_DMS_REDSHIFT_LOADER_H_
#define RE_DMS_REDSHIFT_LOADER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "re_dms/aws_credentials.h"
#include "re_dms/loader.h"
#include "re_dms/retry.h"
#include "re_dms/staged_batch.h"
#include "re_dms/type_mapping.h"

namespace re_dms {

enum class TargetDialect {
  kDetect,  // From `SELECT version()`: Redshift's mentions "Redshift".
  kPostgres,
  kRedshift,
};

// Streams the bytes of a staged data set (all parts, in order, decompressed)
// to `sink`. The production source reads the parts back from S3.
class StagedFileSource {
 public:
  virtual ~StagedFileSource() = default;
  virtual absl::Status Read(const StagedFile& file, Compression compression,
                            const std::function<absl::Status(absl::string_view)>& sink) = 0;
};

class S3Client;

// Reads a data set's parts back from S3 (StagedFile::s3_uris), decompressing
// them as they stream in. `client` is not owned and must outlive the source.
std::unique_ptr<StagedFileSource> MakeS3StagedFileSource(S3Client* client);

// Reads the local part files a CsvWriter wrote (StagedFile::local_paths),
// decompressing them: for loading without S3, e.g. a PostgreSQL target fed
// from the spool directory.
std::unique_ptr<StagedFileSource> MakeLocalStagedFileSource();

// Distribution and sort keys for tables the loader creates on Redshift.
// Defaults: DISTKEY on the first key column and SORTKEY on the key columns
// (co-locates and orders rows the merge joins on), leaving out key columns
// whose Redshift type cannot be a DISTKEY or SORTKEY (SUPER, VARBYTE);
// DISTSTYLE AUTO for tables without such a key column. A configured layout
// that names such a column is refused, naming it.
struct RedshiftTableLayout {
  std::optional<std::string> distkey;
  std::vector<std::string> sortkey;
};

struct RedshiftLoaderOptions {
  // libpq conninfo of the target. sslmode=require is added for non-loopback
  // hosts unless the conninfo says otherwise.
  std::string conninfo;
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration statement_timeout = absl::Minutes(30);
  // How long a statement waits for a table lock before it fails; the batch is
  // then rolled back and retried under `retry`, and the error names the lock
  // holders' PIDs. PostgreSQL only (Redshift has no lock_timeout: there
  // statement_timeout bounds the wait). Zero: wait as long as
  // statement_timeout allows.
  absl::Duration lock_timeout = absl::Seconds(30);

  TargetDialect dialect = TargetDialect::kDetect;

  // Where `re_dms_checkpoints` lives.
  std::string checkpoint_schema = "public";

  // Columns the source dropped are kept (NULL for new rows) unless this is set.
  bool drop_removed_columns = false;

  TypeMappingOptions type_mapping;

  // Redshift COPY authorisation: an IAM role ARN the cluster may assume, or,
  // when empty, credentials from `credentials` (required then).
  std::string iam_role;
  std::shared_ptr<CredentialsProvider> credentials;
  // The bucket's region, when it differs from the cluster's (COPY REGION).
  std::string s3_region;

  // See the header comment on case folding.
  bool case_sensitive_identifiers = true;

  // Layout overrides per target table, keyed by `schema.table` (unquoted).
  std::map<std::string, RedshiftTableLayout> layouts;

  // Retries of the whole transaction on connection loss, serialization
  // failures and lock timeouts. Its `cancel` token, when cancelled, also
  // cancels the statement running on the target (the batch rolls back and
  // Apply returns kCancelled).
  RetryPolicy retry;

  // Test hook: called with the statement kind just before each statement of
  // the batch transaction runs (e.g. to terminate the backend mid-batch).
  std::function<void(absl::string_view statement_kind)> before_statement;
  // Test hook: called with the statement kind after each statement of the
  // batch transaction other than COPY and the VARCHAR measuring succeeded; an
  // error it returns replaces the statement's result. E.g. Unavailable after
  // "COMMIT" simulates a reply lost after the server committed.
  std::function<absl::Status(absl::string_view statement_kind)> after_statement;
};

class RedshiftLoader : public Loader {
 public:
  // Connects, detects the dialect and creates the checkpoint table if needed.
  // `source` may be null for Redshift targets.
  static absl::StatusOr<std::unique_ptr<RedshiftLoader>> Create(
      RedshiftLoaderOptions options, std::unique_ptr<StagedFileSource> source);
  ~RedshiftLoader() override;

  absl::Status Apply(const StagedBatch& batch) override;
  // One transaction for the whole group (see Loader).
  absl::Status ApplyGroup(const std::vector<const StagedBatch*>& batches) override;
  absl::StatusOr<std::optional<Checkpoint>> GetCheckpoint(absl::string_view schema,
                                                          absl::string_view table) override;

  TargetDialect dialect() const { return dialect_; }
  // Batches (groups) not applied because the checkpoint showed them applied: by LSN,
  // or, on a retry, because the earlier attempt had committed after all.
  uint64_t skipped_batches() const { return skipped_batches_; }
  // Whole-transaction retries so far.
  uint64_t retries() const { return retries_; }
  // The backend pid of the current connection (tests).
  int backend_pid() const;

 private:
  class Session;
  RedshiftLoader(RedshiftLoaderOptions options, std::unique_ptr<StagedFileSource> source);

  absl::Status EnsureConnected();
  // One attempt: the transaction, restarted after widening VARCHARs if needed.
  // `retry`: an earlier attempt of this Apply may have committed.
  absl::Status ApplyWithWidening(const std::vector<const StagedBatch*>& group, bool retry);
  // The whole transaction. Sets *widen (and rolls back) when Redshift VARCHARs
  // must grow first, which has to happen outside a transaction block.
  // `*widened` is the batch whose columns must grow.
  absl::Status ApplyOnce(const std::vector<const StagedBatch*>& group, bool retry,
                         std::vector<std::pair<std::string, int64_t>>* widen,
                         const StagedBatch** widened);
  // One batch's schema changes and merge inside the open transaction; sets
  // *widen instead when VARCHARs must grow first.
  absl::Status MergeOne(
      const StagedBatch& staged,
      const std::function<absl::Status(absl::string_view, absl::string_view)>& run,
      std::optional<AwsCredentials>* credentials,
      std::vector<std::pair<std::string, int64_t>>* widen);

  RedshiftLoaderOptions options_;
  std::unique_ptr<StagedFileSource> source_;
  std::unique_ptr<Session> session_;
  TargetDialect dialect_ = TargetDialect::kDetect;
  uint64_t skipped_batches_ = 0;
  uint64_t retries_ = 0;
};

}  // namespace re_dms

#endif  // RE_DMS_REDSHIFT_LOADER_H_
