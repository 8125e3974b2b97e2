// The shared-files source of the credential chain: ~/.aws/credentials and
// ~/.aws/config, as the AWS CLI writes them. Only static keys (with an
// optional session token) are read; profiles that assume roles, use SSO or
// run a credential_process are reported as unsupported rather than skipped.

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "re_dms/credentials.h"

namespace re_dms {
namespace {

using Section = std::map<std::string, std::string>;
using IniFile = std::map<std::string, Section>;

// Reads `path`; std::nullopt when it does not exist.
absl::StatusOr<std::optional<std::string>> ReadOptionalFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::string>();
    return absl::PermissionDeniedError(
        absl::StrCat("shared files: cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return std::optional<std::string>(content.str());
}

// Parses the INI dialect of the AWS shared files. Indented lines continue the
// previous setting (nested settings such as `s3 =` blocks) and are ignored.
// Errors cite the line number only: the line itself may hold a secret.
absl::StatusOr<IniFile> ParseIni(absl::string_view text, const std::string& path) {
  IniFile file;
  Section* section = nullptr;
  bool after_setting = false;
  int line_number = 0;
  for (absl::string_view rest = text; !rest.empty();) {
    const size_t end = rest.find('\n');
    absl::string_view line = rest.substr(0, end);
    rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end + 1);
    ++line_number;
    const bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (indented && after_setting) continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return absl::InvalidArgumentError(
            absl::StrCat("shared files: ", path, ":", line_number, ": unterminated section header"));
      }
      line.remove_prefix(1);
      line.remove_suffix(1);
      section = &file[std::string(absl::StripAsciiWhitespace(line))];
      after_setting = false;
      continue;
    }
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos || section == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shared files: ", path, ":", line_number,
          section == nullptr ? ": setting outside any [section]" : ": expected `key = value`"));
    }
    std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, equals)));
    (*section)[key] = std::string(absl::StripAsciiWhitespace(line.substr(equals + 1)));
    after_setting = true;
  }
  return file;
}

std::string ExpandHome(const std::string& path, const CredentialChainOptions& options) {
  if (!absl::StartsWith(path, "~/")) return path;
  return absl::StrCat(options.environment("HOME").value_or(""), path.substr(1));
}

std::string PathFromEnvironment(absl::string_view variable, absl::string_view default_path,
                                const CredentialChainOptions& options) {
  std::optional<std::string> value = options.environment(variable);
  return ExpandHome(value.has_value() && !value->empty() ? *value : std::string(default_path),
                    options);
}

struct FoundProfile {
  std::string path;
  const Section* section;
};

}  // namespace

absl::StatusOr<AwsCredentials> CredentialsFromSharedFiles(
    const CredentialChainOptions& options) {
  std::string profile = options.profile;
  std::string named_by = "configuration";
  if (profile.empty()) {
    profile = options.environment("AWS_PROFILE").value_or("");
    named_by = "AWS_PROFILE";
  }
  // Only a profile somebody named must exist; `default` is merely tried.
  const bool named = !profile.empty();
  if (!named) profile = "default";

  const std::string credentials_path =
      PathFromEnvironment("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", options);
  const std::string config_path = PathFromEnvironment("AWS_CONFIG_FILE", "~/.aws/config", options);

  // The credentials file wins over the config file, as in the AWS CLI.
  std::optional<FoundProfile> found;
  IniFile credentials_file, config_file;
  const struct {
    const std::string& path;
    IniFile* parsed;
    std::string section;
  } files[] = {
      {credentials_path, &credentials_file, profile},
      {config_path, &config_file, profile == "default" ? profile : "profile " + profile},
  };
  for (const auto& file : files) {
    absl::StatusOr<std::optional<std::string>> text = ReadOptionalFile(file.path);
    if (!text.ok()) return text.status();
    if (!text->has_value()) continue;
    absl::StatusOr<IniFile> parsed = ParseIni(**text, file.path);
    if (!parsed.ok()) return parsed.status();
    *file.parsed = *std::move(parsed);
    auto section = file.parsed->find(file.section);
    if (section == file.parsed->end()) continue;
    if (!found.has_value() || (!found->section->count("aws_access_key_id") &&
                               section->second.count("aws_access_key_id"))) {
      found = FoundProfile{file.path, &section->second};
    }
  }

  const std::string where = absl::StrCat("shared files: profile `", profile, "`");
  if (!found.has_value()) {
    std::string message =
        absl::StrCat(where, " is in neither ", credentials_path, " nor ", config_path);
    if (named) {
      return absl::FailedPreconditionError(absl::StrCat(message, " (named by ", named_by, ")"));
    }
    return absl::NotFoundError(message);
  }
  const Section& section = *found->section;
  auto value = [&](const char* key) {
    auto it = section.find(key);
    return it == section.end() ? std::string() : it->second;
  };
  AwsCredentials credentials;
  credentials.access_key_id = value("aws_access_key_id");
  credentials.secret_access_key = value("aws_secret_access_key");
  credentials.session_token = value("aws_session_token");
  if (credentials.access_key_id.empty()) {
    std::string message = absl::StrCat(where, " in ", found->path, " has no aws_access_key_id");
    // Role, SSO and process profiles are configured credentials this chain
    // cannot produce: failing says so instead of acting as someone else.
    for (const char* unsupported :
         {"role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file"}) {
      if (section.count(unsupported)) {
        return absl::UnimplementedError(
            absl::StrCat(message, "; its `", unsupported, "` setting is not supported"));
      }
    }
    if (named) return absl::FailedPreconditionError(message);
    return absl::NotFoundError(message);
  }
  if (credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " in ", found->path, " has aws_access_key_id but no aws_secret_access_key"));
  }
  return credentials;
}

}  // namespace re_dms
