// Uploader's direct uploads on real stores (SQLite on a temp file, local originals in a temp
// directory, where the "uploaded" object is written by the test as a client's PUT would write
// it): Complete() makes a pending record ready with the facts of its object, refuses bombs,
// non-images and oversized objects by deleting them and failing the record, leaves a record
// whose object has not arrived pending, and is idempotent; BeginDirect() on a store that cannot
// presign leaves nothing behind.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <vips/vips8>

#include "ingest/sqlite_record_store.h"
#include "ingest/uploader.h"
#include "storage/digest.h"

namespace imgorigin::ingest {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;

std::string TempDir() {
  std::string dir = (fs::temp_directory_path() / "uploader-test-XXXXXX").string();
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

std::string Jpeg(int w, int h) {
  vips_init("ingest_uploader_test");
  void* data = nullptr;
  size_t size = 0;
  (vips::VImage::black(w, h) + std::vector<double>{200, 30, 30})
      .cast(VIPS_FORMAT_UCHAR)
      .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .write_to_buffer(".jpg", &data, &size);
  std::string out(static_cast<char*>(data), size);
  g_free(data);
  return out;
}

// A PNG whose header claims 100000×100000 pixels over a few bytes: a decompression bomb.
std::string BombPng() {
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size());
    return be32(static_cast<uint32_t>(data.size())) + body + be32(static_cast<uint32_t>(crc));
  };
  std::string raw(1024, '\0');
  std::string idat(compressBound(raw.size()), '\0');
  uLongf idat_size = idat.size();
  compress(reinterpret_cast<Bytef*>(idat.data()), &idat_size,
           reinterpret_cast<const Bytef*>(raw.data()), raw.size());
  idat.resize(idat_size);
  return std::string("\x89PNG\r\n\x1a\n", 8) +
         chunk("IHDR", be32(100000) + be32(100000) + std::string{8, 2, 0, 0, 0}) +
         chunk("IDAT", idat) + chunk("IEND", "");
}

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transforms::InitVips("ingest_uploader_test");  // as the server does before any check
    dir_ = TempDir();
    temp_ = TempDir();
    auto records = SqliteRecordStore::Open({.path = dir_ + "/records.sqlite3"});
    ASSERT_TRUE(records) << records.error().message;
    records_ = *std::move(records);
    auto originals =
        LocalOriginalsStore::Open({.dir = dir_ + "/uploads", .url_prefix = "local:///uploads/"});
    ASSERT_TRUE(originals) << originals.error().message;
    originals_ = *std::move(originals);
    uploader_ = std::make_unique<Uploader>(Uploader::Config{.max_upload_bytes = 1 << 20}, limits_,
                                           *originals_, *records_);
  }

  // A pending record as BeginDirect() makes it, without the URL a local store cannot sign.
  std::string Pending() {
    ImageRecord record;
    record.id = *NewImageId();
    record.source_url = originals_->SourceUrl(record.id);
    record.metadata = {{"sku", "A-1"}};
    EXPECT_TRUE(records_->Create(record, std::nullopt));
    return record.id;
  }

  // What a client's PUT to the presigned URL would leave in the store: the incoming object.
  void Put(const std::string& id, const std::string& bytes) {
    fs::create_directories(dir_ + "/uploads/.incoming");
    std::ofstream(dir_ + "/uploads/.incoming/" + id, std::ios::binary) << bytes;
  }
  bool Incoming(const std::string& id) const {
    return fs::exists(dir_ + "/uploads/.incoming/" + id);
  }
  bool Stored(const std::string& id) const { return fs::exists(dir_ + "/uploads/" + id); }
  size_t TempFiles() const {
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(temp_), fs::directory_iterator()));
  }

  transforms::PipelineLimits limits_;
  std::string dir_, temp_;
  std::unique_ptr<SqliteRecordStore> records_;
  std::unique_ptr<LocalOriginalsStore> originals_;
  std::unique_ptr<Uploader> uploader_;
};

TEST_F(UploaderTest, CompleteMakesThePendingRecordReadyOnce) {
  const std::string id = Pending();
  const std::string jpeg = Jpeg(64, 48);
  Put(id, jpeg);
  auto done = uploader_->Complete(id, temp_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_TRUE(done->completed);
  EXPECT_EQ(done->record.status, ImageStatus::kReady);
  EXPECT_EQ(done->record.facts, (ImageFacts{"jpg", 64, 48, static_cast<int64_t>(jpeg.size()),
                                            storage::Sha256Hex(jpeg)}));
  EXPECT_EQ(done->record.metadata["sku"], "A-1");
  EXPECT_EQ(*originals_->Get(id), jpeg) << "the checked bytes are the original";
  EXPECT_FALSE(Incoming(id));
  EXPECT_EQ(TempFiles(), 0u) << "the fetched copy is removed";

  // A later PUT through a URL still valid replaces only the incoming object.
  Put(id, BombPng());
  auto again = uploader_->Complete(id, temp_);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->completed);
  EXPECT_EQ(again->record, done->record);
  EXPECT_EQ(*originals_->Get(id), jpeg);
  // Deleting the image removes both.
  ASSERT_TRUE(uploader_->Delete(id));
  EXPECT_FALSE(Stored(id));
  EXPECT_FALSE(Incoming(id));
}

