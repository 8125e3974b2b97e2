#include "credentials_http.h"

#include <curl/curl.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <nlohmann/json.hpp>

namespace re_dms::credentials_internal {
namespace {

// Metadata documents are a few hundred bytes; anything much larger is not a
// metadata service, and must not grow memory without bound.
constexpr size_t kMaxBodyBytes = 64 * 1024;

struct BodySink {
  std::string* body;
  bool overflowed = false;
};

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t bytes = size * count;
  if (sink->body->size() + bytes > kMaxBodyBytes) {
    sink->overflowed = true;
    return 0;  // Aborts the transfer.
  }
  sink->body->append(data, bytes);
  return bytes;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

absl::StatusOr<MetadataResponse> MetadataRequestOnce(
    absl::string_view method, const std::string& url,
    const std::vector<std::string>& headers,
    const CredentialChainOptions& options) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::unique_ptr<curl_slist, HeaderListDeleter> header_list;
  for (const std::string& header : headers) {
    // Appending returns the list's head, which is the one already owned
    // after the first header.
    curl_slist* head = curl_slist_append(header_list.get(), header.c_str());
    if (head == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
    if (header_list == nullptr) header_list.reset(head);
  }
  MetadataResponse response;
  BodySink sink{&response.body};
  const std::string method_text(method);
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  if (method_text == "PUT") {
    // An empty PUT body, sent as Content-Length: 0 rather than chunked.
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.metadata_connect_timeout)));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.metadata_request_timeout)));
  const CURLcode code = curl_easy_perform(handle);
  if (sink.overflowed) {
    return absl::DataLossError(
        absl::StrCat(method, " ", url, ": response larger than ", kMaxBodyBytes, " bytes"));
  }
  if (code != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(method, " ", url, ": ", curl_easy_strerror(code)));
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace

absl::StatusOr<MetadataResponse> MetadataRequest(
    absl::string_view method, const std::string& url,
    const std::vector<std::string>& headers,
    const CredentialChainOptions& options, int attempts) {
  absl::StatusOr<MetadataResponse> response;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) absl::SleepFor(absl::Milliseconds(100) * (attempt - 1));
    response = MetadataRequestOnce(method, url, headers, options);
    if (response.ok() && response->status < 500) break;
  }
  return response;
}

absl::StatusOr<AwsCredentials> ParseCredentialsDocument(absl::string_view body,
                                                        absl::string_view source) {
  const nlohmann::json document = nlohmann::json::parse(body.begin(), body.end(),
                                                        /*cb=*/nullptr,
                                                        /*allow_exceptions=*/false);
  if (!document.is_object()) {
    return absl::DataLossError(absl::StrCat(source, ": credentials response is not a JSON object"));
  }
  // IMDS reports failures in-band: {"Code": "...", "Message": "..."}.
  if (auto code = document.find("Code");
      code != document.end() && code->is_string() && *code != "Success") {
    auto message = document.find("Message");
    return absl::UnavailableError(absl::StrCat(
        source, ": credentials response Code ", code->get<std::string>(),
        message != document.end() && message->is_string()
            ? absl::StrCat(": ", message->get<std::string>())
            : std::string()));
  }
  AwsCredentials credentials;
  const struct {
    const char* field;
    std::string* value;
    bool required;
  } fields[] = {
      {"AccessKeyId", &credentials.access_key_id, true},
      {"SecretAccessKey", &credentials.secret_access_key, true},
      {"Token", &credentials.session_token, false},
  };
  for (const auto& field : fields) {
    auto found = document.find(field.field);
    if (found == document.end() || !found->is_string() || found->get<std::string>().empty()) {
      if (!field.required) continue;
      return absl::DataLossError(
          absl::StrCat(source, ": credentials response has no ", field.field));
    }
    *field.value = found->get<std::string>();
  }
  if (auto expiration = document.find("Expiration");
      expiration != document.end() && expiration->is_string()) {
    absl::Time when;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, expiration->get<std::string>(), &when, &error)) {
      return absl::DataLossError(absl::StrCat(source, ": credentials Expiration `",
                                              expiration->get<std::string>(),
                                              "` is not RFC 3339: ", error));
    }
    credentials.expiration = when;
  }
  return credentials;
}

}  // namespace re_dms::credentials_internal
