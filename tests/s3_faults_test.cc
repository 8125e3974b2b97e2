// The S3 client and S3Uploader through tests/tools/fault_proxy.py, which
// fails a seeded share of requests in front of the local S3 server: uploads
// must still complete with the right content, and a 403 must fail at once.
// Content is checked with a second client that talks to the server directly.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re_dms/s3_client.h"
#include "re_dms/s3_uploader.h"
#include "tests/tools/s3_scratch.h"
#include "tests/tools/tool_process.h"
#include <nlohmann/json.hpp>

namespace re_dms {
namespace {

using ::testing::HasSubstr;
using re_dms::testing::MakeTestS3Client;
using re_dms::testing::ReadObject;
using re_dms::testing::TestS3Endpoint;
using re_dms::testing::ToolProcess;
using re_dms::testing::UniqueBucketName;

constexpr char kProxy[] = "tests/tools/fault_proxy.py";

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(generator());
  return bytes;
}

class S3FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> endpoint = TestS3Endpoint();
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = *endpoint;
    S3ClientOptions direct_options;
    direct_options.endpoint = endpoint_;
    absl::StatusOr<std::unique_ptr<S3Client>> direct = MakeTestS3Client(direct_options);
    ASSERT_TRUE(direct.ok()) << direct.status();
    direct_ = *std::move(direct);
    bucket_ = UniqueBucketName("re-dms-faults");
    absl::Status created = direct_->CreateBucket(bucket_);
    ASSERT_TRUE(created.ok()) << created;
    const char* tmp = std::getenv("TEST_TMPDIR");
    scratch_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", bucket_);
    std::filesystem::create_directories(scratch_);
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  // Starts the proxy in front of the server with `args` and returns a client
  // that goes through it: stalls are abandoned after a second, retries come
  // quickly and many.
  std::unique_ptr<S3Client> ClientThroughProxy(
      const std::vector<std::string>& args,
      const std::function<void(S3ClientOptions*)>& adjust = nullptr) {
    std::vector<std::string> all = {"--upstream", endpoint_, "--stall-seconds", "4"};
    all.insert(all.end(), args.begin(), args.end());
    absl::StatusOr<std::unique_ptr<ToolProcess>> proxy = ToolProcess::Start(kProxy, all);
    EXPECT_TRUE(proxy.ok()) << proxy.status();
    if (!proxy.ok()) return nullptr;
    proxy_ = *std::move(proxy);
    S3ClientOptions options;
    options.endpoint = proxy_->url();
    options.low_speed_bytes_per_second = 1024;
    options.low_speed_time = absl::Seconds(1);
    options.retry.max_attempts = 30;
    options.retry.initial_backoff = absl::Milliseconds(10);
    options.retry.max_backoff = absl::Milliseconds(200);
    options.retry.deadline = absl::Minutes(1);
    options.multipart_threshold = 5 << 20;
    options.part_size = 5 << 20;
    options.max_parts_in_flight = 4;
    if (adjust) adjust(&options);
    absl::StatusOr<std::unique_ptr<S3Client>> client = MakeTestS3Client(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  nlohmann::json ProxyStats() {
    absl::StatusOr<std::string> stats = proxy_->Get("/__stats");
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? nlohmann::json::parse(*stats) : nlohmann::json::object();
  }

  std::string WriteLocal(const std::string& name, const std::string& content) {
    const std::string path = absl::StrCat(scratch_, "/", name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  void ExpectObject(const std::string& key, const std::string& content) {
    absl::StatusOr<std::string> stored = ReadObject(*direct_, bucket_, key);
    ASSERT_TRUE(stored.ok()) << key << ": " << stored.status();
    EXPECT_EQ(stored->size(), content.size()) << key;
    EXPECT_TRUE(*stored == content) << key << " has the wrong content";
  }

  std::string endpoint_;
  std::unique_ptr<S3Client> direct_;
  std::string bucket_;
  std::string scratch_;
  std::unique_ptr<ToolProcess> proxy_;
};

TEST_F(S3FaultsTest, SinglePutsCompleteUnderThirtyPercentFailures) {
  std::unique_ptr<S3Client> client =
      ClientThroughProxy({"--fail-rate", "0.3", "--seed", "7", "--modes", "500,503,drop,stall"});
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 24; ++i) {
    const std::string key = absl::StrCat("single/object-", i);
    const std::string content = RandomBytes(64 << 10, i);
    absl::StatusOr<S3PutResult> put =
        i % 2 == 0 ? client->PutObject(bucket_, key, content)
                   : client->PutFile(bucket_, key, WriteLocal(absl::StrCat("f", i), content));
    ASSERT_TRUE(put.ok()) << key << ": " << put.status();
    ExpectObject(key, content);
  }
  // Every kind of failure was injected, and each was retried past.
  const nlohmann::json stats = ProxyStats();
  for (const char* mode : {"500", "503", "drop", "stall"}) {
    EXPECT_GT(stats.value(mode, 0), 0) << "mode " << mode << " never injected: " << stats.dump();
  }
  EXPECT_GE(stats.value("forwarded", 0), 24);
}

TEST_F(S3FaultsTest, MultipartUploadCompletesUnderThirtyPercentFailures) {
  std::unique_ptr<S3Client> client =
      ClientThroughProxy({"--fail-rate", "0.3", "--seed", "17", "--modes", "500,503,drop,stall"});
  ASSERT_NE(client, nullptr);
  const std::string content = RandomBytes((23 << 20) + 12345, 99);
  const std::string path = WriteLocal("large.bin", content);
  absl::StatusOr<S3PutResult> put = client->PutFile(bucket_, "multipart/large.bin", path);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->parts, 5);
  EXPECT_EQ(put->size, content.size());
  ExpectObject("multipart/large.bin", content);
  // The seed hits the initiate and the parts with every kind of failure (a
  // lost Complete response has its own test below).
  const nlohmann::json stats = ProxyStats();
  for (const char* mode : {"500", "503", "drop", "stall"}) {
    EXPECT_GT(stats.value(mode, 0), 0) << "mode " << mode << " never injected: " << stats.dump();
  }
}

// A CompleteMultipartUpload that S3 carried out but whose response was lost
// (here: stalled until the client gives up) is retried; the retry must not
// turn the completed upload into a failure. AWS answers a repeated Complete
// with success; other stores say NoSuchUpload (s3rver: 500).
TEST_F(S3FaultsTest, MultipartUploadWhoseCompleteResponseIsLost) {
  std::unique_ptr<S3Client> client = ClientThroughProxy(
      {"--fail-rate", "1", "--modes", "stall", "--only", "^POST .*uploadId=", "--max-faults", "1"});
  ASSERT_NE(client, nullptr);
  const std::string content = RandomBytes((11 << 20) + 7, 5);
  const std::string path = WriteLocal("complete.bin", content);
  absl::StatusOr<S3PutResult> put = client->PutFile(bucket_, "multipart/complete.bin", path);
  EXPECT_EQ(ProxyStats().value("stall", 0), 1);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->size, content.size());
  ExpectObject("multipart/complete.bin", content);
}

TEST_F(S3FaultsTest, UploaderBatchCompletesUnderFailures) {
  std::unique_ptr<S3Client> client =
      ClientThroughProxy({"--fail-rate", "0.3", "--seed", "5", "--modes", "500,503,drop,stall"});
  ASSERT_NE(client, nullptr);
  StagedBatch staged;
  staged.batch.schema = "public";
  staged.batch.table = "t";
  staged.batch.sequence = 3;
  std::vector<std::string> contents;
  StagedFile file;
  for (int i = 0; i < 12; ++i) {
    contents.push_back(RandomBytes(20000 + i, 1000 + i));
    file.local_paths.push_back(WriteLocal(
        absl::StrFormat("public.t.000000000003.upsert-0.part%05d.csv", i + 1), contents.back()));
  }
  file.local_manifest_path = WriteLocal("public.t.000000000003.upsert-0.manifest.json", "{}");
  staged.files.push_back(file);
  S3UploaderOptions options;
  options.bucket = bucket_;
  options.prefix = "faulty";
  ASSERT_TRUE(MakeS3Uploader(client.get(), options)->Upload(&staged).ok());
  ASSERT_EQ(staged.files[0].s3_uris.size(), contents.size());
  const std::string uri_prefix = absl::StrCat("s3://", bucket_, "/");
  for (size_t i = 0; i < contents.size(); ++i) {
    ExpectObject(staged.files[0].s3_uris[i].substr(uri_prefix.size()), contents[i]);
  }
  absl::StatusOr<std::string> manifest =
      ReadObject(*direct_, bucket_, staged.files[0].s3_manifest_uri.substr(uri_prefix.size()));
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(nlohmann::json::parse(*manifest)["entries"].size(), contents.size());
}

// The proxy counts the requests it handles at once; delaying each makes the
// uploader's parallel uploads overlap there.
TEST_F(S3FaultsTest, UploaderKeepsAtMostItsLimitOfFilesInFlight) {
  std::unique_ptr<S3Client> client = ClientThroughProxy({"--delay-seconds", "0.1"});
  ASSERT_NE(client, nullptr);
  StagedBatch staged;
  staged.batch.schema = "public";
  staged.batch.table = "t";
  staged.batch.sequence = 4;
  StagedFile file;
  for (int i = 0; i < 16; ++i) {
    file.local_paths.push_back(
        WriteLocal(absl::StrFormat("public.t.000000000004.upsert-0.part%05d.csv", i + 1), "x"));
  }
  file.local_manifest_path = WriteLocal("public.t.000000000004.upsert-0.manifest.json", "{}");
  staged.files.push_back(file);
  S3UploaderOptions options;
  options.bucket = bucket_;
  options.max_files_in_flight = 3;
  ASSERT_TRUE(MakeS3Uploader(client.get(), options)->Upload(&staged).ok());
  const nlohmann::json stats = ProxyStats();
  EXPECT_EQ(stats.value("requests", 0), 17);
  EXPECT_LE(stats.value("max_in_flight", 0), 3);
  EXPECT_GE(stats.value("max_in_flight", 0), 2) << "uploads did not run in parallel";
}

TEST_F(S3FaultsTest, SignatureMismatchFailsAfterOneAttempt) {
  std::unique_ptr<S3Client> client = ClientThroughProxy({"--forbid"});
  ASSERT_NE(client, nullptr);
  absl::StatusOr<S3PutResult> put = client->PutObject(bucket_, "forbidden/key", "payload");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kPermissionDenied) << put.status();
  EXPECT_THAT(put.status().message(), HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(put.status().message(), HasSubstr("forbidden/key"));
  EXPECT_EQ(ProxyStats().value("requests", 0), 1);
}

// Every retry reaches RetryPolicy::on_retry naming the operation and its
// cause, and the end of the stall is reported too (re_dms logs them).
TEST_F(S3FaultsTest, EachRetryIsReported) {
  absl::Mutex mutex;
  std::vector<std::string> seen;
  std::unique_ptr<S3Client> client = ClientThroughProxy(
      {"--fail-rate", "1", "--modes", "503", "--max-faults", "2"}, [&](S3ClientOptions* options) {
        options->retry.on_retry = [&](const RetryEvent& event) {
          absl::MutexLock lock(&mutex);
          seen.push_back(absl::StrCat(
              event.kind == RetryEvent::Kind::kRetrying ? "retrying " : "ended ", event.attempts,
              " ", event.operation, ": ", event.succeeded ? "ok" : event.cause.message()));
        };
      });
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->PutObject(bucket_, "reported", "data").ok());
  absl::MutexLock lock(&mutex);
  ASSERT_EQ(seen.size(), 3u) << ::testing::PrintToString(seen);
  const std::string operation = absl::StrCat("S3 PutObject s3://", bucket_, "/reported");
  EXPECT_THAT(seen[0], HasSubstr(absl::StrCat("retrying 1 ", operation, ": ")));
  EXPECT_THAT(seen[0], HasSubstr("SlowDown"));
  EXPECT_THAT(seen[1], HasSubstr(absl::StrCat("retrying 2 ", operation)));
  EXPECT_EQ(seen[2], absl::StrCat("ended 3 ", operation, ": ok"));
}

