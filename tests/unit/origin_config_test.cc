#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "origin/config.h"
#include "origin/image_plan.h"

namespace imgorigin::origin {
namespace {

constexpr char kKey[] = "736563726574";
constexpr char kSalt[] = "68656c6c6f";

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string WriteToml(const std::string& text) {
  char path[] = "/tmp/imgorigin-config-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsNeedKeys) {
  auto config = LoadConfig("", Env({}));
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("IMGORIGIN_KEY"), std::string::npos);
}

TEST(Config, EnvironmentGivesKeyPairsAndOverrides) {
  auto config = LoadConfig("", Env({{"IMGORIGIN_KEY", std::string(kKey) + ", 6b6579"},
                                    {"IMGORIGIN_SALT", std::string(kSalt) + ",73616c74"},
                                    {"IMGORIGIN_BIND", "0.0.0.0:9000"},
                                    {"IMGORIGIN_MEMORY_CACHE_SIZE", "64MiB"},
                                    {"IMGORIGIN_MAX_RESULT_DIMENSION", "4000"},
                                    {"IMGORIGIN_PRESETS", "small=rs:fit:100:100,big=w:900"}}));
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->signing.keys.size(), 2u);
  EXPECT_EQ(config->signing.keys[0].key, "secret");
  EXPECT_EQ(config->signing.keys[0].salt, "hello");
  EXPECT_EQ(config->signing.keys[1].key, "key");
  EXPECT_EQ(config->bind, "0.0.0.0:9000");
  EXPECT_EQ(config->memory.capacity_bytes, 64u << 20);
  EXPECT_EQ(config->pipeline.max_result_dimension, 4000);
  EXPECT_EQ(config->parser.max_dimension, 4000);
  EXPECT_EQ(config->parser.presets.at("small"), "rs:fit:100:100");
  EXPECT_EQ(config->parser.presets.at("big"), "w:900");
}

