// TLS end to end, with a CA and a certificate for `localhost` made here
// (openssl CLI). PostgreSQL: the target connection (PgConnection) and the
// source connection (PgKeyColumns) verify the server with
// sslmode=verify-full and sslrootcert; a wrong host name and a foreign CA are
// refused with libpq's reason in the error. S3 over HTTPS (an `openssl
// s_server` stands in for a private endpoint): the certificate is verified
// against the system's CAs by default, and S3ClientOptions::ca_file (the
// CLI's --s3-ca-file) makes the private CA trusted.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/src/load/pg_connection.h"
#include "re_dms/aws_credentials.h"
#include "re_dms/key_columns.h"
#include "re_dms/s3_client.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs a shell command; its output goes to `log`.
bool Shell(const std::string& command, const std::string& log) {
  const int status = std::system(absl::StrCat("(", command, ") >>", log, " 2>&1").c_str());
  if (status != 0) ADD_FAILURE() << "failed: " << command << " (see " << log << ")";
  return status == 0;
}

// A port nobody listens on now (the kernel's choice for an ephemeral bind).
int FreePort() {
  FILE* pipe = popen(
      "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); "
      "print(s.getsockname()[1])'",
      "r");
  int port = 0;
  if (pipe != nullptr) {
    if (fscanf(pipe, "%d", &port) != 1) port = 0;
    pclose(pipe);
  }
  return port;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* bin = std::getenv("RE_DMS_TEST_PG_BIN");
    ASSERT_NE(bin, nullptr) << "RE_DMS_TEST_PG_BIN is not set: run the tests through "
                               "./scripts/test, or `eval \"$(scripts/services start DIR)\"` first";
    // Under /tmp, not TEST_TMPDIR: the `postgres` user must reach the files,
    // and Bazel's tree below /root is closed to it.
    std::string pattern = "/tmp/re_dms_tls_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = new std::string(pattern);
    const std::string& d = *dir_;
    const std::string log = d + "/setup.log";
    // PostgreSQL refuses to run as root: the cluster then belongs to `postgres`.
    const bool root = geteuid() == 0;
    const std::string as_postgres = root ? "runuser -u postgres -- " : "";
    port_ = FreePort();
    ASSERT_GT(port_, 0);

    // A CA, and a server certificate for `localhost` only, signed by it; and
    // a second CA that signed nothing of this server.
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2";
    ASSERT_TRUE(Shell(absl::StrCat("cd ", d, " && openssl req -x509 ", ec,
                                   " -keyout ca.key -out ca.crt -subj '/CN=re_dms test CA'"),
                      log));
    ASSERT_TRUE(Shell(absl::StrCat("cd ", d, " && openssl req -x509 ", ec,
                                   " -keyout other.key -out other.crt -subj '/CN=other CA'"),
                      log));
    ASSERT_TRUE(Shell(absl::StrCat("cd ", d, " && openssl req ", ec,
                                   " -keyout server.key -out server.csr -subj '/CN=localhost'"),
                      log));
    ASSERT_TRUE(Shell(absl::StrCat("cd ", d,
                                   " && printf 'subjectAltName=DNS:localhost\\n' > san.ext && "
                                   "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
                                   "-CAcreateserial -days 2 -extfile san.ext -out server.crt"),
                      log));

    const std::string data = d + "/data";
    ASSERT_TRUE(Shell(absl::StrCat("chmod 755 ", d, " && mkdir -m 700 ", data,
                                   root ? absl::StrCat(" && chown postgres:postgres ", data, " ", d,
                                                       "/server.key ", d, "/server.crt")
                                        : ""),
                      log));
    ASSERT_TRUE(Shell(absl::StrCat("chmod 600 ", d, "/server.key && ", as_postgres, bin,
                                   "/initdb -D ", data, " -U postgres -A trust -E UTF8 --locale=C"),
                      log));
    {
      std::ofstream conf(data + "/postgresql.conf", std::ios::app);
      conf << "listen_addresses = '127.0.0.1'\nport = " << port_ << "\nunix_socket_directories = '"
           << data << "'\nssl = on\nssl_cert_file = '" << d << "/server.crt'\nssl_key_file = '" << d
           << "/server.key'\nfsync = off\n";
    }
    ASSERT_TRUE(Shell(absl::StrCat(as_postgres, bin, "/pg_ctl -D ", data, " -l ", data,
                                   "/server.log -w -t 60 start"),
                      log))
        << std::ifstream(data + "/server.log").rdbuf();
    started_ = true;

    // The HTTPS endpoint: any request gets some reply once TLS is up.
    https_port_ = FreePort();
    ASSERT_GT(https_port_, 0);
    FILE* pipe =
        popen(absl::StrCat("cd ", d, " && (openssl s_server -quiet -www -accept ", https_port_,
                           " -cert server.crt -key server.key "
                           ">s_server.log 2>&1 </dev/null & echo $!)")
                  .c_str(),
              "r");
    ASSERT_NE(pipe, nullptr);
    ASSERT_EQ(fscanf(pipe, "%d", &https_pid_), 1);
    pclose(pipe);
    // Ready once it accepts connections.
    ASSERT_TRUE(
        Shell(absl::StrCat("bash -c 'for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/",
                           https_port_, ") 2>/dev/null && exit 0; sleep 0.1; done; exit 1'"),
              log));
  }

  static void TearDownTestSuite() {
    if (https_pid_ > 0) kill(https_pid_, SIGTERM);
    if (started_) {
      const bool root = geteuid() == 0;
      std::system(absl::StrCat(root ? "runuser -u postgres -- " : "",
                               std::getenv("RE_DMS_TEST_PG_BIN"), "/pg_ctl -D ", *dir_,
                               "/data -m immediate -w stop >/dev/null 2>&1")
                      .c_str());
    }
    if (dir_ != nullptr) std::system(absl::StrCat("rm -rf ", *dir_).c_str());
  }

  // A conninfo for the test server under `host` with verify-full against `ca`.
  static std::string Conninfo(absl::string_view host, absl::string_view ca) {
    return absl::StrCat("host=", host, " hostaddr=127.0.0.1 port=", port_,
                        " user=postgres dbname=postgres sslmode=verify-full sslrootcert=", *dir_,
                        "/", ca);
  }

  static std::unique_ptr<S3Client> MakeS3(const std::string& ca_file) {
    S3ClientOptions options;
    options.region = "us-east-1";
    options.endpoint = absl::StrCat("https://localhost:", https_port_);
    options.ca_file = ca_file;
    options.retry.max_attempts = 1;
    options.connect_timeout = absl::Seconds(5);
    // s_server answers a HEAD with nothing: give up on the silence quickly.
    options.low_speed_time = absl::Seconds(2);
    absl::StatusOr<std::unique_ptr<S3Client>> client = S3Client::Create(
        options, MakeStaticCredentialsProvider(AwsCredentials{"AKIDEXAMPLE", "secret", "", {}}));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  static std::string* dir_;
  static int port_;
  static bool started_;
  static int https_port_;
  static int https_pid_;
};

