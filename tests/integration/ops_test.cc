// Operating imgorigin: the access log (fields, no signature, sampling), /metrics after requests
// (counts and histogram buckets move), `healthcheck` against a server up and down, `config
// check` / `config dump`, `sign --base-url` and `--version`, all through the real binary.
#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "tests/integration/harness.h"

namespace imgorigin::testing {
namespace {

const std::string kExamples = std::string(IMGORIGIN_SOURCE_DIR) + "/examples";

std::map<std::string, std::string> BaseEnv(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env = {{"IMGORIGIN_KEY", kKeyHex},
                                            {"IMGORIGIN_SALT", kSaltHex},
                                            {"IMGORIGIN_BIND", "127.0.0.1:0"},
                                            {"IMGORIGIN_LOCAL_ROOT", kExamples},
                                            {"IMGORIGIN_LOOPS", "2"}};
  for (auto& [name, value] : extra) env[name] = value;
  return env;
}

// The lines after the "listening on" line.
std::vector<std::string> LogLines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.find("listening on") == std::string::npos) lines.push_back(line);
  }
  return lines;
}

TEST(AccessLog, JsonLinesHaveTheFieldsAndNoSignature) {
  OriginProcess origin(BaseEnv({{"IMGORIGIN_ACCESS_LOG", "json"}}));
  ASSERT_TRUE(origin.started()) << origin.output();
  const std::string path = "/rs:fit:120:120/plain/local:///sample.jpg@webp";
  const std::string url = Signed(path);
  const std::string signature = url.substr(1, url.find('/', 1) - 1);
  ASSERT_EQ(origin.Get(url, {"X-Request-Id: first-1"}).status, 200);
  ASSERT_EQ(origin.Get(url, {"X-Request-Id: second-2"}).status, 200);
  ASSERT_EQ(origin.Get(Signed("/plain/local:///missing.jpg")).status, 404);
  ASSERT_EQ(origin.Get("/api/v1/img/x.webp?width=5&s=secret-sig").status / 100, 4);
  ASSERT_EQ(origin.Stop(), 0);
  const auto lines = LogLines(origin.DrainOutput());
  ASSERT_EQ(lines.size(), 4u) << origin.output();
  EXPECT_EQ(origin.output().find(signature), std::string::npos) << origin.output();
  EXPECT_EQ(origin.output().find("secret-sig"), std::string::npos) << origin.output();

  std::map<std::string, nlohmann::json> by_id;
  for (const auto& line : lines) {
    auto json = nlohmann::json::parse(line);
    by_id[json["request_id"].get<std::string>()] = json;
  }
  const auto& miss = by_id.at("first-1");
  EXPECT_EQ(miss["method"], "GET");
  EXPECT_EQ(miss["path"], path);
  EXPECT_EQ(miss["status"], 200);
  EXPECT_GT(miss["bytes"].get<int64_t>(), 100);
  EXPECT_EQ(miss["content_type"], "image/webp");
  EXPECT_EQ(miss["x_cache"], "MISS");
  EXPECT_GE(miss["fetch_ms"].get<double>(), 0);
  EXPECT_GT(miss["transform_ms"].get<double>(), 0);
  EXPECT_GE(miss["total_ms"].get<double>(), miss["transform_ms"].get<double>());
  EXPECT_EQ(miss["client"], "127.0.0.1");
  EXPECT_TRUE(miss["time"].get<std::string>().ends_with("Z"));
  const auto& hit = by_id.at("second-2");
  EXPECT_EQ(hit["x_cache"], "HIT-MEMORY");
  EXPECT_TRUE(hit["fetch_ms"].is_null());
  EXPECT_EQ(hit["bytes"], miss["bytes"]);
  bool saw_404 = false;
  for (const auto& [id, json] : by_id) {
    if (json["status"] == 404 && json["path"].get<std::string>().starts_with("/plain/")) {
      saw_404 = true;
      EXPECT_EQ(json["path"], "/plain/local:///missing.jpg");
    }
    if (json["path"].get<std::string>().starts_with("/api/v1/img/")) {
      EXPECT_EQ(json["path"], "/api/v1/img/x.webp?width=5&s=-");
    }
  }
  EXPECT_TRUE(saw_404);
}

