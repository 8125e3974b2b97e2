#include "re_dms/sigv4.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/src/aws/hashing.h"
#include "lib/src/aws/uri_encode.h"

namespace re_dms {
namespace {

constexpr absl::string_view kAlgorithm = "AWS4-HMAC-SHA256";
// S3 rejects presigned URLs valid for longer than seven days.
constexpr absl::Duration kMaxPresignExpiry = absl::Hours(24 * 7);
// Enough for every secret a process rotates through in a day or two; past
// it the cache is simply rebuilt.
constexpr size_t kMaxCachedSigningKeys = 32;

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// "Trimall": strip leading and trailing whitespace and collapse every run of
// whitespace (including the line breaks of obsolete folded headers) into one
// space.
std::string TrimAll(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (const char c : value) {
    if (IsWhitespace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool IsOwnedBySigner(absl::string_view lowercase_name) {
  return lowercase_name == "host" || lowercase_name == "authorization" ||
         lowercase_name == "x-amz-date" || lowercase_name == "x-amz-content-sha256" ||
         lowercase_name == "x-amz-security-token";
}

absl::Status Validate(const SigV4Request& request, const AwsCredentials& credentials,
                      absl::string_view payload_hash) {
  if (request.method.empty() || !std::all_of(request.method.begin(), request.method.end(),
                                             [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return absl::InvalidArgumentError(
        absl::StrCat("SigV4: invalid HTTP method '", request.method, "'"));
  }
  if (request.host.empty() || std::any_of(request.host.begin(), request.host.end(), [](char c) {
        return IsWhitespace(c) || c == '/' || c == '\0';
      })) {
    return absl::InvalidArgumentError(absl::StrCat("SigV4: invalid host '", request.host, "'"));
  }
  if (request.path.empty() || request.path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("SigV4: path must start with '/': '", request.path, "'"));
  }
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name)) {
      return absl::InvalidArgumentError(absl::StrCat("SigV4: invalid header name '", name, "'"));
    }
    if (IsOwnedBySigner(absl::AsciiStrToLower(name))) {
      return absl::InvalidArgumentError(
          absl::StrCat("SigV4: header '", name, "' is set by the signer, not the caller"));
    }
  }
  if (payload_hash.empty() || std::any_of(payload_hash.begin(), payload_hash.end(), IsWhitespace)) {
    return absl::InvalidArgumentError("SigV4: invalid payload hash");
  }
  // Credentials are named only by what is missing, never by value.
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        "SigV4: credentials lack an access key id or a secret access key");
  }
  if (!IsToken(credentials.access_key_id) ||
      credentials.access_key_id.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        "SigV4: the access key id contains characters it cannot have");
  }
  return absl::OkStatus();
}

// Sorted "name=value" pairs, both encoded, joined with '&'.
std::string CanonicalQuery(const HttpFields& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name), UriEncode(value));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, name, "=", value);
  }
  return out;
}

struct CanonicalHeaders {
  std::string lines;           // "name:value\n" for each name, sorted
  std::string signed_headers;  // "name;name;..."
};

// Lowercase names, sorted; repeated names keep their values in request
// order, joined with ','.
CanonicalHeaders Canonicalize(const HttpFields& headers) {
  std::vector<std::pair<std::string, std::string>> lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    lowered.emplace_back(absl::AsciiStrToLower(name), TrimAll(value));
  }
  std::stable_sort(lowered.begin(), lowered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaders out;
  for (size_t i = 0; i < lowered.size(); ++i) {
    const bool continues = i > 0 && lowered[i].first == lowered[i - 1].first;
    if (continues) {
      out.lines.pop_back();  // the previous value's '\n'
      absl::StrAppend(&out.lines, ",", lowered[i].second, "\n");
      continue;
    }
    absl::StrAppend(&out.lines, lowered[i].first, ":", lowered[i].second, "\n");
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers.append(lowered[i].first);
  }
  return out;
}

std::string CanonicalRequest(absl::string_view method, absl::string_view path,
                             absl::string_view canonical_query, const CanonicalHeaders& headers,
                             absl::string_view payload_hash) {
  return absl::StrCat(method, "\n", UriEncodePath(path), "\n", canonical_query, "\n", headers.lines,
                      "\n", headers.signed_headers, "\n", payload_hash);
}

std::string StringToSign(absl::string_view timestamp, absl::string_view scope,
                         absl::string_view canonical_request) {
  return absl::StrCat(kAlgorithm, "\n", timestamp, "\n", scope, "\n",
                      HexEncode(Sha256(canonical_request)));
}

std::string DigestBytes(const Sha256Digest& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

}  // namespace

SigV4Signer::SigV4Signer(Options options) : options_(std::move(options)) {}

