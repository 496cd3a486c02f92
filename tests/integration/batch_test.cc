// `imgorigin batch` end to end with the binary: directory to directory over mixed images with bad
// ones among them (failures file, --retry-failed redoing exactly those), a run SIGKILLed mid-way
// and resumed (nothing finished redone, nothing missed), shards that partition the listing,
// --resume over a finished batch doing nothing, S3 to S3 through the SigV4-checking stand-in
// with a page size that makes the listing paginate, a DeepZoom set, a 20 000 × 20 000 tiled TIFF,
// and --enqueue with `imgorigin worker` doing the work.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "storage/s3_client.h"
#include "tests/integration/harness.h"
#include "tests/integration/ingest_fixtures.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing {
namespace {

namespace fs = std::filesystem;
using ingest_fixtures::Flat;
using json = nlohmann::json;

std::string Encode(const vips::VImage& image, const char* suffix) {
  void* data = nullptr;
  size_t size = 0;
  image.write_to_buffer(suffix, &data, &size);
  std::string out(static_cast<char*>(data), size);
  g_free(data);
  return out;
}

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The JSON lines of a run's stdout: per image, then {"summary": …}.
struct BatchRun {
  int status = -1;
  std::map<std::string, json> items;  // by key
  json summary;
  std::string output;
  std::string errors;

  std::set<std::string> With(const std::string& status_name) const {
    std::set<std::string> keys;
    for (const auto& [key, line] : items) {
      if (line["status"] == status_name) keys.insert(key);
    }
    return keys;
  }
};

BatchRun Parse(int status, const std::string& out, const std::string& err) {
  BatchRun run{status, {}, json(), out, err};
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const json parsed = json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.contains("summary")) run.summary = parsed["summary"];
    if (parsed.is_object() && parsed.contains("key")) run.items[parsed["key"]] = parsed;
  }
  return run;
}

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vips_init("batch_test");
    work_ = MakeTempDir();
    src_ = work_ + "/src";
    dst_ = work_ + "/dst";
  }

  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) const {
    // No signing keys: batch signs nothing and needs none.
    std::map<std::string, std::string> env = {{"IMGORIGIN_PRESETS", "thumb=rs:fit:64:64,card=rs:fill:120:80/f:png"}};
    for (auto& [k, v] : extra) env[k] = v;
    return env;
  }

  BatchRun Batch(std::vector<std::string> args, std::map<std::string, std::string> env = {},
            std::chrono::seconds limit = std::chrono::seconds(90)) const {
    args.insert(args.begin(), "batch");
    args.insert(args.end(), {"--progress", "json", "--failures", work_ + "/failures.jsonl"});
    std::string out, err;
    const int status = RunBinary(args, Env(env), &out, limit, &err);
    return Parse(status, out, err);
  }

  // `count` good images in a few folders, JPEG, PNG with alpha and WebP, of varied sizes.
  std::set<std::string> Images(int count, int size = 200) const {
    std::set<std::string> names;
    for (int i = 0; i < count; ++i) {
      const std::string folder = i % 3 == 0 ? "" : (i % 3 == 1 ? "2024/" : "2024/deep/");
      const auto image = Flat(size + i * 7, size * 3 / 4 + i * 5, i * 5 % 256, 100, 200);
      std::string name = folder + "img" + std::to_string(i);
      if (i % 7 == 3) {
        name += ".png";
        Write(src_ + "/" + name, Encode(image.bandjoin(255), ".png"));
      } else if (i % 11 == 5) {
        name += ".webp";
        Write(src_ + "/" + name, Encode(image, ".webp"));
      } else {
        name += ".jpg";
        Write(src_ + "/" + name, Encode(image, ".jpg"));
      }
      names.insert(name);
    }
    return names;
  }

  std::set<std::string> Failures() const {
    std::set<std::string> keys;
    std::ifstream in(work_ + "/failures.jsonl");
    for (std::string line; std::getline(in, line);) keys.insert(json::parse(line)["key"]);
    return keys;
  }

  std::string work_, src_, dst_;
};

