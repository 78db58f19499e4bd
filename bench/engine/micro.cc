#include "bench/engine/micro.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "bench/engine/system.h"

namespace strata::bench {
namespace {

constexpr const char* kPrograms[] = {"core_bench", "store_bench"};

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Runs ARGV with our stdin, stdout and stderr. Errors: EIO naming the exit status.
Status RunInherited(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return FailErrno("fork");
  if (pid == 0) {
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const int status = Wait(pid);
  if (status != 0) return Fail(EIO, argv[0] + " exited with status " + std::to_string(status));
  return Ok();
}

}  // namespace

Result<std::vector<std::string>> FindMicroPrograms(const std::string& dir) {
  std::vector<std::string> found;
  for (const char* name : kPrograms) {
    std::string path;
    for (const std::string& d : {dir, dir + "/bench"}) {
      if (path.empty() && ::access((d + "/" + name).c_str(), X_OK) == 0) path = d + "/" + name;
    }
    if (path.empty()) {
      return Fail(ENOENT, std::string(name) + " is not in " + dir + " or " + dir +
                              "/bench (build with -DSTRATA_BUILD_BENCH=ON)");
    }
    found.push_back(path);
  }
  return found;
}

std::string MicroJsonPath(const std::string& json, const std::string& program) {
  const std::string name = BaseName(program);
  const size_t dot = json.rfind('.');
  const size_t slash = json.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return json + "-" + name;
  }
  return json.substr(0, dot) + "-" + name + json.substr(dot);
}

Status RunMicro(const std::vector<std::string>& programs, const std::string& json,
                const std::string& filter) {
  for (const std::string& p : programs) {
    std::vector<std::string> argv = {p};
    if (!filter.empty()) argv.push_back("--benchmark_filter=" + filter);
    if (!json.empty()) {
      argv.push_back("--benchmark_out=" + MicroJsonPath(json, p));
      argv.push_back("--benchmark_out_format=json");
    }
    std::fflush(stdout);
    STRATA_RETURN_IF_ERROR(RunInherited(argv));
  }
  return Ok();
}

}  // namespace strata::bench