std::string SigV4Signer::SigningKey(absl::string_view secret, absl::string_view day) const {
  std::string cache_key = absl::StrCat(DigestBytes(Sha256(secret)), day);
  {
    absl::MutexLock lock(&mutex_);
    auto it = signing_keys_.find(cache_key);
    if (it != signing_keys_.end()) return it->second;
  }
  const Sha256Digest date_key = HmacSha256(absl::StrCat("AWS4", secret), day);
  const Sha256Digest region_key = HmacSha256(DigestBytes(date_key), options_.region);
  const Sha256Digest service_key = HmacSha256(DigestBytes(region_key), options_.service);
  std::string signing_key = DigestBytes(HmacSha256(DigestBytes(service_key), "aws4_request"));
  absl::MutexLock lock(&mutex_);
  if (signing_keys_.size() >= kMaxCachedSigningKeys) signing_keys_.clear();
  signing_keys_.emplace(std::move(cache_key), signing_key);
  return signing_key;
}

std::string SigV4Signer::Sign(absl::string_view secret, absl::string_view day,
                              absl::string_view string_to_sign) const {
  return HexEncode(HmacSha256(SigningKey(secret, day), string_to_sign));
}

absl::StatusOr<SigV4HeaderSignature> SigV4Signer::SignHeaders(
    const SigV4Request& request, const AwsCredentials& credentials, absl::Time now,
    absl::string_view payload_hash) const {
  if (absl::Status status = Validate(request, credentials, payload_hash); !status.ok()) {
    return status;
  }
  const absl::TimeZone utc = absl::UTCTimeZone();
  const std::string timestamp = absl::FormatTime("%Y%m%dT%H%M%SZ", now, utc);
  const std::string day = timestamp.substr(0, 8);
  const std::string scope =
      absl::StrCat(day, "/", options_.region, "/", options_.service, "/aws4_request");

  SigV4HeaderSignature result;
  result.headers.emplace_back("X-Amz-Date", timestamp);
  if (options_.sign_content_sha256) {
    result.headers.emplace_back("X-Amz-Content-SHA256", std::string(payload_hash));
  }
  if (!credentials.session_token.empty()) {
    result.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }

  HttpFields signed_fields = request.headers;
  signed_fields.emplace_back("host", request.host);
  signed_fields.insert(signed_fields.end(), result.headers.begin(), result.headers.end());
  const CanonicalHeaders headers = Canonicalize(signed_fields);

  result.canonical_request = CanonicalRequest(request.method, request.path,
                                              CanonicalQuery(request.query), headers, payload_hash);
  result.string_to_sign = StringToSign(timestamp, scope, result.canonical_request);
  result.signature = Sign(credentials.secret_access_key, day, result.string_to_sign);
  result.headers.emplace_back(
      "Authorization",
      absl::StrCat(kAlgorithm, " Credential=", credentials.access_key_id, "/", scope,
                   ", SignedHeaders=", headers.signed_headers, ", Signature=", result.signature));
  return result;
}

absl::StatusOr<SigV4QuerySignature> SigV4Signer::Presign(const SigV4Request& request,
                                                         const AwsCredentials& credentials,
                                                         absl::Time now, absl::Duration expires,
                                                         absl::string_view payload_hash) const {
  if (absl::Status status = Validate(request, credentials, payload_hash); !status.ok()) {
    return status;
  }
  if (expires < absl::Seconds(1) || expires > kMaxPresignExpiry) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SigV4: presigned URL expiry ", absl::FormatDuration(expires), " is outside [1s, 7 days]"));
  }
  const absl::TimeZone utc = absl::UTCTimeZone();
  const std::string timestamp = absl::FormatTime("%Y%m%dT%H%M%SZ", now, utc);
  const std::string day = timestamp.substr(0, 8);
  const std::string scope =
      absl::StrCat(day, "/", options_.region, "/", options_.service, "/aws4_request");

  HttpFields signed_fields = request.headers;
  signed_fields.emplace_back("host", request.host);
  const CanonicalHeaders headers = Canonicalize(signed_fields);

  HttpFields auth = {
      {"X-Amz-Algorithm", std::string(kAlgorithm)},
      {"X-Amz-Credential", absl::StrCat(credentials.access_key_id, "/", scope)},
      {"X-Amz-Date", timestamp},
      {"X-Amz-Expires", absl::StrCat(absl::ToInt64Seconds(expires))},
      {"X-Amz-SignedHeaders", headers.signed_headers},
  };
  if (!credentials.session_token.empty()) {
    auth.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  HttpFields all_query = request.query;
  all_query.insert(all_query.end(), auth.begin(), auth.end());

  SigV4QuerySignature result;
  result.canonical_request = CanonicalRequest(request.method, request.path,
                                              CanonicalQuery(all_query), headers, payload_hash);
  result.string_to_sign = StringToSign(timestamp, scope, result.canonical_request);
  result.signature = Sign(credentials.secret_access_key, day, result.string_to_sign);
  all_query.emplace_back("X-Amz-Signature", result.signature);
  for (const auto& [name, value] : all_query) {
    if (!result.encoded_query.empty()) result.encoded_query.push_back('&');
    absl::StrAppend(&result.encoded_query, UriEncode(name), "=", UriEncode(value));
  }
  return result;
}

}  // namespace re_dms
