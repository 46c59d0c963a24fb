#include "reprise/sdk/internal/attempt_runner.h"

#include <exception>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace reprise::sdk::internal {
namespace {

std::string IdText(const std::string& bytes) {
  return absl::StrCat("inv_", absl::BytesToHexString(bytes));
}

void Fail(const v1::StartAttempt& start, std::string message,
          const Send& send) {
  v1::WorkerMessage out;
  auto* failed = out.mutable_attempt_failed();
  failed->set_invocation_id(start.invocation_id());
  failed->set_attempt(start.attempt());
  failed->set_message(std::move(message));
  send(std::move(out));
}

}  // namespace

void RunAttempt(const v1::StartAttempt& start, const Handler& handler,
                const Send& send) {
  if (start.journal_size() == 0 || !start.journal(0).has_input()) {
    Fail(start, "journal mismatch at index 0: expected the input entry", send);
    return;
  }
  for (int i = 1; i < start.journal_size(); ++i) {
    if (start.journal(i).has_output())
      return;  // already completed: nothing to do
    Fail(start,
         absl::StrCat("journal mismatch at index ", i,
                      ": this handler version records no steps, the journal "
                      "holds one"),
         send);
    return;
  }
  Context ctx(IdText(start.invocation_id()), start.target().service(),
              start.target().handler(), start.target().key(), start.attempt());
  absl::StatusOr<std::string> result;
  try {
    result = handler(ctx, start.journal(0).input().value());
  } catch (const std::exception& e) {
    Fail(start, absl::StrCat("handler threw: ", e.what()), send);
    return;
  } catch (...) {
    Fail(start, "handler threw a non-standard exception", send);
    return;
  }
  v1::WorkerMessage out;
  auto* propose = out.mutable_propose();
  propose->set_invocation_id(start.invocation_id());
  propose->set_attempt(start.attempt());
  propose->set_index(static_cast<uint32_t>(start.journal_size()));
  auto* output = propose->mutable_entry()->mutable_output()->mutable_result();
  if (result.ok()) {
    output->set_value(std::move(result).value());
  } else {
    output->mutable_failure()->set_code(
        static_cast<uint32_t>(result.status().code()));
    output->mutable_failure()->set_message(
        std::string(result.status().message()));
  }
  send(std::move(out));
}

}  // namespace reprise::sdk::internal