TEST_F(BatchTest, DirectoryToDirectoryReportsBadImagesAndRetryFailedRedoesExactlyThose) {
  std::set<std::string> good = Images(47);
  const std::string truncated = Encode(Flat(300, 200, 9, 9, 9), ".jpg").substr(0, 400);
  Write(src_ + "/bad/truncated.jpg", truncated);
  Write(src_ + "/bad/notes.jpg", "these are not pixels");
  Write(src_ + "/bad/bomb.png", ingest_fixtures::BombPng());
  Write(src_ + "/.hidden.jpg", Encode(Flat(10, 10, 0, 0, 0), ".jpg"));  // not an item
  const std::set<std::string> bad = {"bad/truncated.jpg", "bad/notes.jpg", "bad/bomb.png"};

  BatchRun run = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:100:100/f:webp", "--jobs", "2",
                   "--include", "*.jpg", "--include", "*.png", "--include", "*.webp"},
                  {{"IMGORIGIN_BATCH_MAX_SRC_PIXELS", "100000000"}});
  EXPECT_EQ(run.status, 1) << run.errors;  // something failed
  EXPECT_EQ(run.items.size(), good.size() + bad.size()) << run.output;
  EXPECT_EQ(run.With("rendered"), good);
  EXPECT_EQ(run.With("failed"), bad);
  EXPECT_EQ(Failures(), bad);
  EXPECT_EQ(run.summary["rendered"], good.size());
  EXPECT_EQ(run.summary["failed"], bad.size());
  EXPECT_GT(run.summary["cpu_s"].get<double>(), 0);
  EXPECT_TRUE(run.summary["cost"].contains("usd"));
  EXPECT_NE(run.errors.find("\"progress\""), std::string::npos) << "JSON progress lines on stderr";
  for (const auto& name : good) {
    const std::string out = name.substr(0, name.rfind('.')) + ".webp";
    const auto image = Decode(Read(dst_ + "/" + out));
    EXPECT_LE(std::max(image.width(), image.height()), 100) << out;
    EXPECT_EQ(LoaderOf(Read(dst_ + "/" + out)), "webpload") << out;
    const json& line = run.items[name];
    EXPECT_GT(line["bytes_read"].get<int64_t>(), 0);
    EXPECT_GT(line["bytes_written"].get<int64_t>(), 0);
    EXPECT_TRUE(line.contains("cpu_s") && line.contains("usd")) << line;
  }
  EXPECT_FALSE(fs::exists(dst_ + "/.hidden.webp"));

  // Fix one bad image; --retry-failed takes exactly the failures, and the failures file is now
  // the two still bad.
  Write(src_ + "/bad/notes.jpg", Encode(Flat(150, 150, 1, 2, 3), ".jpg"));
  BatchRun retry = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:100:100/f:webp",
                     "--retry-failed", work_ + "/failures.jsonl", "--resume"});
  EXPECT_EQ(retry.status, 1);
  EXPECT_EQ(retry.items.size(), 3u) << retry.output;
  EXPECT_EQ(retry.With("rendered"), std::set<std::string>{"bad/notes.jpg"});
  EXPECT_EQ(Failures(), (std::set<std::string>{"bad/truncated.jpg", "bad/bomb.png"}));
  EXPECT_TRUE(fs::exists(dst_ + "/bad/notes.webp"));

  // Over a finished batch --resume renders nothing; the default keeps what exists; a changed
  // source or options are made again.
  const auto before = fs::last_write_time(dst_ + "/img0.webp");
  BatchRun again = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:100:100/f:webp", "--resume",
                     "--include", "img*"});
  EXPECT_EQ(again.status, 0) << again.errors;
  EXPECT_EQ(again.With("current").size(), good.size());
  EXPECT_EQ(again.summary["rendered"], 0);
  EXPECT_EQ(fs::last_write_time(dst_ + "/img0.webp"), before);
  Write(src_ + "/img0.jpg", Encode(Flat(90, 60, 0, 0, 0), ".jpg"));
  BatchRun changed = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:100:100/f:webp",
                       "--resume", "--include", "img*"});
  EXPECT_EQ(changed.With("rendered"), std::set<std::string>{"img0.jpg"});
  EXPECT_EQ(Decode(Read(dst_ + "/img0.webp")).width(), 90);
  BatchRun kept = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:50:50/f:webp", "--include", "img*"});
  EXPECT_EQ(kept.With("kept").size(), good.size()) << "the default never replaces an output";
  BatchRun options_changed = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:50:50/f:webp",
                               "--resume", "--include", "img*"});
  EXPECT_EQ(options_changed.With("rendered").size(), good.size());
}

