// The credential chain against files in a temporary HOME and a local
// metadata responder (tests/tools/metadata_responder.py) standing in for the
// ECS and EC2 metadata services. No request ever goes to 169.254.x.

#include "re_dms/credentials.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/tool_process.h"
#include <nlohmann/json.hpp>

namespace re_dms {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using re_dms::testing::ToolProcess;

constexpr char kResponder[] = "tests/tools/metadata_responder.py";

std::unique_ptr<ToolProcess> StartResponder(std::vector<std::string> args = {}) {
  absl::StatusOr<std::unique_ptr<ToolProcess>> responder = ToolProcess::Start(kResponder, args);
  EXPECT_TRUE(responder.ok()) << responder.status();
  return responder.ok() ? *std::move(responder) : nullptr;
}

// How many requests the responder saw for `what` (e.g. "PUT /latest/api/token").
int RequestCount(const ToolProcess& responder, const std::string& what) {
  absl::StatusOr<std::string> stats = responder.Get("/__stats");
  EXPECT_TRUE(stats.ok()) << stats.status();
  if (!stats.ok()) return -1;
  return nlohmann::json::parse(*stats).value(what, 0);
}

constexpr char kRolePath[] = "/latest/meta-data/iam/security-credentials/re-dms-test-role";

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    home_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/home-",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(home_ + "/.aws");
    env_["HOME"] = home_;
    // Nothing listens on port 1: instance metadata is absent unless a test
    // points it at a responder.
    options_.instance_metadata_endpoint = "http://127.0.0.1:1";
  }
  void TearDown() override { std::filesystem::remove_all(home_); }

  CredentialChainOptions Options() {
    CredentialChainOptions options = options_;
    options.environment = [env = env_](absl::string_view name) -> std::optional<std::string> {
      auto it = env.find(std::string(name));
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    return options;
  }

  absl::StatusOr<AwsCredentials> Resolve() {
    return MakeDefaultCredentialsProvider(Options())->GetCredentials();
  }

  void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  std::string home_;
  std::map<std::string, std::string> env_;
  CredentialChainOptions options_;
};

TEST_F(CredentialsTest, EnvironmentWithSessionToken) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  env_["AWS_SESSION_TOKEN"] = "env-token";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "AKIDENV");
  EXPECT_EQ(credentials->secret_access_key, "env-secret");
  EXPECT_EQ(credentials->session_token, "env-token");
  EXPECT_FALSE(credentials->expiration.has_value());
}

TEST_F(CredentialsTest, HalfSetEnvironmentIsAnErrorWithoutTheSecret) {
  env_["AWS_SECRET_ACCESS_KEY"] = "lonely-secret";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(credentials.status().message(), HasSubstr("AWS_ACCESS_KEY_ID is not"));
  EXPECT_THAT(credentials.status().message(), Not(HasSubstr("lonely-secret")));
}

TEST_F(CredentialsTest, DefaultProfileFromCredentialsFile) {
  WriteFile(home_ + "/.aws/credentials",
            "# a comment\n"
            "[default]\n"
            "aws_access_key_id = AKIDFILE\n"
            "aws_secret_access_key=file-secret\n"
            "\n"
            "[other]\n"
            "aws_access_key_id = AKIDOTHER\n"
            "aws_secret_access_key = other-secret\n");
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "AKIDFILE");
  EXPECT_EQ(credentials->secret_access_key, "file-secret");
  EXPECT_EQ(credentials->session_token, "");
}

TEST_F(CredentialsTest, NamedProfileFromConfigFileWithSessionToken) {
  const std::string config = home_ + "/elsewhere-config";
  WriteFile(config,
            "[default]\n"
            "region = eu-west-1\n"
            "[profile dev]\n"
            "region = us-east-2\n"
            "s3 =\n"
            "  max_concurrent_requests = 20\n"
            "aws_access_key_id = AKIDDEV\n"
            "aws_secret_access_key = dev-secret\n"
            "aws_session_token = dev-token\n");
  env_["AWS_CONFIG_FILE"] = config;
  env_["AWS_PROFILE"] = "dev";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "AKIDDEV");
  EXPECT_EQ(credentials->session_token, "dev-token");
}

