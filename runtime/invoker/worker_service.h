// WorkerServiceImpl: the gRPC endpoint workers connect to (worker.proto).
// Each Connect stream becomes a WorkerConnection of the Invoker. Reactions
// never block: reads are handed to the invoker, writes are queued and sent
// one at a time by the stream itself.
//
// Thread-safety: gRPC calls it from its own threads. Ownership: borrows the
// Invoker, which must outlive the gRPC server.
#pragma once

#include "reprise/v1/worker.grpc.pb.h"
#include "runtime/invoker/invoker.h"

namespace reprise::invoker {

class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  // `token`: when set, a worker must present it (see runtime/common/auth.h).
  WorkerServiceImpl(Invoker& invoker, std::string token)
      : invoker_(invoker), token_(std::move(token)) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::RuntimeMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  Invoker& invoker_;
  const std::string token_;
};

}  // namespace reprise::invoker
