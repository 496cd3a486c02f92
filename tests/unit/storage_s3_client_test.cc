// The pure parts of the S3 client: its XML reading (ListObjectsV2 answers included), multipart
// part sizing and the validation of upload (user metadata included), download and encryption
// options. Requests against a real (stand-in) S3 are in
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
  // Numeric references beyond ASCII are UTF-8.
  EXPECT_EQ(S3XmlText("<A>&#233;&#x20AC;&#x1F600;&#xD800;</A>", "A"),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80&#xD800;");
}

constexpr char kListHead[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>media</Name><Prefix>in/</Prefix>";

std::string Entry(std::string_view key, std::string_view size = "1",
                  std::string_view etag = "&quot;e1&quot;",
                  std::string_view modified = "2026-01-02T03:04:05.000Z") {
  return "<Contents><Key>" + std::string(key) + "</Key><LastModified>" + std::string(modified) +
         "</LastModified><ETag>" + std::string(etag) + "</ETag><Size>" + std::string(size) +
         "</Size><StorageClass>STANDARD</StorageClass></Contents>";
}

TEST(S3List, ParsesEntriesInOrderWithEntitiesAndTheNextToken) {
  const std::string xml =
      std::string(kListHead) +
      "<KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</"
      "NextContinuationToken>" +
      Entry("in/x&amp;y&lt;z&gt;.png", "12345678901") +
      Entry("in/&#233;t&#xE9;&apos;s &quot;q&quot;", "0", "&#34;e2&#34;") +
      Entry("in/plain", "7", "\"e3-2\"", "2026-01-02T03:04:05Z") + "</ListBucketResult>";
  auto page = ParseListObjectsV2(xml);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->objects.size(), 3u);
  EXPECT_EQ(page->objects[0].key, "in/x&y<z>.png");
  EXPECT_EQ(page->objects[0].size, 12345678901);
  EXPECT_EQ(page->objects[0].etag, "\"e1\"");
  EXPECT_EQ(page->objects[0].last_modified, 1767323045);
  EXPECT_EQ(page->objects[1].key, "in/\xC3\xA9t\xC3\xA9's \"q\"");
  EXPECT_EQ(page->objects[1].size, 0);
  EXPECT_EQ(page->objects[1].etag, "\"e2\"");
  EXPECT_EQ(page->objects[2].key, "in/plain");
  EXPECT_EQ(page->objects[2].last_modified, 1767323045);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3List, DecodesUrlEncodedKeysOnlyWhenTheAnswerSaysSo) {
  const std::string body = "<IsTruncated>false</IsTruncated>" + Entry("a+b/%C3%A9%2B%25.jpg") +
                           Entry("x%26y%3Cz%3E.png") + "</ListBucketResult>";
  auto encoded =
      ParseListObjectsV2(std::string(kListHead) + "<EncodingType>url</EncodingType>" + body);
  ASSERT_TRUE(encoded) << encoded.error().message;
  ASSERT_EQ(encoded->objects.size(), 2u);
  EXPECT_EQ(encoded->objects[0].key, "a b/\xC3\xA9+%.jpg");
  EXPECT_EQ(encoded->objects[1].key, "x&y<z>.png");
  EXPECT_EQ(encoded->next_token, "");  // not truncated: the last page
  // A server that ignored encoding-type sent the keys as they are.
  auto plain = ParseListObjectsV2(std::string(kListHead) + body);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->objects[0].key, "a+b/%C3%A9%2B%25.jpg");
  // Broken escapes are a broken answer.
  for (std::string_view key : {"bad%zz", "cut%4", "cut%"}) {
    auto bad =
        ParseListObjectsV2(std::string(kListHead) +
                           "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>" +
                           Entry(key) + "</ListBucketResult>");
    ASSERT_FALSE(bad) << key;
    EXPECT_EQ(bad.error().code, common::ErrorCode::kUpstreamFailed);
  }
}

TEST(S3List, EmptyListing) {
  auto page = ParseListObjectsV2(std::string(kListHead) +
                                 "<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
                                 "</ListBucketResult>");
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->objects.empty());
  EXPECT_EQ(page->next_token, "");
}