TEST(Config, FileThenEnvironment) {
  std::string path = WriteToml(R"(
[server]
bind = "127.0.0.1:7000"
workers = 3
[signing]
key = ["736563726574"]
salt = ["68656c6c6f"]
[limits]
max_src_bytes = "2MiB"
[presets]
thumb = "rs:fill:100:100"
)");
  auto config = LoadConfig(path, Env({{"IMGORIGIN_WORKERS", "5"}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->bind, "127.0.0.1:7000");
  EXPECT_EQ(config->workers, 5u);
  EXPECT_EQ(config->max_src_bytes, 2 << 20);
  EXPECT_EQ(config->parser.presets.at("thumb"), "rs:fill:100:100");
  unlink(path.c_str());
}

TEST(Config, ErrorsNameTheSetting) {
  const std::map<std::string, std::string> keys = {{"IMGORIGIN_KEY", kKey},
                                                   {"IMGORIGIN_SALT", kSalt}};
  struct Case {
    std::string env, value, expect;
  };
  for (const auto& c : std::vector<Case>{
           {"IMGORIGIN_BIND", "nowhere", "IMGORIGIN_BIND"},
           {"IMGORIGIN_WORKERS", "many", "IMGORIGIN_WORKERS"},
           {"IMGORIGIN_MAX_SRC_BYTES", "12 parsecs", "IMGORIGIN_MAX_SRC_BYTES"},
           {"IMGORIGIN_ALLOW_UNSIGNED", "perhaps", "IMGORIGIN_ALLOW_UNSIGNED"},
           {"IMGORIGIN_KEY", "xyz", "IMGORIGIN_KEY"},
           {"IMGORIGIN_SALT", kSalt + std::string(",00"), "same number"},
           {"IMGORIGIN_PRESETS", "broken", "IMGORIGIN_PRESETS"},
           {"IMGORIGIN_PRESETS", "bad=frobnicate:1", "frobnicate"},
           {"IMGORIGIN_CACHE_TAG_HEADER", "Bad Header", "cache_tag_header"},
           {"IMGORIGIN_MAX_RESULT_PIXELS", "avif", "IMGORIGIN_MAX_RESULT_PIXELS"},
           {"IMGORIGIN_MAX_RESULT_PIXELS", "avif=0", "max_result_pixels"},
           {"IMGORIGIN_MAX_RENDER_MEMORY", "0", "max_render_memory"},
           {"IMGORIGIN_RENDER_MEMORY_BUDGET", "lots", "IMGORIGIN_RENDER_MEMORY_BUDGET"},
           {"IMGORIGIN_AVIF_SPEED", "10", "output.avif_speed (IMGORIGIN_AVIF_SPEED)"},
           {"IMGORIGIN_AVIF_SPEED", "-1", "output.avif_speed (IMGORIGIN_AVIF_SPEED)"},
           {"IMGORIGIN_WEBP_EFFORT", "7", "output.webp_effort (IMGORIGIN_WEBP_EFFORT)"},
           {"IMGORIGIN_UPGRADE_BUDGET_MS", "-5", "output.upgrade_budget_ms"},
           {"IMGORIGIN_UPGRADE_MAX_AGE", "soon", "IMGORIGIN_UPGRADE_MAX_AGE"},
       }) {
    auto env = keys;
    env[c.env] = c.value;
    auto config = LoadConfig("", Env(env));
    ASSERT_FALSE(config) << c.env << "=" << c.value;
    EXPECT_NE(config.error().message.find(c.expect), std::string::npos)
        << c.env << ": " << config.error().message;
  }
}

TEST(Config, EncoderEffortsAndFormatUpgrade) {
  auto defaults = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->pipeline.avif_speed, 8);
  EXPECT_EQ(defaults->pipeline.webp_effort, 4);
  EXPECT_EQ(defaults->upgrade_budget_ms, 150);
  EXPECT_EQ(defaults->upgrade_max_age, 60);
  auto set = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey},
                                 {"IMGORIGIN_SALT", kSalt},
                                 {"IMGORIGIN_AVIF_SPEED", "6"},
                                 {"IMGORIGIN_WEBP_EFFORT", "2"},
                                 {"IMGORIGIN_UPGRADE_BUDGET_MS", "0"},
                                 {"IMGORIGIN_UPGRADE_MAX_AGE", "15"}}));
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->pipeline.avif_speed, 6);
  EXPECT_EQ(set->pipeline.webp_effort, 2);
  EXPECT_EQ(set->upgrade_budget_ms, 0);
  EXPECT_EQ(set->upgrade_max_age, 15);
}

// The encoder efforts change bytes without being in the URL: they are in the keys (and so the
// ETags) of the formats they change, and only of those.
TEST(Config, EncoderEffortsAreInTheKeysOfTheirFormats) {
  auto key = [](const std::map<std::string, std::string>& extra, const std::string& path) {
    std::map<std::string, std::string> env = {{"IMGORIGIN_ALLOW_UNSIGNED", "true"}};
    env.insert(extra.begin(), extra.end());
    auto config = LoadConfig("", Env(env));
    EXPECT_TRUE(config) << config.error().message;
    signing::Signer signer(config->signing);
    Planner planner(*config, signer);
    auto plan = planner.Make([](const char*) -> const char* { return nullptr; }, path);
    EXPECT_TRUE(plan) << plan.error().message;
    planner.SetKey(*plan, 0);
    return plan->key;
  };
  const std::string avif = "/unsafe/w:300/plain/local:///a.jpg@avif";
  const std::string webp = "/unsafe/w:300/plain/local:///a.jpg@webp";
  const std::string jpeg = "/unsafe/w:300/plain/local:///a.jpg@jpg";
  EXPECT_NE(key({}, avif), key({{"IMGORIGIN_AVIF_SPEED", "6"}}, avif));
  EXPECT_NE(key({}, avif), key({{"IMGORIGIN_WEBP_EFFORT", "6"}}, avif));  // animated → WebP
  EXPECT_NE(key({}, webp), key({{"IMGORIGIN_WEBP_EFFORT", "6"}}, webp));
  EXPECT_EQ(key({}, webp), key({{"IMGORIGIN_AVIF_SPEED", "6"}}, webp));
  EXPECT_EQ(key({}, jpeg), key({{"IMGORIGIN_AVIF_SPEED", "6"}, {"IMGORIGIN_WEBP_EFFORT", "6"}}, jpeg));
}

