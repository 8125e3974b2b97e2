// TLS to PostgreSQL, end to end: a PostgreSQL started here with a certificate
// that a CA made here (openssl CLI) signed. The target connection
// (PgConnection) and the source connection (PgKeyColumns) both verify it with
// sslmode=verify-full and sslrootcert; a wrong host name and a foreign CA are
// refused with libpq's reason in the error.

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
#include "re_dms/key_columns.h"

namespace re_dms {
namespace {

using ::testing::HasSubstr;

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

class TlsPgTest : public ::testing::Test {
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
  }

  static void TearDownTestSuite() {
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

  static std::string* dir_;
  static int port_;
  static bool started_;
};

std::string* TlsPgTest::dir_ = nullptr;
int TlsPgTest::port_ = 0;
bool TlsPgTest::started_ = false;

TEST_F(TlsPgTest, TargetConnectionVerifiesTheServer) {
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

TEST_F(TlsPgTest, SourceConnectionVerifiesTheServer) {
  absl::StatusOr<std::unique_ptr<PgKeyColumns>> keys =
      PgKeyColumns::Connect(Conninfo("localhost", "ca.crt"));
  ASSERT_TRUE(keys.ok()) << keys.status();
  // A lookup runs over the verified connection.
  EXPECT_EQ((*keys)->Lookup("pg_catalog", "no_such_table").status().code(),
            absl::StatusCode::kNotFound);
}

// The certificate names `localhost`; reached as 127.0.0.1 it must be refused.
TEST_F(TlsPgTest, WrongHostNameIsRefused) {
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

TEST_F(TlsPgTest, CertificateOfAnotherCaIsRefused) {
  PgConnectionOptions options;
  options.conninfo = Conninfo("localhost", "other.crt");
  absl::StatusOr<std::unique_ptr<PgConnection>> target = PgConnection::Connect(options);
  ASSERT_FALSE(target.ok());
  EXPECT_THAT(target.status().message(), HasSubstr("certificate verify failed"));
}

}  // namespace
}  // namespace re_dms
