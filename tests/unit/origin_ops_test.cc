// Operations pieces without a server: config errors naming key and variable, unknown variables,
// relative paths, secrets masked in the dump; the access log's path redaction; histograms and
// the Prometheus text; the line writer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "common/logging.h"
#include "origin/access_log.h"
#include "origin/config.h"
#include "origin/metrics.h"

namespace imgorigin::origin {
namespace {

constexpr char kKey[] = "736563726574";
constexpr char kSalt[] = "68656c6c6f";

EnvLookup Env(std::map<std::string, std::string> vars) {
  vars.emplace("IMGORIGIN_KEY", kKey);
  vars.emplace("IMGORIGIN_SALT", kSalt);
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// A config file in a fresh directory; returns its path.
std::string WriteToml(const std::string& text) {
  char dir[] = "/tmp/imgorigin-ops-XXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/imgorigin.toml";
  std::ofstream(path) << text;
  return path;
}

std::string ErrorOf(const std::string& path, std::map<std::string, std::string> env = {}) {
  auto config = LoadConfig(path, Env(std::move(env)));
  return config ? "" : config.error().message;
}

TEST(OpsConfig, ErrorsNameFileKeyAndVariable) {
  EXPECT_EQ(ErrorOf("", {{"IMGORIGIN_MAX_SRC_BYTES", "many"}})
                .find("limits.max_src_bytes (IMGORIGIN_MAX_SRC_BYTES): "),
            0u);
  EXPECT_EQ(ErrorOf(WriteToml("[limits]\nmax_src_bytes = \"many\"\n"))
                .find("limits.max_src_bytes (IMGORIGIN_MAX_SRC_BYTES): "),
            0u);
  // Found by Validate() rather than the parser.
  EXPECT_EQ(ErrorOf("", {{"IMGORIGIN_MAX_URL_LENGTH", "10"}})
                .find("url.max_length (IMGORIGIN_MAX_URL_LENGTH): "),
            0u);
  // A module's own check, whose message names its field.
  EXPECT_NE(ErrorOf("", {{"IMGORIGIN_SOURCE_RETRIES", "50"}})
                .find("source.retries (IMGORIGIN_SOURCE_RETRIES)"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("", {{"IMGORIGIN_ACCESS_LOG", "verbose"}}).find("log.access (IMGORIGIN_ACCESS_LOG)"),
      std::string::npos);
  EXPECT_NE(ErrorOf("", {{"IMGORIGIN_ACCESS_LOG_SAMPLE", "1.5"}})
                .find("log.access_sample (IMGORIGIN_ACCESS_LOG_SAMPLE)"),
            std::string::npos);
  EXPECT_NE(ErrorOf("", {{"IMGORIGIN_LOG_LEVEL", "loud"}}).find("log.level (IMGORIGIN_LOG_LEVEL)"),
            std::string::npos);
}

TEST(OpsConfig, ModuleChecksNameTheSettingMeant) {
  for (const auto& [variable, named] : std::vector<std::pair<std::string, std::string>>{
           {"IMGORIGIN_PROCESSING_TIMEOUT_MS", "limits.processing_timeout_ms"},
           {"IMGORIGIN_LEASE_WAIT_MS", "cache.lease_wait_ms"},
           {"IMGORIGIN_SOURCE_CACHE_TTL_S", "source_cache.ttl_s"},
           {"IMGORIGIN_MAX_RESULT_DIMENSION", "limits.max_result_dimension"}}) {
    const std::string value = variable == "IMGORIGIN_LEASE_WAIT_MS" ? "999999" : "-1";
    const std::string error = ErrorOf("", {{variable, value}});
    EXPECT_EQ(error.find(named + " (" + variable + "): "), 0u) << error;
  }
}

TEST(OpsConfig, EmptyCacheControlIsRefused) {
  EXPECT_NE(ErrorOf("", {{"IMGORIGIN_CACHE_CONTROL", ""}}).find("headers.cache_control"),
            std::string::npos);
  EXPECT_NE(ErrorOf(WriteToml("[headers]\ncache_control = \"  \"\n")).find("must not be empty"),
            std::string::npos);
}

TEST(OpsConfig, LogAndMetricsSettings) {
  auto config = LoadConfig(WriteToml("[log]\nlevel = \"warn\"\nformat = \"json\"\naccess = "
                                     "\"combined\"\naccess_sample = 0.25\n[metrics]\nnamespace = "
                                     "\"imgproxy\"\n"),
                           Env({}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->log_level, spdlog::level::warn);
  EXPECT_EQ(config->log_format, common::LogFormat::kJson);
  EXPECT_EQ(config->access_log.mode, AccessLogConfig::Mode::kCombined);
  EXPECT_DOUBLE_EQ(config->access_log.sample, 0.25);
  EXPECT_EQ(config->metrics_namespace, "imgproxy");
  EXPECT_FALSE(LoadConfig("", Env({{"IMGORIGIN_METRICS_NAMESPACE", "9lives"}})));
}

TEST(OpsConfig, RelativePathsInAFileResolveAgainstIt) {
  const std::string path = WriteToml(
      "[source]\nlocal_root = \"images\"\ntemp_dir = \"/abs/tmp\"\n[cache]\ndisk_dir = "
      "\"../cache\"\n[ingest]\nvariants_store = \"s3://bucket/v/\"\n[s3]\nenabled = true\n");
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto config = LoadConfig(path, Env({}));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->local_root, (dir / "images").string());
  EXPECT_EQ(config->fetch.temp_dir, "/abs/tmp");
  EXPECT_EQ(config->disk_cache_dir, (dir.parent_path() / "cache").string());
  EXPECT_EQ(config->ingest.variants_store, "s3://bucket/v/");
  // The environment's stay as given: relative to the working directory.
  auto from_env = LoadConfig(path, Env({{"IMGORIGIN_LOCAL_ROOT", "here"}}));
  ASSERT_TRUE(from_env);
  EXPECT_EQ(from_env->local_root, "here");
}

TEST(OpsConfig, DevConfigPointsAtTheRepositoryFolders) {
  auto config = LoadConfig(std::string(IMGORIGIN_SOURCE_DIR) + "/conf/dev.toml", Env({}));
  ASSERT_TRUE(config) << config.error().message;
  const auto root = std::filesystem::path(IMGORIGIN_SOURCE_DIR);
  EXPECT_EQ(config->local_root, (root / "examples").string());
  EXPECT_EQ(config->ingest.data_dir, (root / "data").string());
}

TEST(OpsConfig, UnknownVariablesAreReported) {
  const auto unknown =
      UnknownSettingVariables({"IMGORIGIN_BIND=1", "IMGORIGIN_BNID=x", "IMGORIGIN_LIBVIPS=npm",
                               "IMGORIGIN_TEST_ALL=1", "PATH=/bin", "IMGORIGIN_ACCESS_LOG"});
  EXPECT_EQ(unknown, std::vector<std::string>{"IMGORIGIN_BNID"});
}

TEST(OpsConfig, DumpShowsEverySettingWithSecretsMasked) {
  auto config =
      LoadConfig("", Env({{"IMGORIGIN_API_KEY", "api-secret"},
                          {"IMGORIGIN_RECORDS", "host=db user=u password=pg-secret dbname=x"},
                          {"IMGORIGIN_JOBS_QUEUE", "redis://:queue-secret@r:6379/1"}}));
  ASSERT_TRUE(config) << config.error().message;
  const std::string dump = DumpConfig(*config);
  for (const char* secret : {"api-secret", "pg-secret", "queue-secret", kKey, kSalt}) {
    EXPECT_EQ(dump.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(dump.find("password=****"), std::string::npos);
  for (const auto& [key, env] : SettingNames()) {
    EXPECT_NE(dump.find("# " + std::string(env)), std::string::npos) << key;
  }
  // Only the budget computed at start has no default in conf/reference.toml.
  size_t computed = 0;
  for (size_t at = dump.find("(computed"); at != std::string::npos;
       at = dump.find("(computed", at + 1)) {
    ++computed;
  }
  EXPECT_EQ(computed, 1u) << dump;
}

TEST(OpsAccessLog, PathsNeverCarryTheSignature) {
  auto logged = [](std::string_view target, Route route) {
    std::string out;
    AppendLoggedPath(out, target, static_cast<uint8_t>(route));
    return out;
  };
  EXPECT_EQ(logged("/SIG/rs:fit:10:10/plain/local:///a.jpg", Route::kImage),
            "/rs:fit:10:10/plain/local:///a.jpg");
  EXPECT_EQ(logged("/SIG", Route::kImage), "/");
  EXPECT_EQ(logged("/info/SIG/plain/local:///a.jpg?x=1", Route::kInfo),
            "/info/plain/local:///a.jpg?x=1");
  EXPECT_EQ(logged("/api/v1/img/a.webp?width=5&s=SIG&q", Route::kDialect),
            "/api/v1/img/a.webp?width=5&s=-&q");
  EXPECT_EQ(logged("/v1/uploads/1/object?expires=9&signature=SIG", Route::kUploads),
            "/v1/uploads/1/object?expires=9&signature=-");
  EXPECT_EQ(logged("/health", Route::kHealth), "/health");
}

TEST(OpsMetrics, HistogramBucketsAreCumulative) {
  Histogram histogram;
  histogram.Record(0.0005);
  histogram.Record(0.02);
  histogram.Record(30);
  std::string out;
  PromWriter writer(out);
  histogram.Write(writer, "h", "{tier=\"x\"}");
  EXPECT_NE(out.find("h_bucket{tier=\"x\",le=\"0.001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("h_bucket{tier=\"x\",le=\"0.01\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("h_bucket{tier=\"x\",le=\"0.025\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("h_bucket{tier=\"x\",le=\"10\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("h_bucket{tier=\"x\",le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("h_count{tier=\"x\"} 3\n"), std::string::npos) << out;
  EXPECT_EQ(histogram.count(), 3u);
}

TEST(OpsMetrics, RepliesCountByRouteClassAndFormat) {
  RequestMetrics metrics;
  metrics.CountReply(Route::kImage, 200, FormatOfContentType("image/avif"), 0.01);
  metrics.CountReply(Route::kImage, 200, FormatOfContentType("image/avif"), 0.01);
  metrics.CountReply(Route::kImage, 503, FormatOfContentType("text/plain"), 0.01);
  std::string out;
  PromWriter writer(out);
  metrics.Write(writer, "ns");
  EXPECT_NE(out.find("ns_requests_total{route=\"image\",status_class=\"2xx\",format=\"avif\"} 2\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("ns_requests_total{route=\"image\",status_class=\"5xx\",format=\"none\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("ns_status_codes_total{status=\"503\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("ns_request_duration_seconds_count{route=\"image\"} 3\n"), std::string::npos);
}

TEST(OpsLineWriter, WritesEveryLineFromEveryThreadAndDropsOverTheCap) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    common::LineWriter writer(
        {.fd = fds[1], .interval = std::chrono::milliseconds(10), .max_buffered = 1 << 20});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < 500; ++i) writer.Write("t" + std::to_string(t) + "\n");
      });
    }
    for (auto& thread : threads) thread.join();
  }  // flushes
  close(fds[1]);
  std::string all;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) all.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 2000);

  common::LineWriter small({.fd = -1, .interval = std::chrono::hours(1), .max_buffered = 10});
  small.Write("12345\n");
  small.Write("67890\n");
  EXPECT_EQ(small.dropped(), 1u);
}

}  // namespace
}  // namespace imgorigin::origin
