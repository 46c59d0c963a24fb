#include "reprise/sdk/saga.h"

#include "absl/strings/str_cat.h"

namespace reprise::sdk {

void Saga::Add(std::string name, Context::RunFunction undo,
               RunOptions options) {
  compensations_.push_back(
      {std::move(name), std::move(undo), std::move(options)});
}

void Saga::AddCall(std::string service, std::string handler,
                   std::string parameter, std::string key) {
  compensations_.push_back({std::move(service),
                            nullptr,
                            {},
                            std::move(handler),
                            std::move(parameter),
                            std::move(key)});
}

absl::StatusOr<std::string> Saga::Run(
    absl::FunctionRef<absl::StatusOr<std::string>()> body) {
  absl::Status failure;
  try {
    absl::StatusOr<std::string> result = body();
    if (result.ok()) return result;
    failure = result.status();
  } catch (const TerminalError& e) {
    failure = e.status();
  }
  if (absl::Status undone = Compensate(); !undone.ok()) {
    return absl::Status(failure.code(),
                        absl::StrCat(failure.message(),
                                     "; and compensating: ", undone.message()));
  }
  return failure;
}

absl::Status Saga::Compensate() {
  absl::Status first;
  while (!compensations_.empty()) {
    Compensation c = std::move(compensations_.back());
    compensations_.pop_back();
    absl::StatusOr<std::string> done =
        c.undo ? ctx_.Run(c.name, c.undo, c.options)
               : ctx_.Call(c.name, c.handler, std::move(c.parameter), c.key);
    if (!done.ok() && first.ok()) {
      const std::string what = c.undo ? c.name : c.name + "/" + c.handler;
      first = absl::Status(done.status().code(),
                           absl::StrCat("compensation '", what,
                                        "' failed: ", done.status().message()));
    }
  }
  return first;
}

}  // namespace reprise::sdk
