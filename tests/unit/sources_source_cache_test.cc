#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>

#include "common/thread_pool.h"
#include "sources/source_cache.h"

namespace imgorigin::sources {
namespace {

// Answers every URL with "<url> #<n>", n counting the fetches: a refetch shows in the bytes.
class CountingSource final : public Source {
 public:
  common::Result<SourceImage> Fetch(std::string_view url) const override {
    SourceImage image;
    image.bytes = common::MakeShared(std::string(url) + " #" + std::to_string(++fetches_));
    return image;
  }
  int fetches() const { return fetches_; }

 private:
  mutable std::atomic<int> fetches_{0};
};

class SourceCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("https", &source_);
    auto cache = SourceCache::Open({}, router_, io_, 1 << 20, 1 << 20);
    ASSERT_TRUE(cache);
    cache_ = *std::move(cache);
  }

  std::string Fetch(const std::string& url, std::string_view cachebuster) {
    std::promise<std::string> bytes;
    cache_->Fetch(url, cachebuster, [&bytes](const common::Result<SourceImage>& image) {
      bytes.set_value(image ? *image->bytes : "error: " + image.error().message);
    });
    return bytes.get_future().get();
  }

  CountingSource source_;
  SourceRouter router_;
  std::unique_ptr<SourceCache> cache_;
  // Last, so it is joined first: a load may still be finishing after its answer arrived.
  common::ThreadPool io_{{.threads = 2}};
};

TEST_F(SourceCacheTest, ANewCachebusterFetchesAgainAndEachIsKept) {
  const std::string url = "https://img.example.com/a.jpg";
  EXPECT_EQ(Fetch(url, ""), url + " #1");
  EXPECT_EQ(Fetch(url, ""), url + " #1");
  EXPECT_EQ(Fetch(url, "1"), url + " #2");
  EXPECT_EQ(Fetch(url, "2"), url + " #3");
  EXPECT_EQ(Fetch(url, "1"), url + " #2");
  EXPECT_EQ(Fetch(url, ""), url + " #1");
  EXPECT_EQ(source_.fetches(), 3);
  EXPECT_EQ(cache_->stats().memory_hits, 3u);
}

// The cachebuster and the URL cannot be shifted into each other to reach another entry.
TEST_F(SourceCacheTest, CachebusterAndUrlDoNotRunTogether) {
  EXPECT_EQ(Fetch("https://h/a:b", "1"), "https://h/a:b #1");
  EXPECT_EQ(Fetch("https://h/a", "1:b"), "https://h/a #2");
  EXPECT_EQ(Fetch("https://h/1:b", ""), "https://h/1:b #3");
  EXPECT_EQ(source_.fetches(), 3);
}

}  // namespace
}  // namespace imgorigin::sources
