// REPRISE_CHECK: aborts loudly when an invariant is broken. Used for states
// that mean a bug or corruption, never for bad input (that gets a Status).
#pragma once

#include <cstdio>
#include <cstdlib>

#define REPRISE_CHECK(cond, msg)                                             \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "%s:%d: invariant violated: %s (%s)\n", __FILE__, \
                   __LINE__, #cond, msg);                                    \
      std::abort();                                                          \
    }                                                                        \
  } while (false)
