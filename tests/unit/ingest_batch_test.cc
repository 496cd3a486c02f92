// The pure parts of `imgorigin batch` (ingest/batch.h, batch_store.h): names that could escape
// a local destination, shards, include globs, output names, the job payload and the local
// store's listing, provenance and staging. The runs themselves: tests/integration/batch_test.cc.
#include <gtest/gtest.h>
#include <vips/vips.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ingest/batch.h"

namespace imgorigin::ingest {
namespace {

namespace fs = std::filesystem;

std::string TempDir() {
  std::string path = (fs::temp_directory_path() / "batch-unit-XXXXXX").string();
  if (::mkdtemp(path.data()) == nullptr) throw std::runtime_error("mkdtemp");
  return path;
}

TEST(BatchNames, EmptyDotAndDotDotSegmentsAreRefused) {
  for (const char* bad : {"", "/a.jpg", "a//b.jpg", "../a.jpg", "a/../../b.jpg", "a/./b.jpg", "a/",
                          ".", ".."}) {
    EXPECT_FALSE(CheckBatchName(bad).has_value()) << bad;
  }
  for (const char* good : {"a.jpg", "a/b c/é.jpg", "..a.jpg", "a/.b.jpg", "a..b/c"}) {
    EXPECT_TRUE(CheckBatchName(good).has_value()) << good;
  }
}

TEST(BatchShards, EveryNameFallsInExactlyOneShard) {
  constexpr int kShards = 7;
  std::vector<int> sizes(kShards);
  for (int i = 0; i < 7000; ++i) {
    const std::string name = "photos/" + std::to_string(i) + ".jpg";
    int owners = 0;
    for (int shard = 0; shard < kShards; ++shard) {
      if (InBatchShard(name, shard, kShards)) {
        ++owners;
        ++sizes[shard];
      }
    }
    ASSERT_EQ(owners, 1) << name;
  }
  for (int size : sizes) EXPECT_NEAR(size, 1000, 150);  // a hash, not a lottery
  EXPECT_TRUE(InBatchShard("anything", 0, 1));
}

TEST(BatchIncludes, AGlobWithoutSlashMatchesTheFileName) {
  EXPECT_TRUE(BatchIncludes("a/b/c.jpg", {}));
  EXPECT_TRUE(BatchIncludes("a/b/c.jpg", {"*.jpg"}));
  EXPECT_FALSE(BatchIncludes("a/b/c.png", {"*.jpg"}));
  EXPECT_TRUE(BatchIncludes("a/b/c.png", {"*.jpg", "*.png"}));
  EXPECT_TRUE(BatchIncludes("2024/x/c.png", {"2024/*/*.png"}));
  EXPECT_FALSE(BatchIncludes("2023/x/c.png", {"2024/*/*.png"}));
}

TEST(BatchJobs, PayloadRoundTripsAndGarbageIsRefused) {
  BatchSpec spec{.from = "s3://a/in/",
                 .to = "/out",
                 .targets = {{"small", "rs:fit:100"}, {"", "f:webp"}},
                 .pyramid = transforms::Pyramid::kDeepZoom,
                 .mode = BatchMode::kResume};
  auto parsed = ParseBatchJob(BatchJobPayload(spec, {"x/é.jpg", 42, "etag"}));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->first.ToJson(), spec.ToJson());
  EXPECT_EQ(parsed->second.name, "x/é.jpg");
  EXPECT_EQ(parsed->second.size, 42);
  for (const char* bad : {"", "[]", "{\"spec\":{}}", "{\"spec\":1,\"item\":2}",
                          R"({"spec":{"from":"a","to":"b","pyramid":"cube","mode":"keep","targets":[]},"item":{}})"}) {
    EXPECT_FALSE(ParseBatchJob(bad).has_value()) << bad;
  }
}

class LocalBatch : public ::testing::Test {
 protected:
  void SetUp() override {
    vips_init("ingest_batch_test");
    src_ = TempDir();
    dst_ = TempDir() + "/out";
  }
  std::unique_ptr<BatchProcessor> Open(std::vector<BatchTarget> targets,
                                       transforms::Pyramid pyramid = transforms::Pyramid::kNone) {
    auto opened = BatchProcessor::Open({.from = src_, .to = dst_, .targets = std::move(targets), .pyramid = pyramid},
                                       {}, transforms::BatchLimits());
    EXPECT_TRUE(opened.has_value()) << opened.error().message;
    return opened ? *std::move(opened) : nullptr;
  }
  std::string src_, dst_;
};

TEST_F(LocalBatch, OutputNamesFollowTheFormatAndThePreset) {
  auto batch = Open({{"", "rs:fit:10/f:webp"}, {"thumb", "rs:fit:10"}});
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->OutputNames("a/b.c.PNG"),
            (std::vector<std::string>{"a/b.c.webp", "thumb/a/b.c.png"}));
  EXPECT_EQ(batch->OutputNames("a/noext"), (std::vector<std::string>{"a/noext.webp", "thumb/a/noext.jpg"}));
  EXPECT_EQ(batch->OutputNames(".x/.hidden"), (std::vector<std::string>{".x/.hidden.webp", "thumb/.x/.hidden.jpg"}));
  auto dz = Open({{"", "rs:fit:10"}}, transforms::Pyramid::kDeepZoom);
  EXPECT_EQ(dz->OutputNames("scan.tif"), std::vector<std::string>{"scan.dzi"});
}

