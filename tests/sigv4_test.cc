// SigV4 against published reference vectors: AWS's signing test suite (the
// cases that follow S3's rules) and the worked examples of the S3 API
// Reference. Canonical request, string to sign and signature must match
// exactly.

#include "re_dms/sigv4.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/src/aws/hashing.h"
#include "nlohmann/json.hpp"

namespace re_dms {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSuiteDir[] = "tests/testdata/sigv4/aws-signing-test-suite-v4";
constexpr char kDocExamples[] = "tests/testdata/sigv4/s3-doc-examples.json";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string PercentDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Splits "path?query" of a request line into the decoded path and query.
void ParseTarget(absl::string_view target, SigV4Request* request) {
  const size_t question = target.find('?');
  absl::string_view path = target.substr(0, question);
  request->path = std::string(path);
  if (request->path.empty() || request->path.front() != '/') {
    request->path.insert(request->path.begin(), '/');
  }
  if (question == absl::string_view::npos) return;
  for (absl::string_view pair :
       absl::StrSplit(target.substr(question + 1), '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    request->query.emplace_back(PercentDecode(kv.first), PercentDecode(kv.second));
  }
}

struct ParsedRequest {
  SigV4Request request;
  std::string body;
};

// Parses an HTTP/1.1 request as the test vectors print it: folded header
// lines (starting with whitespace) continue the previous value. Headers the
// signer owns (X-Amz-Date, X-Amz-Content-SHA256, Authorization) are dropped;
// Host becomes request.host.
ParsedRequest ParseHttpRequest(absl::string_view text) {
  ParsedRequest parsed;
  const size_t blank = text.find("\n\n");
  absl::string_view head = text.substr(0, blank);
  if (blank != absl::string_view::npos) {
    parsed.body = std::string(text.substr(blank + 2));
  }
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  absl::string_view request_line = lines[0];
  const size_t method_end = request_line.find(' ');
  const size_t version_start = request_line.rfind(" HTTP/1.1");
  parsed.request.method = std::string(request_line.substr(0, method_end));
  ParseTarget(request_line.substr(method_end + 1, version_start - method_end - 1), &parsed.request);
  HttpFields fields;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty()) continue;
    if ((line[0] == ' ' || line[0] == '\t')) {
      absl::StrAppend(&fields.back().second, "\n", line);
      continue;
    }
    const size_t colon = line.find(':');
    fields.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  for (auto& [name, value] : fields) {
    const std::string lower = absl::AsciiStrToLower(name);
    if (lower == "host") {
      parsed.request.host = std::string(absl::StripAsciiWhitespace(value));
    } else if (lower != "x-amz-date" && lower != "authorization" &&
               lower != "x-amz-content-sha256") {
      parsed.request.headers.emplace_back(name, value);
    }
  }
  return parsed;
}

absl::Time ParseRfc3339(const std::string& text) {
  absl::Time time;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, text, &time, &error)) << error;
  return time;
}

// --- AWS's generic SigV4 test suite -------------------------------------

bool AppliesToS3(const std::string& name) {
  // S3 never normalizes paths, and signs the session token rather than
  // adding it after signing.
  return !absl::EndsWith(name, "-normalized") && name != "post-sts-header-after";
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kSuiteDir)) {
    const std::string name = entry.path().filename().string();
    if (AppliesToS3(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(SigV4SuiteCasesTest, AllThirtyApplicableCasesArePresent) {
  // 38 cases, minus the 7 normalized ones and post-sts-header-after.
  EXPECT_EQ(SuiteCases().size(), 30u);
}

class SigV4SuiteTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::string(kSuiteDir) + "/" + GetParam();
    const auto context = nlohmann::json::parse(ReadFile(dir_ + "/context.json"));
    credentials_.access_key_id = context["credentials"]["access_key_id"];
    credentials_.secret_access_key = context["credentials"]["secret_access_key"];
    if (context["credentials"].contains("token")) {
      credentials_.session_token = context["credentials"]["token"];
    }
    options_.region = context["region"];
    options_.service = context["service"];
    options_.sign_content_sha256 = context["sign_body"];
    now_ = ParseRfc3339(context["timestamp"]);
    expires_ = absl::Seconds(context["expiration_in_seconds"].get<int>());
    parsed_ = ParseHttpRequest(ReadFile(dir_ + "/request.txt"));
  }

  std::string Expected(const std::string& file) {
    return std::string(absl::StripTrailingAsciiWhitespace(ReadFile(dir_ + "/" + file)));
  }

  std::string dir_;
  AwsCredentials credentials_;
  SigV4Signer::Options options_;
  absl::Time now_;
  absl::Duration expires_;
  ParsedRequest parsed_;
};

TEST_P(SigV4SuiteTest, HeaderSigning) {
  SigV4Signer signer(options_);
  const auto signature =
      signer.SignHeaders(parsed_.request, credentials_, now_, HexEncode(Sha256(parsed_.body)));
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->canonical_request, Expected("header-canonical-request.txt"));
  EXPECT_EQ(signature->string_to_sign, Expected("header-string-to-sign.txt"));
  EXPECT_EQ(signature->signature, Expected("header-signature.txt"));
  // The signed request's Authorization line, modulo the suite's header
  // spelling.
  EXPECT_THAT(Expected("header-signed-request.txt"),
              HasSubstr("Authorization:" + signature->headers.back().second));
}

