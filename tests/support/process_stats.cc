#include "tests/support/process_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace strata::testing {
namespace {

long StatusKiB(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(field + ":")) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// The state letter of the stat file at PATH ("... (comm) S ..."), '\0' if unreadable.
char StateOf(const std::string& path) {
  std::ifstream in(path);
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '\0';
}

}  // namespace

char ProcessState(pid_t pid) { return StateOf("/proc/" + std::to_string(pid) + "/stat"); }

std::string ThreadStates(pid_t pid) {
  std::string states;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = ::opendir(tasks.c_str())) {
    while (struct dirent* de = ::readdir(d)) {
      if (de->d_name[0] == '.') continue;
      if (const char c = StateOf(tasks + "/" + de->d_name + "/stat")) states += c;
    }
    ::closedir(d);
  }
  return states;
}

size_t OpenFds(pid_t pid, bool files_only) {
  size_t n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* de = ::readdir(d)) {
      if (de->d_name[0] == '.') continue;
      char target[256];
      const ssize_t len = ::readlink((dir + "/" + de->d_name).c_str(), target, sizeof target - 1);
      const std::string what = len > 0 ? std::string(target, static_cast<size_t>(len)) : "";
      if (files_only && (what == "/dev/fuse" || what.starts_with("pipe:") ||
                         what == "anon_inode:[io_uring]" || what == "anon_inode:[eventfd]")) {
        continue;
      }
      ++n;
    }
    ::closedir(d);
  }
  return n;
}

long RssKiB(pid_t pid) { return StatusKiB(pid, "VmRSS"); }
long PeakRssKiB(pid_t pid) { return StatusKiB(pid, "VmHWM"); }

size_t DropCachesAndCountFds(pid_t pid, size_t at_most, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t n = OpenFds(pid, /*files_only=*/true);
  while (n > at_most && std::chrono::steady_clock::now() < deadline) {
    ::sync();
    std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    n = OpenFds(pid, /*files_only=*/true);
  }
  return n;
}

}  // namespace strata::testing
