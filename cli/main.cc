// re_dms: streams PostgreSQL logical decoding (test_decoding) into Redshift.
// This file only dispatches to the subcommands.

#include <cstdio>
#include <cstring>

#include "cli/ddl_capture.h"
#include "cli/inspect.h"
#include "cli/run.h"

namespace {

struct Subcommand {
  const char* name;
  int (*run)(int argc, char** argv);  // Gets the arguments after the name.
  const char* summary;
};

constexpr Subcommand kSubcommands[] = {
    {"ddl-capture", re_dms::cli::RunDdlCapture,
     "install or uninstall the source's DDL capture (each table's schema in the stream)"},
    {"inspect", re_dms::cli::RunInspect,
     "print a test_decoding stream from stdin as JSON, one object per record"},
};

int Usage() {
  std::fprintf(stderr, "usage: re_dms <subcommand> [args]\n\nsubcommands:\n");
  for (const Subcommand& subcommand : kSubcommands) {
    std::fprintf(stderr, "  %-12s %s\n", subcommand.name, subcommand.summary);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // No subcommand (flags only): the default mode, replication from stdin.
  if (argc < 2 || argv[1][0] == '-') return re_dms::cli::RunReplication(argc, argv);
  for (const Subcommand& subcommand : kSubcommands) {
    if (std::strcmp(argv[1], subcommand.name) == 0) return subcommand.run(argc - 2, argv + 2);
  }
  std::fprintf(stderr, "re_dms: unknown subcommand \"%s\"\n", argv[1]);
  return Usage();
}
