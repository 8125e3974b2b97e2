// Value styles: whether the text of a stream's values is in the one form
// re_dms loads without guessing.
//
// test_decoding prints every value with the output functions of the
// walsender's session, so the source's DateStyle, IntervalStyle, TimeZone and
// bytea_output decide the text. The target reads that text with its own
// settings: `04/03/2024` is 4 March under DMY and 3 April under MDY, `IST` is
// India's zone abbreviation in one session and Israel's in another. re_dms
// therefore loads only the unambiguous forms, which are what a session with
// kPipeSessionOptions prints:
//   - date and timestamp (with or without time zone) in ISO form,
//     `2024-03-04 05:06:07.5`, with a numeric offset `+05:30`, never a zone
//     abbreviation;
//   - interval in IntervalStyle postgres, `1 year 2 mons -3 days +04:05:06`;
//   - bytea in hex, `\x0a0b`.
// The same holds for the elements of arrays, ranges and multiranges of those
// types. time and timetz need no check: their output does not depend on any
// of these settings (timetz always prints a numeric offset).
//
// What the text cannot show, the float precision of extra_float_digits, is
// checked once at start-up instead (source_settings.h).
//
// Values of a domain over these types are printed with the domain's name and
// are not recognised; the start-up check covers them.

#ifndef RE_DMS_VALUE_STYLES_H_
#define RE_DMS_VALUE_STYLES_H_

#include "absl/status/status.h"
#include "re_dms/change.h"

namespace re_dms {

// The session settings under which test_decoding prints what re_dms loads
// exactly, as the `options` of a libpq conninfo or PGOPTIONS.
inline constexpr char kPipeSessionOptions[] =
    "-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3 "
    "-c bytea_output=hex";

// OK when every value of `record` (new row and old key) is in the form above;
// otherwise FailedPrecondition naming the setting (DateStyle, TimeZone
// abbreviation, IntervalStyle, bytea_output), the table, column and type, the
// record's line and byte offset, the value's beginning, and the fix. Checks
// the shape only (cheap: no value is parsed into a date or number); runs on
// every value of the types above.
absl::Status CheckValueStyles(const Record& record);

}  // namespace re_dms

#endif  // RE_DMS_VALUE_STYLES_H_
