// Protobuf handlers: input and output are serialized protobuf messages.
// Input that does not parse as Request fails with INVALID_ARGUMENT.
#pragma once

#include <functional>

#include "absl/strings/str_cat.h"
#include "reprise/sdk/service.h"

namespace reprise::sdk {

template <typename Request, typename Response>
Handler ProtoHandler(
    std::function<absl::StatusOr<Response>(Context&, const Request&)> fn) {
  return [fn = std::move(fn)](
             Context& ctx,
             const std::string& input) -> absl::StatusOr<std::string> {
    Request request;
    if (!request.ParseFromString(input)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the input is not a serialized ",
                       Request::descriptor()->full_name()));
    }
    absl::StatusOr<Response> response = fn(ctx, request);
    if (!response.ok()) return response.status();
    return response->SerializeAsString();
  };
}

}  // namespace reprise::sdk
