#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "cache/disk_tier.h"
#include "cache/key.h"

namespace imgorigin::cache {
namespace {

namespace fs = std::filesystem;

std::string TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "disk-tier-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

std::string Key(int i) { return VariantKey("local:///a.jpg", 0, "w:" + std::to_string(i), "png"); }

std::unique_ptr<DiskTier> Open(const std::string& dir, uint64_t capacity) {
  auto tier = DiskTier::Open({.dir = dir, .capacity_bytes = capacity});
  EXPECT_TRUE(tier) << tier.error().message;
  return tier ? *std::move(tier) : nullptr;
}

uint64_t BytesOnDisk(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

TEST(DiskTierTest, StoresAndReadsBack) {
  auto tier = Open(TempDir(), 1 << 20);
  ASSERT_TRUE(tier->Put(Key(1), "hello").value());
  auto got = tier->Get(Key(1));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, "hello");
  EXPECT_FALSE(tier->Get(Key(2)).value());
  ASSERT_TRUE(tier->Erase(Key(1)));
  EXPECT_FALSE(tier->Get(Key(1)).value());
  EXPECT_EQ(tier->entries(), 0u);
}

TEST(DiskTierTest, EvictsLeastRecentlyUsedWithinTheBound) {
  const std::string dir = TempDir();
  auto tier = Open(dir, 300);
  const std::string hundred(100, 'x');
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Key(i), hundred).value());
  ASSERT_TRUE(tier->Get(Key(0)).value());  // 0 is now the most recent; 1 the least
  ASSERT_TRUE(tier->Put(Key(3), hundred).value());
  EXPECT_FALSE(tier->Get(Key(1)).value());
  EXPECT_TRUE(tier->Get(Key(0)).value());
  EXPECT_TRUE(tier->Get(Key(2)).value());
  EXPECT_TRUE(tier->Get(Key(3)).value());
  EXPECT_LE(tier->size_bytes(), 300u);
  EXPECT_LE(BytesOnDisk(dir), 300u);
  // Larger than the whole bound: declined, nothing evicted for it.
  EXPECT_FALSE(tier->Put(Key(9), std::string(301, 'y')).value());
  EXPECT_EQ(tier->entries(), 3u);
}

TEST(DiskTierTest, RebuildsItsIndexAfterARestart) {
  const std::string dir = TempDir();
  {
    auto tier = Open(dir, 1000);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(tier->Put(Key(i), std::string(100, 'a' + i)).value());
    // Distinct mtimes so the LRU order is recoverable even on coarse-timestamp filesystems.
    for (int i = 0; i < 4; ++i) {
      std::string path = dir + "/" + Key(i).substr(0, 2) + "/" + Key(i);
      timespec times[2] = {{0, UTIME_OMIT}, {1'700'000'000 + i, 0}};
      ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
    }
  }
  // A write a crash interrupted.
  std::ofstream(dir + "/tmp/" + Key(7) + ".123.1") << "partial";
  auto reopened = Open(dir, 1000);
  EXPECT_EQ(reopened->entries(), 4u);
  EXPECT_EQ(reopened->size_bytes(), 400u);
  EXPECT_EQ(**reopened->Get(Key(2)), std::string(100, 'c'));
  EXPECT_FALSE(fs::exists(dir + "/tmp/" + Key(7) + ".123.1"));
  // A smaller bound on restart evicts the oldest (by mtime) first.
  reopened.reset();
  auto smaller = Open(dir, 250);
  EXPECT_EQ(smaller->entries(), 2u);
  EXPECT_FALSE(smaller->Get(Key(0)).value());
  EXPECT_FALSE(smaller->Get(Key(1)).value());
  EXPECT_TRUE(smaller->Get(Key(2)).value());  // touched by the Get above, so newest
  EXPECT_TRUE(smaller->Get(Key(3)).value());
}

TEST(DiskTierTest, ForeignFilesAreIgnoredAndVanishedFilesAreMisses) {
  const std::string dir = TempDir();
  fs::create_directories(dir + "/ab");
  std::ofstream(dir + "/ab/not-a-key") << "x";
  std::ofstream(dir + "/README") << "x";
  auto tier = Open(dir, 1000);
  EXPECT_EQ(tier->entries(), 0u);
  ASSERT_TRUE(tier->Put(Key(1), "v").value());
  fs::remove(dir + "/" + Key(1).substr(0, 2) + "/" + Key(1));
  EXPECT_FALSE(tier->Get(Key(1)).value());
  EXPECT_EQ(tier->entries(), 0u);
}

TEST(DiskTierTest, CorruptionIsLeftToTheCodecButReadsReturnTheBytes) {
  // The tier stores opaque bytes; the entry checksum (entry_codec) catches corruption. Here: the
  // tier hands back exactly what is on disk, damaged or not, and Erase removes it.
  const std::string dir = TempDir();
  auto tier = Open(dir, 1000);
  ASSERT_TRUE(tier->Put(Key(1), "original").value());
  std::ofstream(dir + "/" + Key(1).substr(0, 2) + "/" + Key(1), std::ios::trunc) << "damaged";
  EXPECT_EQ(**tier->Get(Key(1)), "damaged");
  ASSERT_TRUE(tier->Erase(Key(1)));
  EXPECT_FALSE(fs::exists(dir + "/" + Key(1).substr(0, 2) + "/" + Key(1)));
}

TEST(DiskTierTest, ConcurrentWritersKeepTheBound) {
  const std::string dir = TempDir();
  auto tier = Open(dir, 2000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&tier, t] {
      for (int i = 0; i < 50; ++i)
        ASSERT_TRUE(tier->Put(Key(t * 100 + i % 20), std::string(90, 'z')));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(tier->size_bytes(), 2000u);
  EXPECT_EQ(BytesOnDisk(dir), tier->size_bytes());
}

TEST(DiskTierTest, RejectsBadConfig) {
  EXPECT_FALSE(DiskTier::Open({.dir = "", .capacity_bytes = 1}));
  EXPECT_FALSE(DiskTier::Open({.dir = TempDir(), .capacity_bytes = 0}));
}

}  // namespace
}  // namespace imgorigin::cache
