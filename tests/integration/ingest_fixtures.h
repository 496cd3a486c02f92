// Shared by the ingest integration tests (uploads, presigned uploads): the API key and upload
// limit they start the server with, fixture images (a two-colour JPEG, flat PNGs, a PNG
// decompression bomb), API requests with the key, and checks of what was stored and rendered.
// Test threads only.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/node_stub.h"

namespace imgorigin::testing::ingest_fixtures {

inline constexpr char kApiKey[] = "test-api-key";
inline constexpr int64_t kMaxUpload = 1 << 20;  // IMGORIGIN_MAX_UPLOAD_BYTES in these tests

// The S3 stand-in (s3_stub.mjs) with an empty bucket "originals", accepting one static key.
inline std::unique_ptr<NodeStub> StartOriginalsBucket() {
  const std::string seed = MakeTempDir();  // the stand-in serves the buckets found here
  std::filesystem::create_directories(std::filesystem::path(seed) / "originals");
  { std::ofstream(std::filesystem::path(seed) / "originals" / "placeholder") << "x"; }
  return std::make_unique<NodeStub>(
      "s3_stub.mjs", std::vector<std::string>{"--dir", MakeTempDir(), "--seed", seed, "--key",
                                              "AKIDIMGORIGINTEST:imgorigin-test-secret"});
}

// The settings that store a server's originals under s3://originals/uploads/ on that stand-in,
// with its key as the only credentials.
inline std::map<std::string, std::string> OriginalsBucketEnv(const NodeStub& s3) {
  return {
      {"IMGORIGIN_S3_ENABLED", "true"},
      {"IMGORIGIN_S3_ENDPOINT", "http://127.0.0.1:" + std::to_string(s3.port("s3"))},
      {"IMGORIGIN_S3_PATH_STYLE", "true"},
      {"IMGORIGIN_ORIGINALS", "s3://originals/uploads/"},
      {"AWS_REGION", "us-east-1"},
      {"AWS_ACCESS_KEY_ID", "AKIDIMGORIGINTEST"},
      {"AWS_SECRET_ACCESS_KEY", "imgorigin-test-secret"},
      {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
      {"AWS_EC2_METADATA_DISABLED", "true"},
  };
}

inline vips::VImage Flat(int w, int h, double r, double g, double b) {
  return (vips::VImage::black(w, h) + std::vector<double>{r, g, b})
      .cast(VIPS_FORMAT_UCHAR)
      .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

// 640×480, left half red, right half blue.
inline std::string Jpeg() {
  static const std::string bytes = [] {
    vips_init("ingest_upload_test");
    const auto image =
        Flat(320, 480, 255, 0, 0).join(Flat(320, 480, 0, 0, 255), VIPS_DIRECTION_HORIZONTAL);
    void* data = nullptr;
    size_t size = 0;
    image.write_to_buffer(".jpg", &data, &size, vips::VImage::option()->set("Q", 90));
    std::string out(static_cast<char*>(data), size);
    g_free(data);
    return out;
  }();
  return bytes;
}

inline std::string Png(int w, int h) {
  vips_init("ingest_upload_test");
  void* data = nullptr;
  size_t size = 0;
  Flat(w, h, 0, 255, 0).write_to_buffer(".png", &data, &size);
  std::string out(static_cast<char*>(data), size);
  g_free(data);
  return out;
}

// A PNG whose header claims 100000×100000 pixels over a few bytes of data: a decompression bomb.
inline std::string BombPng() {
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size());
    return be32(static_cast<uint32_t>(data.size())) + body + be32(static_cast<uint32_t>(crc));
  };
  std::string ihdr = be32(100000) + be32(100000) + std::string{8, 2, 0, 0, 0};
  std::string raw(1024, '\0');
  std::string idat(compressBound(raw.size()), '\0');
  uLongf idat_size = idat.size();
  compress(reinterpret_cast<Bytef*>(idat.data()), &idat_size,
           reinterpret_cast<const Bytef*>(raw.data()), raw.size());
  idat.resize(idat_size);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) +
         chunk("IEND", "");
}

inline std::string Base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = uint8_t(bytes[i]) << 16 | uint8_t(bytes[i + 1]) << 8 | uint8_t(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(n >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t n = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t n = uint8_t(bytes[i]) << 16 | uint8_t(bytes[i + 1]) << 8;
    for (int s : {18, 12, 6}) out += kAlphabet[(n >> s) & 63];
    out += "=";
  }
  return out;
}

// One request with the API key (unless `auth` is false).
inline HttpResponse Send(uint16_t port, const std::string& method, const std::string& target,
                         std::vector<std::string> headers, const std::string& body = "",
                         bool auth = true) {
  if (auth) headers.push_back(std::string("Authorization: Bearer ") + kApiKey);
  return HttpRequest(port, target, headers, method, body);
}

inline HttpResponse Upload(uint16_t port, const std::string& content_type, const std::string& body,
                           std::vector<std::string> headers = {}) {
  headers.push_back("Content-Type: " + content_type);
  return Send(port, "POST", "/v1/images", std::move(headers), body);
}

inline size_t CountFiles(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return 0;
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                           std::filesystem::directory_iterator()));
}

inline nlohmann::json Created(const HttpResponse& r) {
  EXPECT_EQ(r.status, 201) << r.body;
  if (r.status != 201) return nlohmann::json::object();
  return nlohmann::json::parse(r.body);
}

// The preset URL of a record renders the upload: 640×480 fit into 320×320, red left, blue right.
inline void ExpectRenders(const OriginProcess& origin, const nlohmann::json& record) {
  ASSERT_TRUE(record["urls"].contains("small")) << record.dump();
  auto r = origin.Get(record["urls"]["small"].get<std::string>());
  ASSERT_EQ(r.status, 200) << r.body;
  auto image = Decode(r.body);
  EXPECT_EQ(image.width(), 320);
  EXPECT_EQ(image.height(), 240);
  const auto reference =
      Flat(160, 240, 255, 0, 0).join(Flat(160, 240, 0, 0, 255), VIPS_DIRECTION_HORIZONTAL);
  EXPECT_LT(MeanAbsDiff(image, reference), 6.0);
}

}  // namespace imgorigin::testing::ingest_fixtures