// A server that takes the request and never answers: each attempt ends at
// the low-speed limit, and a cancel (re_dms's second stop request) ends the
// request in flight at once instead of after the retry deadline.
TEST_F(S3FaultsTest, CancelEndsARequestThatNeverGetsAnAnswer) {
  CancelToken cancel;
  std::unique_ptr<S3Client> client = ClientThroughProxy(
      {"--fail-rate", "1", "--modes", "stall", "--stall-seconds", "300"},
      [&](S3ClientOptions* options) {
        options->low_speed_time = absl::Seconds(300);  // Only the cancel ends it.
        options->retry.cancel = &cancel;
      });
  ASSERT_NE(client, nullptr);
  std::thread canceller([&] {
    absl::SleepFor(absl::Seconds(1));
    cancel.Cancel();
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<S3PutResult> put = client->PutObject(bucket_, "never-answered", "data");
  const absl::Duration took = absl::Now() - start;
  canceller.join();
  EXPECT_EQ(put.status().code(), absl::StatusCode::kCancelled) << put.status();
  EXPECT_THAT(put.status().message(), HasSubstr("second stop request"));
  EXPECT_THAT(put.status().message(), HasSubstr("never-answered"));
  EXPECT_LT(took, absl::Seconds(10));  // Generous: libcurl looks about once a second.
  // Nothing new starts once cancelled.
  EXPECT_EQ(client->PutObject(bucket_, "after", "data").status().code(),
            absl::StatusCode::kCancelled);
}

// Without a cancel, the same server fails each attempt at the low-speed
// limit rather than hanging.
TEST_F(S3FaultsTest, AServerThatNeverAnswersFailsEachAttemptAtTheLowSpeedLimit) {
  std::unique_ptr<S3Client> client =
      ClientThroughProxy({"--fail-rate", "1", "--modes", "stall", "--stall-seconds", "300"},
                         [&](S3ClientOptions* options) { options->retry.max_attempts = 2; });
  ASSERT_NE(client, nullptr);
  const absl::Time start = absl::Now();
  absl::StatusOr<S3PutResult> put = client->PutObject(bucket_, "stalled", "data");
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable) << put.status();
  EXPECT_THAT(put.status().message(), HasSubstr("gave up after 2 attempts"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // Two 1 s stalls, generously.
}

}  // namespace
}  // namespace re_dms
