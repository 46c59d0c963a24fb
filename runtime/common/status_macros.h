// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status, until the Debian abseil
// (20220623) ships its own. The names follow abseil's so switching is a rename.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define REPRISE_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status reprise_status_ = (expr);           \
    if (!reprise_status_.ok()) return reprise_status_; \
  } while (false)

#define REPRISE_CONCAT_INNER_(a, b) a##b
#define REPRISE_CONCAT_(a, b) REPRISE_CONCAT_INNER_(a, b)

#define REPRISE_ASSIGN_OR_RETURN(lhs, expr)                                   \
  REPRISE_ASSIGN_OR_RETURN_IMPL_(REPRISE_CONCAT_(reprise_or_, __LINE__), lhs, \
                                 expr)

#define REPRISE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()