TEST_F(BatchTest, PresetsGoToTheirOwnFoldersAndDryRunWritesNothing) {
  Images(6);
  BatchRun dry = Batch({"--from", src_, "--to", dst_, "--preset", "thumb", "--preset", "card", "--dry-run"});
  EXPECT_EQ(dry.status, 0) << dry.errors;
  EXPECT_EQ(dry.With("would-render").size(), 6u);
  EXPECT_FALSE(fs::exists(dst_ + "/thumb"));
  BatchRun run = Batch({"--from", src_, "--to", dst_, "--preset", "thumb", "--preset", "card"});
  ASSERT_EQ(run.status, 0) << run.errors;
  EXPECT_EQ(run.summary["outputs"], 12);
  // The source's format where the preset names none; card names PNG.
  EXPECT_EQ(LoaderOf(Read(dst_ + "/thumb/img0.jpg")), "jpegload");
  EXPECT_EQ(LoaderOf(Read(dst_ + "/thumb/2024/img1.jpg")), "jpegload");
  const auto card = Decode(Read(dst_ + "/card/2024/img1.png"));
  EXPECT_EQ(card.width(), 120);
  EXPECT_EQ(card.height(), 80);
  BatchRun unknown = Batch({"--from", src_, "--to", dst_, "--preset", "nope"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.errors.find("no preset \"nope\""), std::string::npos) << unknown.errors;
  BatchRun bad_options = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:-5"});
  EXPECT_EQ(bad_options.status, 2);
  BatchRun both = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:10", "--resume", "--overwrite"});
  EXPECT_EQ(both.status, 2);
}

TEST_F(BatchTest, AKilledRunResumedRedoesNothingFinishedAndMissesNothing) {
  const std::set<std::string> names = Images(30, 1400);
  int fd = -1;
  const pid_t pid = SpawnBinary({"batch", "--from", src_, "--to", dst_, "--options", "rs:fit:900:900",
                                 "--jobs", "1", "--progress", "json", "--failures",
                                 work_ + "/failures.jsonl"},
                                Env(), &fd, false);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto count = [&] { return std::count(out.begin(), out.end(), '\n'); };
  while (count() < 8 && std::chrono::steady_clock::now() < deadline) {
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(fd);
  const BatchRun first = Parse(-1, out, "");
  ASSERT_GE(first.With("rendered").size(), 8u) << out;
  ASSERT_LT(first.With("rendered").size(), names.size()) << "finished before it was killed";

  BatchRun resumed = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:900:900", "--resume"});
  ASSERT_EQ(resumed.status, 0) << resumed.errors;
  EXPECT_EQ(resumed.items.size(), names.size());
  for (const auto& key : first.With("rendered")) {
    EXPECT_EQ(resumed.items[key]["status"], "current") << key << " was finished before the kill";
  }
  EXPECT_EQ(resumed.With("current").size() + resumed.With("rendered").size(), names.size());
  for (const auto& name : names) {
    EXPECT_LE(Decode(Read(dst_ + "/" + name)).width(), 900) << name;  // same format, same name
  }
  // The killed run's staging directory is cleaned up by the next run.
  size_t staged = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dst_ + "/.imgorigin-batch")) {
    staged += entry.is_regular_file();
  }
  EXPECT_EQ(staged, 0u);
}