TEST_P(SigV4SuiteTest, QuerySigning) {
  SigV4Signer signer(options_);
  // The generic suite signs the real payload hash in presigned requests
  // (S3 signs UNSIGNED-PAYLOAD; the S3 examples below cover that).
  const auto signature = signer.Presign(parsed_.request, credentials_, now_, expires_,
                                        HexEncode(Sha256(parsed_.body)));
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->canonical_request, Expected("query-canonical-request.txt"));
  EXPECT_EQ(signature->string_to_sign, Expected("query-string-to-sign.txt"));
  EXPECT_EQ(signature->signature, Expected("query-signature.txt"));
  EXPECT_THAT(signature->encoded_query, HasSubstr("&X-Amz-Signature=" + signature->signature));
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, SigV4SuiteTest, ::testing::ValuesIn(SuiteCases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// --- The S3 API Reference's worked examples ------------------------------

class S3DocExampleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    doc_ = nlohmann::json::parse(ReadFile(kDocExamples));
    for (const auto& example : doc_["examples"]) {
      if (example["id"] == GetParam()) example_ = example;
    }
    ASSERT_FALSE(example_.is_null()) << GetParam();
    credentials_.access_key_id = doc_["credentials"]["access_key_id"];
    credentials_.secret_access_key = doc_["credentials"]["secret_access_key"];
    absl::Time now;
    std::string error;
    ASSERT_TRUE(
        absl::ParseTime("%E4Y%m%dT%H%M%SZ", doc_["timestamp"].get<std::string>(), &now, &error))
        << error;
    now_ = now;
  }

  SigV4Signer::Options S3Options() const {
    SigV4Signer::Options options;
    options.region = doc_["region"];
    options.service = doc_["service"];
    return options;
  }

  nlohmann::json doc_;
  nlohmann::json example_;
  AwsCredentials credentials_;
  absl::Time now_;
};

TEST_P(S3DocExampleTest, MatchesTheDocumentation) {
  const std::string id = GetParam();
  if (absl::StartsWith(id, "chunked-")) {
    GTEST_SKIP() << "aws-chunked streaming signatures are not implemented: "
                    "uploads sign the payload's SHA-256 (or UNSIGNED-PAYLOAD "
                    "with Content-MD5) instead";
  }
  if (id == "post-policy") {
    GTEST_SKIP() << "browser POST policies are not used by re_dms";
  }
  const ParsedRequest parsed = ParseHttpRequest(example_["http_request"].get<std::string>());
  SigV4Signer signer(S3Options());
  std::string canonical_request, string_to_sign, signature;
  if (example_.contains("presigned_url")) {
    const std::string url = example_["presigned_url"];
    const size_t expires_at = url.find("X-Amz-Expires=") + 14;
    const int expires = std::stoi(url.substr(expires_at));
    const auto signed_query =
        signer.Presign(parsed.request, credentials_, now_, absl::Seconds(expires));
    ASSERT_TRUE(signed_query.ok()) << signed_query.status();
    canonical_request = signed_query->canonical_request;
    string_to_sign = signed_query->string_to_sign;
    signature = signed_query->signature;
    EXPECT_EQ(
        "https://" + parsed.request.host + parsed.request.path + "?" + signed_query->encoded_query,
        url);
  } else {
    const auto signed_headers = signer.SignHeaders(parsed.request, credentials_, now_,
                                                   example_["payload_hash"].get<std::string>());
    ASSERT_TRUE(signed_headers.ok()) << signed_headers.status();
    canonical_request = signed_headers->canonical_request;
    string_to_sign = signed_headers->string_to_sign;
    signature = signed_headers->signature;
    if (example_.contains("payload")) {
      EXPECT_EQ(HexEncode(Sha256(example_["payload"].get<std::string>())),
                example_["payload_hash"]);
    }
  }
  EXPECT_EQ(canonical_request, example_["canonical_request"]);
  EXPECT_EQ(string_to_sign, example_["string_to_sign"]);
  EXPECT_EQ(signature, example_["signature"]);
}

std::vector<std::string> DocExampleIds() {
  std::vector<std::string> ids;
  const auto doc = nlohmann::json::parse(ReadFile(kDocExamples));
  for (const auto& example : doc["examples"]) {
    ids.push_back(example["id"]);
  }
  return ids;
}

