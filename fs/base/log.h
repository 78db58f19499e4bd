// One leveled logging macro for all of strata:
//   STRATA_LOG(kWarn) << "lowerdir " << path << " ignored";
// The message is formatted only if the level is enabled and written with one write(2) to
// stderr, so lines from concurrent threads never interleave. Thread-safe.
#pragma once

#include <sstream>

namespace strata::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void SetLevel(Level level);
bool Enabled(Level level);
// Program name printed before each line, e.g. "stratafs".
void SetProgramName(const char* name);

class Line {
 public:
  explicit Line(Level level) : level_(level) {}
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  std::ostream& stream() { return out_; }

 private:
  Level level_;
  std::ostringstream out_;
};

}  // namespace strata::log

// A one-pass loop rather than an if/else, so `if (x) STRATA_LOG(kWarn) << ...;` needs no braces.
#define STRATA_LOG(level)                                                                         \
  for (bool strata_log_on_ = ::strata::log::Enabled(::strata::log::Level::level); strata_log_on_; \
       strata_log_on_ = false)                                                                    \
  ::strata::log::Line(::strata::log::Level::level).stream()
