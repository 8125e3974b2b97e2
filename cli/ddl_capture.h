// `re_dms ddl-capture install|uninstall --source=CONNINFO`: adds to the source
// database, or removes from it, the event triggers that put each table's schema
// into the stream (re_dms/ddl_capture.h says what and why).

#ifndef RE_DMS_CLI_DDL_CAPTURE_H_
#define RE_DMS_CLI_DDL_CAPTURE_H_

namespace re_dms::cli {

// With the arguments after the subcommand; the exit code.
int RunDdlCapture(int argc, char** argv);

}  // namespace re_dms::cli

#endif  // RE_DMS_CLI_DDL_CAPTURE_H_
