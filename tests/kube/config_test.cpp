#include "kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "kube/errors.h"
#include "test_pem.h"

namespace agentproxy::kube {
namespace {

using ::testing::HasSubstr;
using testing::kTestCertPem;
using testing::kTestKeyPem;
using ::testing::Not;

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kube-config-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

std::string goodKubeconfig() {
  return "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
         "clusters:\n"
         "- name: dev-cluster\n  cluster:\n    server: https://127.0.0.1:6443/\n"
         "    certificate-authority-data: " +
         base64(kTestCertPem) +
         "\n"
         "- name: other\n  cluster:\n    server: https://10.0.0.1\n"
         "    insecure-skip-tls-verify: true\n"
         "contexts:\n"
         "- name: dev\n  context:\n    cluster: dev-cluster\n    user: dev-user\n"
         "    namespace: team-a\n"
         "- name: other\n  context:\n    cluster: other\n    user: cert-user\n"
         "users:\n"
         "- name: dev-user\n  user:\n    token: s3cr3t-token\n"
         "- name: cert-user\n  user:\n"
         "    client-certificate-data: " +
         base64(kTestCertPem) +
         "\n"
         "    client-key-data: " +
         base64(kTestKeyPem) + "\n";
}

TEST(KubeconfigTest, ReadsCurrentContextWithTokenAndCaData) {
  Config config = parseKubeconfig(goodKubeconfig(), "/x/config");
  EXPECT_EQ(config.server, "https://127.0.0.1:6443");
  EXPECT_EQ(config.caPem, kTestCertPem);
  EXPECT_EQ(config.bearerToken, "s3cr3t-token");
  EXPECT_EQ(config.defaultNamespace, "team-a");
  EXPECT_FALSE(config.insecureSkipTlsVerify);
  EXPECT_TRUE(config.clientCertPem.empty());
  EXPECT_EQ(config.source, "kubeconfig /x/config, context dev");
}

TEST(KubeconfigTest, ExplicitContextWinsAndReadsClientCertificateData) {
  Config config = parseKubeconfig(goodKubeconfig(), "/x/config", "other");
  EXPECT_EQ(config.server, "https://10.0.0.1");
  EXPECT_TRUE(config.insecureSkipTlsVerify);
  EXPECT_TRUE(config.caPem.empty());
  EXPECT_EQ(config.clientCertPem, kTestCertPem);
  EXPECT_EQ(config.clientKeyPem, kTestKeyPem);
  EXPECT_TRUE(config.bearerToken.empty());
  EXPECT_EQ(config.defaultNamespace, "default");
}

TEST(KubeconfigTest, ResolvesRelativeFilesAgainstTheKubeconfigDirectory) {
  TempDir dir;
  dir.write("ca.crt", kTestCertPem);
  dir.write("client.crt", kTestCertPem);
  dir.write("client.key", kTestKeyPem);
  dir.write("token", "file-token\n");
  auto path = dir.write("config",
                        "current-context: c\n"
                        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1', "
                        "certificate-authority: ca.crt}}]\n"
                        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                        "users: [{name: u, user: {client-certificate: client.crt, "
                        "client-key: client.key, tokenFile: token}}]\n");
  Config config = loadKubeconfig(path);
  EXPECT_EQ(config.caPem, kTestCertPem);
  EXPECT_EQ(config.clientCertPem, kTestCertPem);
  EXPECT_EQ(config.clientKeyPem, kTestKeyPem);
  EXPECT_EQ(config.tokenFile, dir.path() / "token");
}

TEST(KubeconfigTest, AContextWithoutUserIsAnonymous) {
  Config config = parseKubeconfig(
      "current-context: c\nclusters: [{name: k, cluster: {server: 'http://127.0.0.1:8080'}}]\n"
      "contexts: [{name: c, context: {cluster: k}}]\n",
      "/x");
  EXPECT_EQ(config.server, "http://127.0.0.1:8080");
  EXPECT_TRUE(config.bearerToken.empty());
}

// Each broken field gives an error that names the file and the field.
struct BrokenCase {
  const char* name;
  std::string yaml;
  std::string expected;
};

class BrokenKubeconfigTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenKubeconfigTest, NamesTheField) {
  const BrokenCase& c = GetParam();
  try {
    parseKubeconfig(c.yaml, "/x");
    FAIL() << "no error for " << c.name;
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("kubeconfig /x: "));
    EXPECT_THAT(e.what(), HasSubstr(c.expected));
    EXPECT_THAT(e.what(), Not(HasSubstr("s3cr3t")));
  }
}