TEST_F(CredentialsTest, CredentialsFileWinsOverConfigAndOptionWinsOverAwsProfile) {
  const std::string credentials_path = home_ + "/creds";
  WriteFile(credentials_path,
            "[ci]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s1\n"
            "[dev]\naws_access_key_id = AKIDDEVCREDS\naws_secret_access_key = s3\n");
  WriteFile(home_ + "/.aws/config",
            "[profile ci]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s2\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = credentials_path;
  env_["AWS_PROFILE"] = "dev";
  options_.profile = "ci";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "AKIDCREDS");
}

TEST_F(CredentialsTest, MissingNamedProfileFailsInsteadOfFallingThrough) {
  std::unique_ptr<ToolProcess> imds = StartResponder();
  ASSERT_NE(imds, nullptr);
  options_.instance_metadata_endpoint = imds->url();
  WriteFile(home_ + "/.aws/credentials",
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
  env_["AWS_PROFILE"] = "typo";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kFailedPrecondition)
      << credentials.status();
  EXPECT_THAT(credentials.status().message(), HasSubstr("profile `typo`"));
  EXPECT_THAT(credentials.status().message(), HasSubstr(home_ + "/.aws/credentials"));
  EXPECT_THAT(credentials.status().message(), HasSubstr("AWS_PROFILE"));
  EXPECT_EQ(RequestCount(*imds, "PUT /latest/api/token"), 0);
}

TEST_F(CredentialsTest, RoleProfilesAreReportedAsUnsupported) {
  WriteFile(home_ + "/.aws/config",
            "[profile assume]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
            "source_profile = default\n");
  options_.profile = "assume";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(credentials.status().message(), HasSubstr("role_arn"));
}

TEST_F(CredentialsTest, MalformedFileNamesPathAndLineButNotTheLine) {
  WriteFile(home_ + "/.aws/credentials",
            "[default]\naws_access_key_id = AKIDFILE\nthis-line-is-secret-garbage\n");
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(credentials.status().message(), HasSubstr("/.aws/credentials:3"));
  EXPECT_THAT(credentials.status().message(), Not(HasSubstr("secret-garbage")));
}

