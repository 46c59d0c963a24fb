// reprise: the admin CLI. Talks to the admin API (--address) and, for
// `invoke`, to the ingress (--ingress-address). Tables by default, --json
// for scripts. Exit codes: 0 ok, 1 error (including a failed invocation),
// 2 usage.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "reprise/v1/admin.grpc.pb.h"
#include "reprise/v1/ingress.grpc.pb.h"
#include "reprise/v1/subscriptions.grpc.pb.h"

namespace {

using nlohmann::json;

constexpr int kOk = 0;
constexpr int kError = 1;
constexpr int kUsage = 2;

struct Globals {
  std::string address;
  std::string ingress_address;
  bool json_output = false;
  double timeout_seconds = 60;
  std::string token;
  // TLS: the CA that signed the runtime's certificate, and for mutual TLS
  // the client's certificate and key (PEM files).
  std::string tls_ca, tls_cert, tls_key;
};

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

int ReportRpcError(const grpc::Status& status, const std::string& address) {
  std::string code;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      std::fprintf(stderr,
                   "error: cannot reach the runtime at %s (%s); is "
                   "reprise-server running? Set --address/--ingress-address "
                   "or REPRISE_ADDRESS/REPRISE_INGRESS_ADDRESS\n",
                   address.c_str(), status.error_message().c_str());
      return kError;
    case grpc::StatusCode::NOT_FOUND:
      code = "not found";
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
      code = "invalid argument";
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      code = "resource exhausted";
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      code = "failed precondition";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      code = "timed out";
      break;
    case grpc::StatusCode::ALREADY_EXISTS:
      code = "already exists";
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      code = "unauthenticated";
      break;
    default:
      code = absl::StrFormat("code %d", static_cast<int>(status.error_code()));
  }
  std::fprintf(stderr, "error: %s: %s\n", code.c_str(),
               status.error_message().c_str());
  return kError;
}

// Sets the call's deadline, and for a call to the admin API its token
// when one is given (the ingress takes none, and is not sent it).
void SetDeadline(grpc::ClientContext& context, const Globals& g,
                 bool admin = true) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(
                           static_cast<int64_t>(g.timeout_seconds * 1000)));
  if (admin && !g.token.empty()) {
    context.AddMetadata("authorization", "Bearer " + g.token);
  }
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Plain TCP, or TLS when --tls-ca is given (with a client certificate for
// mutual TLS).
std::shared_ptr<grpc::Channel> OpenChannel(const Globals& g,
                                           const std::string& address) {
  if (g.tls_ca.empty()) {
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFileOrEmpty(g.tls_ca);
  if (!g.tls_cert.empty()) {
    tls.pem_cert_chain = ReadFileOrEmpty(g.tls_cert);
    tls.pem_private_key = ReadFileOrEmpty(g.tls_key);
  }
  return grpc::CreateChannel(address, grpc::SslCredentials(tls));
}

std::string FormatTime(int64_t ms) {
  if (ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

// "5s ago", or "in 5s" for a time to come.
std::string Ago(int64_t ms) {
  if (ms == 0) return "-";
  const int64_t delta = (absl::ToUnixMillis(absl::Now()) - ms) / 1000;
  const int64_t s = std::abs(delta);
  std::string amount = s < 60      ? absl::StrFormat("%ds", s)
                       : s < 3600  ? absl::StrFormat("%dm", s / 60)
                       : s < 86400 ? absl::StrFormat("%dh", s / 3600)
                                   : absl::StrFormat("%dd", s / 86400);
  return delta < 0 ? "in " + amount : amount + " ago";
}

bool IsText(const std::string& bytes) {
  for (unsigned char c : bytes) {
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return false;
  }
  return true;
}

// A payload as JSON: parsed when it is JSON, a string when it is text,
// otherwise a note about its size.
json PayloadJson(const std::string& bytes) {
  json parsed = json::parse(bytes, nullptr, false);
  if (!parsed.is_discarded()) return parsed;
  if (IsText(bytes)) return bytes;
  return absl::StrFormat("<%d bytes, binary>", bytes.size());
}

std::string PayloadText(const std::string& bytes, size_t max = 0) {
  std::string text = IsText(bytes)
                         ? bytes
                         : absl::StrFormat("<%d bytes, binary>", bytes.size());
  if (max > 0 && text.size() > max) text = text.substr(0, max - 3) + "...";
  return text;
}

json ResultJson(const reprise::v1::Result& result) {
  if (result.has_failure()) {
    return {{"failure",
             {{"code", result.failure().code()},
              {"message", result.failure().message()}}}};
  }
  return {{"value", PayloadJson(result.value())}};
}

std::string TargetText(const reprise::v1::Target& t) {
  // As --target takes it.
  return t.key().empty() ? t.service() + "/" + t.handler()
                         : t.service() + "/" + t.handler() + "/" + t.key();
}

// invoke ---------------------------------------------------------------------

struct InvokeArgs {
  std::string target;
  std::string key;
  std::string data;
  std::string idempotency_key;
  bool send = false;
};

int Invoke(const Globals& g, const InvokeArgs& args) {
  auto slash = args.target.find('/');
  if (slash == std::string::npos || slash == 0 ||
      slash + 1 == args.target.size()) {
    std::fprintf(stderr,
                 "error: target must be Service/handler, e.g. Greeter/greet\n");
    return kUsage;
  }
  reprise::v1::InvokeRequest request;
  request.mutable_target()->set_service(args.target.substr(0, slash));
  request.mutable_target()->set_handler(args.target.substr(slash + 1));
  request.mutable_target()->set_key(args.key);
  request.set_payload(args.data);
  request.set_idempotency_key(args.idempotency_key);
  auto stub = reprise::v1::Ingress::NewStub(OpenChannel(g, g.ingress_address));
  grpc::ClientContext context;
  SetDeadline(context, g, /*admin=*/false);
  if (args.send) {
    reprise::v1::SendResponse response;
    grpc::Status status = stub->Send(&context, request, &response);
    if (!status.ok()) return ReportRpcError(status, g.ingress_address);
    if (g.json_output) {
      std::cout << json{{"invocation_id", response.invocation_id()}}.dump()
                << "\n";
    } else {
      std::cout << response.invocation_id() << "\n";
    }
    return kOk;
  }
  reprise::v1::InvokeResponse response;
  grpc::Status status = stub->Invoke(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, g.ingress_address);
  const auto& result = response.result();
  if (g.json_output) {
    json out = ResultJson(result);
    out["invocation_id"] = response.invocation_id();
    std::cout << out.dump() << "\n";
  } else if (!result.has_failure()) {
    std::cout << PayloadText(result.value()) << "\n";
  }
  if (result.has_failure()) {
    std::fprintf(stderr, "error: invocation %s failed (code %u): %s\n",
                 response.invocation_id().c_str(), result.failure().code(),
                 result.failure().message().c_str());
    return kError;
  }
  return kOk;
}

// invocations ----------------------------------------------------------------

std::unique_ptr<reprise::v1::Admin::Stub> AdminStub(const Globals& g) {
  return reprise::v1::Admin::NewStub(OpenChannel(g, g.address));
}

json SummaryJson(const reprise::v1::InvocationSummary& s) {
  return {{"invocation_id", s.invocation_id()},
          {"service", s.target().service()},
          {"handler", s.target().handler()},
          {"key", s.target().key()},
          {"status", s.status()},
          {"created_at_ms", s.created_at_ms()},
          {"modified_at_ms", s.modified_at_ms()},
          {"idempotency_key", s.idempotency_key()}};
}

struct ListArgs {
  std::string service, handler, key, status;
  std::string target;  // Service[/handler[/key]], for bulk commands
  std::string created_after, created_before;  // RFC 3339, or "2h" ago
  std::string idempotency_key;
  std::string page_token;
  uint32_t limit = 50;
};

// A point in time: RFC 3339, or a duration ago ("90s", "15m", "2h", "3d").
absl::StatusOr<int64_t> ParseWhen(const std::string& text, const char* option) {
  absl::Time when;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &when, &err)) {
    return absl::ToUnixMillis(when);
  }
  absl::Duration ago;
  std::string duration = text;
  int64_t days = 0;
  if (!text.empty() && text.back() == 'd' &&
      absl::SimpleAtoi(text.substr(0, text.size() - 1), &days)) {
    ago = absl::Hours(24 * days);
  } else if (!absl::ParseDuration(duration, &ago)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: '%s' is neither a time (2026-11-21T09:30:00Z) nor a duration "
        "ago (90s, 15m, 2h, 3d)",
        option, text));
  }
  return absl::ToUnixMillis(absl::Now() - ago);
}