TEST(AccessLog, CombinedFormatAndSampling) {
  {
    OriginProcess origin(BaseEnv({{"IMGORIGIN_ACCESS_LOG", "combined"}}));
    ASSERT_TRUE(origin.started()) << origin.output();
    ASSERT_EQ(origin.Get("/health", {"User-Agent: probe/1", "X-Request-Id: h-1"}).status, 200);
    ASSERT_EQ(origin.Stop(), 0);
    const auto lines = LogLines(origin.DrainOutput());
    ASSERT_EQ(lines.size(), 1u) << origin.output();
    EXPECT_TRUE(lines[0].starts_with("127.0.0.1 - - [")) << lines[0];
    EXPECT_NE(
        lines[0].find("] \"GET /health HTTP/1.1\" 200 3 \"-\" \"probe/1\" request_id=\"h-1\""),
        std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find("fetch_ms=- transform_ms=- total_ms="), std::string::npos) << lines[0];
  }
  // 100 short lines stay well within a pipe's buffer, which the test reads only at the end.
  for (const auto& [sample, low, high] :
       {std::tuple{"0", 0, 0}, std::tuple{"0.5", 20, 80}, std::tuple{"1", 100, 100}}) {
    OriginProcess origin(
        BaseEnv({{"IMGORIGIN_ACCESS_LOG", "json"}, {"IMGORIGIN_ACCESS_LOG_SAMPLE", sample}}));
    ASSERT_TRUE(origin.started()) << origin.output();
    for (int i = 0; i < 100; ++i) ASSERT_EQ(origin.Get("/health").status, 200);
    ASSERT_EQ(origin.Stop(), 0);
    const int logged = static_cast<int>(LogLines(origin.DrainOutput()).size());
    EXPECT_GE(logged, low) << "sample " << sample;
    EXPECT_LE(logged, high) << "sample " << sample;
  }
}

TEST(AppLog, JsonFormatAndLevel) {
  OriginProcess first(BaseEnv());
  ASSERT_TRUE(first.started()) << first.output();
  // A second server on the same port logs its start, then fails to bind: both through spdlog.
  const std::string bind = "127.0.0.1:" + std::to_string(first.port());
  std::string out;
  EXPECT_NE(RunBinary({"serve"},
                      BaseEnv({{"IMGORIGIN_BIND", bind}, {"IMGORIGIN_LOG_FORMAT", "json"}}), &out),
            0);
  const auto lines = LogLines(out);
  ASSERT_GE(lines.size(), 2u) << out;
  bool saw_info = false;
  for (const auto& line : lines) {
    const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(json.is_object()) << line;
    EXPECT_TRUE(json.contains("time") && json.contains("msg")) << line;
    saw_info = saw_info || json["level"] == "info";
  }
  EXPECT_TRUE(saw_info) << out;
  out.clear();
  EXPECT_NE(RunBinary({"serve"},
                      BaseEnv({{"IMGORIGIN_BIND", bind}, {"IMGORIGIN_LOG_LEVEL", "error"}}), &out),
            0);
  EXPECT_EQ(out.find("[info]"), std::string::npos) << out;
  EXPECT_NE(out.find("[error]"), std::string::npos) << out;
}

