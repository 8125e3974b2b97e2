// Percent-encoding as AWS Signature Version 4 defines it (RFC 3986
// unreserved characters kept, every other byte as %XY with uppercase hex).
// The S3 client encodes request paths and query strings with the same
// functions the signer uses, so what is signed is exactly what is sent.

#ifndef RE_DMS_SRC_URI_ENCODE_H_
#define RE_DMS_SRC_URI_ENCODE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace re_dms {

// Encodes every byte except A-Z a-z 0-9 - _ . ~ ; '/' becomes %2F. For query
// parameter names and values.
std::string UriEncode(absl::string_view text);

// Like UriEncode but keeps '/', for paths: an S3 key is encoded exactly once
// and never normalized, so "a//b/./c" stays "a//b/./c".
std::string UriEncodePath(absl::string_view path);

}  // namespace re_dms

#endif  // RE_DMS_SRC_URI_ENCODE_H_
