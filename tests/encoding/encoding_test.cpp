#include "encoding/encoding.h"

#include <gtest/gtest.h>

namespace agentproxy::encoding {
namespace {

TEST(Base64Encode, Rfc4648Vectors) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(PercentEncode, KeepsUnreservedAndEncodesTheRest) {
  EXPECT_EQ(percentEncode(""), "");
  EXPECT_EQ(percentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percentEncode("p@ss:w/rd%41"), "p%40ss%3Aw%2Frd%2541");
  EXPECT_EQ(percentEncode("corp\\agent"), "corp%5Cagent");
  EXPECT_EQ(percentEncode("a b#c?d[e]$(X)"), "a%20b%23c%3Fd%5Be%5D%24%28X%29");
  EXPECT_EQ(percentEncode("mot-de-passé"), "mot-de-pass%C3%A9");
  EXPECT_EQ(percentEncode(std::string_view("a\0b", 3)), "a%00b");
}

TEST(Base64Decode, RoundTripsAndRefusesWhatIsNotBase64) {
  for (const char* text : {"", "f", "fo", "foo", "foobar", "p@ss:w/rd"}) {
    EXPECT_EQ(base64Decode(base64Encode(text)), text);
  }
  EXPECT_THROW(base64Decode("abc"), std::invalid_argument);
  EXPECT_THROW(base64Decode("a*b="), std::invalid_argument);
}

TEST(Sha256Hex, KnownDigest) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace agentproxy::encoding
