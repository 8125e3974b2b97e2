// S3Uploader: puts a StagedBatch's files on S3 for the loader's COPY.
//
// Keys are deterministic per (table, sequence, file), so uploading a batch
// again (after a crash, or a retry) overwrites the same objects instead of
// leaving duplicates for COPY to load twice:
//
//   <prefix>/<table>/<sequence>-<data set>.part00001.csv.zst
//   <prefix>/<table>/<sequence>-<data set>.manifest.json
//
// with <table> and <sequence> spelled as CsvWriter spells them in its file
// names (StagedTableName, 12 digits), and <data set> the rest of the local
// file name (`delete`, `upsert-0`, ...).
//
// The manifest CsvWriter wrote names local paths; the uploader writes the S3
// manifest itself, naming the part URIs, and only once every part of its data
// set is on S3. Its entries carry meta.content_length, which COPY requires
// for some formats and Redshift Spectrum for all (Redshift Database Developer
// Guide, "Using a manifest to specify data files").
//
// Lifecycle: uploaded objects are not needed once their batch is loaded.
// Either call Delete after the load commits, or -- usually cheaper and
// simpler -- give the bucket an S3 lifecycle rule that expires objects under
// the prefix after a few days, which also keeps them around for diagnosing a
// failed load. Never delete before the load's transaction has committed.

#ifndef RE_DMS_S3_UPLOADER_H_
#define RE_DMS_S3_UPLOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "re_dms/s3_client.h"
#include "re_dms/staged_batch.h"

namespace re_dms {

struct S3UploaderOptions {
  std::string bucket;
  // Key prefix without leading or trailing `/`; may be empty.
  std::string prefix;
  // Files uploaded at once, across all concurrent Upload calls. Each file may
  // itself be a multipart upload with parts in parallel (S3Client's options).
  int max_files_in_flight = 8;
};

// One object put on S3.
struct UploadedObject {
  std::string uri;  // s3://bucket/key
  uint64_t size = 0;
  std::string etag;
};

class S3Uploader {
 public:
  virtual ~S3Uploader() = default;

  // Uploads every part of every StagedFile of `batch`, then each file's S3
  // manifest, and fills StagedFile::s3_uris and s3_manifest_uri. On error
  // nothing of `batch` is changed; objects already uploaded stay and are
  // overwritten by the next attempt. Errors name the local path and the key.
  virtual absl::Status Upload(StagedBatch* batch) = 0;

  // Uploads one local file to `key` (under no prefix: the key is used as is).
  virtual absl::StatusOr<UploadedObject> UploadFile(const std::string& local_path,
                                                    const std::string& key) = 0;

  // Deletes the objects Upload put on S3 for `batch` (its s3_uris and
  // manifests). Objects already gone are not an error.
  virtual absl::Status Delete(const StagedBatch& batch) = 0;
};

// `client` is not owned and must outlive the uploader.
std::unique_ptr<S3Uploader> MakeS3Uploader(S3Client* client, S3UploaderOptions options);

}  // namespace re_dms

#endif  // RE_DMS_S3_UPLOADER_H_
