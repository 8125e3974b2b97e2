// S3Uploader against the local S3 server (RE_DMS_TEST_S3_ENDPOINT), with
// batches staged by the real CsvWriter.

#include "re_dms/s3_uploader.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/batch.h"
#include "re_dms/csv_writer.h"
#include "re_dms/s3_client.h"
#include "tests/tools/s3_scratch.h"
#include <nlohmann/json.hpp>

namespace re_dms {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using re_dms::testing::MakeTestS3Client;
using re_dms::testing::ReadLocalFile;
using re_dms::testing::ReadObject;
using re_dms::testing::TestS3Endpoint;
using re_dms::testing::UniqueBucketName;

// A kRows batch with `rows` upserts (two columns) and a few deletes.
Batch MakeBatch(std::string schema, std::string table, uint64_t sequence, int rows) {
  Batch batch;
  batch.schema = std::move(schema);
  batch.table = std::move(table);
  batch.sequence = sequence;
  batch.position.sequence = sequence;
  batch.columns = {{"id", "integer"}, {"note", "text"}};
  batch.key_columns = {"id"};
  batch.deletes = {{std::string("7")}, {std::string("8")}};
  RowGroup group;
  group.columns = {0, 1};
  for (int i = 0; i < rows; ++i) {
    group.rows.push_back({absl::StrCat(i + 100),
                          i % 5 == 0 ? Datum() : Datum(absl::StrCat("O'Brien \"", i, "\"\nline"))});
  }
  batch.upserts.push_back(std::move(group));
  return batch;
}

class S3UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> endpoint = TestS3Endpoint();
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    S3ClientOptions options;
    options.endpoint = *endpoint;
    absl::StatusOr<std::unique_ptr<S3Client>> client = MakeTestS3Client(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    bucket_ = UniqueBucketName("re-dms-uploader");
    absl::Status created = client_->CreateBucket(bucket_);
    ASSERT_TRUE(created.ok()) << created;

    const char* tmp = std::getenv("TEST_TMPDIR");
    spool_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/spool-", bucket_);
    std::filesystem::create_directories(spool_);
  }
  void TearDown() override { std::filesystem::remove_all(spool_); }

  StagedBatch Stage(const Batch& batch, uint64_t max_part_bytes = 64 << 20) {
    CsvWriterOptions options;
    options.spool_directory = spool_;
    options.max_part_bytes = max_part_bytes;
    options.fsync = false;
    absl::StatusOr<StagedBatch> staged = CsvWriter(options).Write(batch);
    EXPECT_TRUE(staged.ok()) << staged.status();
    return staged.ok() ? *std::move(staged) : StagedBatch();
  }

  std::unique_ptr<S3Uploader> Uploader(int max_files_in_flight = 8) {
    S3UploaderOptions options;
    options.bucket = bucket_;
    options.prefix = "staging/run-1";
    options.max_files_in_flight = max_files_in_flight;
    return MakeS3Uploader(client_.get(), options);
  }

  std::string KeyOf(const std::string& uri) {
    const std::string prefix = absl::StrCat("s3://", bucket_, "/");
    EXPECT_TRUE(absl::StartsWith(uri, prefix)) << uri;
    return uri.substr(prefix.size());
  }

  std::vector<std::string> ListKeys() {
    absl::StatusOr<std::vector<S3ObjectInfo>> objects = client_->ListAllObjects(bucket_, "");
    EXPECT_TRUE(objects.ok()) << objects.status();
    std::vector<std::string> keys;
    if (objects.ok()) {
      for (const S3ObjectInfo& object : *objects) keys.push_back(object.key);
    }
    return keys;
  }

  // Every part on S3 equals its local file, and the S3 manifest lists exactly
  // the part URIs, in order, with their sizes.
  void ExpectUploadedExactly(const StagedBatch& staged) {
    for (const StagedFile& file : staged.files) {
      ASSERT_EQ(file.s3_uris.size(), file.local_paths.size());
      nlohmann::json expected_entries = nlohmann::json::array();
      for (size_t i = 0; i < file.local_paths.size(); ++i) {
        absl::StatusOr<std::string> local = ReadLocalFile(file.local_paths[i]);
        ASSERT_TRUE(local.ok()) << local.status();
        absl::StatusOr<std::string> remote = ReadObject(*client_, bucket_, KeyOf(file.s3_uris[i]));
        ASSERT_TRUE(remote.ok()) << remote.status();
        EXPECT_TRUE(*local == *remote) << file.s3_uris[i] << " differs from " << file.local_paths[i];
        expected_entries.push_back({{"url", file.s3_uris[i]},
                                    {"mandatory", true},
                                    {"meta", {{"content_length", local->size()}}}});
      }
      absl::StatusOr<std::string> manifest = ReadObject(*client_, bucket_, KeyOf(file.s3_manifest_uri));
      ASSERT_TRUE(manifest.ok()) << manifest.status();
      EXPECT_EQ(nlohmann::json::parse(*manifest), nlohmann::json({{"entries", expected_entries}}));
    }
  }

  std::unique_ptr<S3Client> client_;
  std::string bucket_;
  std::string spool_;
};

