// Just enough XML for S3's REST responses and request bodies: S3 answers
// with small, flat, predictable documents (errors, listings, multipart
// results), so elements are found by name rather than by a full parser.

#ifndef RE_DMS_SRC_S3_XML_H_
#define RE_DMS_SRC_S3_XML_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace re_dms {

// The raw (still escaped) content of each <tag>...</tag> or <tag/> in
// `xml`, in document order. Elements of the same name must not nest.
std::vector<absl::string_view> XmlElements(absl::string_view xml, absl::string_view tag);

// The unescaped text of the first <tag> element, or nullopt.
std::optional<std::string> XmlText(absl::string_view xml, absl::string_view tag);

// Escapes text for element content (&, <, >, quotes, and CR, which XML
// parsers would otherwise normalize away).
std::string XmlEscape(absl::string_view text);

// Resolves the five predefined entities and numeric character references.
std::string XmlUnescape(absl::string_view text);

}  // namespace re_dms

#endif  // RE_DMS_SRC_S3_XML_H_
