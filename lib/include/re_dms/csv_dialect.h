// The CSV dialect of the files CsvWriter stages, and the COPY options that
// read them back exactly: Redshift's `COPY ... CSV` and PostgreSQL's
// `COPY ... (FORMAT csv)`.
//
// The format, shared by both targets:
//   - Fields are separated by `,`; records end with `\n`; there is no header.
//   - Every non-NULL value is enclosed in `"`, and a `"` inside it is doubled.
//     Everything else between the quotes is literal: newline, CR, comma,
//     backslash, any non-ASCII byte. Neither target treats backslash as an
//     escape in CSV mode (Redshift refuses ESCAPE together with CSV; for
//     PostgreSQL the escape character defaults to the quote character).
//   - NULL is an unquoted field holding the target's NULL marker (below).
//     Because every real value is quoted, a marker never collides with one,
//     and a value `\.` alone on a line is never read as PostgreSQL's
//     end-of-data marker (docs: sql-copy, "CSV Format").
//
// Why the marker differs between the targets (the only difference):
//   - PostgreSQL (docs: sql-copy, "CSV Format"): "A NULL is output as the NULL
//     parameter string and is not quoted, while a non-NULL value matching the
//     NULL parameter string is quoted"; reading follows the same rule, so with
//     the default `NULL ''` an unquoted empty field is NULL and `""` is the
//     empty string. PostgreSQL refuses a NUL byte anywhere in COPY input.
//   - Redshift (Database Developer Guide, "Data conversion parameters"):
//     EMPTYASNULL and `NULL AS ''` "produce the same behavior" and apply to
//     empty CHAR/VARCHAR fields, and nothing in the guide says a quoted field is
//     exempt from the NULL AS comparison (loaders report that a quoted `""` does
//     become NULL there, e.g. airbytehq/airbyte#84982). So on Redshift no
//     printable marker is known to be safe from a real value. The guide does
//     document "If a field contains only NUL, you can use NULL AS to replace the
//     null terminator with NULL by specifying '\0'", and a PostgreSQL value can
//     never contain a NUL byte, so a lone NUL is the one marker that cannot
//     collide (docs: "Preparing your input data", "Data conversion parameters").
//   A Redshift-bound file therefore differs from a PostgreSQL-bound one only in
//   the bytes of NULL fields; pick the dialect of the target when writing.
//
// Limits worth knowing (Redshift "COPY" / "Data sources"): a single input row
// may be at most 4 MB, and VARCHAR holds at most 65535 bytes; both are checked
// by Redshift at load time, not here.

#ifndef RE_DMS_CSV_DIALECT_H_
#define RE_DMS_CSV_DIALECT_H_

#include "absl/strings/string_view.h"

namespace re_dms {

inline constexpr char kCsvDelimiter = ',';
inline constexpr char kCsvQuote = '"';
inline constexpr char kCsvRecordEnd = '\n';

struct CsvDialect {
  // The bytes of an unquoted field that stand for NULL.
  absl::string_view null_marker;
  // Format options for the target's COPY, to follow `FROM <source>` on
  // Redshift (add the compression keyword, e.g. ZSTD or GZIP, beside them) or
  // to be the parenthesised option list on PostgreSQL.
  absl::string_view copy_options;
};

// For Redshift targets: NULL is a field of one NUL byte.
inline constexpr CsvDialect kRedshiftCsv{
    absl::string_view("\0", 1),
    "CSV DELIMITER AS ',' QUOTE AS '\"' NULL AS '\\0'",
};

// For PostgreSQL targets (and the local stand-in for Redshift): NULL is an
// unquoted empty field, PostgreSQL's CSV default.
inline constexpr CsvDialect kPostgresCsv{
    absl::string_view(""),
    "FORMAT csv, DELIMITER ',', QUOTE '\"', NULL ''",
};

}  // namespace re_dms

#endif  // RE_DMS_CSV_DIALECT_H_
