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
