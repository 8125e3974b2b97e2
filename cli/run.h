// `re_dms` default mode: reads the test_decoding stream pg_recvlogical writes
// to standard input and keeps the target's tables equal to the source's:
//
//   pg_recvlogical -d SRC --slot re_dms --start -o include-timestamp=1 -f - |
//     re_dms --source=SRC --target=TARGET --s3-bucket=BUCKET [flags]
//
// Every flag can also come from the environment as RE_DMS_<FLAG> (upper case,
// dashes as underscores, e.g. RE_DMS_S3_BUCKET); a flag on the command line
// wins. `re_dms --help` describes them (kHelpText in run.cc). Exit codes: 0
// after the input ended or SIGINT/SIGTERM and everything read was loaded; 1
// on a failure (the message says what, where); 2 on bad flags, before
// anything starts.

#ifndef RE_DMS_CLI_RUN_H_
#define RE_DMS_CLI_RUN_H_

namespace re_dms::cli {

// `argv[0]` is the program name; the rest are flags.
int RunReplication(int argc, char** argv);

}  // namespace re_dms::cli

#endif  // RE_DMS_CLI_RUN_H_
