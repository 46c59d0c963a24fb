// Log commands for tests that only need one to exist: a plain invoke of
// handler "S/h". Stateless functions; the caller owns what they return.
#pragma once

#include "reprise/v1/log.pb.h"
#include "runtime/common/ids.h"

namespace reprise::testing {

inline v1::Command InvokeCommand(const InvocationId& id) {
  v1::Command command;
  command.set_timestamp_ms(1);
  command.mutable_invoke()->set_invocation_id(id.ToBytes());
  command.mutable_invoke()->mutable_target()->set_service("S");
  command.mutable_invoke()->mutable_target()->set_handler("h");
  return command;
}

}  // namespace reprise::testing
