// JSON handlers: input and output are JSON documents (nlohmann::json). Input
// that is not valid JSON fails the invocation with INVALID_ARGUMENT.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "reprise/sdk/service.h"

namespace reprise::sdk {

using JsonFunction = std::function<absl::StatusOr<nlohmann::json>(
    Context&, const nlohmann::json&)>;

inline Handler JsonHandler(JsonFunction fn) {
  return [fn = std::move(fn)](
             Context& ctx,
             const std::string& input) -> absl::StatusOr<std::string> {
    nlohmann::json parsed = nlohmann::json::parse(input, nullptr, false);
    if (parsed.is_discarded()) {
      return absl::InvalidArgumentError("the input is not valid JSON");
    }
    absl::StatusOr<nlohmann::json> out = fn(ctx, parsed);
    if (!out.ok()) return out.status();
    return out->dump();
  };
}

}  // namespace reprise::sdk
