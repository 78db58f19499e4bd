#include "fs/base/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace strata::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kWarn)};
std::atomic<const char*> g_program{"strata"};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kError:
      return "error";
    case Level::kWarn:
      return "warning";
    case Level::kInfo:
      return "info";
    case Level::kDebug:
      return "debug";
  }
  return "?";
}
}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
bool Enabled(Level level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}
void SetProgramName(const char* name) { g_program.store(name); }

Line::~Line() {
  std::string line =
      std::string(g_program.load()) + ": " + LevelName(level_) + ": " + out_.str() + "\n";
  // Best effort: a failed log write has nowhere else to go.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace strata::log