absl::StatusOr<reprise::v1::ListInvocationsRequest> ListRequest(
    const ListArgs& args) {
  reprise::v1::ListInvocationsRequest request;
  request.set_service(args.service);
  request.set_handler(args.handler);
  request.set_key(args.key);
  if (!args.target.empty()) {
    std::vector<std::string> parts =
        absl::StrSplit(args.target, absl::MaxSplits('/', 2));
    request.set_service(parts[0]);
    if (parts.size() > 1) request.set_handler(parts[1]);
    if (parts.size() > 2) request.set_key(parts[2]);
    if (parts[0].empty()) {
      return absl::InvalidArgumentError(
          "--target: name a service, as Service[/handler[/key]]");
    }
  }
  request.set_status(args.status);
  request.set_idempotency_key(args.idempotency_key);
  request.set_page_token(args.page_token);
  request.set_limit(args.limit);
  if (!args.created_after.empty()) {
    auto when = ParseWhen(args.created_after, "--created-after");
    if (!when.ok()) return when.status();
    request.set_created_after_ms(*when);
  }
  if (!args.created_before.empty()) {
    auto when = ParseWhen(args.created_before, "--created-before");
    if (!when.ok()) return when.status();
    request.set_created_before_ms(*when);
  }
  return request;
}

int ListInvocations(const Globals& g, const ListArgs& args) {
  auto request = ListRequest(args);
  if (!request.ok()) {
    std::fprintf(stderr, "error: %s\n", request.status().message().data());
    return kUsage;
  }
  reprise::v1::ListInvocationsResponse response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status =
      AdminStub(g)->ListInvocations(&context, *request, &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    json list = json::array();
    for (const auto& s : response.invocations()) list.push_back(SummaryJson(s));
    json out = {{"invocations", list}, {"truncated", response.truncated()}};
    if (response.truncated()) {
      out["next_page_token"] = response.next_page_token();
    }
    std::cout << out.dump() << "\n";
    return kOk;
  }
  std::printf("%-36s  %-30s  %-11s  %s\n", "ID", "TARGET", "STATUS", "CREATED");
  for (const auto& s : response.invocations()) {
    std::printf("%-36s  %-30s  %-11s  %s\n", s.invocation_id().c_str(),
                TargetText(s.target()).c_str(), s.status().c_str(),
                Ago(s.created_at_ms()).c_str());
  }
  if (response.truncated()) {
    std::printf("(more: add --page-token %s)\n",
                response.next_page_token().c_str());
  }
  return kOk;
}

