// The pure parts of the S3 client: its XML reading, multipart part sizing and the validation of
// upload and encryption options. Requests against a real (stand-in) S3 are in
// tests/integration/s3_storage_test.cc.
#include <gtest/gtest.h>

#include "storage/s3_client.h"

namespace imgorigin::storage {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(S3Xml, FindsElementTextAndDecodesEntities) {
  const std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>a &amp; b.jpg</Key>"
      "<UploadId>VXBsb2FkIElE-.~_</UploadId></InitiateMultipartUploadResult>";
  EXPECT_EQ(S3XmlText(body, "UploadId"), "VXBsb2FkIElE-.~_");
  EXPECT_EQ(S3XmlText(body, "Key"), "a & b.jpg");
  EXPECT_EQ(S3XmlText(body, "Missing"), std::nullopt);
  EXPECT_EQ(S3XmlText("<ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>", "ETag"),
            "\"3858f62230ac3c915f300c664312c11f-9\"");
  EXPECT_EQ(S3XmlText("<ETag>&#34;abc&#x22;</ETag>", "ETag"), "\"abc\"");
  // Not a reference S3 would send: kept as it is.
  EXPECT_EQ(S3XmlText("<A>&bogus; &#0; &#x110000;</A>", "A"), "&bogus; &#0; &#x110000;");
  EXPECT_EQ(S3XmlText("<A>unterminated", "A"), std::nullopt);
  EXPECT_EQ(S3XmlText("<A></A>", "A"), "");
}

TEST(S3Xml, ErrorCodeStaysAPlainIdentifier) {
  EXPECT_EQ(S3ErrorCode("<Error><Code>NoSuchUpload</Code><Message>x</Message></Error>"),
            "NoSuchUpload");
  EXPECT_EQ(S3ErrorCode("<Error><Code>&lt;script&gt;</Code></Error>"), "");
  EXPECT_EQ(S3ErrorCode("no xml at all"), "");
}

TEST(S3Multipart, PartSizeStaysWithinS3Limits) {
  EXPECT_EQ(MultipartPartSize(20 * kMiB, 8 * kMiB), 8 * kMiB);
  EXPECT_EQ(MultipartPartSize(20 * kMiB, 1 * kMiB), 5 * kMiB);  // S3's minimum
  EXPECT_EQ(MultipartPartSize(20 * kMiB, int64_t{6} << 30), int64_t{5} << 30);
  // 100 GiB in at most 10,000 parts: 10.24 MiB, rounded up to whole MiB.
  EXPECT_EQ(MultipartPartSize(int64_t{100} << 30, 8 * kMiB), 11 * kMiB);
  EXPECT_LE((int64_t{100} << 30) / *MultipartPartSize(int64_t{100} << 30, 8 * kMiB), 10'000);
  auto too_large = MultipartPartSize((int64_t{5} << 40) + 1, 8 * kMiB);
  ASSERT_FALSE(too_large);
  EXPECT_EQ(too_large.error().code, common::ErrorCode::kTooLarge);
}

TEST(S3Encryption, ValidatesAndNamesItsHeaders) {
  EXPECT_TRUE(ServerSideEncryption{}.Validate());
  EXPECT_TRUE(ServerSideEncryption{}.Headers().empty());
  ServerSideEncryption aes{.algorithm = "AES256"};
  EXPECT_TRUE(aes.Validate());
  EXPECT_EQ(aes.Headers(), (std::vector<std::pair<std::string, std::string>>{
                               {"x-amz-server-side-encryption", "AES256"}}));
  ServerSideEncryption kms{.algorithm = "aws:kms", .kms_key_id = "arn:aws:kms:eu-west-1:1:key/x"};
  EXPECT_TRUE(kms.Validate());
  EXPECT_EQ(kms.Headers().size(), 2u);
  EXPECT_TRUE((ServerSideEncryption{.algorithm = "aws:kms"}.Validate()));
  EXPECT_FALSE((ServerSideEncryption{.algorithm = "AES256", .kms_key_id = "k"}.Validate()));
  EXPECT_FALSE((ServerSideEncryption{.kms_key_id = "k"}.Validate()));
  EXPECT_FALSE((ServerSideEncryption{.algorithm = "aes256"}.Validate()));
  EXPECT_FALSE(
      (ServerSideEncryption{.algorithm = "aws:kms", .kms_key_id = "k\r\nX: y"}.Validate()));
}

TEST(S3PutOptions, Validate) {
  EXPECT_TRUE(S3Client::PutOptions{}.Validate());
  S3Client::PutOptions options;
  options.part_size = 4 * kMiB;
  EXPECT_FALSE(options.Validate());
  options = {};
  options.multipart_threshold = (int64_t{5} << 30) + 1;
  EXPECT_FALSE(options.Validate());
  options = {};
  options.content_type = "";
  EXPECT_FALSE(options.Validate());
  options = {};
  options.content_type = "image/png\r\nX-Injected: 1";
  EXPECT_FALSE(options.Validate());
  options = {};
  options.encryption.algorithm = "none";
  EXPECT_FALSE(options.Validate());
}

}  // namespace
}  // namespace imgorigin::storage
