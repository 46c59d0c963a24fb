// Translation of absl::Status into grpc::Status at the gRPC edge: both use
// the canonical google.rpc codes, so only the representation changes.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace reprise {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace reprise
