// Wall-clock time in milliseconds. Proposers (ingress, invoker) stamp
// commands with it; the state machine never reads a clock itself.
#pragma once

#include <cstdint>

#include "absl/time/clock.h"

namespace reprise {

inline int64_t NowMillis() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace reprise