// The negotiated format's estimate against the budget: which plans carry a stand-in format.
TEST(Config, FallbackFormatOfNegotiatedPlans) {
  auto config = LoadConfig("", Env({{"IMGORIGIN_ALLOW_UNSIGNED", "true"}}));
  ASSERT_TRUE(config) << config.error().message;
  signing::Signer signer(config->signing);
  Planner planner(*config, signer);
  auto fallback_of = [](const Planner& p, const std::string& path, const char* accept) {
    auto plan = p.Make(
        [accept](const char* name) { return std::string_view(name) == "Accept" ? accept : nullptr; },
        path);
    EXPECT_TRUE(plan) << plan.error().message;
    return plan->fallback_format;
  };
  auto fallback = [&](const std::string& path, const char* accept) {
    return fallback_of(planner, path, accept);
  };
  using transforms::ImageFormat;
  const char* browser = "image/avif,image/webp,*/*";
  // AVIF at the default speed costs about what WebP does: only JPEG (the source's, kUnknown) is
  // cheap enough to stand in; at speed 5 WebP is.
  EXPECT_EQ(fallback("/x/rs:fit:1000:1000/plain/local:///a.jpg", browser), ImageFormat::kUnknown);
  {
    auto slow = LoadConfig("", Env({{"IMGORIGIN_ALLOW_UNSIGNED", "true"},
                                    {"IMGORIGIN_AVIF_SPEED", "5"}}));
    ASSERT_TRUE(slow) << slow.error().message;
    Planner slow_planner(*slow, signer);
    EXPECT_EQ(fallback_of(slow_planner, "/x/rs:fit:1000:1000/plain/local:///a.jpg", browser),
              ImageFormat::kWebp);
  }
  EXPECT_EQ(fallback("/x/rs:fit:1000:1000/plain/local:///a.jpg", "image/avif,*/*"),
            ImageFormat::kUnknown);
  EXPECT_EQ(fallback("/x/rs:fit:200:200/plain/local:///a.jpg", browser), std::nullopt);
  EXPECT_EQ(fallback("/x/rs:fit:1000:1000/plain/local:///a.jpg@avif", browser), std::nullopt);
  EXPECT_EQ(fallback("/x/rs:fit:1000:1000/plain/local:///a.jpg", "image/jpeg"), std::nullopt);
}

TEST(Config, RenderMemoryLimitsAndBudget) {
  auto config = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey},
                                    {"IMGORIGIN_SALT", kSalt},
                                    {"IMGORIGIN_MAX_RENDER_MEMORY", "300MiB"},
                                    {"IMGORIGIN_RENDER_MEMORY_BUDGET", "2GiB"},
                                    {"IMGORIGIN_MAX_JPEG_SCANS", "40"},
                                    {"IMGORIGIN_MAX_RESULT_PIXELS", "avif=1000000, webp=2000000"}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->pipeline.max_render_memory, 300 << 20);
  ASSERT_NE(config->pipeline.memory_budget, nullptr);
  EXPECT_EQ(config->pipeline.memory_budget->total(), int64_t{2} << 30);
  EXPECT_EQ(config->pipeline.max_jpeg_scans, 40);
  EXPECT_EQ(config->pipeline.max_result_pixels,
            (std::map<transforms::ImageFormat, int64_t>{{transforms::ImageFormat::kAvif, 1000000},
                                                        {transforms::ImageFormat::kWebp, 2000000}}));
  // Unset, the budget is half the machine's (or the cgroup's) memory: something, never zero.
  auto defaults = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_GE(defaults->pipeline.memory_budget->total(), int64_t{256} << 20);
}