TEST_F(CredentialsTest, PrecedenceExplicitEnvironmentFilesContainerInstance) {
  std::unique_ptr<ToolProcess> responder = StartResponder();
  ASSERT_NE(responder, nullptr);
  options_.instance_metadata_endpoint = responder->url();
  options_.container_endpoint = responder->url();
  env_["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/test";
  WriteFile(home_ + "/.aws/credentials",
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "s";
  options_.explicit_credentials = AwsCredentials{"AKIDEXPLICIT", "s", "", std::nullopt};

  auto resolved_id = [&] {
    absl::StatusOr<AwsCredentials> credentials = Resolve();
    return credentials.ok() ? credentials->access_key_id : credentials.status().ToString();
  };
  EXPECT_EQ(resolved_id(), "AKIDEXPLICIT");
  options_.explicit_credentials.reset();
  EXPECT_EQ(resolved_id(), "AKIDENV");
  env_.erase("AWS_ACCESS_KEY_ID");
  env_.erase("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(resolved_id(), "AKIDFILE");
  std::filesystem::remove(home_ + "/.aws/credentials");
  EXPECT_EQ(resolved_id(), "ASIAECS0001");
  env_.erase("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  EXPECT_EQ(resolved_id(), "ASIAIMDS0002");
}

TEST_F(CredentialsTest, ContainerRelativeUri) {
  std::unique_ptr<ToolProcess> ecs = StartResponder({"--ecs-path", "/v2/credentials/abc"});
  ASSERT_NE(ecs, nullptr);
  options_.container_endpoint = ecs->url();
  env_["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/abc";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "ASIAECS0001");
  EXPECT_EQ(credentials->secret_access_key, "secret-0001");
  EXPECT_EQ(credentials->session_token, "session-token-0001");
  ASSERT_TRUE(credentials->expiration.has_value());
  EXPECT_GT(*credentials->expiration, absl::Now() + absl::Minutes(50));
}

TEST_F(CredentialsTest, ContainerFullUriWithAuthorizationToken) {
  std::unique_ptr<ToolProcess> ecs =
      StartResponder({"--ecs-path", "/creds", "--ecs-token", "Bearer pod-token"});
  ASSERT_NE(ecs, nullptr);
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = ecs->url() + "/creds";

  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer wrong";
  absl::StatusOr<AwsCredentials> rejected = Resolve();
  ASSERT_EQ(rejected.status().code(), absl::StatusCode::kPermissionDenied) << rejected.status();
  EXPECT_THAT(rejected.status().message(), HasSubstr("HTTP 401"));
  EXPECT_THAT(rejected.status().message(), Not(HasSubstr("wrong")));

  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer pod-token";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "ASIAECS0001");

  // The token file (EKS Pod Identity) takes precedence over the variable.
  WriteFile(home_ + "/token", "Bearer pod-token\n");
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer wrong";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = home_ + "/token";
  credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "ASIAECS0002");
}

TEST_F(CredentialsTest, ContainerFullUriOverPlainHttpMustBeLocal) {
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://credentials.example.com/creds";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(credentials.status().message(), HasSubstr("plain http"));
}

TEST_F(CredentialsTest, BadCredentialsDocumentsAreErrorsThatQuoteNoSecret) {
  const struct {
    std::string document;
    absl::StatusCode code;
    std::string says;
  } cases[] = {
      {R"({"AccessKeyId": "ASIAX", "Token": "token-secret", "Expiration": "2030-01-01T00:00:00Z"})",
       absl::StatusCode::kDataLoss, "has no SecretAccessKey"},
      {R"({"AccessKeyId": "ASIAX", "SecretAccessKey": "key-secret", "Expiration": "soon"})",
       absl::StatusCode::kDataLoss, "Expiration `soon` is not RFC 3339"},
      {R"({"Code": "AssumeRoleUnauthorizedAccess", "Message": "cannot assume role"})",
       absl::StatusCode::kUnavailable, "Code AssumeRoleUnauthorizedAccess: cannot assume role"},
      {"<html>body-secret</html>", absl::StatusCode::kDataLoss, "is not a JSON object"},
  };
  for (const auto& test_case : cases) {
    std::unique_ptr<ToolProcess> ecs = StartResponder({"--document", test_case.document});
    ASSERT_NE(ecs, nullptr);
    env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = ecs->url() + "/v2/credentials/test";
    absl::StatusOr<AwsCredentials> credentials = Resolve();
    EXPECT_EQ(credentials.status().code(), test_case.code) << credentials.status();
    EXPECT_THAT(credentials.status().message(), HasSubstr(test_case.says));
    EXPECT_THAT(credentials.status().message(), HasSubstr("container credentials (http://127.0.0.1:"));
    EXPECT_THAT(credentials.status().message(), Not(HasSubstr("secret")));
  }
}

TEST_F(CredentialsTest, InstanceMetadataTokenFlow) {
  std::unique_ptr<ToolProcess> imds = StartResponder();
  ASSERT_NE(imds, nullptr);
  // Through the variable this time, as an operator would redirect it.
  options_.instance_metadata_endpoint.clear();
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds->url() + "/";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->access_key_id, "ASIAIMDS0001");
  EXPECT_EQ(credentials->session_token, "session-token-0001");
  // The responder answers role lookups only with a token from the PUT.
  EXPECT_EQ(RequestCount(*imds, "PUT /latest/api/token"), 1);
  EXPECT_EQ(RequestCount(*imds, "GET /latest/meta-data/iam/security-credentials/"), 1);
  EXPECT_EQ(RequestCount(*imds, std::string("GET ") + kRolePath), 1);
}

TEST_F(CredentialsTest, LongLivedTemporaryCredentialsAreCached) {
  std::unique_ptr<ToolProcess> imds = StartResponder({"--expires-in", "3600"});
  ASSERT_NE(imds, nullptr);
  options_.instance_metadata_endpoint = imds->url();
  std::unique_ptr<CredentialsProvider> provider = MakeDefaultCredentialsProvider(Options());
  std::vector<std::thread> threads;
  std::vector<std::string> ids(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int call = 0; call < 20; ++call) {
        absl::StatusOr<AwsCredentials> credentials = provider->GetCredentials();
        ids[i] = credentials.ok() ? credentials->access_key_id : credentials.status().ToString();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& id : ids) EXPECT_EQ(id, "ASIAIMDS0001");
  EXPECT_EQ(RequestCount(*imds, std::string("GET ") + kRolePath), 1);
}

TEST_F(CredentialsTest, CredentialsNearExpiryAreRefreshed) {
  // Two minutes left is inside the five-minute refresh window.
  std::unique_ptr<ToolProcess> imds = StartResponder({"--expires-in", "120"});
  ASSERT_NE(imds, nullptr);
  options_.instance_metadata_endpoint = imds->url();
  std::unique_ptr<CredentialsProvider> provider = MakeDefaultCredentialsProvider(Options());
  absl::StatusOr<AwsCredentials> first = provider->GetCredentials();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->access_key_id, "ASIAIMDS0001");
  absl::StatusOr<AwsCredentials> second = provider->GetCredentials();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->access_key_id, "ASIAIMDS0002");
  EXPECT_EQ(second->secret_access_key, "secret-0002");
  EXPECT_EQ(RequestCount(*imds, "PUT /latest/api/token"), 2);
}

