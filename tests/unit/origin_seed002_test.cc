// Seed 002's GET /get_image: its query, and the order in which presets stand in for one that
// cannot be had now (smaller first, then larger, nearest first), by the presets' target sizes.
#include <gtest/gtest.h>

#include "origin/dialects.h"
#include "origin/presets.h"

namespace imgorigin::origin {
namespace {

using common::ErrorCode;
using Names = std::vector<std::string>;

constexpr char kId[] = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

const std::map<std::string, std::string> kPresets = {{"default", "q:80"},
                                                     {"small", "rs:fit:320:320"},
                                                     {"medium", "rs:fit:800:800"},
                                                     {"large", "rs:fit:1600:1600"}};

Names NamesOf(const std::vector<PresetSize>& sizes) {
  Names names;
  for (const auto& preset : sizes) names.push_back(preset.name);
  return names;
}

TEST(Seed002, ParsesIdAndSize) {
  auto r = ParseSeed002(std::string("image_size=medium&image_id=") + kId, kPresets);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->id, kId);
  EXPECT_EQ(r->size, "medium");
  // Ids are matched in lowercase, as records keep them.
  auto upper =
      ParseSeed002("image_id=0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B&image_size=small", kPresets);
  ASSERT_TRUE(upper.has_value()) << upper.error().message;
  EXPECT_EQ(upper->id, kId);
}

TEST(Seed002, BadQueriesNameTheParameter) {
  const std::string id = std::string("image_id=") + kId;
  for (const auto& [query, name] : std::vector<std::pair<std::string, std::string>>{
           {"image_size=small", "image_id: missing"},
           {id, "image_size: missing"},
           {"image_id=42&image_size=small", "image_id: expected a UUID"},
           {id + "&image_size=huge", "image_size: \"huge\" is not a size (large, medium, small)"},
           // "default" applies to every URL: it is not a size of its own.
           {id + "&image_size=default", "image_size: \"default\" is not a size"},
           {id + "&image_size=small&image_size=large", "image_size: given twice"},
           {id + "&image_size=small&width=10", "width: unknown parameter"},
       }) {
    auto r = ParseSeed002(query, kPresets);
    ASSERT_FALSE(r.has_value()) << query;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << query;
    EXPECT_TRUE(r.error().message.starts_with(name)) << query << " → " << r.error().message;
  }
}

TEST(Seed002, PresetsAreOrderedByTheLongerSideTheyAskFor) {
  transforms::ParserConfig parser;
  parser.presets = {{"default", "q:80"},
                    {"huge", "w:3000"},                   // one side given: that side
                    {"retina", "rs:fill:300:200/dpr:2"},  // dpr counts: 600
                    {"small", "rs:fit:320:320"},
                    {"tall", "rs:fit:0:700"},
                    {"as_is", "q:90"},  // no size: the source's, after all others
                    {"thumb", "rs:fill:160:160"},
                    {"square", "rs:fill:320:320"}};  // ties go by name
  const auto sizes = PresetSizes(parser);
  EXPECT_EQ(NamesOf(sizes), (Names{"thumb", "small", "square", "retina", "tall", "huge", "as_is"}));
  EXPECT_EQ(sizes[3].size, 600);
  EXPECT_EQ(sizes.back().size, 0);
}

TEST(Seed002, FallbackTriesTheNextSmallerThenSmallerThenLarger) {
  transforms::ParserConfig parser;
  parser.presets = {{"xs", "rs:fit:100:100"},
                    {"small", "rs:fit:320:320"},
                    {"medium", "rs:fit:800:800"},
                    {"large", "rs:fit:1600:1600"},
                    {"xl", "rs:fit:3200:3200"}};
  const auto sizes = PresetSizes(parser);
  EXPECT_EQ(FallbackOrder(sizes, "large"), (Names{"medium", "small", "xs", "xl"}));
  EXPECT_EQ(FallbackOrder(sizes, "medium"), (Names{"small", "xs", "large", "xl"}));
  EXPECT_EQ(FallbackOrder(sizes, "xs"), (Names{"small", "medium", "large", "xl"}));
  EXPECT_EQ(FallbackOrder(sizes, "xl"), (Names{"large", "medium", "small", "xs"}));
  EXPECT_TRUE(FallbackOrder(sizes, "nope").empty());
  EXPECT_TRUE(FallbackOrder(PresetSizes({}), "small").empty());
}

TEST(Seed002, PresetPathsAreTheImagesApis) {
  const signing::Signer signer(signing::Config{.keys = {{"secret", "salt"}}});
  const std::string path = SignedPresetPath(signer, "small", "local:///uploads/a b@2x.jpg");
  const std::string unsigned_path = "/pr:small/plain/local:///uploads/a%20b%402x.jpg";
  EXPECT_EQ(path, "/" + signer.Sign(unsigned_path) + unsigned_path);
}

}  // namespace
}  // namespace imgorigin::origin