TEST(Config, FileMustBeUtf8) {
  // A literal string with invalid UTF-8 made Debian's toml11 read past its buffer (fuzz_config).
  std::string path = WriteToml("[server]\nbind = '127.0.0.1:\xff\xff'\n");
  auto config = LoadConfig(path, Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
  std::remove(path.c_str());
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("UTF-8"), std::string::npos) << config.error().message;
}

TEST(Config, UnknownFileKeyIsAnError) {
  std::string path = WriteToml("[server]\nbnid = \"127.0.0.1:1\"\n");
  auto config = LoadConfig(path, Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("server.bnid"), std::string::npos);
  unlink(path.c_str());
}

TEST(Config, S3ResultTier) {
  auto off = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_TRUE(off->s3_results.bucket.empty());
  EXPECT_EQ(off->s3_results.prefix, "imgorigin/");
  auto on = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey},
                                {"IMGORIGIN_SALT", kSalt},
                                {"IMGORIGIN_S3_RESULT_BUCKET", "results"},
                                {"IMGORIGIN_S3_RESULT_PREFIX", "variants/"},
                                {"IMGORIGIN_S3_RESULT_REGION", "eu-west-1"},
                                {"IMGORIGIN_S3_RESULT_ENDPOINT", "http://minio:9000"},
                                {"IMGORIGIN_S3_RESULT_TIMEOUT_MS", "500"}}));
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_EQ(on->s3_results.bucket, "results");
  EXPECT_EQ(on->s3_results.prefix, "variants/");
  EXPECT_EQ(on->s3_results.region, "eu-west-1");
  EXPECT_EQ(on->s3_results.endpoint, "http://minio:9000");
  EXPECT_EQ(on->s3_results.timeout, std::chrono::milliseconds(500));
  auto bad = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey},
                                 {"IMGORIGIN_SALT", kSalt},
                                 {"IMGORIGIN_S3_RESULT_BUCKET", "Results!"}}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("cache.s3_result"), std::string::npos) << bad.error().message;
}

