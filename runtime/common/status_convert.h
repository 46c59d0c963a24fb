// Translation between absl::Status and grpc::Status: both use the canonical
// google.rpc codes, so only the representation changes.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace reprise {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace reprise
