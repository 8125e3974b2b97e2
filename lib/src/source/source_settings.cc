#include "re_dms/source_settings.h"

#include <postgresql/libpq-fe.h>

#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "re_dms/value_styles.h"

namespace re_dms {
namespace {

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};

// pg_settings.source, e.g. `database`, `user`, `configuration file`, as the
// place a reader would change it.
std::string Origin(absl::string_view source) {
  if (source == "database") return "ALTER DATABASE ... SET";
  if (source == "user") return "ALTER ROLE ... SET";
  if (source == "database user") return "ALTER ROLE ... IN DATABASE ... SET";
  if (source == "configuration file") return "postgresql.conf";
  if (source == "client") return "this connection's options or PGOPTIONS";
  return std::string(source);
}

std::string Warning(absl::string_view name, absl::string_view value, absl::string_view source,
                    absl::string_view needed, absl::string_view effect) {
  return absl::StrCat("the source gives new sessions ", name, " = '", value, "' (from ",
                      Origin(source), "), and pipe mode needs ", needed, ": ", effect,
                      ". pg_recvlogical's session must override it: PGOPTIONS='",
                      kPipeSessionOptions,
                      "' (or options='...' in its conninfo; README, Usage). re_dms cannot see "
                      "pg_recvlogical's session; this is a reminder");
}

}  // namespace

absl::StatusOr<SourceSettings> ReadSourceSettings(absl::string_view conninfo) {
  // libpq's parse errors quote the offending fragment, which may be part of a
  // password: check the syntax first and report only that it failed.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(std::string(conninfo).c_str(), &parse_error);
  if (parsed == nullptr) {
    if (parse_error != nullptr) PQfreemem(parse_error);
    return absl::InvalidArgumentError("source conninfo could not be parsed");
  }
  PQconninfoFree(parsed);
  std::unique_ptr<PGconn, ConnDeleter> conn(PQconnectdb(std::string(conninfo).c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("connecting to the source database (reading its settings) failed: ",
                     absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn.get()))));
  }
  std::unique_ptr<PGresult, ResultDeleter> result(PQexec(
      conn.get(),
      "SELECT lower(name), setting, source FROM pg_catalog.pg_settings WHERE lower(name) IN "
      "('server_encoding', 'datestyle', 'intervalstyle', 'extra_float_digits', 'bytea_output')"));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return absl::UnavailableError(
        absl::StrCat("reading the source's settings (pg_settings) failed: ",
                     absl::StripTrailingAsciiWhitespace(PQresultErrorMessage(result.get()))));
  }
  SourceSettings settings;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    const absl::string_view name = PQgetvalue(result.get(), row, 0);
    const absl::string_view value = PQgetvalue(result.get(), row, 1);
    const absl::string_view source = PQgetvalue(result.get(), row, 2);
    if (name == "server_encoding") {
      settings.server_encoding = std::string(value);
    } else if (name == "extra_float_digits") {
      // From PostgreSQL 12 any positive value prints the shortest text that
      // reads back exactly; 0 or less rounds to 15 (float8) or 6 (float4)
      // significant digits, and the rounded text is all the stream carries.
      int digits = 0;
      if (!absl::SimpleAtoi(value, &digits) || digits <= 0) {
        settings.warnings.push_back(Warning(
            "extra_float_digits", value, source, "3",
            "float4 and float8 values would be rounded in the stream, and rounded text cannot be "
            "told from exact text, so re_dms would load the rounded values"));
      }
    } else if (name == "datestyle") {
      if (!absl::StartsWithIgnoreCase(value, "ISO")) {
        settings.warnings.push_back(Warning(
            "DateStyle", value, source, "ISO",
            "dates and timestamps in another style are ambiguous; re_dms stops at the first one"));
      }
    } else if (name == "intervalstyle") {
      if (value != "postgres") {
        settings.warnings.push_back(
            Warning("IntervalStyle", value, source, "postgres",
                    "intervals in another style are read differently by the target; re_dms "
                    "stops at the first one"));
      }
    } else if (name == "bytea_output") {
      if (value != "hex") {
        settings.warnings.push_back(
            Warning("bytea_output", value, source, "hex",
                    "bytea in escape form is not loaded as the same bytes; re_dms stops at the "
                    "first one"));
      }
    }
  }
  // TimeZone needs no warning: under DateStyle ISO every timestamptz carries
  // a numeric offset, exact whatever the zone (and anything else stops re_dms).
  if (settings.server_encoding.empty()) {
    return absl::UnavailableError("the source did not report its server_encoding");
  }
  return settings;
}

}  // namespace re_dms