TEST(Config, UnsignedModeIsExplicit) {
  auto config = LoadConfig("", Env({{"IMGORIGIN_ALLOW_UNSIGNED", "true"}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->signing.keys.empty());
}

TEST(Config, ShippedConfigsLoad) {
  for (const char* file : {"conf/dev.toml", "conf/reference.toml", "conf/production.toml"}) {
    auto config = LoadConfig(std::string(IMGORIGIN_SOURCE_DIR) + "/" + file,
                             Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
    EXPECT_TRUE(config) << file << ": " << config.error().message;
  }
}

// The README's configuration reference and conf/reference.toml must name every setting.
TEST(Config, EverySettingIsDocumented) {
  auto read = [](const char* file) {
    std::ifstream in(std::string(IMGORIGIN_SOURCE_DIR) + "/" + file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string readme = read("README.md");
  const std::string reference = read("conf/reference.toml");
  for (const auto& [key, env] : SettingNames()) {
    EXPECT_NE(readme.find("`" + std::string(env) + "`"), std::string::npos)
        << env << " not in README.md";
    EXPECT_NE(readme.find("`" + std::string(key) + "`"), std::string::npos)
        << key << " not in README.md";
    EXPECT_NE(reference.find(std::string(env) + ":"), std::string::npos)
        << env << " not in conf/reference.toml";
  }
}

TEST(ParseSize, Units) {
  EXPECT_EQ(*ParseSize("1024"), 1024);
  EXPECT_EQ(*ParseSize("1KiB"), 1024);
  EXPECT_EQ(*ParseSize("1kb"), 1000);
  EXPECT_EQ(*ParseSize("3MiB"), 3 << 20);
  EXPECT_EQ(*ParseSize("2GB"), 2'000'000'000);
  EXPECT_FALSE(ParseSize("-1"));
  EXPECT_FALSE(ParseSize("1TiB"));
  EXPECT_FALSE(ParseSize("99999999999GiB"));
}

TEST(ParseHostPort, Forms) {
  EXPECT_EQ(*ParseHostPort("127.0.0.1:80"), (std::pair<std::string, uint16_t>{"127.0.0.1", 80}));
  EXPECT_EQ(*ParseHostPort("[::1]:8080"), (std::pair<std::string, uint16_t>{"::1", 8080}));
  EXPECT_EQ(ParseHostPort(":9")->first, "0.0.0.0");
  EXPECT_FALSE(ParseHostPort("localhost"));
  EXPECT_FALSE(ParseHostPort("h:99999"));
}

TEST(ServerSettings, RenderNiceIsANicenessStep) {
  std::map<std::string, std::string> vars = {{"IMGORIGIN_ALLOW_UNSIGNED", "true"}};
  auto env = [&vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional(it->second);
  };
  auto config = LoadConfig("", env);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->render_nice, 5);
  vars["IMGORIGIN_RENDER_NICE"] = "19";
  EXPECT_EQ(LoadConfig("", env)->render_nice, 19);
  for (const char* bad : {"20", "-1"}) {
    vars["IMGORIGIN_RENDER_NICE"] = bad;
    auto refused = LoadConfig("", env);
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("server.render_nice (IMGORIGIN_RENDER_NICE)"),
              std::string::npos)
        << refused.error().message;
  }
}

// Renders and jobs share the idle class or leave it together: a job worker must never outrank
// the renders that requests wait for.
TEST(ServerSettings, RenderIdleMovesJobsWithIt) {
  auto config = LoadConfig("", Env({{"IMGORIGIN_ALLOW_UNSIGNED", "true"}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->render_idle);
  EXPECT_TRUE(config->jobs.worker.priority.idle);
  EXPECT_EQ(config->jobs.worker.priority.nice, 10);
  config = LoadConfig(
      "", Env({{"IMGORIGIN_ALLOW_UNSIGNED", "true"}, {"IMGORIGIN_RENDER_IDLE", "false"}}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->render_idle);
  EXPECT_FALSE(config->jobs.worker.priority.idle);
  EXPECT_FALSE(LoadConfig(
      "", Env({{"IMGORIGIN_ALLOW_UNSIGNED", "true"}, {"IMGORIGIN_RENDER_IDLE", "sometimes"}})));
}

TEST(SourceSettings, FromEnvironmentAndValidated) {
  std::map<std::string, std::string> vars = {
      {"IMGORIGIN_ALLOW_UNSIGNED", "true"},
      {"IMGORIGIN_S3_ENABLED", "true"},
      {"IMGORIGIN_S3_ALLOWED_BUCKETS", "a-bucket, other.bucket"},
      {"IMGORIGIN_S3_PATH_STYLE", "yes"},
      {"IMGORIGIN_HTTP_ALLOWED_PREFIXES", "https://img.example.com/"},
      {"IMGORIGIN_HTTP_ALLOWED_NETWORKS", "10.1.0.0/16"},
      {"IMGORIGIN_SOURCE_TIMEOUT_MS", "5000"},
      {"IMGORIGIN_STREAM_TO_FILE_BYTES", "32MiB"},
      {"IMGORIGIN_SOURCE_CACHE_MEMORY_SIZE", "1GiB"},
      {"IMGORIGIN_IO_THREADS", "24"},
  };
  auto env = [&vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional(it->second);
  };
  auto config = LoadConfig("", env);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->s3.enabled);
  EXPECT_TRUE(config->s3.path_style);
  EXPECT_EQ(config->s3.allowed_buckets, (std::vector<std::string>{"a-bucket", "other.bucket"}));
  EXPECT_EQ(config->http.allowed_networks.size(), 1u);
  EXPECT_EQ(config->fetch.timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(config->fetch.stream_to_file_bytes, 32 << 20);
  EXPECT_EQ(config->source_cache.memory_bytes, size_t{1} << 30);
  EXPECT_EQ(config->io_threads, 24u);

  vars["IMGORIGIN_HTTP_ALLOWED_PREFIXES"] = "https://img.example.com";  // no "/" after the host
  EXPECT_FALSE(LoadConfig("", env));
  vars["IMGORIGIN_HTTP_ALLOWED_PREFIXES"] = "https://img.example.com/";
  vars["IMGORIGIN_HTTP_ALLOWED_NETWORKS"] = "10.0.0.0/40";
  EXPECT_FALSE(LoadConfig("", env));
}

}  // namespace
}  // namespace imgorigin::origin

namespace imgorigin::origin {
namespace {

std::map<std::string, std::string> Ingest(std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> vars = {{"IMGORIGIN_KEY", kKey},
                                             {"IMGORIGIN_SALT", kSalt},
                                             {"IMGORIGIN_INGEST_ENABLED", "true"},
                                             {"IMGORIGIN_API_KEY", "k"},
                                             {"IMGORIGIN_LOCAL_ROOT", "/srv/images"}};
  for (auto& [name, value] : extra) vars[name] = value;
  return vars;
}

TEST(IngestConfig, DefaultsAndOverrides) {
  auto defaults = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->ingest.enabled);
  EXPECT_EQ(defaults->ingest.records, "sqlite");
  EXPECT_EQ(defaults->ingest.originals, "local");
  EXPECT_EQ(defaults->ingest.upload.max_upload_bytes, 50 << 20);

  auto config = LoadConfig("", Env(Ingest({{"IMGORIGIN_MAX_UPLOAD_BYTES", "8MiB"},
                                           {"IMGORIGIN_MAX_METADATA_BYTES", "4KiB"},
                                           {"IMGORIGIN_UPLOAD_TIMEOUT_MS", "5000"},
                                           {"IMGORIGIN_RECORDS", "postgresql://db/images"},
                                           {"IMGORIGIN_S3_ENABLED", "true"},
                                           {"IMGORIGIN_ORIGINALS", "s3://media/originals/"},
                                           {"IMGORIGIN_ORIGINALS_SSE", "aws:kms"},
                                           {"IMGORIGIN_ORIGINALS_SSE_KMS_KEY_ID", "alias/img"}})));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->ingest.upload.max_upload_bytes, 8 << 20);
  EXPECT_EQ(config->ingest.upload.max_metadata_bytes, 4096u);
  EXPECT_EQ(config->ingest.upload_timeout.count(), 5000);
  EXPECT_EQ(config->ingest.records, "postgresql://db/images");
  // Room for base64 (4/3) and metadata around an image at the limit.
  EXPECT_GT(config->ingest.max_body_bytes(), (8 << 20) / 3 * 4);
}

TEST(IngestConfig, RefusesWhatCouldNotWork) {
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"IMGORIGIN_API_KEY", ""}}, "api.key"},
      {{{"IMGORIGIN_LOCAL_ROOT", ""}}, "source.local_root"},
      {{{"IMGORIGIN_ORIGINALS", "s3://media/originals/"}}, "s3.enabled"},
      {{{"IMGORIGIN_ORIGINALS", "ftp://media/"}}, "ingest.originals"},
      {{{"IMGORIGIN_S3_ENABLED", "true"},
        {"IMGORIGIN_S3_ALLOWED_BUCKETS", "other"},
        {"IMGORIGIN_ORIGINALS", "s3://media/originals/"}},
       "allowed_buckets"},
      {{{"IMGORIGIN_S3_ENABLED", "true"},
        {"IMGORIGIN_ORIGINALS", "s3://media/originals/"},
        {"IMGORIGIN_ORIGINALS_SSE", "DES"}},
       "ingest.sse"},
      {{{"IMGORIGIN_ORIGINALS_SSE", "AES256"}}, "ingest.sse"},
      {{{"IMGORIGIN_MAX_UPLOAD_BYTES", "0"}}, "max_upload_bytes"},
      {{{"IMGORIGIN_MAX_METADATA_BYTES", "1MiB"}}, "max_metadata_bytes"},
      {{{"IMGORIGIN_UPLOAD_TIMEOUT_MS", "0"}}, "upload_timeout_ms"},
      {{{"IMGORIGIN_RECORDS", ""}}, "ingest.records"},
  };
  for (const auto& [vars, setting] : cases) {
    SCOPED_TRACE(setting);
    auto config = LoadConfig("", Env(Ingest(vars)));
    ASSERT_FALSE(config);
    EXPECT_NE(config.error().message.find(setting), std::string::npos) << config.error().message;
  }
}

TEST(Config, EagerPresetsAreCheckedAtStart) {
  const std::map<std::string, std::string> base = {{"IMGORIGIN_KEY", kKey},
                                                   {"IMGORIGIN_SALT", kSalt},
                                                   {"IMGORIGIN_PRESETS", "small=w:100,big=w:900"},
                                                   {"IMGORIGIN_EAGER", "small, big"}};
  auto config = LoadConfig("", Env(base));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->ingest.eager, (std::vector<std::string>{"small", "big"}));

  auto with = [&](std::map<std::string, std::string> extra) {
    extra.insert(base.begin(), base.end());
    return LoadConfig("", Env(extra));
  };
  auto unknown = with({{"IMGORIGIN_EAGER", "small,huge"}});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find(
                "ingest.eager (IMGORIGIN_EAGER): \"huge\" is not a configured preset"),
            std::string::npos);
  EXPECT_FALSE(with({{"IMGORIGIN_PRESETS", "a/b=w:10"}, {"IMGORIGIN_EAGER", "a/b"}}));
  auto formats = with({{"IMGORIGIN_AUTO_FORMAT", "webp"}, {"IMGORIGIN_EAGER_FORMATS", "avif"}});
  ASSERT_FALSE(formats);
  EXPECT_NE(formats.error().message.find("ingest.eager_formats"), std::string::npos);
  EXPECT_TRUE(with({{"IMGORIGIN_AUTO_FORMAT", "webp"}, {"IMGORIGIN_EAGER_FORMATS", "webp"}}));
  EXPECT_FALSE(
      with({{"IMGORIGIN_VARIANTS_STORE", "s3://Bad_Bucket/x"}, {"IMGORIGIN_S3_ENABLED", "true"}}));
  EXPECT_FALSE(with({{"IMGORIGIN_VARIANTS_STORE", "s3://variants/x"}}));  // s3 is off
  EXPECT_FALSE(with({{"IMGORIGIN_VARIANTS_STORE", "https://example.com/x"}}));
  EXPECT_TRUE(
      with({{"IMGORIGIN_VARIANTS_STORE", "s3://variants/x"}, {"IMGORIGIN_S3_ENABLED", "true"}}));
}

}  // namespace
}  // namespace imgorigin::origin