INSTANTIATE_TEST_SUITE_P(S3Docs, S3DocExampleTest, ::testing::ValuesIn(DocExampleIds()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// --- Contract checks -----------------------------------------------------

SigV4Signer::Options S3InUsEast1() {
  SigV4Signer::Options options;
  options.region = "us-east-1";
  return options;
}

AwsCredentials SecretCredentials() {
  return {"AKIDEXAMPLE", "top-secret-value", "session-token-value", std::nullopt};
}

TEST(SigV4SignerTest, SessionTokenIsSignedAndSent) {
  SigV4Signer signer(S3InUsEast1());
  SigV4Request request{"GET", "bucket.s3.amazonaws.com", "/key", {}, {}};
  const auto signature =
      signer.SignHeaders(request, SecretCredentials(), absl::UnixEpoch(), kUnsignedPayload);
  ASSERT_TRUE(signature.ok());
  EXPECT_THAT(signature->canonical_request,
              HasSubstr("x-amz-security-token:session-token-value\n"));
  EXPECT_EQ(signature->headers[2], std::make_pair(std::string("X-Amz-Security-Token"),
                                                  std::string("session-token-value")));
  EXPECT_THAT(signature->headers.back().second,
              HasSubstr("SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                        "x-amz-security-token,"));
}

TEST(SigV4SignerTest, KeyIsEncodedOnceAndNotNormalized) {
  SigV4Signer signer(S3InUsEast1());
  SigV4Request request{"PUT", "s3.amazonaws.com", "/bucket/a//b/./c/../100%+ü~", {}, {}};
  const auto signature =
      signer.SignHeaders(request, SecretCredentials(), absl::UnixEpoch(), kUnsignedPayload);
  ASSERT_TRUE(signature.ok());
  EXPECT_THAT(signature->canonical_request, HasSubstr("\n/bucket/a//b/./c/../100%25%2B%C3%BC~\n"));
}

TEST(SigV4SignerTest, ErrorsNeverContainSecrets) {
  SigV4Signer signer(S3InUsEast1());
  SigV4Request request{"GET", "host", "/", {}, {{"Host", "other"}}};
  const auto signature =
      signer.SignHeaders(request, SecretCredentials(), absl::UnixEpoch(), kUnsignedPayload);
  ASSERT_FALSE(signature.ok());
  EXPECT_THAT(signature.status().message(), HasSubstr("'Host'"));
  EXPECT_THAT(signature.status().message(), Not(HasSubstr("top-secret")));

  AwsCredentials no_secret = SecretCredentials();
  no_secret.secret_access_key.clear();
  request.headers.clear();
  const auto unsigned_request =
      signer.SignHeaders(request, no_secret, absl::UnixEpoch(), kUnsignedPayload);
  EXPECT_EQ(unsigned_request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unsigned_request.status().message(), Not(HasSubstr("session-token")));
}

TEST(SigV4SignerTest, PresignExpiryIsBoundedToSevenDays) {
  SigV4Signer signer(S3InUsEast1());
  SigV4Request request{"GET", "host", "/k", {}, {}};
  EXPECT_TRUE(
      signer.Presign(request, SecretCredentials(), absl::UnixEpoch(), absl::Hours(24 * 7)).ok());
  EXPECT_EQ(signer
                .Presign(request, SecretCredentials(), absl::UnixEpoch(),
                         absl::Hours(24 * 7) + absl::Seconds(1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      signer.Presign(request, SecretCredentials(), absl::UnixEpoch(), absl::ZeroDuration()).ok());
}

// Many threads signing with several secrets across several days must get
// what a fresh signer computes alone: the key cache is shared and bounded.
TEST(SigV4SignerTest, ConcurrentSigningMatchesSequentialSigning) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  auto request_for = [](int i) {
    return SigV4Request{"GET", "host", "/key" + std::to_string(i % 7), {}, {}};
  };
  auto credentials_for = [](int i) {
    return AwsCredentials{"AKID", "secret" + std::to_string(i % 40), "", std::nullopt};
  };
  auto time_for = [](int i) {
    return absl::UnixEpoch() + absl::Hours(24 * (i % 3)) + absl::Seconds(i);
  };
  std::vector<std::string> expected(kThreads * kPerThread);
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    SigV4Signer fresh(S3InUsEast1());
    expected[i] =
        fresh.SignHeaders(request_for(i), credentials_for(i), time_for(i), kEmptyPayloadSha256)
            ->signature;
  }
  SigV4Signer shared(S3InUsEast1());
  std::vector<std::string> actual(kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < kPerThread; ++j) {
        const int i = t * kPerThread + j;
        actual[i] =
            shared
                .SignHeaders(request_for(i), credentials_for(i), time_for(i), kEmptyPayloadSha256)
                ->signature;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(actual, expected);
}

}  // namespace
}  // namespace re_dms