const std::string kCluster = "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n";
const std::string kContext =
    "current-context: c\ncontexts: [{name: c, context: {cluster: k, "
    "user: u}}]\n";

INSTANTIATE_TEST_SUITE_P(
    Fields, BrokenKubeconfigTest,
    ::testing::Values(
        BrokenCase{"NotYaml", "clusters: [unclosed", "not valid YAML"},
        BrokenCase{"NotAMap", "- just\n- a list\n", "top level is not a map"},
        BrokenCase{"NoCurrentContext", kCluster, "no current-context is set"},
        BrokenCase{"UnknownContext", "current-context: foo\n" + kCluster,
                   "context \"foo\" is not defined"},
        BrokenCase{
            "UnknownCluster",
            "current-context: foo\ncontexts: [{name: foo, context: {cluster: bar}}]\n" + kCluster,
            "context \"foo\" names cluster \"bar\", which is not defined"},
        BrokenCase{"UnknownUser", kContext + kCluster + "users: [{name: v, user: {}}]\n",
                   "context \"c\" names user \"u\", which is not defined"},
        BrokenCase{"ContextWithoutCluster",
                   "current-context: c\ncontexts: [{name: c, context: {user: u}}]\n",
                   "context \"c\" names no cluster"},
        BrokenCase{"ClusterWithoutServer",
                   kContext + "clusters: [{name: k, cluster: {}}]\nusers: [{name: u}]\n",
                   "cluster \"k\" has no server"},
        BrokenCase{"ServerNotAUrl",
                   kContext + "clusters: [{name: k, cluster: {server: '127.0.0.1:6443'}}]\n",
                   "cluster \"k\": server \"127.0.0.1:6443\" is not an http(s):// URL"},
        BrokenCase{"CaDataNotBase64",
                   kContext + "clusters: [{name: k, cluster: {server: 'https://a', "
                              "certificate-authority-data: '%%%'}}]\n",
                   "cluster \"k\": certificate-authority-data is not valid base64"},
        // Unpadded base64 is refused, as client-go refuses it (one decoder for the project).
        BrokenCase{"CaDataUnpadded",
                   kContext + "clusters: [{name: k, cluster: {server: 'https://a', "
                              "certificate-authority-data: aGVsbG8}}]\n",
                   "cluster \"k\": certificate-authority-data is not valid base64"},
        BrokenCase{"CaDataNotPem",
                   kContext + "clusters: [{name: k, cluster: {server: 'https://a', "
                              "certificate-authority-data: aGVsbG8=}}]\n",
                   "cluster \"k\": certificate-authority holds no PEM certificate"},
        BrokenCase{"CaFileMissing",
                   kContext + "clusters: [{name: k, cluster: {server: 'https://a', "
                              "certificate-authority: /nonexistent/ca.crt}}]\n",
                   "cluster \"k\": certificate-authority /nonexistent/ca.crt: cannot read: "
                   "No such file or directory"},
        BrokenCase{"SkipVerifyNotBool",
                   kContext + "clusters: [{name: k, cluster: {server: 'https://a', "
                              "insecure-skip-tls-verify: maybe}}]\n",
                   "insecure-skip-tls-verify is \"maybe\", want true or false"},
        BrokenCase{"CertWithoutKey",
                   kContext + kCluster +
                       "users: [{name: u, user: {token: s3cr3t, "
                       "client-certificate-data: aGVsbG8=}}]\n",
                   "user \"u\": client-certificate is set but client-key is not"},
        BrokenCase{"KeyNotPem",
                   kContext + kCluster + "users: [{name: u, user: {client-certificate-data: " +
                       base64(kTestCertPem) + ", client-key-data: aGVsbG8=}}]\n",
                   "user \"u\": client-key holds no PEM private key"},
        BrokenCase{"ExecPlugin",
                   kContext + kCluster + "users: [{name: u, user: {exec: {command: aws}}}]\n",
                   "user \"u\" uses an exec credential plugin, which is not supported"},
        BrokenCase{"ClustersNotAList", kContext + "clusters: {k: 1}\n", "clusters is not a list"},
        BrokenCase{"ClusterWithoutName",
                   kContext + "clusters: [{cluster: {server: 'https://a'}}]\n",
                   "clusters[0] has no name"},
        BrokenCase{"TokenNotString",
                   kContext + kCluster + "users: [{name: u, user: {token: [a, b]}}]\n",
                   "user \"u\": token is not a string"}),
    [](const ::testing::TestParamInfo<BrokenCase>& info) { return info.param.name; });

