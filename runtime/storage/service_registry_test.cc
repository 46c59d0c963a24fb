#include "runtime/storage/service_registry.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace reprise::storage {
namespace {

v1::ServiceDefinition Greeter(v1::ServiceType type = v1::SERVICE_TYPE_SERVICE) {
  v1::ServiceDefinition service;
  service.set_name("Greeter");
  service.set_type(type);
  service.add_handlers()->set_name("greet");
  return service;
}

TEST(ServiceRegistryTest, RegistrationSurvivesReload) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  {
    auto registry = ServiceRegistry::Load(*store).value();
    ASSERT_TRUE(registry->Register({Greeter()}, "v1", 10).ok());
  }
  auto registry = ServiceRegistry::Load(*store).value();
  auto found = registry->Find("Greeter");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->version(), "v1");
  EXPECT_EQ(found->definition().handlers(0).name(), "greet");
  EXPECT_FALSE(registry->Find("Other").has_value());
}

TEST(ServiceRegistryTest, RejectsBadDefinitionsWithReasons) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  auto registry = ServiceRegistry::Load(*store).value();

  auto bad_name = Greeter();
  bad_name.set_name("has space");
  auto status = registry->Register({bad_name}, "v1", 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("service name"), std::string::npos);

  auto no_type = Greeter(v1::SERVICE_TYPE_UNSPECIFIED);
  EXPECT_EQ(registry->Register({no_type}, "v1", 1).code(),
            absl::StatusCode::kInvalidArgument);

  auto twice = Greeter();
  twice.add_handlers()->set_name("greet");
  EXPECT_EQ(registry->Register({twice}, "v1", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry->List().empty());
}

TEST(ServiceRegistryTest, RejectsBadHandlerOptionsWithReasons) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  auto registry = ServiceRegistry::Load(*store).value();

  auto shrinking = Greeter();
  shrinking.mutable_handlers(0)
      ->mutable_options()
      ->mutable_retry_policy()
      ->set_factor(0.5);
  auto status = registry->Register({shrinking}, "v1", 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      status.message(),
      "handler Greeter/greet: retry policy factor 0.5 must be at least 1");

  auto no_timeout = Greeter();
  no_timeout.mutable_options()->set_inactivity_timeout_ms(0);
  status = registry->Register({no_timeout}, "v1", 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("service Greeter: the inactivity timeout"),
            std::string::npos);
}

TEST(ServiceRegistryTest, TypeChangeIsRefused) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  auto registry = ServiceRegistry::Load(*store).value();
  ASSERT_TRUE(registry->Register({Greeter()}, "v1", 1).ok());
  EXPECT_EQ(
      registry->Register({Greeter(v1::SERVICE_TYPE_VIRTUAL_OBJECT)}, "v2", 2)
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace reprise::storage