int DescribeInvocation(const Globals& g, const std::string& id) {
  reprise::v1::DescribeInvocationRequest request;
  request.set_invocation_id(id);
  reprise::v1::InvocationDescription d;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status = AdminStub(g)->DescribeInvocation(&context, request, &d);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    json out = SummaryJson(d.summary());
    out["status_reason"] = d.status_reason();
    out["attempts"] = d.attempts();
    out["partition"] = d.partition();
    out["completed_at_ms"] = d.completed_at_ms();
    out["pinned_version"] = d.pinned_version();
    out["next_retry_at_ms"] = d.next_retry_at_ms();
    out["waiting_on"] = json(
        std::vector<uint32_t>(d.waiting_on().begin(), d.waiting_on().end()));
    out["cancellation_pending"] = d.cancellation_pending();
    if (d.has_result()) out["result"] = ResultJson(d.result());
    if (d.has_last_failure()) {
      const auto& f = d.last_failure();
      out["last_failure"] = {{"attempt", f.attempt()},
                             {"message", f.message()},
                             {"failed_at_ms", f.failed_at_ms()}};
      if (f.has_journal_index()) {
        out["last_failure"]["journal_index"] = f.journal_index();
      }
    }
    json journal = json::array();
    for (const auto& e : d.journal()) {
      json entry = {{"index", e.index()},
                    {"kind", e.kind()},
                    {"name", e.name()},
                    {"invocation_id", e.invocation_id()},
                    {"appended_at_ms", e.appended_at_ms()},
                    {"completed_at_ms", e.completed_at_ms()},
                    {"time_ms", e.time_ms()},
                    {"size_bytes", e.size_bytes()}};
      entry.update(ResultJson(e.result()));
      if (e.has_kafka_record()) {
        const auto& k = e.kafka_record();
        entry["kafka_record"] = {{"subscription", k.subscription()},
                                 {"topic", k.topic()},
                                 {"partition", k.partition()},
                                 {"offset", k.offset()},
                                 {"timestamp_ms", k.timestamp_ms()}};
        if (k.has_key()) entry["kafka_record"]["key"] = PayloadText(k.key());
        json headers = json::object();
        for (const auto& h : k.headers())
          headers[h.key()] = PayloadText(h.value());
        entry["kafka_record"]["headers"] = headers;
      }
      journal.push_back(entry);
    }
    out["journal"] = journal;
    std::cout << out.dump() << "\n";
    return kOk;
  }
  const auto& s = d.summary();
  std::printf("Invocation  %s\n", s.invocation_id().c_str());
  std::printf("Target      %s\n", TargetText(s.target()).c_str());
  std::printf("Status      %s (%s)\n", s.status().c_str(),
              d.status_reason().c_str());
  if (d.cancellation_pending()) {
    std::printf("Cancelled   (fails its next await)\n");
  }
  if (d.attempts() > 0) std::printf("Attempts    %u\n", d.attempts());
  if (d.next_retry_at_ms() != 0) {
    std::printf("Next retry  %s (%s)\n",
                FormatTime(d.next_retry_at_ms()).c_str(),
                Ago(d.next_retry_at_ms()).c_str());
  }
  if (d.has_last_failure()) {
    const auto& f = d.last_failure();
    std::string where =
        f.has_journal_index()
            ? absl::StrFormat(" at journal index %d", f.journal_index())
            : "";
    std::printf("Last failure attempt %u%s, %s: %s\n", f.attempt(),
                where.c_str(), Ago(f.failed_at_ms()).c_str(),
                f.message().c_str());
  }
  if (!d.pinned_version().empty()) {
    std::printf("Version     %s (pinned)\n", d.pinned_version().c_str());
  }
  for (const auto& e : d.journal()) {
    if (!e.has_kafka_record()) continue;
    const auto& k = e.kafka_record();
    std::printf(
        "Source      subscription %s: topic %s, partition %d, offset "
        "%lld, key %s\n",
        k.subscription().c_str(), k.topic().c_str(), k.partition(),
        static_cast<long long>(k.offset()),
        k.has_key() ? PayloadText(k.key(), 60).c_str() : "(none)");
  }
  std::printf("Partition   %u\n", d.partition());
  std::printf("Created     %s (%s)\n", FormatTime(s.created_at_ms()).c_str(),
              Ago(s.created_at_ms()).c_str());
  if (d.completed_at_ms() != 0) {
    std::printf("Completed   %s (%s)\n",
                FormatTime(d.completed_at_ms()).c_str(),
                Ago(d.completed_at_ms()).c_str());
  }
  if (d.has_result()) {
    if (d.result().has_failure()) {
      std::printf("Failure     code %u: %s\n", d.result().failure().code(),
                  d.result().failure().message().c_str());
    } else {
      std::printf("Output      %s\n",
                  PayloadText(d.result().value(), 200).c_str());
    }
  }
  std::printf("\nJournal\n  %-5s  %-6s  %-16s  %-23s  %8s  %s\n", "INDEX",
              "KIND", "NAME", "APPENDED (UTC)", "BYTES", "CONTENT");
  for (const auto& e : d.journal()) {
    std::string content;
    if (e.kind() == "sleep") {
      content = absl::StrFormat("until %s, %s", FormatTime(e.time_ms()),
                                e.completed_at_ms() != 0
                                    ? "fired " + FormatTime(e.completed_at_ms())
                                    : std::string("pending"));
    } else if (e.kind() == "now") {
      content = FormatTime(e.time_ms());
    } else if (!e.invocation_id().empty() && e.completed_at_ms() == 0 &&
               !e.result().has_failure()) {
      content = e.invocation_id() + " (pending)";  // call, send, awakeable
    } else if (e.result().has_failure()) {
      content = "failure: " + e.result().failure().message();
    } else {
      content = PayloadText(e.result().value(), 60);
    }
    std::printf("  %-5u  %-6s  %-16s  %-23s  %8u  %s\n", e.index(),
                e.kind().c_str(), e.name().c_str(),
                FormatTime(e.appended_at_ms()).c_str(), e.size_bytes(),
                content.c_str());
  }
  return kOk;
}

// awakeables --------------------------------------------------------------

struct AwakeableArgs {
  std::string id;
  std::string data;
  std::string reason;
};

int CompleteAwakeable(const Globals& g, const AwakeableArgs& args,
                      bool resolve) {
  auto stub = reprise::v1::Ingress::NewStub(OpenChannel(g, g.ingress_address));
  grpc::ClientContext context;
  SetDeadline(context, g, /*admin=*/false);
  reprise::v1::ResolveAwakeableResponse response;
  grpc::Status status;
  if (resolve) {
    reprise::v1::ResolveAwakeableRequest request;
    request.set_awakeable_id(args.id);
    request.set_payload(args.data);
    status = stub->ResolveAwakeable(&context, request, &response);
  } else {
    reprise::v1::RejectAwakeableRequest request;
    request.set_awakeable_id(args.id);
    request.set_reason(args.reason);
    status = stub->RejectAwakeable(&context, request, &response);
  }
  if (!status.ok()) return ReportRpcError(status, g.ingress_address);
  if (g.json_output) {
    std::cout << json{{"awakeable_id", args.id},
                      {resolve ? "resolved" : "rejected", true}}
                     .dump()
              << "\n";
  } else {
    std::cout << (resolve ? "resolved " : "rejected ") << args.id << "\n";
  }
  return kOk;
}

// Steering invocations: cancel, pause, resume, kill, retry-now, purge,
// restart; one by id, or every one a --target (and filters) matches.
struct ControlArgs {
  std::string id;
  std::string version;  // resume
  uint32_t from = 1;    // restart
  bool yes = false;     // bulk: no confirmation
};

// Sends `verb` for invocation `id`; the id the response names (restart:
// the new invocation) goes to `*result_id`.
grpc::Status SendControl(reprise::v1::Admin::Stub& stub, const Globals& g,
                         const std::string& verb, const ControlArgs& args,
                         const std::string& id, std::string* result_id) {
  grpc::ClientContext context;
  SetDeadline(context, g);
  reprise::v1::InvocationRequest request;
  request.set_invocation_id(id);
  reprise::v1::ControlResponse response;
  grpc::Status status;
  if (verb == "cancel") {
    status = stub.CancelInvocation(&context, request, &response);
  } else if (verb == "pause") {
    status = stub.PauseInvocation(&context, request, &response);
  } else if (verb == "resume") {
    reprise::v1::ResumeInvocationRequest resume;
    resume.set_invocation_id(id);
    resume.set_version(args.version);
    status = stub.ResumeInvocation(&context, resume, &response);
  } else if (verb == "kill") {
    status = stub.KillInvocation(&context, request, &response);
  } else if (verb == "retry-now") {
    status = stub.RetryNowInvocation(&context, request, &response);
  } else if (verb == "purge") {
    status = stub.PurgeInvocation(&context, request, &response);
  } else {
    reprise::v1::RestartInvocationRequest restart;
    restart.set_invocation_id(id);
    restart.set_from(args.from);
    status = stub.RestartInvocation(&context, restart, &response);
  }
  *result_id = response.invocation_id();
  return status;
}

// What `verb` did, for people.
std::string Effect(const std::string& verb, const ControlArgs& args) {
  if (verb == "cancel") {
    return "its next await fails with CANCELLED, so it can compensate";
  }
  if (verb == "pause") return "no attempt runs until it is resumed";
  if (verb == "resume") {
    return args.version.empty()
               ? "a new attempt starts"
               : "a new attempt starts on version " + args.version;
  }
  if (verb == "kill") return "failed with ABORTED; no compensation ran";
  if (verb == "retry-now") return "its next attempt starts now";
  if (verb == "purge") return "its status, journal and result are deleted";
  return args.from <= 1
             ? "from its input"
             : absl::StrFormat("replaying entries 0..%d", args.from - 1);
}