TEST_F(LocalBatch, BadTargetsAndLocationsAreRefusedUpFront) {
  auto open = [&](BatchSpec spec) { return BatchProcessor::Open(spec, {}, transforms::BatchLimits()); };
  EXPECT_FALSE(open({.from = src_, .to = dst_}).has_value()) << "no targets";
  EXPECT_FALSE(open({.from = src_, .to = dst_, .targets = {{"", "rs:nope"}}}).has_value());
  EXPECT_FALSE(open({.from = src_, .to = dst_, .targets = {{"../x", "rs:fit:10"}}}).has_value());
  EXPECT_FALSE(open({.from = src_ + "/missing", .to = dst_, .targets = {{"", "rs:fit:10"}}}).has_value());
  EXPECT_FALSE(open({.from = "http://x/", .to = dst_, .targets = {{"", "rs:fit:10"}}}).has_value());
  EXPECT_FALSE(open({.from = "s3://Bad_Bucket/", .to = dst_, .targets = {{"", "rs:fit:10"}}}).has_value());
}

TEST_F(LocalBatch, ListingIsPagedRecursiveAndSkipsHiddenNames) {
  for (const char* name : {"a.jpg", "d/b.jpg", "d/e/c.jpg", ".hidden.jpg", "d/.staging/x.jpg"}) {
    fs::create_directories(fs::path(src_ + "/" + name).parent_path());
    std::ofstream(src_ + "/" + name) << "x";
  }
  fs::create_directory_symlink(src_ + "/d", src_ + "/loop");  // not entered
  auto store = BatchStore::Open(src_, {}, false);
  ASSERT_TRUE(store.has_value());
  auto lister = (*store)->List(2);
  std::set<std::string> names;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = lister->Next();
    ASSERT_TRUE(page.has_value());
    EXPECT_LE(page->size(), 2u);
    if (page->empty()) break;
    for (const auto& item : *page) names.insert(item.name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"a.jpg", "d/b.jpg", "d/e/c.jpg"}));
}

TEST_F(LocalBatch, ProvenanceIsTheSidecarAndUnsafeNamesNeverReachTheDisk) {
  auto store = BatchStore::Open(dst_, {}, true);
  ASSERT_TRUE(store.has_value());
  EXPECT_FALSE((*(*store)->Provenance("x/a.jpg")).has_value()) << "no output yet";
  auto staged = (*store)->Stage("x/a.jpg");
  ASSERT_TRUE(staged.has_value());
  std::ofstream((*staged)->path()) << "pixels";
  auto put = (*store)->Put("x/a.jpg", **staged, "image/jpeg", "v1 digest");
  ASSERT_TRUE(put.has_value()) << put.error().message;
  EXPECT_EQ(*put, 6);
  EXPECT_EQ(**(*store)->Provenance("x/a.jpg"), "v1 digest");
  const std::string staging = (*staged)->dir();
  staged->reset();
  EXPECT_FALSE(fs::exists(staging)) << "a staged output's directory goes with it";
  EXPECT_FALSE((*store)->Stage("../escape.jpg").has_value());
  EXPECT_FALSE((*store)->Provenance("a/../../escape.jpg").has_value());
}

}  // namespace
}  // namespace imgorigin::ingest