TEST_F(BatchTest, ShardsTogetherCoverEveryKeyExactlyOnce) {
  const std::set<std::string> names = Images(30, 40);
  std::multiset<std::string> seen;
  const std::vector<std::map<std::string, std::string>> runners = {
      {{"JOB_COMPLETION_INDEX", "0"}, {"JOB_COMPLETIONS", "3"}},               // Kubernetes
      {{"AWS_BATCH_JOB_ARRAY_INDEX", "1"}},                                    // AWS Batch
      {}};
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> args = {"--from", src_, "--to", dst_, "--options", "rs:fit:20"};
    if (i == 1) args.insert(args.end(), {"--shards", "3"});  // the array size
    if (i == 2) args.insert(args.end(), {"--shard", "2/3"});
    BatchRun run = Batch(args, runners[i]);
    ASSERT_EQ(run.status, 0) << run.errors;
    EXPECT_GT(run.items.size(), 3u) << "shard " << i << " is far from a third";
    for (const auto& [key, line] : run.items) seen.insert(key);
  }
  EXPECT_EQ(seen.size(), names.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), names);
  BatchRun bad = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:20", "--shard", "3/3"});
  EXPECT_EQ(bad.status, 2);
  BatchRun no_count = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:20"},
                            {{"AWS_BATCH_JOB_ARRAY_INDEX", "1"}});
  EXPECT_EQ(no_count.status, 2) << "an index without a count would take every key";
  EXPECT_NE(no_count.errors.find("--shards"), std::string::npos) << no_count.errors;
}

TEST_F(BatchTest, AHugeTiledTiffIsProcessed) {
  // 20 000 × 20 000 (400 Mpx, 1.2 GB of pixels), tiled and JPEG-compressed: a few MB on disk.
  const auto image = (vips::VImage::xyz(20000, 20000)[0] * (250.0 / 20000)).cast(VIPS_FORMAT_UCHAR);
  fs::create_directories(src_);
  image.tiffsave((src_ + "/huge.tif").c_str(), vips::VImage::option()
                                                   ->set("tile", true)
                                                   ->set("compression", VIPS_FOREIGN_TIFF_COMPRESSION_JPEG)
                                                   ->set("Q", 70));
  BatchRun run = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:2000:2000/f:jpg", "--jobs", "1"},
                  {}, std::chrono::seconds(110));
  ASSERT_EQ(run.status, 0) << run.errors << run.output;
  const auto out = Decode(Read(dst_ + "/huge.jpg"));
  EXPECT_EQ(out.width(), 2000);
  EXPECT_EQ(out.height(), 2000);
  // The image is a grey ramp along x: dark on the left, bright on the right.
  EXPECT_LT(out.getpoint(20, 1000)[0], 40);
  EXPECT_GT(out.getpoint(1980, 1000)[0], 200);
  // Over the server's limit (50 Mpx by default) it would be refused; batch has its own.
  BatchRun limited = Batch({"--from", src_, "--to", work_ + "/dst2", "--options", "rs:fit:200"},
                      {{"IMGORIGIN_BATCH_MAX_SRC_PIXELS", "100000000"}});
  EXPECT_EQ(limited.status, 1);
  EXPECT_EQ(limited.With("failed"), std::set<std::string>{"huge.tif"});
}

TEST_F(BatchTest, DeepZoomAndPyramidalTiffOutputs) {
  fs::create_directories(src_);
  Write(src_ + "/a.jpg", Encode(Flat(1500, 1000, 10, 200, 30), ".jpg"));
  BatchRun dz = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:1200", "--pyramid", "dz"});
  ASSERT_EQ(dz.status, 0) << dz.errors;
  EXPECT_NE(Read(dst_ + "/a.dzi").find("<Image"), std::string::npos);
  EXPECT_TRUE(fs::exists(dst_ + "/a_files/0/0_0.jpg"));
  BatchRun tiff = Batch({"--from", src_, "--to", work_ + "/tiff", "--options", "rs:fit:1200", "--pyramid", "tiff"});
  ASSERT_EQ(tiff.status, 0) << tiff.errors;
  const auto tif = vips::VImage::new_from_file((work_ + "/tiff/a.tif").c_str());
  EXPECT_EQ(tif.width(), 1200);
  EXPECT_GT(vips_image_get_n_pages(tif.get_image()), 1) << "a pyramid has levels";
}

