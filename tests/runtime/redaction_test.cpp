#include "runtime/redaction.h"

#include <gtest/gtest.h>

namespace agentproxy::runtime {
namespace {

TEST(MaskUrlPasswords, MasksThePasswordAndKeepsTheRest) {
  EXPECT_EQ(maskUrlPasswords("http://alice:s3cret@proxy.corp:3128"),
            "http://alice:***@proxy.corp:3128");
  EXPECT_EQ(maskUrlPasswords("dial https://bob:pw@p:443/path?q=1 failed"),
            "dial https://bob:***@p:443/path?q=1 failed");
}

TEST(MaskUrlPasswords, PasswordContainingAtSignIsMaskedWhole) {
  EXPECT_EQ(maskUrlPasswords("http://u:p@ss@host"), "http://u:***@host");
}

TEST(MaskUrlPasswords, MasksEveryUrlInTheText) {
  EXPECT_EQ(maskUrlPasswords("\"http://a:1@h1\",\"socks5://b:2@h2/\""),
            "\"http://a:***@h1\",\"socks5://b:***@h2/\"");
}

TEST(MaskUrlPasswords, LeavesUrlsWithoutPasswordAlone) {
  for (const char* text : {"http://proxy:3128", "http://user@host/", "http://host/a:b@c",
                           "no url here", "://x:y@z", "mailto:a@b"}) {
    EXPECT_EQ(maskUrlPasswords(text), text);
  }
}

TEST(Redactor, ReplacesRegisteredSecretsEverywhere) {
  Redactor redactor;
  redactor.addSecret("hunter2");
  redactor.addSecret("");  // ignored
  EXPECT_EQ(redactor.redact("password hunter2, again hunter2hunter2"),
            "password ***, again ******");
}

TEST(Redactor, LongerSecretIsMaskedWhole) {
  Redactor redactor;
  redactor.addSecret("abc");
  redactor.addSecret("abcdef");
  EXPECT_EQ(redactor.redact("token=abcdef"), "token=***");
}

TEST(Redactor, AlsoMasksUnregisteredUrlPasswords) {
  Redactor redactor;
  EXPECT_EQ(redactor.redact("proxy http://u:p4ss@proxy:3128"), "proxy http://u:***@proxy:3128");
}

}  // namespace
}  // namespace agentproxy::runtime
