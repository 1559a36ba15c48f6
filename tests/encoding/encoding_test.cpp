#include "encoding/encoding.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "encoding/files.h"
#include "encoding/object_metadata.h"

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
  // Every byte value, at every offset within a group of three, decodes back.
  std::string bytes;
  for (int i = 0; i < 256 * 3 + 2; ++i) bytes += static_cast<char>((i * 7 + i / 256) & 0xff);
  for (size_t n = 0; n < 8; ++n) {
    EXPECT_EQ(base64Decode(base64Encode(bytes.substr(n))), bytes.substr(n)) << n;
  }
  std::string out = "prefix:";
  appendBase64(out, "foobar");
  EXPECT_EQ(out, "prefix:Zm9vYmFy");
}

std::string jsonString(std::string_view text) {
  std::string out = "x";
  appendJsonString(out, text);
  return out.substr(1);
}

TEST(AppendJsonString, QuotesAndEscapesWhatJsonRequires) {
  EXPECT_EQ(jsonString(""), R"("")");
  EXPECT_EQ(jsonString("/metadata/annotations/agentproxy.io~1policy"),
            R"("/metadata/annotations/agentproxy.io~1policy")");
  EXPECT_EQ(jsonString("a\"b\\c\nd\re\tf"), R"("a\"b\\c\nd\re\tf")");
  EXPECT_EQ(jsonString(std::string("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(jsonString("caf\xc3\xa9 \x7f"), "\"caf\xc3\xa9 \x7f\"");
  // Every ASCII character reads back as itself.
  std::string ascii;
  for (int c = 0; c < 0x80; ++c) ascii += static_cast<char>(c);
  EXPECT_EQ(nlohmann::json::parse(jsonString(ascii)).get<std::string>(), ascii);
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

TEST(HmacSha256Hex, Rfc4231Vector) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(hmacSha256Hex("another key", "what do ya want for nothing?"),
            hmacSha256Hex("Jefe", "what do ya want for nothing?"));
}

TEST(RandomBytes, GivesWhatWasAskedAndNeverTheSameTwice) {
  EXPECT_EQ(randomBytes(32).size(), 32u);
  EXPECT_EQ(randomBytes(0), "");
  EXPECT_NE(randomBytes(32), randomBytes(32));
}

}  // namespace
}  // namespace agentproxy::encoding

namespace agentproxy::encoding {
namespace {

TEST(ObjectMetadata, ReadsStringsAndMapsOfAnyObject) {
  auto object = nlohmann::json::parse(R"({"metadata": {"name": "web", "generation": 3,
      "labels": {"app": "agent", "tier": 2}, "annotations": "not a map"}})");
  EXPECT_EQ(metadataString(object, "name"), "web");
  EXPECT_EQ(metadataString(object, "generation"), "");  // not a string
  EXPECT_EQ(metadataString(object, "uid"), "");
  EXPECT_EQ(metadataMap(object, "labels"), (std::map<std::string, std::string>{{"app", "agent"}}));
  EXPECT_TRUE(metadataMap(object, "annotations").empty());
  for (const char* odd : {"null", "[1]", "\"text\"", R"({"metadata": 5})", "{}"}) {
    auto json = nlohmann::json::parse(odd);
    EXPECT_EQ(metadataString(json, "name"), "") << odd;
    EXPECT_TRUE(metadataMap(json, "labels").empty()) << odd;
  }
}

}  // namespace
}  // namespace agentproxy::encoding

namespace agentproxy::encoding {
namespace {

TEST(ReadFile, GivesTheBytesOrSaysWhyNot) {
  auto dir = std::filesystem::temp_directory_path() /
             ("agentproxy-readfile-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string bytes("line\r\n\0tail", 11);
  std::ofstream(dir / "f", std::ios::binary) << bytes;
  EXPECT_EQ(readFile(dir / "f"), bytes);
  std::ofstream(dir / "empty", std::ios::binary).flush();
  EXPECT_EQ(readFile(dir / "empty"), "");
  std::string why;
  EXPECT_FALSE(readFile(dir / "missing", &why));
  EXPECT_EQ(why, "No such file or directory");
  EXPECT_FALSE(readFile(dir, &why));
  EXPECT_EQ(why, "it is a directory");
  EXPECT_FALSE(readFile(dir / "missing"));  // no `why` wanted
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace agentproxy::encoding