TEST(Metrics, CountsAndHistogramsMoveWithRequests) {
  OriginProcess origin(BaseEnv());
  ASSERT_TRUE(origin.started()) << origin.output();
  const std::string before = origin.Get("/metrics").body;
  const std::string ok = R"(requests_total{route="image",status_class="2xx",format="jpeg"})";
  const std::string inf = R"(request_duration_seconds_bucket{route="image",le="+Inf"})";
  EXPECT_EQ(Metric(before, ok), -1);
  EXPECT_EQ(Metric(before, "download_duration_seconds_count"), 0);
  const std::string url = Signed("/rs:fit:90:90/plain/local:///sample.jpg@jpg");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(origin.Get(url).status, 200);
  ASSERT_EQ(origin.Get(Signed("/w:abc/plain/local:///sample.jpg")).status, 400);
  const std::string after = origin.Get("/metrics").body;
  EXPECT_EQ(Metric(after, ok), 3) << after;
  EXPECT_EQ(Metric(after, R"(requests_total{route="image",status_class="4xx",format="none"})"), 1);
  EXPECT_EQ(Metric(after, R"(status_codes_total{status="200"})"), 3 + 1);  // + the first scrape
  EXPECT_EQ(Metric(after, inf), 4);
  EXPECT_EQ(Metric(after, R"(request_duration_seconds_count{route="image"})"), 4);
  EXPECT_GT(Metric(after, R"(request_duration_seconds_sum{route="image"})"), 0);
  EXPECT_EQ(Metric(after, "download_duration_seconds_count"), 1);
  EXPECT_EQ(Metric(after, "processing_duration_seconds_count"), 1);
  EXPECT_EQ(Metric(after, R"(processing_duration_seconds_bucket{le="+Inf"})"), 1);
  EXPECT_EQ(Metric(after, R"(processing_duration_seconds_bucket{le="0.001"})"), 0);
  EXPECT_EQ(Metric(after, R"(imgorigin_cache_lookup_duration_seconds_count{tier="memory"})"), 3);
  EXPECT_EQ(Metric(after, R"(imgorigin_cache_lookup_duration_seconds_count{tier="miss"})"), 1);
  EXPECT_EQ(Metric(after, "imgorigin_encode_duration_seconds_count"), 1);
  EXPECT_GT(Metric(after, "imgorigin_encode_duration_seconds_sum"), 0);
  EXPECT_LE(Metric(after, "imgorigin_encode_duration_seconds_sum"),
            Metric(after, "processing_duration_seconds_sum"));
  EXPECT_EQ(Metric(after, "requests_in_progress"), 1);  // this scrape
  EXPECT_EQ(Metric(after, "images_in_progress"), 0);
  EXPECT_EQ(Metric(after, R"(imgorigin_queue_depth{pool="cpu"})"), 0);
  EXPECT_GT(Metric(after, "vips_max_memory_bytes"), 0);
  EXPECT_GE(Metric(after, "vips_allocs"), 0);
  EXPECT_NE(after.find("imgorigin_build_info{version=\""), std::string::npos);
  EXPECT_EQ(Metric(after, "imgorigin_renders_total"), 1);  // names that were there stay
}

TEST(Metrics, NamespacePrefixesImgproxyNames) {
  OriginProcess origin(BaseEnv({{"IMGORIGIN_METRICS_NAMESPACE", "imgproxy"}}));
  ASSERT_TRUE(origin.started()) << origin.output();
  ASSERT_EQ(origin.Get("/health").status, 200);
  const std::string body = origin.Get("/metrics").body;
  EXPECT_EQ(
      Metric(body, R"(imgproxy_requests_total{route="health",status_class="2xx",format="none"})"),
      1);
  EXPECT_GE(Metric(body, "imgproxy_vips_memory_bytes"), 0);
  EXPECT_EQ(body.find("\nrequests_total"), std::string::npos);
}

// Every metric deploy/grafana/imgorigin-dashboard.json queries is one /metrics has (with ingest
// on, for the job queue's).
TEST(Metrics, TheGrafanaDashboardQueriesExistingMetrics) {
  std::ifstream file(std::string(IMGORIGIN_SOURCE_DIR) +
                     "/deploy/grafana/imgorigin-dashboard.json");
  ASSERT_TRUE(file);
  const auto dashboard = nlohmann::json::parse(file);
  std::set<std::string> names;
  const std::regex metric(R"(\$\{ns\}([a-z_]+)|\b(imgorigin_[a-z_]+))");
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.at("targets")) {
      const std::string expr = target.at("expr");
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        names.insert((*it)[1].matched ? (*it)[1].str() : (*it)[2].str());
      }
    }
  }
  ASSERT_GT(names.size(), 10u);
  const std::string root = MakeTempDir();
  OriginProcess origin(BaseEnv({{"IMGORIGIN_LOCAL_ROOT", root},
                                {"IMGORIGIN_INGEST_ENABLED", "true"},
                                {"IMGORIGIN_API_KEY", "ops-test-key"},
                                {"IMGORIGIN_DATA_DIR", root + "/data"},
                                {"IMGORIGIN_JOBS_POLL_WAIT_MS", "100"}}));
  ASSERT_TRUE(origin.started()) << origin.output();
  const std::string body = origin.Get("/metrics").body;
  for (std::string name : names) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(suffix)) name.resize(name.size() - strlen(suffix));
    }
    EXPECT_NE(body.find("# TYPE " + name + " "), std::string::npos) << name;
  }
}