TEST(S3List, MalformedAnswersAreUpstreamFailures) {
  const std::string ok_tail = "<IsTruncated>false</IsTruncated>";
  const std::vector<std::string> answers = {
      "",
      "not xml at all",
      "<Error><Code>InternalError</Code></Error>",
      std::string(kListHead) + "</ListBucketResult>",  // no IsTruncated
      std::string(kListHead) + "<IsTruncated>maybe</IsTruncated>",
      std::string(kListHead) + "<IsTruncated>true</IsTruncated>" + Entry("k"),  // no token
      std::string(kListHead) +
          "<IsTruncated>true</IsTruncated><NextContinuationToken>"
          "</NextContinuationToken>" +
          Entry("k"),
      std::string(kListHead) + ok_tail + Entry("k") + "<Contents><Key>cut",  // truncated XML
      std::string(kListHead) + ok_tail + "<Contents><Key>k</Key><Size>1</Size></Contents>",
      std::string(kListHead) + ok_tail +
          "<Contents><Size>1</Size><ETag>e</ETag><LastModified>2026-01-02T03:04:05Z"
          "</LastModified></Contents>",  // no key
      std::string(kListHead) + ok_tail + Entry(""),
      std::string(kListHead) + ok_tail + Entry("k", "-1"),
      std::string(kListHead) + ok_tail + Entry("k", "12x"),
      std::string(kListHead) + ok_tail + Entry("k", "99999999999999999999999"),
      std::string(kListHead) + ok_tail + Entry("k", "1", "e", "yesterday"),
  };
  for (const auto& xml : answers) {
    auto page = ParseListObjectsV2(xml);
    ASSERT_FALSE(page) << xml;
    EXPECT_EQ(page.error().code, common::ErrorCode::kUpstreamFailed) << xml;
    EXPECT_NE(page.error().message.find("ListObjectsV2"), std::string::npos);
  }
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

TEST(S3PutOptions, ValidatesUserMetadata) {
  auto with = [](std::vector<std::pair<std::string, std::string>> metadata) {
    S3Client::PutOptions options;
    options.metadata = std::move(metadata);
    return options.Validate();
  };
  EXPECT_TRUE(with({{"source-etag", "\"abc\""}, {"preset", "w:200 q:80 (webp)"}, {"v2", "~"}}));
  EXPECT_TRUE(with({{"n", std::string(2047, 'x')}}));  // 1 + 2047 bytes: S3's 2 KB exactly
  const std::vector<std::vector<std::pair<std::string, std::string>>> refused = {
      {{"Source", "x"}},       // uppercase
      {{"source_etag", "x"}},  // underscore
      {{"", "x"}},             // no name
      {{"a b", "x"}},
      {{"a", "x"}, {"a", "y"}},  // twice
      {{"a", ""}},               // empty: curl would drop the header
      {{"a", " x"}},             // HTTP trims it
      {{"a", "x "}},
      {{"a", "x\r\nX-Injected: 1"}},
      {{"a", "tab\tin"}},
      {{"a", "caf\xC3\xA9"}},           // not ASCII
      {{"n", std::string(2048, 'x')}},  // over 2 KB with the name
      {{"a", std::string(1100, 'x')}, {"b", std::string(1000, 'y')}},
  };
  for (const auto& metadata : refused) {
    auto r = with(metadata);
    ASSERT_FALSE(r) << metadata.front().first << "=" << metadata.front().second;
    EXPECT_EQ(r.error().code, common::ErrorCode::kInvalidArgument);
  }
}

TEST(S3GetOptions, Validate) {
  EXPECT_TRUE(S3Client::GetOptions{}.Validate());
  EXPECT_FALSE((S3Client::GetOptions{.dir = ""}.Validate()));
  EXPECT_FALSE((S3Client::GetOptions{.max_bytes = -1}.Validate()));
  EXPECT_FALSE((S3Client::GetOptions{.timeout = std::chrono::milliseconds(0)}.Validate()));
}

}  // namespace
}  // namespace imgorigin::storage