TEST_F(CredentialsTest, FailedRefreshKeepsCredentialsThatHaveNotExpired) {
  std::unique_ptr<ToolProcess> imds = StartResponder({"--expires-in", "120", "--fail-after", "1"});
  ASSERT_NE(imds, nullptr);
  options_.instance_metadata_endpoint = imds->url();
  std::unique_ptr<CredentialsProvider> provider = MakeDefaultCredentialsProvider(Options());
  ASSERT_TRUE(provider->GetCredentials().ok());
  absl::StatusOr<AwsCredentials> second = provider->GetCredentials();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->access_key_id, "ASIAIMDS0001");
  // The refresh was attempted (and retried) rather than skipped.
  EXPECT_GE(RequestCount(*imds, std::string("GET ") + kRolePath), 2);
}

TEST_F(CredentialsTest, InstanceMetadataDisabled) {
  std::unique_ptr<ToolProcess> imds = StartResponder();
  ASSERT_NE(imds, nullptr);
  options_.instance_metadata_endpoint = imds->url();
  env_["AWS_EC2_METADATA_DISABLED"] = "TRUE";
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(credentials.status().message(), HasSubstr("AWS_EC2_METADATA_DISABLED"));
  EXPECT_EQ(RequestCount(*imds, "PUT /latest/api/token"), 0);
}

TEST_F(CredentialsTest, NothingConfiguredNamesEverySourceTried) {
  absl::StatusOr<AwsCredentials> credentials = Resolve();
  ASSERT_EQ(credentials.status().code(), absl::StatusCode::kNotFound);
  const absl::string_view message = credentials.status().message();
  EXPECT_THAT(message, HasSubstr("environment: AWS_ACCESS_KEY_ID is not set"));
  EXPECT_THAT(message, HasSubstr("profile `default` is in neither"));
  EXPECT_THAT(message, HasSubstr("container credentials:"));
  EXPECT_THAT(message, HasSubstr("instance metadata: PUT http://127.0.0.1:1/latest/api/token"));
}

}  // namespace
}  // namespace re_dms