struct ThreadInfo {
  std::string name;
  int policy = -1;
};

// Each thread of `pid`: its name and scheduling policy (/proc/PID/task/TID/stat: the name in
// parentheses, the policy in field 41).
std::map<pid_t, ThreadInfo> Threads(pid_t pid) {
  std::map<pid_t, ThreadInfo> threads;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t name_start = stat.find('(');
    const size_t name_end = stat.rfind(')');  // the name may hold spaces and parentheses
    if (name_start == std::string::npos || name_end == std::string::npos) continue;
    ThreadInfo& info = threads[std::stoi(task.path().filename())];
    info.name = stat.substr(name_start + 1, name_end - name_start - 1);
    std::istringstream fields(stat.substr(name_end + 2));  // field 3 on
    std::string field;
    for (int i = 3; i <= 41 && fields >> field; ++i) {
      if (i == 41) info.policy = std::stoi(field);
    }
  }
  return threads;
}

// Policy → count, over the threads named `name` ("" = every thread).
std::map<int, int> Policies(const std::map<pid_t, ThreadInfo>& threads, std::string_view name) {
  std::map<int, int> policies;
  for (const auto& [tid, info] : threads) {
    if (name.empty() || info.name == name) ++policies[info.policy];
  }
  return policies;
}

// Hits keep their latency under a render storm because the render threads run in the idle class
// (and the libvips threads they start: common_thread_priority_test) and the event loops do not;
// server.render_idle = false keeps every thread in the normal class. The threads carry names an
// operator sees in `top -H`.
TEST(CpuPriority, RendersRunInTheIdleClassAndTheLoopsDoNot) {
  const std::string url = Signed("/rs:fit:90:90/plain/local:///sample.jpg@jpg");
  {
    OriginProcess origin(BaseEnv({{"IMGORIGIN_WORKERS", "3"}}));
    ASSERT_TRUE(origin.started()) << origin.output();
    ASSERT_EQ(origin.Get(url).status, 200);
    const auto threads = Threads(origin.pid());
    EXPECT_EQ(threads.at(origin.pid()).policy, SCHED_OTHER);  // the main thread
    EXPECT_EQ(Policies(threads, "render"), (std::map<int, int>{{SCHED_IDLE, 3}}));
    EXPECT_EQ(Policies(threads, "loop"), (std::map<int, int>{{SCHED_OTHER, 2}}));
    EXPECT_EQ(Policies(threads, "io").count(SCHED_IDLE), 0u);
  }
  OriginProcess origin(BaseEnv({{"IMGORIGIN_WORKERS", "3"}, {"IMGORIGIN_RENDER_IDLE", "false"}}));
  ASSERT_TRUE(origin.started()) << origin.output();
  ASSERT_EQ(origin.Get(url).status, 200);
  const auto threads = Threads(origin.pid());
  EXPECT_EQ(Policies(threads, "render"), (std::map<int, int>{{SCHED_OTHER, 3}}));
  EXPECT_EQ(Policies(threads, "").count(SCHED_IDLE), 0u);
}

TEST(Cli, HealthcheckExitsZeroWhenUpAndOneWhenDown) {
  OriginProcess origin(BaseEnv());
  ASSERT_TRUE(origin.started()) << origin.output();
  const std::string port = std::to_string(origin.port());
  std::string out;
  EXPECT_EQ(RunBinary({"healthcheck", "--url", "http://127.0.0.1:" + port + "/health"}, {}, &out),
            0)
      << out;
  // The default URL comes from server.bind.
  EXPECT_EQ(RunBinary({"healthcheck"}, BaseEnv({{"IMGORIGIN_BIND", "0.0.0.0:" + port}}), &out), 0)
      << out;
  EXPECT_EQ(
      RunBinary({"healthcheck", "--url", "http://127.0.0.1:" + port + "/metrics-nope"}, {}, &out),
      1);
  ASSERT_EQ(origin.Stop(), 0);
  out.clear();
  EXPECT_EQ(RunBinary({"healthcheck", "--url", "http://127.0.0.1:" + port + "/health",
                       "--timeout-ms", "500"},
                      {}, &out),
            1);
  EXPECT_NE(out.find("127.0.0.1:" + port), std::string::npos) << out;
}

