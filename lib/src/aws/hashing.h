// The digests AWS request signing and S3 integrity checks need (SHA-256,
// HMAC-SHA256, MD5), computed by OpenSSL, plus the hex and base64 encodings
// their text forms use.

#ifndef RE_DMS_SRC_HASHING_H_
#define RE_DMS_SRC_HASHING_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

struct evp_md_ctx_st;

namespace re_dms {

using Sha256Digest = std::array<uint8_t, 32>;
using Md5Digest = std::array<uint8_t, 16>;

Sha256Digest Sha256(absl::string_view data);
Sha256Digest HmacSha256(absl::string_view key, absl::string_view data);
Md5Digest Md5(absl::string_view data);

// Lowercase hex, as SigV4 prints digests.
std::string HexEncode(absl::string_view bytes);
template <size_t N>
std::string HexEncode(const std::array<uint8_t, N>& digest) {
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// Standard base64 with padding, as Content-MD5 carries the digest.
template <size_t N>
std::string Base64Encode(const std::array<uint8_t, N>& digest);

// Incremental SHA-256 and MD5 over data fed in pieces, for bodies too large
// to hold in memory. Not thread-safe; movable, not copyable.
class StreamingDigest {
 public:
  enum class Algorithm { kSha256, kMd5 };
  explicit StreamingDigest(Algorithm algorithm);
  ~StreamingDigest();
  StreamingDigest(StreamingDigest&& other) noexcept;
  StreamingDigest& operator=(StreamingDigest&& other) = delete;
  StreamingDigest(const StreamingDigest&) = delete;
  StreamingDigest& operator=(const StreamingDigest&) = delete;

  void Update(absl::string_view data);
  // The digest of everything fed so far (32 bytes for SHA-256, 16 for MD5).
  // The object must not be updated afterwards.
  std::string Finish();

 private:
  evp_md_ctx_st* context_;
};

}  // namespace re_dms

#endif  // RE_DMS_SRC_HASHING_H_