TEST(KubeconfigTest, MissingFileSaysSo) {
  try {
    loadKubeconfig("/nonexistent/kubeconfig");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "kubeconfig /nonexistent/kubeconfig: cannot read: No such file or directory");
  }
}

TEST(DefaultConfigTest, ExplicitPathThenFirstKubeconfigEntry) {
  TempDir dir;
  auto first = dir.write("first",
                         "current-context: c\nclusters: [{name: k, cluster: {server: "
                         "'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: "
                         "{cluster: k}}]\n");
  auto second = dir.write("second",
                          "current-context: c\nclusters: [{name: k, cluster: {server: "
                          "'https://127.0.0.1:2'}}]\ncontexts: [{name: c, context: "
                          "{cluster: k}}]\n");
  ::setenv("KUBECONFIG", (first.string() + ":" + second.string()).c_str(), 1);
  EXPECT_EQ(defaultConfig().server, "https://127.0.0.1:1");
  EXPECT_EQ(defaultConfig(second).server, "https://127.0.0.1:2");
  ::unsetenv("KUBECONFIG");
}

InClusterSource fakeCluster(const TempDir& dir, std::map<std::string, std::string> env) {
  InClusterSource source;
  source.tokenFile = dir.path() / "token";
  source.caFile = dir.path() / "ca.crt";
  source.namespaceFile = dir.path() / "namespace";
  source.getenv = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return source;
}

TEST(InClusterConfigTest, ReadsEnvironmentAndServiceAccountFiles) {
  TempDir dir;
  dir.write("token", "sa-token\n");
  dir.write("ca.crt", kTestCertPem);
  dir.write("namespace", "agentproxy-system");
  Config config = inClusterConfig(fakeCluster(
      dir, {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}));
  EXPECT_EQ(config.server, "https://10.96.0.1:443");
  EXPECT_EQ(config.tokenFile, dir.path() / "token");
  EXPECT_TRUE(config.bearerToken.empty()) << "the token is read per request, from the file";
  EXPECT_EQ(config.caPem, kTestCertPem);
  EXPECT_EQ(config.defaultNamespace, "agentproxy-system");
  EXPECT_EQ(config.source, "in-cluster");
}

TEST(InClusterConfigTest, BracketsAnIpv6Host) {
  TempDir dir;
  dir.write("token", "t");
  dir.write("ca.crt", kTestCertPem);
  Config config = inClusterConfig(fakeCluster(
      dir, {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}));
  EXPECT_EQ(config.server, "https://[fd00::1]:443");
  EXPECT_EQ(config.defaultNamespace, "default");
}

TEST(InClusterConfigTest, ErrorsNameWhatIsMissing) {
  TempDir dir;
  EXPECT_THAT(
      [&] { inClusterConfig(fakeCluster(dir, {})); },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("KUBERNETES_SERVICE_HOST is not set")));
  EXPECT_THAT(
      [&] {
        inClusterConfig(fakeCluster(dir, {{"KUBERNETES_SERVICE_HOST", "h"}}));
      },
      ::testing::ThrowsMessage<ConfigError>(HasSubstr("KUBERNETES_SERVICE_PORT is not set")));
  auto env = std::map<std::string, std::string>{{"KUBERNETES_SERVICE_HOST", "h"},
                                                {"KUBERNETES_SERVICE_PORT", "443"}};
  EXPECT_THAT([&] { inClusterConfig(fakeCluster(dir, env)); },
              ::testing::ThrowsMessage<ConfigError>(
                  HasSubstr("token " + (dir.path() / "token").string() + ": cannot read")));
  dir.write("token", "t");
  dir.write("ca.crt", "not a certificate");
  EXPECT_THAT([&] { inClusterConfig(fakeCluster(dir, env)); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("holds no PEM certificate")));
}

}  // namespace
}  // namespace agentproxy::kube
