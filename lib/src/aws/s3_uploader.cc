#include "re_dms/s3_uploader.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "re_dms/csv_writer.h"
#include <nlohmann/json.hpp>

namespace re_dms {
namespace {

std::string Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

// Splits `s3://bucket/key`.
absl::StatusOr<std::pair<std::string, std::string>> ParseS3Uri(absl::string_view uri) {
  absl::string_view rest = uri;
  const size_t slash = absl::ConsumePrefix(&rest, "s3://") ? rest.find('/') : absl::string_view::npos;
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    return absl::InvalidArgumentError(absl::StrCat("not an s3://bucket/key URI: `", uri, "`"));
  }
  return std::make_pair(std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1)));
}

class S3UploaderImpl : public S3Uploader {
 public:
  S3UploaderImpl(S3Client* client, S3UploaderOptions options)
      : client_(client), options_(std::move(options)) {
    options_.max_files_in_flight = std::max(1, options_.max_files_in_flight);
  }

  absl::Status Upload(StagedBatch* batch) override {
    struct PlannedPart {
      const std::string* local_path;
      std::string key;
      UploadedObject uploaded;
    };
    std::vector<std::vector<PlannedPart>> plan(batch->files.size());
    std::vector<std::function<absl::Status()>> uploads;
    for (size_t f = 0; f < batch->files.size(); ++f) {
      const StagedFile& file = batch->files[f];
      if (file.local_paths.empty() || file.local_manifest_path.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "table ", batch->batch.schema, ".", batch->batch.table, " batch ",
            batch->batch.sequence, ": staged file ", f + 1, " has no parts or no manifest"));
      }
      for (const std::string& path : file.local_paths) {
        plan[f].push_back(PlannedPart{&path, KeyFor(batch->batch, path), {}});
      }
    }
    for (std::vector<PlannedPart>& parts : plan) {
      for (PlannedPart& part : parts) {
        uploads.push_back([this, &part] {
          absl::StatusOr<UploadedObject> uploaded = UploadFile(*part.local_path, part.key);
          if (!uploaded.ok()) return uploaded.status();
          part.uploaded = *std::move(uploaded);
          return absl::OkStatus();
        });
      }
    }
    if (absl::Status status = RunBounded(uploads); !status.ok()) return status;

    // Manifests last: a manifest on S3 means every part it names is there.
    std::vector<std::string> manifest_keys(plan.size());
    std::vector<std::function<absl::Status()>> manifests;
    for (size_t f = 0; f < plan.size(); ++f) {
      manifest_keys[f] = KeyFor(batch->batch, batch->files[f].local_manifest_path);
      manifests.push_back([this, &parts = plan[f], &key = manifest_keys[f]] {
        nlohmann::json entries = nlohmann::json::array();
        for (const PlannedPart& part : parts) {
          entries.push_back({{"url", part.uploaded.uri},
                             {"mandatory", true},
                             {"meta", {{"content_length", part.uploaded.size}}}});
        }
        std::string text;
        try {
          text = nlohmann::json({{"entries", entries}}).dump();
        } catch (const nlohmann::json::exception&) {
          // S3 keys are UTF-8; only a prefix that is not can get here.
          return absl::InvalidArgumentError(
              absl::StrCat("manifest ", Uri(key), ": an object key is not valid UTF-8"));
        }
        absl::StatusOr<S3PutResult> put = client_->PutObject(options_.bucket, key, text);
        if (!put.ok()) {
          return absl::Status(put.status().code(),
                              absl::StrCat("uploading manifest to ", Uri(key), ": ",
                                           put.status().message()));
        }
        return absl::OkStatus();
      });
    }
    if (absl::Status status = RunBounded(manifests); !status.ok()) return status;

    for (size_t f = 0; f < plan.size(); ++f) {
      StagedFile& file = batch->files[f];
      file.s3_uris.clear();
      for (const PlannedPart& part : plan[f]) file.s3_uris.push_back(part.uploaded.uri);
      file.s3_manifest_uri = Uri(manifest_keys[f]);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<UploadedObject> UploadFile(const std::string& local_path,
                                            const std::string& key) override {
    absl::StatusOr<S3PutResult> put = client_->PutFile(options_.bucket, key, local_path);
    if (!put.ok()) {
      return absl::Status(put.status().code(), absl::StrCat("uploading ", local_path, " to ",
                                                            Uri(key), ": ", put.status().message()));
    }
    return UploadedObject{Uri(key), put->size, put->etag};
  }

  absl::Status Delete(const StagedBatch& batch) override {
    std::vector<std::string> keys;
    for (const StagedFile& file : batch.files) {
      std::vector<std::string> uris = file.s3_uris;
      if (!file.s3_manifest_uri.empty()) uris.push_back(file.s3_manifest_uri);
      for (const std::string& uri : uris) {
        absl::StatusOr<std::pair<std::string, std::string>> parsed = ParseS3Uri(uri);
        if (!parsed.ok()) return parsed.status();
        if (parsed->first != options_.bucket) {
          return absl::InvalidArgumentError(absl::StrCat(
              "refusing to delete ", uri, ": not in this uploader's bucket ", options_.bucket));
        }
        keys.push_back(parsed->second);
      }
    }
    if (keys.empty()) return absl::OkStatus();
    return client_->DeleteObjects(options_.bucket, keys);
  }

 private:
  // `<prefix>/<table>/<sequence>-<rest of the local name>`, where CsvWriter's
  // local names begin with `<table>.<sequence>.`; other names are kept whole
  // after the sequence.
  std::string KeyFor(const Batch& batch, const std::string& local_path) const {
    const std::string table = StagedTableName(batch.schema, batch.table);
    const std::string sequence = absl::StrFormat("%012d", batch.sequence);
    const std::string name = Basename(local_path);
    absl::string_view name_view = name;
    absl::ConsumePrefix(&name_view, absl::StrCat(table, ".", sequence, "."));
    return absl::StrCat(options_.prefix, options_.prefix.empty() ? "" : "/", table, "/", sequence,
                        "-", name_view);
  }

  std::string Uri(absl::string_view key) const {
    return absl::StrCat("s3://", options_.bucket, "/", key);
  }

  // Runs `jobs` on up to max_files_in_flight threads, with at most that many
  // running across all concurrent calls. After a failure no new job starts;
  // returns the first failure.
  absl::Status RunBounded(const std::vector<std::function<absl::Status()>>& jobs) {
    std::atomic<size_t> next{0};
    absl::Mutex error_mutex;
    absl::Status first_error;
    std::atomic<bool> failed{false};
    auto worker = [&] {
      for (size_t i = next++; i < jobs.size() && !failed; i = next++) {
        AcquireSlot();
        absl::Status status = jobs[i]();
        ReleaseSlot();
        if (!status.ok()) {
          absl::MutexLock lock(&error_mutex);
          if (first_error.ok()) first_error = std::move(status);
          failed = true;
        }
      }
    };
    const size_t thread_count =
        std::min(jobs.size(), static_cast<size_t>(options_.max_files_in_flight));
    std::vector<std::thread> threads;
    // The calling thread works too, so a single job needs no thread at all.
    for (size_t t = 1; t < thread_count; ++t) threads.emplace_back(worker);
    worker();
    for (std::thread& thread : threads) thread.join();
    return first_error;
  }

  void AcquireSlot() {
    absl::MutexLock lock(&slots_mutex_);
    slots_mutex_.Await(absl::Condition(this, &S3UploaderImpl::HasFreeSlot));
    ++in_flight_;
  }

  bool HasFreeSlot() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(slots_mutex_) {
    return in_flight_ < options_.max_files_in_flight;
  }

  void ReleaseSlot() {
    absl::MutexLock lock(&slots_mutex_);
    --in_flight_;
  }

  S3Client* const client_;
  S3UploaderOptions options_;
  absl::Mutex slots_mutex_;
  int in_flight_ ABSL_GUARDED_BY(slots_mutex_) = 0;
};

}  // namespace

std::unique_ptr<S3Uploader> MakeS3Uploader(S3Client* client, S3UploaderOptions options) {
  return std::make_unique<S3UploaderImpl>(client, std::move(options));
}

}  // namespace re_dms
