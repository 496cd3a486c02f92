// Eager presets (origin/eager.h) over real parts: originals read through the source cache from a
// local root, the cache tiers (memory and disk), the local variants store and the S3 one on the
// S3 stand-in; then the real server answers the signed pr: URLs from what was stored.
#include "origin/eager.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "ingest/record.h"
#include "origin/cache_tiers.h"
#include "origin/config.h"
#include "origin/image_plan.h"
#include "origin/ingest_setup.h"
#include "origin/presets.h"
#include "sources/local_source.h"
#include "sources/source_cache.h"
#include "tests/integration/harness.h"
#include "tests/integration/ingest_fixtures.h"
#include "transforms/pipeline.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;
using namespace ingest_fixtures;

constexpr char kId[] = "01890a5d-ac96-774b-bcce-b302099a8057";
constexpr char kPresets[] =
    "small=rs:fit:160:160,medium=rs:fit:320:320/f:webp,large=rs:fit:600:600";

std::map<std::string, std::string> BaseEnv(const std::string& root) {
  return {{"IMGORIGIN_KEY", kKeyHex},
          {"IMGORIGIN_SALT", kSaltHex},
          {"IMGORIGIN_LOCAL_ROOT", root},
          {"IMGORIGIN_PRESETS", kPresets},
          {"IMGORIGIN_EAGER", "small,medium,large"},
          {"IMGORIGIN_HTTP_ENABLED", "false"}};
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Everything the eager renderer runs on, built from `env` as the server builds it.
class Rig {
 public:
  explicit Rig(std::map<std::string, std::string> env) : env_(std::move(env)) {
    transforms::InitVips("eager_test");
    auto config = origin::LoadConfig("", [this](std::string_view name) {
      auto it = env_.find(std::string(name));
      return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
    if (!config) {
      error_ = config.error().message;
      return;
    }
    config_ = *std::move(config);
    local_ = std::make_unique<sources::LocalSource>(
        *sources::LocalSource::Open(config_.local_root, config_.max_src_bytes));
    router_.Add("local", local_.get());
    source_cache_ =
        *sources::SourceCache::Open(config_.source_cache, router_, io_,
                                    config_.fetch.stream_to_file_bytes, config_.max_src_bytes);
    memory_ = std::make_unique<cache::MemoryTier>(config_.memory);
    tiers_ = *origin::OpenTieredCache(config_, *memory_, lookup());
    signer_ = std::make_unique<signing::Signer>(config_.signing);
    planner_ = std::make_unique<origin::Planner>(config_, *signer_);
    auto variants = origin::OpenVariantsStore(config_, lookup());
    if (!variants) {
      error_ = variants.error().message;
      return;
    }
    variants_ = *std::move(variants);
    eager_ = std::make_unique<origin::EagerRenderer>(config_, *planner_, *signer_, *source_cache_,
                                                     *tiers_, variants_.get());
  }

  const std::string& error() const { return error_; }
  const origin::Config& config() const { return config_; }
  origin::EagerRenderer& eager() { return *eager_; }
  cache::TieredCache& tiers() { return *tiers_; }

  // The cache entry a request for the signed preset URL of `source` finds in memory, with
  // `accept` as its Accept header ("" = none).
  cache::CachedImagePtr Lookup(const std::string& preset, const std::string& source,
                               const std::string& accept = "") const {
    auto plan = planner_->Make(
        [&](const char* name) -> const char* {
          return std::string_view(name) == "Accept" && !accept.empty() ? accept.c_str() : nullptr;
        },
        origin::SignedPresetPath(*signer_, preset, source));
    EXPECT_TRUE(plan) << plan.error().message;
    if (!plan) return nullptr;
    planner_->SetKey(*plan, *tiers_->CachedGeneration(source));
    return memory_->Get(plan->key);
  }

 private:
  origin::EnvLookup lookup() const {
    return [this](std::string_view name) {
      auto it = env_.find(std::string(name));
      return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  }

  std::map<std::string, std::string> env_;
  std::string error_;
  origin::Config config_;
  common::ThreadPool io_{{.threads = 2, .queue_capacity = 16}};
  std::unique_ptr<sources::LocalSource> local_;
  sources::SourceRouter router_;
  std::unique_ptr<sources::SourceCache> source_cache_;
  std::unique_ptr<cache::MemoryTier> memory_;
  std::unique_ptr<cache::TieredCache> tiers_;
  std::unique_ptr<signing::Signer> signer_;
  std::unique_ptr<origin::Planner> planner_;
  std::unique_ptr<ingest::VariantsStore> variants_;
  std::unique_ptr<origin::EagerRenderer> eager_;
};

// A root with the original stored as uploads/<kId>.
std::string RootWith(const std::string& original) {
  const std::string root = MakeTempDir();
  fs::create_directories(fs::path(root) / "uploads");
  std::ofstream(fs::path(root) / "uploads" / kId, std::ios::binary) << original;
  return root;
}

const std::string kSource = std::string("local:///uploads/") + kId;

TEST(Eager, PresetsLandInTheCacheUnderTheirPresetUrlKeysAndInTheLocalStore) {
  const std::string root = RootWith(Jpeg());  // 640×480
  const std::string store = MakeTempDir();
  auto env = BaseEnv(root);
  env["IMGORIGIN_VARIANTS_STORE"] = store;
  Rig rig(env);
  ASSERT_EQ(rig.error(), "");
  auto variants = rig.eager().Render(kSource, rig.config().ingest.eager);
  ASSERT_TRUE(variants) << variants.error().message;
  ASSERT_TRUE(ingest::ValidateVariants(*variants));
  const std::vector<ingest::Variant> want = {
      {"small", "jpg", 160, 120, 0, store + "/" + kId + "/small.jpg"},
      {"medium", "webp", 320, 240, 0, store + "/" + kId + "/medium.webp"},
      {"large", "jpg", 600, 450, 0, store + "/" + kId + "/large.jpg"},
  };
  ASSERT_EQ(variants->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const ingest::Variant& got = (*variants)[i];
    EXPECT_EQ(got.preset, want[i].preset);
    EXPECT_EQ(got.format, want[i].format);
    EXPECT_EQ(got.width, want[i].width);
    EXPECT_EQ(got.height, want[i].height);
    EXPECT_EQ(got.location, want[i].location);
    const std::string object = ReadFile(got.location);
    EXPECT_EQ(static_cast<int64_t>(object.size()), got.bytes);
    const auto image = Decode(object);
    EXPECT_EQ(image.width(), want[i].width);
    EXPECT_EQ(LoaderOf(object), got.format == "webp" ? "webpload" : "jpegload");
    // The request for the preset's signed URL finds exactly these bytes.
    auto hit = rig.Lookup(got.preset, kSource);
    ASSERT_TRUE(hit) << got.preset;
    EXPECT_EQ(*hit->body, object);
  }
  // Nothing but the variants: no temporary files left behind.
  EXPECT_EQ(CountFiles(fs::path(store) / kId), 3u);

  // Again: the same objects, overwritten.
  const std::string before = ReadFile((*variants)[0].location);
  auto again = rig.eager().Render(kSource, rig.config().ingest.eager);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, *variants);
  EXPECT_EQ(ReadFile((*again)[0].location), before);
  EXPECT_EQ(CountFiles(fs::path(store) / kId), 3u);
}

TEST(Eager, EagerFormatsCacheWhatABrowserGets) {
  auto env = BaseEnv(RootWith(Jpeg()));
  env["IMGORIGIN_AUTO_FORMAT"] = "webp";
  env["IMGORIGIN_EAGER_FORMATS"] = "webp";
  Rig rig(env);
  ASSERT_EQ(rig.error(), "");
  auto variants = rig.eager().Render(kSource, {"small", "medium"});
  ASSERT_TRUE(variants) << variants.error().message;
  // small: jpg without Accept, webp for browsers; medium names webp: one variant.
  ASSERT_EQ(variants->size(), 3u);
  EXPECT_EQ((*variants)[0].format, "jpg");
  EXPECT_EQ((*variants)[1].format, "webp");
  EXPECT_EQ((*variants)[2].format, "webp");
  // Without a variants store the location is the preset's signed path.
  EXPECT_TRUE((*variants)[0].location.ends_with(std::string("/pr:small/plain/") + kSource))
      << (*variants)[0].location;
  auto plain = rig.Lookup("small", kSource);
  auto browser = rig.Lookup("small", kSource, "image/avif,image/webp,image/apng,*/*;q=0.8");
  ASSERT_TRUE(plain && browser);
  EXPECT_EQ(plain->content_type, "image/jpeg");
  EXPECT_EQ(browser->content_type, "image/webp");
  EXPECT_EQ(browser->width, 160);
}

TEST(Eager, BadOriginalIsAClearErrorAndWritesNothing) {
  const std::string store = MakeTempDir();
  auto env = BaseEnv(RootWith(Jpeg().substr(0, Jpeg().size() / 3)));  // truncated
  env["IMGORIGIN_VARIANTS_STORE"] = store;
  Rig rig(env);
  ASSERT_EQ(rig.error(), "");
  auto variants = rig.eager().Render(kSource, rig.config().ingest.eager);
  ASSERT_FALSE(variants);
  EXPECT_EQ(variants.error().code, common::ErrorCode::kInvalidImage);
  EXPECT_EQ(variants.error().message.rfind("preset small: ", 0), 0u) << variants.error().message;
  EXPECT_EQ(CountFiles(store), 0u);
  EXPECT_FALSE(rig.Lookup("small", kSource));

  auto missing = rig.eager().Render("local:///uploads/01890a5d-ac96-774b-bcce-b302099a8058",
                                    rig.config().ingest.eager);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, common::ErrorCode::kNotFound);
  auto not_an_image_url = rig.eager().Render("local:///uploads/x.jpg", {"small"});
  ASSERT_FALSE(not_an_image_url);
  EXPECT_EQ(not_an_image_url.error().code, common::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CountFiles(store), 0u);
}

TEST(Eager, ServerAnswersThePresetUrlsFromTheEagerEntries) {
  const std::string root = RootWith(Jpeg());
  const std::string disk = MakeTempDir();
  auto env = BaseEnv(root);
  env["IMGORIGIN_DISK_CACHE_DIR"] = disk;
  std::map<std::string, std::string> paths;  // preset → signed path
  {
    Rig rig(env);
    ASSERT_EQ(rig.error(), "");
    auto variants = rig.eager().Render(kSource, rig.config().ingest.eager);
    ASSERT_TRUE(variants) << variants.error().message;
    for (const auto& variant : *variants) paths[variant.preset] = variant.location;
    rig.tiers().Shutdown();  // the disk writes are done
  }
  ASSERT_EQ(paths.size(), 3u);
  OriginProcess origin(env);
  ASSERT_TRUE(origin.started()) << origin.output();
  for (const auto& [preset, path] : paths) {
    auto r = origin.Get(path);
    ASSERT_EQ(r.status, 200) << preset << ": " << r.body;
    EXPECT_EQ(r.header("X-Cache"), "HIT-DISK") << preset;
  }
  EXPECT_EQ(origin.Stop(), 0);
}

TEST(Eager, S3VariantsStoreWritesPlainObjects) {
  auto s3 = StartOriginalsBucket();
  IMGORIGIN_REQUIRE_SERVICE(*s3);
  auto env = BaseEnv(RootWith(Jpeg()));
  for (const auto& [name, value] : OriginalsBucketEnv(*s3)) env[name] = value;
  env.erase("IMGORIGIN_ORIGINALS");
  env["IMGORIGIN_VARIANTS_STORE"] = "s3://originals/variants";
  Rig rig(env);
  ASSERT_EQ(rig.error(), "");
  auto variants = rig.eager().Render(kSource, rig.config().ingest.eager);
  ASSERT_TRUE(variants) << variants.error().message;
  ASSERT_EQ(variants->size(), 3u);
  EXPECT_EQ((*variants)[1].location,
            std::string("s3://originals/variants/") + kId + "/medium.webp");
  auto client = storage::S3Client::Create(
      {.endpoint = "http://127.0.0.1:" + std::to_string(s3->port("s3")), .path_style = true},
      [&](std::string_view name) {
        auto it = env.find(std::string(name));
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
      });
  ASSERT_TRUE(client);
  for (const auto& variant : *variants) {
    const storage::S3Client::Object object{
        "originals", "variants/" + std::string(kId) + "/" + variant.preset + "." + variant.format,
        ""};
    auto info = (*client)->HeadObject(object);
    ASSERT_TRUE(info) << variant.preset << ": " << info.error().message;
    EXPECT_EQ(info->size, variant.bytes);
    EXPECT_EQ(info->content_type, variant.format == "webp" ? "image/webp" : "image/jpeg");
    auto bytes = (*client)->ReadPrefix(object, variant.bytes);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(Decode(*bytes).width(), variant.width);
  }
}

}  // namespace
}  // namespace imgorigin::testing
