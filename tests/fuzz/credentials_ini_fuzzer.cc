// ~/.aws/credentials and ~/.aws/config in the AWS CLI's INI dialect, through
// CredentialsFromSharedFiles: no crash; what it returns is a secret written
// in one of the files; and no error depends on a secret.
//
// Input: one byte picks the profile (default or `dev`); the rest is the
// credentials file, up to the first NUL byte, then the config file.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "re_dms/credentials.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

// An in-memory file whose contents are replaced for every input, so runs do
// not touch the disk.
class MemoryFile {
 public:
  explicit MemoryFile(const char* name) : fd_(memfd_create(name, 0)) {
    if (fd_ < 0) re_dms::fuzz::Fail("memfd_create failed");
  }
  std::string path() const { return absl::StrCat("/proc/self/fd/", fd_); }
  void Set(absl::string_view bytes) {
    if (ftruncate(fd_, 0) != 0 ||
        pwrite(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
      re_dms::fuzz::Fail("cannot write a memfd");
    }
  }

 private:
  int fd_;
};

// `file` with the value of every `aws_secret_access_key` and
// `aws_session_token` setting replaced (a non-empty one by a non-empty one, so
// the file means the same but for the secrets); *secrets gets the originals.
std::string WithoutSecrets(absl::string_view file, std::vector<std::string>* secrets) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(file, '\n')) {
    const size_t equals = line.find('=');
    if (equals != absl::string_view::npos) {
      const std::string key =
          absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, equals)));
      const absl::string_view value = absl::StripAsciiWhitespace(line.substr(equals + 1));
      if ((key == "aws_secret_access_key" || key == "aws_session_token") && !value.empty()) {
        secrets->emplace_back(value);
        lines.push_back(absl::StrCat(line.substr(0, equals + 1), "replaced"));
        continue;
      }
    }
    lines.emplace_back(line);
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using re_dms::fuzz::Fail;
  static MemoryFile* credentials_file = new MemoryFile("credentials");
  static MemoryFile* config_file = new MemoryFile("config");
  re_dms::fuzz::FuzzInput input(data, size);
  const bool named_profile = input.Bool();
  const absl::string_view rest = input.Rest();
  const size_t nul = rest.find('\0');
  const absl::string_view credentials = rest.substr(0, nul);
  const absl::string_view config =
      nul == absl::string_view::npos ? absl::string_view() : rest.substr(nul + 1);
  credentials_file->Set(credentials);
  config_file->Set(config);

  re_dms::CredentialChainOptions options;
  options.profile = named_profile ? "dev" : "";
  const std::string credentials_path = credentials_file->path();
  const std::string config_path = config_file->path();
  options.environment = [&](absl::string_view name) -> std::optional<std::string> {
    if (name == "AWS_SHARED_CREDENTIALS_FILE") return credentials_path;
    if (name == "AWS_CONFIG_FILE") return config_path;
    return std::nullopt;
  };
  const absl::StatusOr<re_dms::AwsCredentials> found = re_dms::CredentialsFromSharedFiles(options);
  std::vector<std::string> secrets;
  const std::string credentials_without = WithoutSecrets(credentials, &secrets);
  const std::string config_without = WithoutSecrets(config, &secrets);
  if (found.ok()) {
    if (found->secret_access_key.empty()) return 0;  // no profile: nothing found
    bool written = false;
    for (const std::string& secret : secrets) written |= secret == found->secret_access_key;
    if (!written) Fail("the secret returned is not one the files hold");
    return 0;
  }
  if (secrets.empty()) return 0;
  // Differential: the same files with the secrets replaced must fail the same
  // way; whatever of a secret an error quoted would make them differ.
  credentials_file->Set(credentials_without);
  config_file->Set(config_without);
  const absl::StatusOr<re_dms::AwsCredentials> again = re_dms::CredentialsFromSharedFiles(options);
  if (again.status() != found.status()) {
    Fail(absl::StrCat("an error depends on a secret:\n  ", found.status().ToString(), "\n  ",
                      again.status().ToString()));
  }
  return 0;
}
