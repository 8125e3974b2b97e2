#include "tests/tools/tool_process.h"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace re_dms::testing {
namespace {

size_t Append(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ToolProcess>> ToolProcess::Start(
    const std::string& script, const std::vector<std::string>& args) {
  int out[2];
  if (pipe(out) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  std::vector<std::string> argv_storage = {"python3", "-u", script};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execvp("python3", argv.data());
    _exit(127);
  }
  close(out[1]);
  auto process = std::unique_ptr<ToolProcess>(new ToolProcess(pid, 0));
  std::string line;
  while (line.find('\n') == std::string::npos) {
    pollfd ready = {out[0], POLLIN, 0};
    if (poll(&ready, 1, 20000) <= 0) break;
    char buffer[256];
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    line.append(buffer, n);
  }
  close(out[0]);
  int port = 0;
  line = line.substr(0, line.find('\n'));
  if (!absl::StartsWith(line, "PORT ") || !absl::SimpleAtoi(line.substr(5), &port)) {
    return absl::UnavailableError(
        absl::StrCat(script, " did not report its port (got `", line, "`)"));
  }
  process->port_ = port;
  return process;
}

ToolProcess::~ToolProcess() {
  kill(pid_, SIGTERM);
  int status;
  waitpid(pid_, &status, 0);
}

std::string ToolProcess::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

absl::StatusOr<std::string> ToolProcess::Get(absl::string_view path) const {
  CURL* curl = curl_easy_init();
  std::string body;
  const std::string target = absl::StrCat(url(), path);
  curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK || status != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", target, ": ", curl_easy_strerror(code),
                                               " HTTP ", status));
  }
  return body;
}

}  // namespace re_dms::testing
