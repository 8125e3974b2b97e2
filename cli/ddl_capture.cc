#include "cli/ddl_capture.h"

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "re_dms/ddl_capture.h"

namespace re_dms::cli {
namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: re_dms ddl-capture install|uninstall --source=CONNINFO\n"
               "  install    adds event triggers to the source database that record each\n"
               "             table's columns and key, and renames and drops, in the stream\n"
               "             (schema re_dms; needs a superuser). Run again to upgrade.\n"
               "  uninstall  removes them.\n");
  return 2;
}

}  // namespace

int RunDdlCapture(int argc, char** argv) {
  if (argc < 1) return Usage();
  const std::string action = argv[0];
  std::string source;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--source=")) {
      source = arg.substr(sizeof("--source=") - 1);
    } else if (arg == "--source" && i + 1 < argc) {
      source = argv[++i];
    } else {
      return Usage();
    }
  }
  if (source.empty() || (action != "install" && action != "uninstall")) return Usage();
  const absl::Status status =
      action == "install" ? InstallDdlCapture(source) : UninstallDdlCapture(source);
  if (!status.ok()) {
    std::fprintf(stderr, "re_dms ddl-capture: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "re_dms ddl-capture: %s\n",
               action == "install" ? "installed (event triggers re_dms_ddl_capture_end and "
                                     "re_dms_ddl_capture_drop, schema re_dms)"
                                   : "removed");
  return 0;
}

}  // namespace re_dms::cli
