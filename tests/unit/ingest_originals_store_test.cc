// LocalOriginalsStore on a temp directory: objects written whole under their id, read back,
// looked up and deleted, and nothing but an image id ever used as a file name.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "ingest/originals_store.h"
#include "ingest/record.h"

namespace imgorigin::ingest {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;

std::string TempDir() {
  std::string dir = (fs::temp_directory_path() / "originals-test-XXXXXX").string();
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

std::string WriteFile(const std::string& dir, const std::string& bytes) {
  const std::string path = dir + "/upload";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(LocalOriginalsStore, PutGetExistsDelete) {
  const std::string root = TempDir();
  auto store =
      LocalOriginalsStore::Open({.dir = root + "/uploads", .url_prefix = "local:///uploads/"});
  ASSERT_TRUE(store) << store.error().message;
  const std::string id = *NewImageId();
  EXPECT_EQ((*store)->SourceUrl(id), "local:///uploads/" + id);
  EXPECT_FALSE(*(*store)->Exists(id));
  EXPECT_EQ((*store)->Get(id).error().code, ErrorCode::kNotFound);

  const std::string bytes(100000, 'x');
  ASSERT_TRUE((*store)->Put(id, WriteFile(root, bytes), "image/jpeg"));
  EXPECT_TRUE(*(*store)->Exists(id));
  EXPECT_EQ(*(*store)->Get(id), bytes);
  // Only the object itself is left: no temporary file beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(root + "/uploads"), fs::directory_iterator()), 1);

  ASSERT_TRUE((*store)->Delete(id));
  EXPECT_FALSE(*(*store)->Exists(id));
  EXPECT_TRUE((*store)->Delete(id)) << "deleting a missing original succeeds";
}

TEST(LocalOriginalsStore, OnlyImageIdsNameFiles) {
  const std::string root = TempDir();
  auto store = LocalOriginalsStore::Open({.dir = root, .url_prefix = "local:///"});
  ASSERT_TRUE(store);
  const std::string path = WriteFile(root, "bytes");
  for (const char* bad : {"../escape", "upload", "", "01a23cc3-28e6-724f-a2c6-49480bdbf62A"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE((*store)->Put(bad, path, "image/png"));
    EXPECT_FALSE((*store)->Get(bad));
    EXPECT_FALSE((*store)->Delete(bad));
  }
  EXPECT_TRUE(fs::exists(path));
}

TEST(LocalOriginalsStore, ConfigIsChecked) {
  EXPECT_FALSE(LocalOriginalsStore::Config{}.Validate());
  EXPECT_FALSE((LocalOriginalsStore::Config{.dir = "/tmp", .url_prefix = "file:///x/"}.Validate()));
  EXPECT_FALSE((LocalOriginalsStore::Config{.dir = "/tmp", .url_prefix = "local:///x"}.Validate()));
}

TEST(S3OriginalsStore, ParsesItsLocationAndEncryption) {
  auto config = S3OriginalsStore::ParseLocation("s3://media-bucket/originals");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->bucket, "media-bucket");
  EXPECT_EQ(config->prefix, "originals/");
  auto bare = S3OriginalsStore::ParseLocation("s3://media-bucket/");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->prefix, "");
  EXPECT_FALSE(S3OriginalsStore::ParseLocation("https://media-bucket/x/"));
  EXPECT_FALSE(S3OriginalsStore::ParseLocation("s3://Bad_Bucket!/x/"));
  EXPECT_FALSE(S3OriginalsStore::ParseLocation("s3://media-bucket//x/"));
  S3OriginalsStore::Config kms = *config;
  kms.sse = "aws:kms";
  kms.sse_kms_key_id = "arn:aws:kms:eu-west-1:111122223333:key/abcd";
  EXPECT_TRUE(kms.Validate());
  kms.sse = "AES256";
  EXPECT_FALSE(kms.Validate()) << "a key id needs aws:kms";
  kms.sse = "DES";
  kms.sse_kms_key_id = "";
  EXPECT_FALSE(kms.Validate());
}

}  // namespace
}  // namespace imgorigin::ingest
