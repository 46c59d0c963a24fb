// The ingress serves gRPC reflection, so generic gRPC tools can discover and
// call it without Reprise's .proto files.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/testing/runtime_process.h"
#include "tests/testing/temp_dir.h"

namespace reprise {
namespace {

namespace refl = grpc::reflection::v1alpha;

TEST(ReflectionE2eTest, IngressIsListedAndDescribed) {
  testing::TempDir dir;
  testing::RuntimeProcess runtime(dir.path() + "/data");
  ASSERT_TRUE(runtime.Start()) << testing::ReadFile(runtime.log_path());
  auto stub = refl::ServerReflection::NewStub(
      testing::NewChannel(runtime.ingress_address()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  auto stream = stub->ServerReflectionInfo(&context);

  refl::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  refl::ServerReflectionResponse listed;
  ASSERT_TRUE(stream->Read(&listed));
  std::vector<std::string> services;
  for (const auto& s : listed.list_services_response().service()) {
    services.push_back(s.name());
  }
  EXPECT_THAT(services, ::testing::Contains("reprise.v1.Ingress"));

  refl::ServerReflectionRequest describe;
  describe.set_file_containing_symbol("reprise.v1.Ingress");
  ASSERT_TRUE(stream->Write(describe));
  refl::ServerReflectionResponse described;
  ASSERT_TRUE(stream->Read(&described));
  bool found_invoke = false;
  for (const auto& bytes :
       described.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    for (const auto& service : file.service()) {
      for (const auto& method : service.method()) {
        found_invoke = found_invoke || (service.name() == "Ingress" &&
                                        method.name() == "Invoke");
      }
    }
  }
  EXPECT_TRUE(found_invoke);
  stream->WritesDone();
  context.TryCancel();
  (void)stream->Finish();
}

}  // namespace
}  // namespace reprise
