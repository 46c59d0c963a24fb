// End to end: a runtime that requires a bearer token on its admin and
// worker ports, and one that serves TLS and mutual TLS with certificates
// from a throwaway CA the test makes with openssl.
#include <gmock/gmock.h>

#include <cstdlib>
#include <fstream>

#include "tests/testing/e2e_fixture.h"

namespace reprise {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Sets an environment variable for the life of the object, so that the
// processes started meanwhile inherit it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

class TokenE2eTest : public testing::E2eTest {
 protected:
  void SetUp() override {
    runtime_args_ = {"--token", "s3cret"};
    E2eTest::SetUp();
  }
};

TEST_F(TokenE2eTest, AdminAndWorkerPortsRequireTheToken) {
  // A worker without the token is refused, and says why.
  testing::ChildProcess refused({testing::BuildPath("examples/greeter/greeter"),
                                 "--address", runtime_->worker_address()},
                                dir_.path() + "/refused.log");
  EXPECT_EQ(refused.Wait(absl::Seconds(30)), 1);
  EXPECT_THAT(testing::ReadFile(dir_.path() + "/refused.log"),
              HasSubstr("requires a token"));

  std::unique_ptr<testing::ChildProcess> worker;
  {
    ScopedEnv token("REPRISE_TOKEN", "s3cret");
    worker = StartWorker({testing::BuildPath("examples/greeter/greeter")},
                         "greeter");
  }
  // The ingress is not the operator's: services call it without a token.
  EXPECT_EQ(Call("Greeter", "greet", "Ada"), "Hello, Ada!");

  testing::CommandResult r = Cli({"invocations", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("unauthenticated"));
  EXPECT_THAT(r.output, HasSubstr("requires a token"));
  EXPECT_THAT(r.output, Not(HasSubstr("inv_")));  // no data leaks
  r = Cli({"--token", "wrong", "invocations", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("the token is not valid"));
  EXPECT_THAT(r.output, Not(HasSubstr("inv_")));
  r = Cli({"--token", "wrong", "invocations", "watch", "--for", "5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("unauthenticated"));
  r = Cli({"--token", "s3cret", "invocations", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Greeter/greet"));
  {
    ScopedEnv token("REPRISE_TOKEN", "s3cret");
    r = Cli({"services", "list"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
}

// A CA, and a server and a client certificate it signed.
class Certificates {
 public:
  explicit Certificates(const std::string& dir) : dir_(dir) {
    Openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             Path("ca.key"), "-out", Path("ca.pem"), "-days", "1", "-subj",
             "/CN=reprise-test-ca"});
    Sign("server", "subjectAltName=IP:127.0.0.1,DNS:localhost");
    Sign("client", "extendedKeyUsage=clientAuth");
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    testing::CommandResult r = testing::RunCommand(args);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  void Sign(const std::string& name, const std::string& extension) {
    Openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout",
             Path(name + ".key"), "-out", Path(name + ".csr"), "-subj",
             "/CN=" + name});
    std::ofstream(Path(name + ".ext")) << extension << "\n";
    Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path("ca.pem"),
             "-CAkey", Path("ca.key"), "-CAcreateserial", "-out",
             Path(name + ".pem"), "-days", "1", "-extfile",
             Path(name + ".ext")});
  }
  std::string dir_;
};

class TlsE2eTest : public testing::E2eTest {
 protected:
  void SetUp() override {}  // each test starts its runtime

  void StartRuntime(bool mutual) {
    certs_ = std::make_unique<Certificates>(dir_.path());
    runtime_args_ = {"--tls-cert", certs_->Path("server.pem"), "--tls-key",
                     certs_->Path("server.key")};
    if (mutual) {
      runtime_args_.push_back("--tls-client-ca");
      runtime_args_.push_back(certs_->Path("ca.pem"));
    }
    runtime_ = std::make_unique<testing::RuntimeProcess>(dir_.path() + "/data",
                                                         runtime_args_);
    ASSERT_TRUE(runtime_->Start()) << testing::ReadFile(runtime_->log_path());
  }

  std::unique_ptr<Certificates> certs_;
};

TEST_F(TlsE2eTest, ServesTlsToClientsThatTrustItsCa) {
  StartRuntime(/*mutual=*/false);
  std::unique_ptr<testing::ChildProcess> worker;
  {
    ScopedEnv ca("REPRISE_TLS_CA", certs_->Path("ca.pem"));
    worker = StartWorker({testing::BuildPath("examples/greeter/greeter")},
                         "greeter");
  }
  testing::CommandResult r = Cli({"--tls-ca", certs_->Path("ca.pem"), "invoke",
                                  "Greeter/greet", "--data", "\"Ada\""});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Hello, Ada!"));
  r = Cli({"--tls-ca", certs_->Path("ca.pem"), "services", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Plain TCP gets nowhere.
  r = Cli({"--timeout", "3", "services", "list"});
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(TlsE2eTest, MutualTlsRequiresAClientCertificate) {
  StartRuntime(/*mutual=*/true);
  testing::CommandResult r = Cli({"--timeout", "3", "--tls-ca",
                                  certs_->Path("ca.pem"), "services", "list"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  r = Cli({"--tls-ca", certs_->Path("ca.pem"), "--tls-cert",
           certs_->Path("client.pem"), "--tls-key", certs_->Path("client.key"),
           "services", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace reprise
