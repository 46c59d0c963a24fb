#include "runtime/common/logging.h"

namespace reprise {

LogLevel& MinLogLevel() {
  static LogLevel level = LogLevel::kInfo;
  return level;
}

}  // namespace reprise