const std::string& PastTense(const std::string& verb) {
  static const auto* kDone = new std::map<std::string, std::string>{
      {"cancel", "cancelled"},       {"pause", "paused"},
      {"resume", "resumed"},         {"kill", "killed"},
      {"retry-now", "retrying now"}, {"purge", "purged"},
      {"restart", "restarted"}};
  return kDone->at(verb);
}

int ControlInvocation(const Globals& g, const std::string& verb,
                      const ControlArgs& args) {
  std::string result_id;
  grpc::Status status =
      SendControl(*AdminStub(g), g, verb, args, args.id, &result_id);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    json out = {{"invocation_id", result_id}, {"done", verb}};
    if (verb == "restart") out["restarted_from"] = args.id;
    std::cout << out.dump() << "\n";
  } else if (verb == "restart") {
    std::cout << "restarted " << args.id << " as " << result_id << " ("
              << Effect(verb, args) << ")\n";
  } else {
    std::cout << PastTense(verb) << " " << args.id << " (" << Effect(verb, args)
              << ")\n";
  }
  return kOk;
}

// Every invocation `filters` matches (all pages), then `verb` for each,
// after a confirmation unless --yes.
int ControlMatching(const Globals& g, const std::string& verb,
                    const ControlArgs& args, ListArgs filters) {
  filters.limit = 1000;
  auto request = ListRequest(filters);
  if (!request.ok()) {
    std::fprintf(stderr, "error: %s\n", request.status().message().data());
    return kUsage;
  }
  auto stub = AdminStub(g);
  std::vector<std::string> ids;
  for (;;) {
    reprise::v1::ListInvocationsResponse page;
    grpc::ClientContext context;
    SetDeadline(context, g);
    grpc::Status status = stub->ListInvocations(&context, *request, &page);
    if (!status.ok()) return ReportRpcError(status, g.address);
    for (const auto& s : page.invocations()) ids.push_back(s.invocation_id());
    if (!page.truncated()) break;
    request->set_page_token(page.next_page_token());
  }
  if (ids.empty() && g.json_output) {
    std::cout << json{{"done", verb},
                      {"matched", 0},
                      {"succeeded", 0},
                      {"failures", json::array()}}
                     .dump()
              << "\n";
    return kOk;
  }
  if (ids.empty()) {
    std::printf("no invocation of %s matches\n", filters.target.c_str());
    return kOk;
  }
  if (!args.yes) {
    // On stderr, so that --json output stays JSON.
    std::fprintf(stderr, "%zu invocation%s of %s match%s. %s %s? [y/N] ",
                 ids.size(), ids.size() == 1 ? "" : "s", filters.target.c_str(),
                 ids.size() == 1 ? "es" : "", verb.c_str(),
                 ids.size() == 1 ? "it" : "them");
    std::string answer;
    if (!std::getline(std::cin, answer) || (answer != "y" && answer != "yes")) {
      std::fprintf(stderr, "\nnothing done (--yes skips this question)\n");
      return kError;
    }
  }
  // A few at a time: each answers once its command is durable.
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < ids.size(); i = next++) {
        std::string result_id;
        grpc::Status status =
            SendControl(*stub, g, verb, args, ids[i], &result_id);
        if (!status.ok()) {
          absl::MutexLock lock(&mu);
          failures.push_back(ids[i] + ": " + status.error_message());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const size_t done = ids.size() - failures.size();
  if (g.json_output) {
    std::cout << json{{"done", verb},
                      {"matched", ids.size()},
                      {"succeeded", done},
                      {"failures", failures}}
                     .dump()
              << "\n";
  } else {
    std::printf("%s %zu of %zu (%s)\n", PastTense(verb).c_str(), done,
                ids.size(), Effect(verb, args).c_str());
    for (const std::string& f : failures) std::printf("  %s\n", f.c_str());
  }
  return failures.empty() ? kOk : kError;
}

struct WatchArgs {
  reprise::v1::WatchInvocationsRequest filter;
  uint32_t count = 0;  // stop after this many events; 0: never
  double seconds = 0;  // stop after this long; 0: never
};

int WatchInvocations(const Globals& g, const WatchArgs& args) {
  grpc::ClientContext context;
  if (args.seconds > 0) {
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(args.seconds * 1000)));
  }
  auto stub = AdminStub(g);
  std::unique_ptr<grpc::ClientReader<reprise::v1::InvocationEvent>> reader =
      stub->WatchInvocations(&context, args.filter);
  reader->WaitForInitialMetadata();
  // The runtime marks a subscribed watch; without the mark the call failed.
  if (context.GetServerInitialMetadata().count("reprise-watch") == 0) {
    return ReportRpcError(reader->Finish(), g.address);
  }
  std::fprintf(stderr, "watching (Ctrl-C to stop)\n");
  reprise::v1::InvocationEvent event;
  uint32_t seen = 0;
  while ((args.count == 0 || seen < args.count) && reader->Read(&event)) {
    ++seen;
    if (g.json_output) {
      std::cout << json{{"invocation_id", event.invocation_id()},
                        {"service", event.target().service()},
                        {"handler", event.target().handler()},
                        {"key", event.target().key()},
                        {"status", event.status()},
                        {"at_ms", event.at_ms()},
                        {"attempt", event.attempt()}}
                       .dump()
                << std::endl;
    } else {
      std::cout << FormatTime(event.at_ms()) << "  " << event.invocation_id()
                << "  " << TargetText(event.target()) << "  " << event.status()
                << std::endl;
    }
  }
  if (args.count != 0 && seen >= args.count) {
    context.TryCancel();
    return kOk;
  }
  grpc::Status status = reader->Finish();
  if (status.ok() ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return kOk;  // the watch ran its time
  }
  return ReportRpcError(status, g.address);
}

// state --------------------------------------------------------------------

struct StateArgs {
  std::string service, key, name, data;
  bool force = false;
};

int GetState(const Globals& g, const StateArgs& args) {
  reprise::v1::GetStateRequest request;
  request.set_service(args.service);
  request.set_key(args.key);
  request.set_name(args.name);
  reprise::v1::GetStateResponse response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status = AdminStub(g)->GetState(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    json state = json::object();
    for (const auto& e : response.entries()) {
      state[e.name()] = PayloadJson(e.value());
    }
    std::cout << json{{"service", args.service},
                      {"key", args.key},
                      {"state", state}}
                     .dump()
              << "\n";
    return kOk;
  }
  if (!args.name.empty()) {
    std::cout << PayloadText(response.entries(0).value()) << "\n";
    return kOk;
  }
  if (response.entries().empty()) {
    std::printf("%s/%s has no state\n", args.service.c_str(), args.key.c_str());
  }
  for (const auto& e : response.entries()) {
    std::printf("%-24s  %s\n", e.name().c_str(),
                PayloadText(e.value(), 100).c_str());
  }
  return kOk;
}

