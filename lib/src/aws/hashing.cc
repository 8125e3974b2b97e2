#include "lib/src/aws/hashing.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <cstdlib>

#include "absl/strings/escaping.h"

namespace re_dms {
namespace {

const uint8_t* Bytes(absl::string_view data) {
  return reinterpret_cast<const uint8_t*>(data.data());
}

// OpenSSL's digests fail only on allocation failure or a broken library;
// there is nothing sensible to return then, the same as for operator new.
void CheckOpenSsl(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

Sha256Digest Sha256(absl::string_view data) {
  Sha256Digest digest;
  SHA256(Bytes(data), data.size(), digest.data());
  return digest;
}

Sha256Digest HmacSha256(absl::string_view key, absl::string_view data) {
  Sha256Digest digest;
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), Bytes(data), data.size(),
           digest.data(), &length) == nullptr) {
    std::abort();
  }
  return digest;
}

Md5Digest Md5(absl::string_view data) {
  StreamingDigest md5(StreamingDigest::Algorithm::kMd5);
  md5.Update(data);
  const std::string raw = md5.Finish();
  Md5Digest digest;
  std::copy(raw.begin(), raw.end(), digest.begin());
  return digest;
}

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<uint8_t>(bytes[i]);
    hex[2 * i] = kDigits[byte >> 4];
    hex[2 * i + 1] = kDigits[byte & 0xf];
  }
  return hex;
}

template <size_t N>
std::string Base64Encode(const std::array<uint8_t, N>& digest) {
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}
template std::string Base64Encode(const std::array<uint8_t, 16>&);
template std::string Base64Encode(const std::array<uint8_t, 32>&);

StreamingDigest::StreamingDigest(Algorithm algorithm) : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr) std::abort();
  CheckOpenSsl(EVP_DigestInit_ex(
      context_, algorithm == Algorithm::kSha256 ? EVP_sha256() : EVP_md5(), nullptr));
}

StreamingDigest::~StreamingDigest() { EVP_MD_CTX_free(context_); }

StreamingDigest::StreamingDigest(StreamingDigest&& other) noexcept : context_(other.context_) {
  other.context_ = nullptr;
}

void StreamingDigest::Update(absl::string_view data) {
  CheckOpenSsl(EVP_DigestUpdate(context_, data.data(), data.size()));
}

std::string StreamingDigest::Finish() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  CheckOpenSsl(EVP_DigestFinal_ex(context_, digest, &length));
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace re_dms
