// The body forms of POST /v1/images (origin/upload_body.h): raw, multipart/form-data and JSON
// (base64, data: URIs, url), read from files as the server streams them.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "origin/upload_body.h"

namespace imgorigin::origin {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;

class UploadBodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / "upload-body-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override { fs::remove_all(dir_); }

  common::Result<UploadBody> Parse(const std::string& body, const std::string& type,
                                   int64_t max = 1 << 20) {
    auto file = SpillBytes(body, dir_);
    EXPECT_TRUE(file);
    return ParseUploadBody(*file, type, dir_, max);
  }
  static std::string Read(const UploadBody& body) {
    std::ifstream in(body.image->path(), std::ios::binary);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

  std::string dir_;
};

TEST_F(UploadBodyTest, RawImageIsTheBodyItself) {
  auto body = Parse("\x89PNG...", "image/png");
  ASSERT_TRUE(body);
  EXPECT_EQ(Read(*body), "\x89PNG...");
  EXPECT_TRUE(body->metadata.empty());
}

TEST_F(UploadBodyTest, MultipartFileAndMetadata) {
  const std::string image = std::string("\xff\xd8\r\n--not-the-boundary\r\n\0binary", 31);
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nignored\r\n"
      "--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a b.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n" +
      image +
      "\r\n--XyZ\r\nContent-Disposition: form-data; name=metadata\r\n\r\n{\"sku\":\"A-42\"}" +
      "\r\n--XyZ--\r\n";
  auto parsed = Parse(body, "multipart/form-data; charset=utf-8; boundary=\"XyZ\"");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(Read(*parsed), image);
  EXPECT_EQ(parsed->metadata["sku"], "A-42");
}

TEST_F(UploadBodyTest, MultipartErrors) {
  EXPECT_EQ(Parse("x", "multipart/form-data").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Parse("--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--",
                  "multipart/form-data; boundary=b")
                .error()
                .code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Parse("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunterminated",
                  "multipart/form-data; boundary=b")
                .error()
                .code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Parse("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n0123456789\r\n--b--",
                  "multipart/form-data; boundary=b", 5)
                .error()
                .code,
            ErrorCode::kTooLarge);
  EXPECT_EQ(Parse("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n"
                  "--b\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n[1]\r\n--b--",
                  "multipart/form-data; boundary=b")
                .error()
                .code,
            ErrorCode::kInvalidArgument);
}

TEST_F(UploadBodyTest, JsonBase64DataUriAndUrl) {
  auto plain = Parse(R"({"type":"base64","data":"aGVsbG8gd29ybGQ=","metadata":{"a":1}})",
                     "application/json");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(Read(*plain), "hello world");
  EXPECT_EQ(plain->metadata["a"], 1);
  // Unpadded, URL-safe and wrapped base64, in a data: URI.
  auto uri = Parse(R"({"type":"base64","data":"data:image/png;base64,aGVs\nbG8_-w"})",
                   "application/json; charset=utf-8");
  ASSERT_TRUE(uri) << uri.error().message;
  EXPECT_EQ(Read(*uri), "hello?\xfb");
  auto url = Parse(R"({"type":"url","data":"https://example.com/a.jpg"})", "application/json");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->url, "https://example.com/a.jpg");
  EXPECT_EQ(url->image, nullptr);
}

TEST_F(UploadBodyTest, JsonErrors) {
  for (const char* body : {"", "[]", R"({"type":"base64"})", R"({"type":"zip","data":"x"})",
                           R"({"type":"base64","data":"a$b"})", R"({"type":"base64","data":"a"})",
                           R"({"type":"base64","data":"aGk=","metadata":"x"})",
                           R"({"type":"base64","data":"data:image/png,abc"})"}) {
    SCOPED_TRACE(body);
    auto parsed = Parse(body, "application/json");
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(
      Parse(R"({"type":"base64","data":"aGVsbG8gd29ybGQ="})", "application/json", 4).error().code,
      ErrorCode::kTooLarge);
}

TEST_F(UploadBodyTest, ContentTypes) {
  EXPECT_TRUE(IsUploadContentType("image/jpeg"));
  EXPECT_TRUE(IsUploadContentType("Image/PNG"));
  EXPECT_TRUE(IsUploadContentType("multipart/form-data; boundary=x"));
  EXPECT_TRUE(IsUploadContentType("application/json; charset=utf-8"));
  EXPECT_FALSE(IsUploadContentType("text/plain"));
  EXPECT_FALSE(IsUploadContentType(""));
  EXPECT_EQ(Parse("x", "text/plain").error().code, ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace imgorigin::origin
