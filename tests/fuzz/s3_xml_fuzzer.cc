// S3's XML replies (errors, listings, multipart results) through the small
// element finder and the entity decoder: no crash, no read outside the input,
// and escaping then unescaping any text gives it back.
//
// Input: one byte picks the tag looked for, the rest is the document.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/src/aws/s3_xml.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using re_dms::fuzz::Fail;
  static const char* const kTags[] = {
      "Code",        "Message",        "Key",    "Contents",
      "IsTruncated", "UploadId",       "ETag",   "NextContinuationToken",
      "Error",       "Deleted",        "Part",   "Size",
      "RequestId",   "CommonPrefixes", "Prefix", "KeyCount",
  };
  re_dms::fuzz::FuzzInput input(data, size);
  const absl::string_view tag = kTags[input.Below(sizeof(kTags) / sizeof(kTags[0]))];
  const absl::string_view xml = input.Rest();

  const std::vector<absl::string_view> elements = re_dms::XmlElements(xml, tag);
  for (absl::string_view element : elements) {
    // Views must point into the document (a self-closing element is empty).
    if (!element.empty() && (element.data() < xml.data() ||
                             element.data() + element.size() > xml.data() + xml.size())) {
      Fail("XmlElements returned a view outside the document");
    }
    re_dms::XmlUnescape(element);
  }
  const std::optional<std::string> text = re_dms::XmlText(xml, tag);
  if (text.has_value() && elements.empty()) Fail("XmlText found what XmlElements did not");

  // What re_dms writes into request bodies must read back as written.
  if (re_dms::XmlUnescape(re_dms::XmlEscape(xml)) != xml) {
    Fail("XmlUnescape(XmlEscape(text)) != text");
  }
  const std::string wrapped = absl::StrCat("<", tag, ">", re_dms::XmlEscape(xml), "</", tag, ">");
  const std::optional<std::string> back = re_dms::XmlText(wrapped, tag);
  if (!back.has_value() || *back != xml) Fail("an escaped element's text does not read back");
  return 0;
}