TEST_F(S3UploaderTest, UploadsPartsAndWritesS3Manifests) {
  // Small parts: the upsert data set spans several files.
  StagedBatch staged = Stage(MakeBatch("public", "users", 42, 3000), 16 << 10);
  ASSERT_EQ(staged.files.size(), 2u);
  ASSERT_GT(staged.files[1].local_paths.size(), 2u);
  ASSERT_TRUE(Uploader()->Upload(&staged).ok());
  ExpectUploadedExactly(staged);

  EXPECT_EQ(staged.files[0].s3_uris[0],
            absl::StrCat("s3://", bucket_, "/staging/run-1/public.users/000000000042-delete.part00001.csv.zst"));
  EXPECT_EQ(staged.files[0].s3_manifest_uri,
            absl::StrCat("s3://", bucket_, "/staging/run-1/public.users/000000000042-delete.manifest.json"));
}

TEST_F(S3UploaderTest, UploadingAgainOverwritesTheSameKeys) {
  StagedBatch staged = Stage(MakeBatch("public", "orders", 7, 500), 4 << 10);
  ASSERT_TRUE(Uploader()->Upload(&staged).ok());
  const std::vector<std::string> first_keys = ListKeys();
  StagedBatch again = staged;
  ASSERT_TRUE(Uploader()->Upload(&again).ok());
  EXPECT_EQ(ListKeys(), first_keys);
  for (size_t f = 0; f < staged.files.size(); ++f) {
    EXPECT_EQ(again.files[f].s3_uris, staged.files[f].s3_uris);
    EXPECT_EQ(again.files[f].s3_manifest_uri, staged.files[f].s3_manifest_uri);
  }
  ExpectUploadedExactly(again);
}

TEST_F(S3UploaderTest, HostileTableNamesStayUnderOneTableFolder) {
  StagedBatch staged = Stage(MakeBatch("Weird Schema", "a\"b/c%d é", 3, 50));
  ASSERT_TRUE(Uploader()->Upload(&staged).ok());
  ExpectUploadedExactly(staged);
  const std::string table_folder =
      absl::StrCat("staging/run-1/", StagedTableName("Weird Schema", "a\"b/c%d é"), "/");
  for (const std::string& key : ListKeys()) {
    ASSERT_TRUE(absl::StartsWith(key, table_folder)) << key;
    EXPECT_EQ(key.find('/', table_folder.size()), std::string::npos) << key;
  }
}

TEST_F(S3UploaderTest, ManyFilesWithFewSlots) {
  StagedBatch staged = Stage(MakeBatch("public", "events", 9, 4000), 2 << 10);
  ASSERT_GT(staged.files[1].local_paths.size(), 20u);
  ASSERT_TRUE(Uploader(/*max_files_in_flight=*/3)->Upload(&staged).ok());
  ExpectUploadedExactly(staged);
}

TEST_F(S3UploaderTest, MissingLocalFileFailsNamingPathAndKeyAndLeavesBatchUnchanged) {
  StagedBatch staged = Stage(MakeBatch("public", "users", 5, 10));
  const std::string missing = staged.files[1].local_paths[0];
  std::filesystem::remove(missing);
  absl::Status status = Uploader()->Upload(&staged);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(missing));
  EXPECT_THAT(status.message(),
              HasSubstr("s3://" + bucket_ + "/staging/run-1/public.users/000000000005-upsert"));
  for (const StagedFile& file : staged.files) {
    EXPECT_THAT(file.s3_uris, IsEmpty());
    EXPECT_EQ(file.s3_manifest_uri, "");
  }
  // No manifest may exist for a data set whose parts are not all there.
  for (const std::string& key : ListKeys()) EXPECT_FALSE(absl::EndsWith(key, ".manifest.json")) << key;
}

TEST_F(S3UploaderTest, DeleteRemovesEverythingUploaded) {
  StagedBatch staged = Stage(MakeBatch("public", "users", 11, 300), 2 << 10);
  std::unique_ptr<S3Uploader> uploader = Uploader();
  ASSERT_TRUE(uploader->Upload(&staged).ok());
  ASSERT_FALSE(ListKeys().empty());
  ASSERT_TRUE(uploader->Delete(staged).ok());
  EXPECT_THAT(ListKeys(), IsEmpty());
  // Deleting what is already gone succeeds.
  EXPECT_TRUE(uploader->Delete(staged).ok());
}

TEST_F(S3UploaderTest, BatchesWithoutFilesAreANoOp) {
  Batch truncate = MakeBatch("public", "users", 12, 0);
  truncate.kind = Batch::Kind::kTruncate;
  StagedBatch staged = Stage(truncate);
  ASSERT_TRUE(staged.files.empty());
  EXPECT_TRUE(Uploader()->Upload(&staged).ok());
  EXPECT_THAT(ListKeys(), IsEmpty());
}

TEST_F(S3UploaderTest, UploadFileReportsUriSizeAndEtag) {
  const std::string path = spool_ + "/single.bin";
  std::string content(300000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7919 % 251);
  std::ofstream(path, std::ios::binary) << content;
  absl::StatusOr<UploadedObject> uploaded = Uploader()->UploadFile(path, "direct/a b+c~d.bin");
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->uri, absl::StrCat("s3://", bucket_, "/direct/a b+c~d.bin"));
  EXPECT_EQ(uploaded->size, content.size());
  absl::StatusOr<S3ObjectInfo> head = client_->HeadObject(bucket_, "direct/a b+c~d.bin");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->etag, uploaded->etag);
  EXPECT_EQ(head->size, content.size());
  absl::StatusOr<std::string> stored = ReadObject(*client_, bucket_, "direct/a b+c~d.bin");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->size(), content.size());
  EXPECT_TRUE(*stored == content);
  EXPECT_THAT(ListKeys(), ElementsAre("direct/a b+c~d.bin"));
}

}  // namespace
}  // namespace re_dms
