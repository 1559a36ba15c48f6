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