TEST(Cli, ConfigCheckNamesKeyAndVariable) {
  std::string out;
  EXPECT_EQ(RunBinary({"config", "check"}, BaseEnv({{"IMGORIGIN_MAX_SRC_BYTES", "lots"}}), &out),
            2);
  EXPECT_NE(out.find("limits.max_src_bytes (IMGORIGIN_MAX_SRC_BYTES)"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunBinary({"config", "check"}, BaseEnv({{"IMGORIGIN_CACHE_CONTROL", ""}}), &out), 2);
  EXPECT_NE(out.find("headers.cache_control (IMGORIGIN_CACHE_CONTROL)"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunBinary({"config", "check"}, BaseEnv({{"IMGORIGIN_MAX_SRC_BYTE", "1MiB"}}), &out), 2);
  EXPECT_NE(out.find("IMGORIGIN_MAX_SRC_BYTE is not a setting"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunBinary({"config", "check"}, BaseEnv(), &out), 0) << out;
  EXPECT_NE(out.find("configuration OK"), std::string::npos) << out;
}

TEST(Cli, UnknownVariableIsAWarningWhenServing) {
  OriginProcess origin(BaseEnv({{"IMGORIGIN_LOCAL_RUTE", "/x"}}));
  ASSERT_TRUE(origin.started()) << origin.output();
  // The warning, seen from a second server that then fails to bind the same port.
  std::string out;
  EXPECT_NE(RunBinary({"serve"},
                      BaseEnv({{"IMGORIGIN_LOCAL_RUTE", "/x"},
                               {"IMGORIGIN_BIND", "127.0.0.1:" + std::to_string(origin.port())}}),
                      &out),
            0);
  EXPECT_NE(out.find("IMGORIGIN_LOCAL_RUTE is not a setting"), std::string::npos) << out;
}

TEST(Cli, ConfigDumpMasksSecrets) {
  std::string out;
  const int status =
      RunBinary({"config", "dump"},
                BaseEnv({{"IMGORIGIN_API_KEY", "top-secret-api-key"},
                         {"IMGORIGIN_REDIS_URL", "redis://:redis-password@127.0.0.1:6379/0"}}),
                &out);
  ASSERT_EQ(status, 0) << out;
  for (const char* secret : {"top-secret-api-key", "redis-password", kKeyHex, kSaltHex}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(out.find("key = \"****\"  # IMGORIGIN_API_KEY, from IMGORIGIN_API_KEY"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("redis_url = \"redis://:****@127.0.0.1:6379/0\""), std::string::npos) << out;
  EXPECT_NE(out.find("max_src_bytes = \"50MiB\"  # IMGORIGIN_MAX_SRC_BYTES, default"),
            std::string::npos)
      << out;
}

TEST(Cli, SignChecksOptionsAndPrintsFullUrls) {
  std::string out;
  const auto env = BaseEnv();
  EXPECT_EQ(RunBinary({"sign", "--base-url", "https://img.example.com/",
                       "/rs:fill:300:200/plain/local:///sample.jpg@webp"},
                      env, &out),
            0);
  EXPECT_EQ(out, "https://img.example.com" +
                     Signed("/rs:fill:300:200/plain/local:///sample.jpg@webp") + "\n");
  out.clear();
  EXPECT_EQ(RunBinary({"sign", "/rs:fill:wide/plain/local:///sample.jpg"}, env, &out), 2);
  EXPECT_NE(out.find("resize"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunBinary({"--version"}, {}, &out), 0);
  EXPECT_TRUE(out.starts_with("imgorigin ")) << out;
  EXPECT_NE(out.find("libvips "), std::string::npos) << out;
}

}  // namespace
}  // namespace imgorigin::testing
