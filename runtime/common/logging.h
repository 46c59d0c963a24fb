// Minimal leveled logging to stderr. Thread-safe: one fprintf per line.
#pragma once

#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace reprise {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// The least severe level printed; set once at startup.
LogLevel& MinLogLevel();

template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format,
         const Args&... args) {
  if (level < MinLogLevel()) return;
  static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  std::string line = absl::StrFormat(format, args...);
  std::fprintf(
      stderr, "%s %-5s %s\n",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())
          .c_str(),
      kNames[static_cast<int>(level)], line.c_str());
}

}  // namespace reprise
