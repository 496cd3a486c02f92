#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "storage/aws_credentials.h"
#include "storage/curl_client.h"

namespace imgorigin::storage {
namespace {

std::array<uint8_t, 16> Addr(const char* text) {
  sockaddr_storage storage{};
  if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in*>(&storage)->sin_addr) == 1) {
    storage.ss_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6*>(&storage)->sin6_addr), 1)
        << text;
    storage.ss_family = AF_INET6;
  }
  return *AddressBytes(reinterpret_cast<sockaddr*>(&storage));
}
TEST(AddressGuard, BlocksNonPublicRanges) {
  for (const char* blocked : {"127.0.0.1",
                              "127.255.0.9",
                              "10.1.2.3",
                              "172.16.0.1",
                              "172.31.255.255",
                              "192.168.1.1",
                              "169.254.169.254",
                              "100.64.0.1",
                              "0.0.0.0",
                              "224.0.0.1",
                              "255.255.255.255",
                              "198.18.0.1",
                              "::",
                              "::1",
                              "fc00::1",
                              "fd12:3456::1",
                              "fe80::1",
                              "ff02::1",
                              "::ffff:127.0.0.1",
                              "::ffff:169.254.169.254",
                              "::ffff:10.0.0.1",
                              "::127.0.0.1",
                              "64:ff9b::7f00:1",
                              "2002:7f00:1::1"}) {
    EXPECT_TRUE(IsNonPublicAddress(Addr(blocked))) << blocked;
  }
  for (const char* allowed : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
                              "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_FALSE(IsNonPublicAddress(Addr(allowed))) << allowed;
  }
}

TEST(AddressGuard, PolicyExemptions) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
  auto* sa = reinterpret_cast<sockaddr*>(&in);
  EXPECT_FALSE(AddressPolicy{}.Allows(sa));
  EXPECT_TRUE(AddressPolicy{.allow_private = true}.Allows(sa));
  EXPECT_TRUE(AddressPolicy{.allowed = {*Cidr::Parse("127.0.0.2/32")}}.Allows(sa));
  EXPECT_FALSE(AddressPolicy{.allowed = {*Cidr::Parse("127.0.0.1/32")}}.Allows(sa));
  EXPECT_TRUE(AddressPolicy{.allowed = {*Cidr::Parse("127.0.0.0/8")}}.Allows(sa));
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::Parse("example.com"));
  EXPECT_TRUE(Cidr::Parse("fd00::/8"));
}

TEST(UriEncode, KeepsUnreservedAndOptionallySlash) {
  EXPECT_EQ(UriEncode("a b+c%d#e/ü~.-_", true), "a%20b%2Bc%25d%23e/%C3%BC~.-_");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
}

TEST(AwsCredentials, ProfileFile) {
  const char* file =
      "# comment\n[default]\naws_access_key_id = AKID1\naws_secret_access_key = S1\n\n"
      "[prod]\n aws_access_key_id=AKID2 \naws_secret_access_key=S2\naws_session_token = T2\n"
      "[broken]\naws_access_key_id = AKID3\n";
  auto d = ParseCredentialsFile(file, "default");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->access_key_id, "AKID1");
  EXPECT_EQ(d->secret_access_key, "S1");
  auto p = ParseCredentialsFile(file, "prod");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->access_key_id, "AKID2");
  EXPECT_EQ(p->session_token, "T2");
  EXPECT_FALSE(ParseCredentialsFile(file, "broken"));
  EXPECT_FALSE(ParseCredentialsFile(file, "missing"));
}

TEST(AwsCredentials, JsonAndExpiry) {
  auto c = ParseCredentialsJson(
      R"({"AccessKeyId":"ASIA1","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-02T03:04:05Z"})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->session_token, "T");
  ASSERT_TRUE(c->expiration);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*c->expiration), 1893553445);
  EXPECT_EQ(ParseIso8601("2030-01-02T04:04:05.123+01:00"), c->expiration);
  // Years system_clock cannot hold are clamped, not overflowed (found by fuzz_aws_responses).
  EXPECT_EQ(ParseIso8601("7030-01-02T04:04:05Z"), std::chrono::system_clock::from_time_t(7'258'118'400));
  EXPECT_EQ(ParseIso8601("1000-01-02T04:04:05Z"), std::chrono::system_clock::from_time_t(0));
  EXPECT_FALSE(ParseCredentialsJson("not json"));
  EXPECT_FALSE(ParseCredentialsJson(R"({"AccessKeyId":"A"})"));
}

}  // namespace
}  // namespace imgorigin::storage