namespace imgorigin::origin {
namespace {

constexpr char kWebhookSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

TEST(NotificationsConfig, FromEnvironment) {
  auto config = LoadConfig(
      "", Env(Ingest({{"IMGORIGIN_WEBHOOK_URLS", "https://a.example.com/h, http://b.example.com/h"},
                      {"IMGORIGIN_WEBHOOK_SECRETS", kWebhookSecret},
                      {"IMGORIGIN_NOTIFY_EVENTS", "image.ready,job.dead_lettered"},
                      {"IMGORIGIN_WEBHOOK_TIMEOUT_MS", "20000"},
                      {"IMGORIGIN_WEBHOOK_CONNECT_TIMEOUT_MS", "1000"},
                      {"IMGORIGIN_SNS_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:images"},
                      {"IMGORIGIN_EVENTS_PREFIXES", "uploads/,photos/"},
                      {"IMGORIGIN_EVENTS_SUFFIXES", ".jpg"},
                      {"IMGORIGIN_EVENTS_BUCKETS", "shop-media"}})));
  ASSERT_TRUE(config) << config.error().message;
  const auto& n = config->notifications;
  EXPECT_EQ(n.webhook_urls,
            (std::vector<std::string>{"https://a.example.com/h", "http://b.example.com/h"}));
  EXPECT_EQ(n.webhook_secrets, std::vector<std::string>{kWebhookSecret});
  EXPECT_EQ(n.events, (std::vector<ingest::EventType>{ingest::EventType::kImageReady,
                                                      ingest::EventType::kJobDeadLettered}));
  EXPECT_EQ(n.timeout, std::chrono::milliseconds(20000));
  EXPECT_EQ(n.connect_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(n.sns_topic_arn, "arn:aws:sns:eu-west-1:123456789012:images");
  EXPECT_EQ(config->ingest.events.prefixes, (std::vector<std::string>{"uploads/", "photos/"}));
  EXPECT_EQ(config->ingest.events.suffixes, std::vector<std::string>{".jpg"});
  EXPECT_EQ(config->ingest.events.buckets, std::vector<std::string>{"shop-media"});

  auto defaults = LoadConfig("", Env({{"IMGORIGIN_KEY", kKey}, {"IMGORIGIN_SALT", kSalt}}));
  ASSERT_TRUE(defaults);
  EXPECT_FALSE(defaults->notifications.enabled());
  EXPECT_TRUE(defaults->notifications.events.empty());
}

TEST(NotificationsConfig, NestedTablesInTheFile) {
  std::string path = WriteToml(R"(
[ingest.events]
prefixes = ["uploads/"]
suffixes = [".jpg", ".png"]
[notifications]
webhook_urls = ["https://hooks.example.com/imgorigin"]
webhook_secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
events = ["image.failed"]
)");
  auto config = LoadConfig(path, Env(Ingest({})));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->ingest.events.prefixes, std::vector<std::string>{"uploads/"});
  EXPECT_EQ(config->ingest.events.suffixes, (std::vector<std::string>{".jpg", ".png"}));
  EXPECT_EQ(config->notifications.events,
            std::vector<ingest::EventType>{ingest::EventType::kImageFailed});
  unlink(path.c_str());

  path = WriteToml("[ingest.eventz]\nprefixes = [\"a/\"]\n");
  auto unknown = LoadConfig(path, Env(Ingest({})));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("ingest.eventz"), std::string::npos)
      << unknown.error().message;
  unlink(path.c_str());
}

TEST(NotificationsConfig, ErrorsNameTheSetting) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string expect;
  };
  for (const auto& c : std::vector<Case>{
           {{{"IMGORIGIN_NOTIFY_EVENTS", "image.made"}}, "IMGORIGIN_NOTIFY_EVENTS"},
           {{{"IMGORIGIN_WEBHOOK_URLS", "https://a.example.com/"}}, "secret"},
           {{{"IMGORIGIN_WEBHOOK_URLS", "https://a.example.com/"},
             {"IMGORIGIN_WEBHOOK_SECRETS", "whsec_c2hvcnQ="}},
            "24 to 64"},
           {{{"IMGORIGIN_WEBHOOK_URLS", "gopher://a.example.com/"},
             {"IMGORIGIN_WEBHOOK_SECRETS", kWebhookSecret}},
            "http"},
           {{{"IMGORIGIN_SNS_TOPIC_ARN", "images"}}, "ARN"},
           {{{"IMGORIGIN_WEBHOOK_TIMEOUT_MS", "0"}}, "notifications"},
           {{{"IMGORIGIN_EVENTS_BUCKETS", "a/b"}}, "ingest.events"},
       }) {
    auto config = LoadConfig("", Env(Ingest(c.env)));
    ASSERT_FALSE(config) << c.expect;
    EXPECT_NE(config.error().message.find(c.expect), std::string::npos)
        << config.error().message;
  }
  // Events come from ingest: notifications without it would never send anything.
  auto without_ingest =
      LoadConfig("", Env({{"IMGORIGIN_KEY", kKey},
                          {"IMGORIGIN_SALT", kSalt},
                          {"IMGORIGIN_SNS_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:t"}}));
  ASSERT_FALSE(without_ingest);
  EXPECT_NE(without_ingest.error().message.find("ingest.enabled"), std::string::npos);
}

}  // namespace
}  // namespace imgorigin::origin
