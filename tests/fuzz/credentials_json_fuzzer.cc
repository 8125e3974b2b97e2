// The credentials document that the ECS container endpoint and EC2 instance
// metadata (IMDSv2) serve, through ParseCredentialsDocument: no crash; what it
// accepts has both keys; and no error quotes the secret or the token.

#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/src/aws/credentials_http.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_input.h"

namespace {

// The string value of `field` in `document`, or "".
std::string StringField(const nlohmann::json& document, const char* field) {
  if (!document.is_object()) return "";
  auto found = document.find(field);
  if (found == document.end() || !found->is_string()) return "";
  return found->get<std::string>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using re_dms::fuzz::Fail;
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<re_dms::AwsCredentials> parsed =
      re_dms::credentials_internal::ParseCredentialsDocument(body, "instance metadata");
  const nlohmann::json document =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.ok()) {
    if (parsed->access_key_id.empty() || parsed->secret_access_key.empty()) {
      Fail("accepted a document without AccessKeyId or SecretAccessKey");
    }
    if (parsed->secret_access_key != StringField(document, "SecretAccessKey")) {
      Fail("the secret read is not the document's SecretAccessKey");
    }
    return 0;
  }
  // Differential: the same document with the secret and the token replaced
  // (non-empty by non-empty, so validity is unchanged) must fail with the
  // same message; whatever of them an error quoted would make it differ.
  if (!document.is_object()) return 0;
  nlohmann::json replaced = document;
  bool has_secret = false;
  for (const char* field : {"SecretAccessKey", "Token"}) {
    if (!StringField(document, field).empty()) {
      replaced[field] = "replaced";
      has_secret = true;
    }
  }
  if (!has_secret) return 0;
  const absl::StatusOr<re_dms::AwsCredentials> again =
      re_dms::credentials_internal::ParseCredentialsDocument(replaced.dump(), "instance metadata");
  if (again.status() != parsed.status()) {
    Fail(absl::StrCat("an error depends on the secret or the token:\n  ",
                      parsed.status().ToString(), "\n  ", again.status().ToString()));
  }
  return 0;
}
