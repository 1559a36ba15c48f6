// Proxy URLs and target addresses as users write them (flags, spec.proxy.httpsProxy).
// Properties: a parsed URL has a host and a port; redacted() never shows the password; the URL
// with credentials parses back to the same parts.
#include "fuzz_target.h"
#include "probe/prober.h"
#include "probe/proxy_url.h"

using namespace agentproxy::probe;
using agentproxy::fuzz::fuzzCheck;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = agentproxy::fuzz::asText(data, size);
  try {
    ProxyUrl url = parseProxyUrl(text);
    fuzzCheck(url.scheme == "http" || url.scheme == "https", "scheme");
    fuzzCheck(!url.host.empty() && url.port != 0, "host and port");
    fuzzCheck(url.host.find_first_of("@/?#") == std::string::npos,
              "the host holds a URL delimiter (userinfo or a path taken for the host)");
    // The redacted URL is made of the scheme, a mask and host:port only.
    fuzzCheck(url.redacted() == url.scheme + "://" + (url.hasCredentials() ? "***@" : "") +
                                    url.hostPort(),
              "redacted() shows more than scheme, mask and host:port");
    ProxyUrl again = parseProxyUrl(url.withCredentials());
    fuzzCheck(again.host == url.host && again.port == url.port && again.scheme == url.scheme &&
                  again.username == url.username && again.password == url.password,
              "withCredentials() does not parse back to the same URL");
    (void)url.hostPort();
    (void)proxyWarnings(url);
  } catch (const InputError&) {
  }
  try {
    TargetAddress address = parseTargetAddress(text);
    fuzzCheck(!address.host.empty() && address.port != 0, "target host and port");
    TargetAddress again = parseTargetAddress(address.hostPort());
    fuzzCheck(again.host == address.host && again.port == address.port,
              "hostPort() does not parse back");
  } catch (const InputError&) {
  }
  (void)isIpLiteral(text);
  return 0;
}
