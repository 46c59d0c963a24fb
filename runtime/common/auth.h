// Bearer-token authentication of calls to the admin and worker ports, and
// the TLS credentials of every listener. A token, when configured, must
// come as the call metadata "authorization: Bearer <token>".
//
// Thread-safety: pure functions.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace reprise {

// OK if `token` is empty (none is required) or the call carries it;
// UNAUTHENTICATED otherwise, saying what is missing but nothing of the
// token.
absl::Status CheckBearerToken(const grpc::ServerContextBase& context,
                              std::string_view token);

struct TlsFiles {
  std::string cert;       // PEM server certificate (chain)
  std::string key;        // its PEM private key
  std::string client_ca;  // PEM CA that client certificates must chain to
};

// Insecure credentials when `files.cert` is empty; else TLS with the
// certificate and key, and mutual TLS when `files.client_ca` is set.
// INVALID_ARGUMENT naming a file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const TlsFiles& files);

// The contents of `path`; INVALID_ARGUMENT naming `what` if it cannot be
// read or is not PEM.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        std::string_view what);

}  // namespace reprise