int EditState(const Globals& g, const StateArgs& args, bool clear) {
  reprise::v1::EditStateRequest request;
  request.set_service(args.service);
  request.set_key(args.key);
  request.set_name(args.name);
  request.set_value(args.data);
  request.set_clear(clear);
  request.set_force(args.force);
  reprise::v1::EditStateResponse response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status = AdminStub(g)->EditState(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  const std::string what =
      args.service + "/" + args.key +
      (args.name.empty() ? " (every key)" : " " + args.name);
  if (g.json_output) {
    std::cout << json{{"service", args.service},
                      {"key", args.key},
                      {"name", args.name},
                      {"done", clear ? "clear" : "set"}}
                     .dump()
              << "\n";
  } else {
    std::cout << (clear ? "cleared " : "set ") << what << "\n";
  }
  return kOk;
}

// promises -----------------------------------------------------------------

struct PromiseArgs {
  std::string service, key, name, data, reason;
};

int CompletePromise(const Globals& g, const PromiseArgs& args, bool resolve) {
  auto stub = reprise::v1::Ingress::NewStub(OpenChannel(g, g.ingress_address));
  grpc::ClientContext context;
  SetDeadline(context, g, /*admin=*/false);
  reprise::v1::ResolvePromiseRequest request;
  request.set_service(args.service);
  request.set_key(args.key);
  request.set_name(args.name);
  if (resolve) {
    request.set_payload(args.data);
  } else {
    request.set_reject_reason(args.reason);
  }
  reprise::v1::ResolvePromiseResponse response;
  grpc::Status status = stub->ResolvePromise(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, g.ingress_address);
  const std::string what =
      args.service + "/" + args.key + " promise " + args.name;
  if (g.json_output) {
    std::cout << json{{"service", args.service},
                      {"key", args.key},
                      {"name", args.name},
                      {resolve ? "resolved" : "rejected", true}}
                     .dump()
              << "\n";
  } else {
    std::cout << (resolve ? "resolved " : "rejected ") << what << "\n";
  }
  return kOk;
}

json WorkerJson(const reprise::v1::WorkerView& w) {
  return {{"worker_id", w.worker_id()},
          {"name", w.name()},
          {"version", w.version()},
          {"services",
           std::vector<std::string>(w.services().begin(), w.services().end())},
          {"capacity", w.capacity()},
          {"in_flight", w.in_flight()}};
}

std::string TypeName(reprise::v1::HandlerType type) {
  switch (type) {
    case reprise::v1::HANDLER_TYPE_EXCLUSIVE:
      return "exclusive";
    case reprise::v1::HANDLER_TYPE_SHARED:
      return "shared";
    case reprise::v1::HANDLER_TYPE_WORKFLOW:
      return "workflow";
    default:
      return "-";
  }
}

int DescribeService(const Globals& g, const std::string& name) {
  reprise::v1::DescribeServiceRequest request;
  request.set_name(name);
  reprise::v1::ServiceDescription d;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status = AdminStub(g)->DescribeService(&context, request, &d);
  if (!status.ok()) return ReportRpcError(status, g.address);
  std::map<std::string, uint32_t> counts(d.invocations_by_status().begin(),
                                         d.invocations_by_status().end());
  if (g.json_output) {
    json handlers = json::array();
    for (const auto& h : d.handlers()) {
      const auto& p = h.retry_policy();
      handlers.push_back(
          {{"name", h.name()},
           {"type", TypeName(h.type())},
           {"retry_policy",
            {{"initial_interval_ms", p.initial_interval_ms()},
             {"factor", p.factor()},
             {"max_interval_ms", p.max_interval_ms()},
             {"max_attempts", p.max_attempts()},
             {"on_max_attempts",
              p.on_max_attempts() ==
                      reprise::v1::RetryPolicy::ON_MAX_ATTEMPTS_FAIL
                  ? "fail"
                  : "pause"}}},
           {"inactivity_timeout_ms", h.inactivity_timeout_ms()},
           {"retention_ms", h.retention_ms()}});
    }
    json workers = json::array();
    for (const auto& w : d.workers()) workers.push_back(WorkerJson(w));
    std::cout << json{{"name", d.name()},
                      {"type", reprise::v1::ServiceType_Name(d.type())},
                      {"version", d.version()},
                      {"registered_at_ms", d.registered_at_ms()},
                      {"handlers", handlers},
                      {"workers", workers},
                      {"invocations_by_status", counts}}
                     .dump()
              << "\n";
    return kOk;
  }
  std::string type = reprise::v1::ServiceType_Name(d.type());
  std::printf("Service     %s (%s)\n", d.name().c_str(),
              type.substr(std::string("SERVICE_TYPE_").size()).c_str());
  std::printf("Version     %s, registered %s\n", d.version().c_str(),
              Ago(d.registered_at_ms()).c_str());
  std::printf("\n%-20s  %-10s  %-38s  %-12s  %s\n", "HANDLER", "TYPE",
              "RETRIES", "INACTIVITY", "RETENTION");
  for (const auto& h : d.handlers()) {
    const auto& p = h.retry_policy();
    std::string retries = absl::StrFormat(
        "%s, %dms x%g up to %dms, then %s",
        p.max_attempts() == 0
            ? "unlimited"
            : absl::StrFormat("%d attempts", p.max_attempts()),
        p.initial_interval_ms(), p.factor(), p.max_interval_ms(),
        p.on_max_attempts() == reprise::v1::RetryPolicy::ON_MAX_ATTEMPTS_FAIL
            ? "fail"
            : "pause");
    const std::string retention =
        h.retention_ms() >= static_cast<uint64_t>(INT64_MAX)
            ? "forever"
            : absl::FormatDuration(absl::Milliseconds(h.retention_ms()));
    std::printf(
        "%-20s  %-10s  %-38s  %-12s  %s\n", h.name().c_str(),
        TypeName(h.type()).c_str(), retries.c_str(),
        absl::FormatDuration(absl::Milliseconds(h.inactivity_timeout_ms()))
            .c_str(),
        retention.c_str());
  }
  std::printf("\nWorkers     %d connected\n", d.workers_size());
  for (const auto& w : d.workers()) {
    std::printf("  %s  %s  version %s  %u/%u in flight\n",
                w.worker_id().c_str(), w.name().c_str(), w.version().c_str(),
                w.in_flight(), w.capacity());
  }
  std::printf("\nInvocations");
  if (counts.empty()) std::printf("  none");
  for (const auto& [name_, count] : counts) {
    std::printf("  %s %u", name_.c_str(), count);
  }
  std::printf("\n");
  return kOk;
}

int ListWorkers(const Globals& g) {
  reprise::v1::ListWorkersResponse response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status = AdminStub(g)->ListWorkers(
      &context, reprise::v1::ListWorkersRequest(), &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    json workers = json::array();
    for (const auto& w : response.workers()) workers.push_back(WorkerJson(w));
    std::cout << json{{"workers", workers}}.dump() << "\n";
    return kOk;
  }
  std::printf("%-24s  %-12s  %-10s  %-9s  %s\n", "WORKER", "NAME", "VERSION",
              "IN FLIGHT", "SERVICES");
  for (const auto& w : response.workers()) {
    std::string services;
    for (const auto& s : w.services()) {
      services += (services.empty() ? "" : ", ") + s;
    }
    std::printf("%-24s  %-12s  %-10s  %-9s  %s\n", w.worker_id().c_str(),
                w.name().c_str(), w.version().c_str(),
                absl::StrFormat("%u/%u", w.in_flight(), w.capacity()).c_str(),
                services.c_str());
  }
  return kOk;
}

int ListServices(const Globals& g) {
  reprise::v1::ListServicesResponse response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status = AdminStub(g)->ListServices(
      &context, reprise::v1::ListServicesRequest(), &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    json list = json::array();
    for (const auto& s : response.services()) {
      json handlers = json::array();
      for (const auto& h : s.handlers()) handlers.push_back(h.name());
      list.push_back({{"name", s.name()},
                      {"type", reprise::v1::ServiceType_Name(s.type())},
                      {"handlers", handlers},
                      {"version", s.version()},
                      {"connected_workers", s.connected_workers()}});
    }
    std::cout << json{{"services", list}}.dump() << "\n";
    return kOk;
  }
  std::printf("%-24s  %-14s  %-8s  %-7s  %s\n", "SERVICE", "TYPE", "VERSION",
              "WORKERS", "HANDLERS");
  for (const auto& s : response.services()) {
    std::string handlers;
    for (const auto& h : s.handlers()) {
      handlers += (handlers.empty() ? "" : ", ") + h.name();
    }
    std::string type = reprise::v1::ServiceType_Name(s.type());
    type = type.substr(std::string("SERVICE_TYPE_").size());
    std::printf("%-24s  %-14s  %-8s  %-7u  %s\n", s.name().c_str(),
                type.c_str(), s.version().c_str(), s.connected_workers(),
                handlers.c_str());
  }
  return kOk;
}

// subscriptions --------------------------------------------------------------

struct SubscriptionArgs {
  std::string name, topic, target, bootstrap_servers;
  std::vector<std::string> options;  // name=value
  std::string start = "latest";
};

std::unique_ptr<reprise::v1::Subscriptions::Stub> SubscriptionsStub(
    const Globals& g) {
  return reprise::v1::Subscriptions::NewStub(OpenChannel(g, g.address));
}

void PrintJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  std::cout << text << "\n";
}