std::string* TlsTest::dir_ = nullptr;
int TlsTest::port_ = 0;
bool TlsTest::started_ = false;
int TlsTest::https_port_ = 0;
int TlsTest::https_pid_ = 0;

TEST_F(TlsTest, TargetConnectionVerifiesTheServer) {
  PgConnectionOptions options;
  options.conninfo = Conninfo("localhost", "ca.crt");
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(options);
  ASSERT_TRUE(connection.ok()) << connection.status();
  absl::StatusOr<std::vector<PgRow>> rows =
      (*connection)->Query("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0][0], "true");
}

TEST_F(TlsTest, SourceConnectionVerifiesTheServer) {
  absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys =
      PgKeyColumns::Connect(Conninfo("localhost", "ca.crt"));
  ASSERT_TRUE(keys.ok()) << keys.status();
  // A lookup runs over the verified connection.
  EXPECT_EQ((*keys)->Lookup("pg_catalog", "no_such_table").status().code(),
            absl::StatusCode::kNotFound);
}

// The certificate names `localhost`; reached as 127.0.0.1 it must be refused.
TEST_F(TlsTest, WrongHostNameIsRefused) {
  PgConnectionOptions options;
  options.conninfo = Conninfo("127.0.0.1", "ca.crt");
  absl::StatusOr<std::unique_ptr<PgConnection>> target = PgConnection::Connect(options);
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(target.status().message(), HasSubstr("connecting to the target failed"));
  EXPECT_THAT(target.status().message(), HasSubstr("does not match host name \"127.0.0.1\""));

  absl::StatusOr<std::unique_ptr<PgKeyColumns>> source =
      PgKeyColumns::Connect(Conninfo("127.0.0.1", "ca.crt"));
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("connecting to the source database failed"));
  EXPECT_THAT(source.status().message(), HasSubstr("does not match host name \"127.0.0.1\""));
}

TEST_F(TlsTest, CertificateOfAnotherCaIsRefused) {
  PgConnectionOptions options;
  options.conninfo = Conninfo("localhost", "other.crt");
  absl::StatusOr<std::unique_ptr<PgConnection>> target = PgConnection::Connect(options);
  ASSERT_FALSE(target.ok());
  EXPECT_THAT(target.status().message(), HasSubstr("certificate verify failed"));
}

TEST_F(TlsTest, S3VerifiesCertificatesByDefault) {
  std::unique_ptr<S3Client> s3 = MakeS3("");
  ASSERT_NE(s3, nullptr);
  absl::StatusOr<S3ObjectInfo> head = s3->HeadObject("bucket", "key");
  ASSERT_FALSE(head.ok());
  // Not worth a retry, and it says why.
  EXPECT_EQ(head.status().code(), absl::StatusCode::kFailedPrecondition) << head.status();
  EXPECT_THAT(head.status().message(), HasSubstr("certificate")) << head.status();
}

TEST_F(TlsTest, S3CaFileTrustsAPrivateCa) {
  std::unique_ptr<S3Client> s3 = MakeS3(absl::StrCat(*dir_, "/ca.crt"));
  ASSERT_NE(s3, nullptr);
  // s_server is no S3: the request fails, but past the TLS handshake.
  absl::StatusOr<S3ObjectInfo> head = s3->HeadObject("bucket", "key");
  EXPECT_NE(head.status().code(), absl::StatusCode::kFailedPrecondition) << head.status();
  EXPECT_THAT(head.status().message(), Not(HasSubstr("certificate"))) << head.status();
  std::printf("with the private CA: %s\n", head.status().ToString().c_str());

  // The private CA does not make other names acceptable.
  S3ClientOptions options;
  options.region = "us-east-1";
  options.endpoint = absl::StrCat("https://127.0.0.1:", https_port_);
  options.ca_file = absl::StrCat(*dir_, "/ca.crt");
  options.retry.max_attempts = 1;
  options.low_speed_time = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<S3Client>> by_address = S3Client::Create(
      options, MakeStaticCredentialsProvider(AwsCredentials{"AKIDEXAMPLE", "secret", "", {}}));
  ASSERT_TRUE(by_address.ok()) << by_address.status();
  absl::StatusOr<S3ObjectInfo> wrong_name = (*by_address)->HeadObject("bucket", "key");
  EXPECT_EQ(wrong_name.status().code(), absl::StatusCode::kFailedPrecondition)
      << wrong_name.status();
}

}  // namespace
}  // namespace re_dms