TEST_F(BatchTest, S3ToS3PaginatesAndResumes) {
  const std::string seed = MakeTempDir();
  std::set<std::string> names;
  for (int i = 0; i < 12; ++i) {
    std::string name = i == 5 ? "My Trip/\xc3\xa9t\xc3\xa9 1.jpg" : "img" + std::to_string(i) + ".jpg";
    Write(seed + "/photos/in/" + name, Encode(Flat(300 + i, 200, 50, 60, 70), ".jpg"));
    names.insert(name);
  }
  Write(seed + "/photos/other/skip.jpg", Encode(Flat(30, 20, 0, 0, 0), ".jpg"));
  Write(seed + "/results/placeholder", "x");
  NodeStub s3("s3_stub.mjs", {"--dir", MakeTempDir(), "--seed", seed, "--key",
                              "AKIDIMGORIGINTEST:imgorigin-test-secret"});
  IMGORIGIN_REQUIRE_STUB(s3);
  auto env = ingest_fixtures::OriginalsBucketEnv(s3);
  const std::vector<std::string> args = {"--from", "s3://photos/in/", "--to", "s3://results/thumbs/",
                                         "--options", "rs:fit:100/f:webp", "--page-size", "5",
                                         "--jobs", "2"};
  BatchRun run = Batch(args, env);
  ASSERT_EQ(run.status, 0) << run.errors << run.output;
  std::set<std::string> rendered = run.With("rendered");
  EXPECT_EQ(rendered, names);
  EXPECT_EQ(run.summary["requests"]["put_list"].get<int64_t>(), 3 + 12) << "three list pages, 12 PUTs";

  auto client = storage::S3Client::Create(
      {.region = "us-east-1", .endpoint = env["IMGORIGIN_S3_ENDPOINT"], .path_style = true},
      [&](std::string_view name) -> std::optional<std::string> {
        auto found = env.find(std::string(name));
        return found == env.end() ? std::nullopt : std::optional(found->second);
      });
  ASSERT_TRUE(client.has_value());
  auto info = (*client)->HeadObject({"results", "thumbs/My Trip/\xc3\xa9t\xc3\xa9 1.webp", ""});
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->content_type, "image/webp");
  EXPECT_TRUE(info->metadata.contains("imgorigin-made-from"));

  BatchRun resumed = Batch([&] {
    auto again = args;
    again.push_back("--resume");
    return again;
  }(), env);
  ASSERT_EQ(resumed.status, 0) << resumed.errors;
  EXPECT_EQ(resumed.With("current"), names);

  BatchRun dz = Batch({"--from", "s3://photos/in/", "--to", "s3://results/dz/", "--options", "rs:fit:300",
                  "--pyramid", "dz", "--include", "img1.jpg"},
                 env);
  ASSERT_EQ(dz.status, 0) << dz.errors;
  EXPECT_TRUE((*client)->HeadObject({"results", "dz/img1.dzi", ""}).has_value());
  EXPECT_TRUE((*client)->HeadObject({"results", "dz/img1_files/0/0_0.jpg", ""}).has_value());
}

TEST_F(BatchTest, EnqueuedImagesAreRenderedByWorkers) {
  const std::set<std::string> names = Images(5, 100);
  const std::string data = MakeTempDir();
  const std::map<std::string, std::string> ingest = {{"IMGORIGIN_INGEST_ENABLED", "true"},
                                                     {"IMGORIGIN_LOCAL_ROOT", src_},
                                                     {"IMGORIGIN_DATA_DIR", data},
                                                     {"IMGORIGIN_API_KEY", "k"},
                                                     {"IMGORIGIN_JOBS_POLL_WAIT_MS", "100"}};
  BatchRun run = Batch({"--from", src_, "--to", dst_, "--options", "rs:fit:50/f:png", "--enqueue"}, ingest);
  ASSERT_EQ(run.status, 0) << run.errors;
  EXPECT_EQ(run.With("enqueued"), names);
  EXPECT_FALSE(fs::exists(dst_ + "/img0.png")) << "the command only queued";
  auto env = Env(ingest);
  env["IMGORIGIN_BIND"] = "127.0.0.1:0";
  env["IMGORIGIN_KEY"] = kKeyHex;
  env["IMGORIGIN_SALT"] = kSaltHex;
  OriginProcess worker(env, {"worker"});
  ASSERT_TRUE(worker.started()) << worker.output();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto all_there = [&] {
    for (const auto& name : names) {
      if (!fs::exists(dst_ + "/" + name.substr(0, name.rfind('.')) + ".png")) return false;
    }
    return true;
  };
  while (!all_there() && std::chrono::steady_clock::now() < deadline) usleep(50'000);
  EXPECT_TRUE(all_there());
  EXPECT_EQ(Decode(Read(dst_ + "/img0.png")).width(), 50);
}

}  // namespace
}  // namespace imgorigin::testing