std::string Lag(const reprise::v1::SubscriptionDescription& d) {
  int64_t total = 0;
  for (const auto& p : d.partitions()) {
    if (p.lag() < 0) return "?";
    total += p.lag();
  }
  return d.partitions().empty() ? "-" : std::to_string(total);
}

void PrintSubscription(const reprise::v1::SubscriptionDescription& d) {
  const auto& s = d.subscription();
  std::printf("Name:          %s\n", s.name().c_str());
  std::printf("Topic:         %s on %s\n", s.topic().c_str(),
              s.bootstrap_servers().c_str());
  std::printf("Target:        %s\n", TargetText(s.target()).c_str());
  std::printf("Start:         %s\n",
              s.start_position() == reprise::v1::START_POSITION_EARLIEST
                  ? "earliest"
                  : "latest");
  for (const auto& [name, value] : s.options()) {
    std::printf("Option:        %s=%s\n", name.c_str(), value.c_str());
  }
  std::printf("Created:       %s\n", FormatTime(s.created_at_ms()).c_str());
  std::printf("State:         %s\n", d.state().c_str());
  if (!d.error().empty()) {
    std::printf("Error:         %s\n", d.error().c_str());
  }
  std::printf("Records:       %llu appended since the runtime started\n",
              static_cast<unsigned long long>(d.records_invoked()));
  std::printf("\n%-9s  %-12s  %-12s  %s\n", "PARTITION", "COMMITTED", "END",
              "LAG");
  for (const auto& p : d.partitions()) {
    auto or_unknown = [](int64_t v) {
      return v < 0 ? std::string("?") : std::to_string(v);
    };
    std::printf("%-9d  %-12s  %-12s  %s\n", p.partition(),
                or_unknown(p.committed_offset()).c_str(),
                or_unknown(p.high_watermark()).c_str(),
                or_unknown(p.lag()).c_str());
  }
  if (!d.blocked_keys().empty()) {
    std::printf(
        "\nKeys held up by a paused invocation (their later records wait; "
        "resume it after a fix):\n");
    for (const auto& b : d.blocked_keys()) {
      std::printf("  %-24s  %s  %s\n", b.key().c_str(),
                  b.invocation_id().c_str(), b.status().c_str());
    }
  }
}

int CreateSubscription(const Globals& g, const SubscriptionArgs& args) {
  reprise::v1::CreateSubscriptionRequest request;
  auto* s = request.mutable_subscription();
  s->set_name(args.name);
  s->set_topic(args.topic);
  s->set_bootstrap_servers(args.bootstrap_servers);
  std::vector<std::string> parts =
      absl::StrSplit(args.target, absl::MaxSplits('/', 1));
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    std::fprintf(stderr,
                 "error: --target must be Service/handler, e.g. "
                 "Customers/add\n");
    return kUsage;
  }
  s->mutable_target()->set_service(parts[0]);
  s->mutable_target()->set_handler(parts[1]);
  for (const std::string& option : args.options) {
    auto eq = option.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "error: --option must be name=value, got '%s'\n",
                   option.c_str());
      return kUsage;
    }
    (*s->mutable_options())[option.substr(0, eq)] = option.substr(eq + 1);
  }
  s->set_start_position(args.start == "earliest"
                            ? reprise::v1::START_POSITION_EARLIEST
                            : reprise::v1::START_POSITION_LATEST);
  reprise::v1::SubscriptionDescription response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status =
      SubscriptionsStub(g)->CreateSubscription(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    PrintJson(response);
  } else {
    std::printf("created subscription %s: %s -> %s\n", args.name.c_str(),
                args.topic.c_str(),
                TargetText(response.subscription().target()).c_str());
  }
  return kOk;
}

int ListSubscriptions(const Globals& g) {
  reprise::v1::ListSubscriptionsResponse response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status = SubscriptionsStub(g)->ListSubscriptions(
      &context, reprise::v1::ListSubscriptionsRequest(), &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    PrintJson(response);
    return kOk;
  }
  std::printf("%-20s  %-20s  %-28s  %-8s  %s\n", "NAME", "TOPIC", "TARGET",
              "STATE", "LAG");
  for (const auto& d : response.subscriptions()) {
    std::printf("%-20s  %-20s  %-28s  %-8s  %s\n",
                d.subscription().name().c_str(),
                d.subscription().topic().c_str(),
                TargetText(d.subscription().target()).c_str(),
                d.state().c_str(), Lag(d).c_str());
  }
  return kOk;
}

int DescribeSubscription(const Globals& g, const std::string& name) {
  reprise::v1::SubscriptionRequest request;
  request.set_name(name);
  reprise::v1::SubscriptionDescription response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status =
      SubscriptionsStub(g)->DescribeSubscription(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    PrintJson(response);
  } else {
    PrintSubscription(response);
  }
  return kOk;
}

