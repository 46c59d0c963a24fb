// RunAttempt: one attempt of an invocation, independent of the transport.
// Replays the journal the runtime sent, runs the handler if the journal does
// not already hold the output, and reports what to send back.
//
// Thread-safety: stateless; call from any thread.
#pragma once

#include <functional>

#include "reprise/sdk/service.h"
#include "reprise/v1/worker.pb.h"

namespace reprise::sdk::internal {

using Send = std::function<void(v1::WorkerMessage)>;

// Runs `start` with `handler`, passing every message for the runtime to
// `send`: the output entry, or an AttemptFailed if the handler threw or the
// journal does not fit this handler.
void RunAttempt(const v1::StartAttempt& start, const Handler& handler,
                const Send& send);

}  // namespace reprise::sdk::internal
