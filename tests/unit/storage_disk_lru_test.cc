#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "storage/disk_lru.h"

namespace imgorigin::storage {
namespace {

namespace fs = std::filesystem;

std::string TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "disk-lru-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

std::string Key(char c) { return std::string(64, c); }

std::string Read(DiskLru& lru, const std::string& key, std::string* label = nullptr) {
  auto hit = lru.Get(key);
  EXPECT_TRUE(hit);
  if (!hit || !*hit) return "<miss>";
  if (label) *label = (*hit)->label;
  return *common::ReadUpTo((*hit)->fd.get(), (*hit)->size);
}

TEST(DiskLru, LabelsLiveInTheNameAndSurviveARestart) {
  const std::string dir = TempDir();
  {
    auto lru = DiskLru::Open({.dir = dir, .capacity_bytes = 1 << 20});
    ASSERT_TRUE(lru);
    ASSERT_TRUE(*(*lru)->Put(Key('a'), "100-7", "first"));
    ASSERT_TRUE(*(*lru)->Put(Key('a'), "200-8", "second"));  // replaces, under a new label
    ASSERT_TRUE(*(*lru)->Put(Key('b'), "", "plain"));
    EXPECT_EQ((*lru)->entries(), 2u);
    EXPECT_EQ((*lru)->size_bytes(), 11u);
  }
  // The replaced file is gone, not left to be found again after a restart.
  EXPECT_FALSE(fs::exists(dir + "/aa/" + Key('a') + ".100-7"));
  auto lru = DiskLru::Open({.dir = dir, .capacity_bytes = 1 << 20});
  ASSERT_TRUE(lru);
  std::string label;
  EXPECT_EQ(Read(**lru, Key('a'), &label), "second");
  EXPECT_EQ(label, "200-8");
  EXPECT_EQ(Read(**lru, Key('b'), &label), "plain");
  EXPECT_EQ(label, "");
  EXPECT_FALSE((*lru)->Put(Key('c'), "Bad/Label", "x"));
  EXPECT_FALSE((*lru)->Put("not-a-key", "", "x"));
}

TEST(DiskLru, CrashLeftoversAreCleanedOnOpen) {
  const std::string dir = TempDir();
  fs::create_directories(dir + "/aa");
  fs::create_directories(dir + "/tmp");
  std::ofstream(dir + "/tmp/half-written") << "xx";
  std::ofstream(dir + "/aa/" + Key('a') + ".1-1") << "old";
  std::ofstream(dir + "/aa/" + Key('a') + ".2-2") << "new";
  // The newer copy of a key (by last use) wins, the older one is removed.
  const timespec times[2] = {{0, UTIME_OMIT}, {1, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (dir + "/aa/" + Key('a') + ".1-1").c_str(), times, 0), 0);
  auto lru = DiskLru::Open({.dir = dir, .capacity_bytes = 1 << 20});
  ASSERT_TRUE(lru);
  EXPECT_EQ((*lru)->entries(), 1u);
  EXPECT_EQ(Read(**lru, Key('a')), "new");
  EXPECT_FALSE(fs::exists(dir + "/aa/" + Key('a') + ".1-1"));
  EXPECT_FALSE(fs::exists(dir + "/tmp/half-written"));
}

TEST(DiskLru, PutFileLinksAndAPrivateLinkOutlivesEviction) {
  const std::string dir = TempDir();
  auto lru = DiskLru::Open({.dir = dir, .capacity_bytes = 10});
  ASSERT_TRUE(lru);
  const std::string source = dir + "/../" + fs::path(dir).filename().string() + "-src";
  std::ofstream(source) << "0123456789";
  ASSERT_TRUE(*(*lru)->PutFile(Key('a'), "", source));
  struct stat st {};
  ASSERT_EQ(stat(source.c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);  // linked, not copied
  auto hit = (*lru)->Get(Key('a'));
  ASSERT_TRUE(hit && *hit);
  const std::string mine = (*lru)->TempPath();
  ASSERT_EQ(link((*hit)->path.c_str(), mine.c_str()), 0);
  ASSERT_TRUE(*(*lru)->Put(Key('b'), "", "abc"));  // over the bound: 'a' is evicted
  EXPECT_EQ(Read(**lru, Key('a')), "<miss>");
  std::ifstream in(mine);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "0123456789");
  fs::remove(source);
}

TEST(DiskLru, AFileRemovedByHandIsAMissAndLeavesTheCount) {
  const std::string dir = TempDir();
  auto lru = DiskLru::Open({.dir = dir, .capacity_bytes = 1 << 20});
  ASSERT_TRUE(lru);
  ASSERT_TRUE(*(*lru)->Put(Key('a'), "", "12345"));
  fs::remove(dir + "/aa/" + Key('a'));
  EXPECT_EQ(Read(**lru, Key('a')), "<miss>");
  EXPECT_EQ((*lru)->size_bytes(), 0u);
}

}  // namespace
}  // namespace imgorigin::storage