int DeleteSubscription(const Globals& g, const std::string& name) {
  reprise::v1::SubscriptionRequest request;
  request.set_name(name);
  reprise::v1::DeleteSubscriptionResponse response;
  grpc::ClientContext context;
  SetDeadline(context, g);
  grpc::Status status =
      SubscriptionsStub(g)->DeleteSubscription(&context, request, &response);
  if (!status.ok()) return ReportRpcError(status, g.address);
  if (g.json_output) {
    std::cout << json{{"deleted", name}}.dump() << "\n";
  } else {
    std::printf("deleted subscription %s\n", name.c_str());
  }
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  Globals g;
  g.address = EnvOr("REPRISE_ADDRESS", "127.0.0.1:9070");
  g.ingress_address = EnvOr("REPRISE_INGRESS_ADDRESS", "127.0.0.1:9080");
  CLI::App app{"reprise: operate a Reprise runtime"};
  app.require_subcommand(1);
  app.add_option("--address", g.address,
                 "Admin API address (env REPRISE_ADDRESS)")
      ->capture_default_str();
  app.add_option("--ingress-address", g.ingress_address,
                 "Ingress address, for invoke and awakeables (env "
                 "REPRISE_INGRESS_ADDRESS)")
      ->capture_default_str();
  app.add_flag("--json", g.json_output, "Print JSON instead of tables");
  app.add_option("--token", g.token,
                 "Bearer token the runtime requires (env REPRISE_TOKEN)")
      ->envname("REPRISE_TOKEN");
  auto* tls_ca =
      app.add_option("--tls-ca", g.tls_ca,
                     "Use TLS, trusting this PEM CA (env REPRISE_TLS_CA)")
          ->envname("REPRISE_TLS_CA")
          ->check(CLI::ExistingFile);
  auto* tls_cert =
      app.add_option(
             "--tls-cert", g.tls_cert,
             "Client PEM certificate, for mutual TLS (env REPRISE_TLS_CERT)")
          ->envname("REPRISE_TLS_CERT")
          ->check(CLI::ExistingFile);
  auto* tls_key = app.add_option("--tls-key", g.tls_key,
                                 "Key of --tls-cert (env REPRISE_TLS_KEY)")
                      ->envname("REPRISE_TLS_KEY")
                      ->check(CLI::ExistingFile);
  // A client certificate only means something with TLS, and with its key.
  tls_cert->needs(tls_ca)->needs(tls_key);
  tls_key->needs(tls_cert);
  app.add_option("--timeout", g.timeout_seconds,
                 "Seconds to wait for an answer")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  int result = kOk;
  InvokeArgs invoke_args;
  auto* invoke = app.add_subcommand("invoke", "Invoke a handler");
  invoke->add_option("target", invoke_args.target, "Service/handler")
      ->required();
  invoke->add_option("--key", invoke_args.key,
                     "Object or workflow key (keyed services only)");
  invoke->add_option("--data", invoke_args.data,
                     "Input payload, e.g. '\"Ada\"' for a JSON string");
  invoke->add_option("--idempotency-key", invoke_args.idempotency_key,
                     "Repeats with the same key and target name one "
                     "invocation (kept 24 h after it completes)");
  invoke->add_flag("--send", invoke_args.send,
                   "Do not wait: print the invocation id once it is durable");
  invoke->callback([&] { result = Invoke(g, invoke_args); });

  auto* invocations =
      app.add_subcommand("invocations", "Inspect and steer invocations");
  invocations->require_subcommand(1);
  ListArgs list_args;
  auto* list =
      invocations->add_subcommand("list", "List invocations, newest first");
  list->add_option("--service", list_args.service, "Only this service");
  list->add_option("--handler", list_args.handler, "Only this handler");
  list->add_option("--key", list_args.key, "Only this object or workflow key");
  list->add_option("--idempotency-key", list_args.idempotency_key,
                   "Only the invocation of this idempotency key");
  list->add_option("--created-after", list_args.created_after,
                   "Created at or after: RFC 3339, or a duration ago (15m, "
                   "2h, 3d)");
  list->add_option("--created-before", list_args.created_before,
                   "Created before: RFC 3339, or a duration ago");
  list->add_option("--page-token", list_args.page_token,
                   "The next page, as printed after a truncated list");
  list->add_option(
      "--status", list_args.status,
      "scheduled, queued, pending, running, suspended, backing-off, "
      "paused, "
      "succeeded or failed");
  list->add_option("--limit", list_args.limit,
                   "Most invocations shown (at most 1000)")
      ->capture_default_str();
  list->callback([&] { result = ListInvocations(g, list_args); });
  WatchArgs watch_args;
  auto* watch = invocations->add_subcommand(
      "watch", "Print status changes of invocations as they happen");
  watch->add_option("--service", *watch_args.filter.mutable_service(),
                    "Only this service");
  watch->add_option("--handler", *watch_args.filter.mutable_handler(),
                    "Only this handler");
  watch->add_option("--key", *watch_args.filter.mutable_key(),
                    "Only this object or workflow key");
  watch->add_option("--status", *watch_args.filter.mutable_status(),
                    "Only changes to this status");
  watch->add_option("--id", *watch_args.filter.mutable_invocation_id(),
                    "Only this invocation");
  watch->add_option("--count", watch_args.count,
                    "Stop after this many changes");
  watch->add_option("--for", watch_args.seconds, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  watch->callback([&] { result = WatchInvocations(g, watch_args); });
  std::string describe_id;
  auto* describe = invocations->add_subcommand(
      "describe", "Show an invocation's status and journal");
  describe->add_option("id", describe_id, "Invocation id (inv_...)")
      ->required();
  describe->callback([&] { result = DescribeInvocation(g, describe_id); });
  ControlArgs control;
  const std::vector<std::pair<std::string, std::string>> verbs = {
      {"cancel",
       "Cancel: its next await fails with CANCELLED so it can compensate; "
       "the calls it waits for are cancelled too"},
      {"pause", "Pause: no attempt runs until resume; a running one stops"},
      {"resume", "Resume a paused invocation with a new attempt"},
      {"kill",
       "Kill: fail it at once with ABORTED, and the calls it waits for; no "
       "compensation runs"},
      {"retry-now", "Start a backing-off invocation's next attempt now"},
      {"purge", "Delete a completed invocation's status, journal and result"},
      {"restart",
       "Run a completed invocation again as a new one, from its input or "
       "--from a journal index"}};
  ListArgs bulk;
  for (const auto& [verb, help] : verbs) {
    auto* sub = invocations->add_subcommand(verb, help);
    auto* id = sub->add_option("id", control.id, "Invocation id (inv_...)");
    auto* target = sub->add_option(
        "--target", bulk.target,
        "Instead of an id: every invocation of Service[/handler[/key]]");
    id->excludes(target);
    sub->add_option("--status", bulk.status,
                    "With --target: only invocations in this status")
        ->needs(target);
    sub->add_option("--created-after", bulk.created_after,
                    "With --target: created at or after (RFC 3339, or ago: "
                    "15m, 2h, 3d)")
        ->needs(target);
    sub->add_option("--created-before", bulk.created_before,
                    "With --target: created before")
        ->needs(target);
    sub->add_flag("--yes", control.yes,
                  "With --target: do not ask for confirmation")
        ->needs(target);
    if (verb == "resume") {
      sub->add_option("--version", control.version,
                      "Run it on workers of this version from now on");
    }
    if (verb == "restart") {
      sub->add_option("--from", control.from,
                      "Keep journal entries 0..N-1 (their recorded results "
                      "replay) and run the rest again")
          ->check(CLI::PositiveNumber);
    }
    sub->callback([&, verb = verb] {
      if (control.id.empty() && bulk.target.empty()) {
        throw CLI::ValidationError("id", "give an invocation id or --target");
      }
      result = bulk.target.empty() ? ControlInvocation(g, verb, control)
                                   : ControlMatching(g, verb, control, bulk);
    });
  }

  auto* services =
      app.add_subcommand("services", "Inspect registered services");
  services->require_subcommand(1);
  services->add_subcommand("list", "List services and their handlers")
      ->callback([&] { result = ListServices(g); });
  std::string service_name;
  auto* describe_service = services->add_subcommand(
      "describe",
      "Show a service's handlers and their options, its workers, and its "
      "invocations by status");
  describe_service->add_option("name", service_name, "Service name")
      ->required();
  describe_service->callback(
      [&] { result = DescribeService(g, service_name); });

  StateArgs state_args;
  auto* state = app.add_subcommand(
      "state", "Inspect and edit the state of virtual objects and workflows");
  state->require_subcommand(1);
  auto* state_get = state->add_subcommand(
      "get", "Show one state key, or every key, of an object");
  auto* state_set = state->add_subcommand("set", "Set a state key");
  auto* state_clear = state->add_subcommand(
      "clear", "Clear a state key, or every key of the object");
  for (auto* sub : {state_get, state_set, state_clear}) {
    sub->add_option("service", state_args.service,
                    "The virtual object or workflow service")
        ->required();
    sub->add_option("key", state_args.key, "The object key or workflow id")
        ->required();
    auto* name = sub->add_option("name", state_args.name, "The state key");
    if (sub == state_set) {
      name->required();
      sub->add_option("--data", state_args.data,
                      "The value, e.g. '42' or '\"text\"'")
          ->required();
    }
    if (sub != state_get) {
      sub->add_flag("--force", state_args.force,
                    "Also while an exclusive handler holds the key");
    }
  }
  state_get->callback([&] { result = GetState(g, state_args); });
  state_set->callback([&] { result = EditState(g, state_args, false); });
  state_clear->callback([&] { result = EditState(g, state_args, true); });

  auto* workers = app.add_subcommand("workers", "Inspect connected workers");
  workers->require_subcommand(1);
  workers->add_subcommand("list", "List connected workers")->callback([&] {
    result = ListWorkers(g);
  });

  AwakeableArgs awakeable_args;
  SubscriptionArgs sub_args;
  auto* subscriptions =
      app.add_subcommand("subscriptions", "Feed handlers from Kafka topics");
  subscriptions->require_subcommand(1);
  auto* sub_create = subscriptions->add_subcommand(
      "create",
      "Subscribe a handler to a Kafka topic: each record invokes it once");
  sub_create->add_option("name", sub_args.name, "Subscription name")
      ->required();
  sub_create->add_option("--topic", sub_args.topic, "Kafka topic")->required();
  sub_create
      ->add_option("--target", sub_args.target,
                   "Service/handler; a keyed service takes each record's key")
      ->required();
  sub_create
      ->add_option("--bootstrap-servers", sub_args.bootstrap_servers,
                   "Kafka cluster, e.g. broker1:9092,broker2:9092")
      ->required();
  sub_create->add_option("--option", sub_args.options,
                         "librdkafka client option name=value (repeatable), "
                         "e.g. security.protocol=SSL");
  sub_create
      ->add_option("--start", sub_args.start,
                   "Where a new subscription starts reading")
      ->check(CLI::IsMember({"earliest", "latest"}))
      ->capture_default_str();
  sub_create->callback([&] { result = CreateSubscription(g, sub_args); });
  subscriptions->add_subcommand("list", "List subscriptions")->callback([&] {
    result = ListSubscriptions(g);
  });
  auto* sub_describe = subscriptions->add_subcommand(
      "describe",
      "Show a subscription, its partitions' lag, and keys held up by a "
      "paused record");
  sub_describe->add_option("name", sub_args.name, "Subscription name")
      ->required();
  sub_describe->callback(
      [&] { result = DescribeSubscription(g, sub_args.name); });
  auto* sub_delete = subscriptions->add_subcommand(
      "delete",
      "Stop consuming and forget the subscription (its invocations stay)");
  sub_delete->add_option("name", sub_args.name, "Subscription name")
      ->required();
  sub_delete->callback([&] { result = DeleteSubscription(g, sub_args.name); });

  auto* awakeables = app.add_subcommand(
      "awakeables", "Complete awakeables that invocations wait for");
  awakeables->require_subcommand(1);
  auto* resolve =
      awakeables->add_subcommand("resolve", "Resolve an awakeable with data");
  resolve->add_option("id", awakeable_args.id, "awk_... id")->required();
  resolve->add_option("--data", awakeable_args.data,
                      "Payload, e.g. '\"approve\"' for a JSON string");
  resolve->callback(
      [&] { result = CompleteAwakeable(g, awakeable_args, /*resolve=*/true); });
  auto* reject = awakeables->add_subcommand(
      "reject", "Reject an awakeable: its await fails with ABORTED");
  reject->add_option("id", awakeable_args.id, "awk_... id")->required();
  reject->add_option("--reason", awakeable_args.reason,
                     "Why, shown to the handler");
  reject->callback([&] {
    result = CompleteAwakeable(g, awakeable_args, /*resolve=*/false);
  });

  PromiseArgs promise_args;
  auto* promises =
      app.add_subcommand("promises", "Complete durable promises of workflows");
  promises->require_subcommand(1);
  for (bool resolving : {true, false}) {
    auto* sub = promises->add_subcommand(
        resolving ? "resolve" : "reject",
        resolving ? "Resolve a workflow's promise with data"
                  : "Reject a workflow's promise: its Get fails with ABORTED");
    sub->add_option("service", promise_args.service, "The workflow service")
        ->required();
    sub->add_option("key", promise_args.key, "The workflow id")->required();
    sub->add_option("name", promise_args.name, "The promise")->required();
    if (resolving) {
      sub->add_option("--data", promise_args.data,
                      "Payload, e.g. '\"yes\"' for a JSON string");
    } else {
      sub->add_option("--reason", promise_args.reason,
                      "Why, shown to the handler");
    }
    sub->callback([&, resolving] {
      result = CompletePromise(g, promise_args, resolving);
    });
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kOk : kUsage;
  }
  return result;
}