TEST_F(UploaderTest, CompleteBeforeTheObjectArrivedLeavesTheRecordPending) {
  const std::string id = Pending();
  auto early = uploader_->Complete(id, temp_);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kConflict);
  EXPECT_EQ(records_->Get(id)->status, ImageStatus::kPending);
  Put(id, Jpeg(10, 10));
  EXPECT_TRUE(uploader_->Complete(id, temp_));
}

TEST_F(UploaderTest, RefusedObjectsAreDeletedAndTheirRecordsFail) {
  struct Case {
    std::string bytes;
    ErrorCode code;
  };
  const std::vector<Case> cases = {
      {BombPng(), ErrorCode::kTooLarge},                        // pixels
      {std::string((1 << 20) + 1, 'x'), ErrorCode::kTooLarge},  // bytes, not even fetched
      {"this is not an image", ErrorCode::kUnsupported},
      {Jpeg(640, 480).substr(0, Jpeg(640, 480).size() / 2), ErrorCode::kInvalidImage},
      {"", ErrorCode::kInvalidArgument},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.code));
    const std::string id = Pending();
    Put(id, c.bytes);
    auto refused = uploader_->Complete(id, temp_);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, c.code) << refused.error().message;
    auto record = records_->Get(id);
    EXPECT_EQ(record->status, ImageStatus::kFailed);
    EXPECT_EQ(record->last_error, refused.error().message);
    EXPECT_FALSE(Incoming(id));
    EXPECT_FALSE(Stored(id));
  }
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(UploaderTest, AFailedUploadMayBePutAgainAndCompleted) {
  const std::string id = Pending();
  Put(id, "not an image");
  ASSERT_FALSE(uploader_->Complete(id, temp_));
  Put(id, Jpeg(20, 10));
  auto done = uploader_->Complete(id, temp_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->record.status, ImageStatus::kReady);
  EXPECT_TRUE(done->record.last_error.empty());
}

TEST_F(UploaderTest, OnlyDirectUploadsOfThisStoreCanBeCompleted) {
  EXPECT_EQ(uploader_->Complete(*NewImageId(), temp_).error().code, ErrorCode::kNotFound);

  ImageRecord foreign;
  foreign.id = *NewImageId();
  foreign.source_url = "s3://elsewhere/" + foreign.id;
  ASSERT_TRUE(records_->Create(foreign, std::nullopt));
  Put(foreign.id, Jpeg(10, 10));
  EXPECT_EQ(uploader_->Complete(foreign.id, temp_).error().code, ErrorCode::kConflict);
  EXPECT_EQ(records_->Get(foreign.id)->status, ImageStatus::kPending);
  EXPECT_TRUE(Incoming(foreign.id)) << "not this store's upload: left alone";
  EXPECT_FALSE(Stored(foreign.id));

  const std::string deleted = Pending();
  ASSERT_TRUE(uploader_->Delete(deleted));
  Put(deleted, Jpeg(10, 10));
  EXPECT_EQ(uploader_->Complete(deleted, temp_).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(records_->Get(deleted)->status, ImageStatus::kDeleted);
}

TEST_F(UploaderTest, LocalOriginalsCannotBePresignedAndNothingIsRecorded) {
  auto begun = uploader_->BeginDirect({.content_type = "image/jpeg"});
  ASSERT_FALSE(begun);
  EXPECT_EQ(begun.error().code, ErrorCode::kConflict);
  EXPECT_NE(begun.error().message.find("ingest.originals"), std::string::npos);
  EXPECT_TRUE(records_->List("", 10)->records.empty());
  // Bad arguments are refused before the store is asked.
  EXPECT_EQ(
      uploader_->BeginDirect({.content_type = "image/jpeg", .expires = std::chrono::seconds(3601)})
          .error()
          .code,
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      uploader_->BeginDirect({.content_type = "image/jpeg", .expires = std::chrono::seconds(0)})
          .error()
          .code,
      ErrorCode::kInvalidArgument);
}

TEST(UploaderConfig, PresignExpiriesAreBounded) {
  EXPECT_TRUE(Uploader::Config{}.Validate());
  Uploader::Config over_max;
  over_max.presign_expiry = std::chrono::seconds(7200);
  EXPECT_FALSE(over_max.Validate());
  Uploader::Config over_s3;
  over_s3.presign_max_expiry = std::chrono::seconds(8 * 24 * 3600);
  EXPECT_FALSE(over_s3.Validate());
  Uploader::Config zero;
  zero.presign_expiry = std::chrono::seconds(0);
  EXPECT_FALSE(zero.Validate());
}

}  // namespace
}  // namespace imgorigin::ingest
