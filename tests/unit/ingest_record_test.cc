#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ingest/postgres_record_store.h"
#include "ingest/record.h"
#include "ingest/record_store.h"
#include "ingest/sqlite_record_store.h"
#include "ingest/stored_record.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using nlohmann::json;

const std::string kSha = std::string(64, 'a');

ImageRecord Ready() {
  ImageRecord r;
  r.id = "0190a3f2-7b1c-7d2e-8f00-123456789abc";
  r.source_url = "local:///0190a3f2-7b1c-7d2e-8f00-123456789abc";
  r.status = ImageStatus::kReady;
  r.facts = {"jpeg", 640, 480, 12345, kSha};
  return r;
}

TEST(IngestRecord, NewIdsAreVersion7UuidsInCreationOrder) {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 200; ++i) {
    auto id = NewImageId();
    ASSERT_TRUE(id.has_value());
    EXPECT_TRUE(ValidateId(*id).has_value()) << *id;
    EXPECT_EQ((*id)[14], '7') << *id;
    EXPECT_NE(std::string("89ab").find((*id)[19]), std::string::npos) << *id;
    // The first 12 hex digits are the millisecond: never smaller than the id made before.
    EXPECT_GE(id->substr(0, 13), previous.substr(0, std::min<size_t>(13, previous.size())));
    previous = *id;
    seen.insert(*id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(IngestRecord, IdsMustBeCanonicalLowercaseUuids) {
  EXPECT_TRUE(ValidateId("0190a3f2-7b1c-7d2e-8f00-123456789abc").has_value());
  for (const char* bad :
       {"", "0190A3F2-7B1C-7D2E-8F00-123456789ABC", "0190a3f27b1c7d2e8f00123456789abc",
        "0190a3f2-7b1c-7d2e-8f00-123456789ab", "0190a3f2-7b1c-7d2e-8f00-123456789abcd",
        "../../../../etc/passwd", "0190a3f2_7b1c-7d2e-8f00-123456789abc"}) {
    auto r = ValidateId(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(IngestRecord, StatusNamesRoundTrip) {
  for (auto s :
       {ImageStatus::kPending, ImageStatus::kReady, ImageStatus::kFailed, ImageStatus::kDeleted}) {
    EXPECT_EQ(ParseStatus(StatusName(s)), s);
  }
  EXPECT_EQ(ParseStatus("READY"), std::nullopt);
}

TEST(IngestRecord, MetadataIsABoundedObject) {
  EXPECT_TRUE(ValidateMetadata(json::object()).has_value());
  EXPECT_TRUE(ValidateMetadata(json{{"sku", "A-1"}, {"tags", {"red", "shoe"}}}).has_value());
  for (const json& bad : {json(), json::array(), json("text"), json(3)}) {
    EXPECT_EQ(ValidateMetadata(bad).error().code, ErrorCode::kInvalidArgument) << bad.dump();
  }
  // Exactly at the bound is allowed, one byte more is not: {"k":"…"} is 8 bytes plus the value.
  json at_bound = {{"k", std::string(kMaxMetadataBytes - 8, 'x')}};
  ASSERT_EQ(at_bound.dump().size(), kMaxMetadataBytes);
  EXPECT_TRUE(ValidateMetadata(at_bound).has_value());
  json over = {{"k", std::string(kMaxMetadataBytes - 7, 'x')}};
  auto r = ValidateMetadata(over);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("16384"), std::string::npos) << r.error().message;
}

TEST(IngestRecord, MetadataDepthAndEncodingAreChecked) {
  json deep = json::object();
  json* at = &deep;
  for (int i = 0; i <= kMaxMetadataDepth; ++i) at = &((*at)["a"] = json::object());
  EXPECT_EQ(ValidateMetadata(deep).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateMetadata(json{{"k", std::string("\xff\xfe")}}).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(IngestRecord, ParseMetadataAcceptsObjectsOnly) {
  auto ok = ParseMetadata(R"({ "sku": "A-1", "n": 3 })");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((*ok)["sku"], "A-1");
  EXPECT_FALSE(ParseMetadata("[1,2]").has_value());
  EXPECT_FALSE(ParseMetadata("{").has_value());
  EXPECT_FALSE(ParseMetadata(std::string(200'000, ' ') + "{}").has_value());
  // 10k nested arrays: refused by depth, parsed without recursion.
  EXPECT_FALSE(ParseMetadata("{\"a\":" + std::string(10'000, '[') + std::string(10'000, ']') + "}")
                   .has_value());
}

TEST(IngestRecord, NewRecordsArePendingWithOrWithoutFactsOrReadyWithThem) {
  EXPECT_TRUE(ValidateNewRecord(Ready()).has_value());
  ImageRecord pending = Ready();
  pending.status = ImageStatus::kPending;
  // Checked at once, eager variants still to make.
  EXPECT_TRUE(ValidateNewRecord(pending).has_value());
  pending.facts.width = 0;  // facts, if any, are whole and valid
  EXPECT_FALSE(ValidateNewRecord(pending).has_value());
  pending.facts = {};
  pending.facts.bytes = 10;
  EXPECT_FALSE(ValidateNewRecord(pending).has_value());
  pending.facts = {};
  EXPECT_TRUE(ValidateNewRecord(pending).has_value());

  ImageRecord r = Ready();
  r.status = ImageStatus::kFailed;
  EXPECT_FALSE(ValidateNewRecord(r).has_value());
  r = Ready();
  r.facts.sha256 = std::string(64, 'A');
  EXPECT_FALSE(ValidateNewRecord(r).has_value());
  r = Ready();
  r.facts.width = 0;
  EXPECT_FALSE(ValidateNewRecord(r).has_value());
  r = Ready();
  r.source_url = "";
  EXPECT_FALSE(ValidateNewRecord(r).has_value());
  r.source_url = "local:///a\nb";
  EXPECT_FALSE(ValidateNewRecord(r).has_value());
  r = Ready();
  r.last_error = "no";
  EXPECT_FALSE(ValidateNewRecord(r).has_value());
}

TEST(IngestRecord, VariantsAreBounded) {
  Variant v{"small", "webp", 100, 80, 2000, "local:///variants/x/small.webp"};
  EXPECT_TRUE(ValidateVariants({v}).has_value());
  EXPECT_FALSE(ValidateVariants({v, v}).has_value());  // the same preset and format twice
  Variant avif = v;
  avif.format = "avif";
  EXPECT_TRUE(ValidateVariants({v, avif}).has_value());
  std::vector<Variant> many;
  for (size_t i = 0; i <= kMaxVariants; ++i) {
    many.push_back(v);
    many.back().preset = "p" + std::to_string(i);
  }
  EXPECT_FALSE(ValidateVariants(many).has_value());
  Variant bad = v;
  bad.preset = "";
  EXPECT_FALSE(ValidateVariants({bad}).has_value());
  bad = v;
  bad.location = "\xc3";
  EXPECT_FALSE(ValidateVariants({bad}).has_value());
  bad = v;
  bad.bytes = 0;
  EXPECT_FALSE(ValidateVariants({bad}).has_value());
}

TEST(IngestRecord, CleanErrorKeepsUtf8WithinTheBound) {
  EXPECT_EQ(CleanError("decode failed"), "decode failed");
  EXPECT_EQ(CleanError("line\none\x01"), "line one ");
  EXPECT_EQ(CleanError("bad \xff byte"), "bad ? byte");
  EXPECT_EQ(CleanError("\xed\xa0\x80"), "???");  // a surrogate is not UTF-8
  // 'é' is two bytes: a cut in the middle of one drops it whole.
  std::string long_text = std::string(kMaxErrorBytes - 1, 'x') + "é";
  EXPECT_EQ(CleanError(long_text), std::string(kMaxErrorBytes - 1, 'x'));
  EXPECT_EQ(CleanError(std::string(5000, 'y')).size(), kMaxErrorBytes);
}

TEST(IngestRecord, ToJsonShowsUnknownFactsAsNull) {
  ImageRecord r = Ready();
  r.metadata = {{"sku", "A-1"}};
  r.variants = {{"small", "webp", 100, 75, 2000, "local:///v/small.webp"}};
  r.created = Timestamp(std::chrono::milliseconds(1714564800123));  // 2024-05-01T12:00:00.123Z
  r.updated = r.created + std::chrono::milliseconds(1000);
  json j = ToJson(r);
  EXPECT_EQ(j["id"], r.id);
  EXPECT_EQ(j["status"], "ready");
  EXPECT_EQ(j["format"], "jpeg");
  EXPECT_EQ(j["width"], 640);
  EXPECT_EQ(j["bytes"], 12345);
  EXPECT_EQ(j["sha256"], kSha);
  EXPECT_EQ(j["metadata"]["sku"], "A-1");
  EXPECT_EQ(j["variants"][0]["preset"], "small");
  EXPECT_EQ(j["variants"][0]["location"], "local:///v/small.webp");
  EXPECT_TRUE(j["last_error"].is_null());
  EXPECT_EQ(j["created_at"], "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(j["updated_at"], "2024-05-01T12:00:01.123Z");

  ImageRecord pending;
  pending.id = r.id;
  pending.source_url = r.source_url;
  pending.last_error = "upload never completed";
  json p = ToJson(pending);
  EXPECT_EQ(p["status"], "pending");
  for (const char* field : {"format", "width", "height", "bytes", "sha256"}) {
    EXPECT_TRUE(p[field].is_null()) << field;
  }
  EXPECT_EQ(p["last_error"], "upload never completed");
  EXPECT_EQ(p["created_at"], "1970-01-01T00:00:00.000Z");
}

TEST(IngestRecord, StoredColumnsReadBack) {
  ImageRecord r = Ready();
  r.metadata = {{"a", {1, 2}}, {"b", nullptr}};
  r.variants = {{"small", "webp", 100, 75, 2000, "s3://b/v/small.webp"}};
  const std::string metadata = SerializeMetadata(r.metadata);
  const std::string variants = SerializeVariants(r.variants);
  StoredColumns row{r.id, r.source_url, "ready",  "jpeg", 640,  480, 12345,
                    kSha, metadata,     variants, "",     1000, 2000};
  auto back = FromStoredColumns(row);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  r.created = Timestamp(std::chrono::milliseconds(1000));
  r.updated = Timestamp(std::chrono::milliseconds(2000));
  EXPECT_EQ(*back, r);

  row.status = "gone";
  EXPECT_EQ(FromStoredColumns(row).error().code, ErrorCode::kInternal);
  row.status = "ready";
  row.variants = R"([{"preset":"small"}])";
  EXPECT_EQ(FromStoredColumns(row).error().code, ErrorCode::kInternal);
  row.variants = "[]";
  row.metadata = "[]";
  EXPECT_EQ(FromStoredColumns(row).error().code, ErrorCode::kInternal);
}

TEST(IngestRecordStore, IdempotencyAndListArgumentsAreChecked) {
  EXPECT_TRUE(ValidateIdempotency({"order-42-photo-1", std::string(64, 'f')}).has_value());
  EXPECT_EQ(ValidateIdempotency({"", "f"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateIdempotency({std::string(kMaxIdempotencyKeyBytes + 1, 'k'), "f"}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateIdempotency({"k\x01", "f"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateIdempotency({"k", ""}).error().code, ErrorCode::kInternal);

  EXPECT_TRUE(ValidateListArgs("", 1).has_value());
  EXPECT_TRUE(ValidateListArgs("0190a3f2-7b1c-7d2e-8f00-123456789abc", kMaxListLimit).has_value());
  EXPECT_FALSE(ValidateListArgs("", 0).has_value());
  EXPECT_FALSE(ValidateListArgs("", kMaxListLimit + 1).has_value());
  EXPECT_FALSE(ValidateListArgs("' OR 1=1 --", 10).has_value());
}

TEST(IngestStoreConfig, SqliteDefaultsNeedOnlyAPath) {
  SqliteRecordStore::Config config;
  EXPECT_EQ(config.busy_timeout, std::chrono::milliseconds(5000));
  EXPECT_FALSE(config.Validate().has_value());
  config.path = "/var/lib/imgorigin/records.sqlite3";
  EXPECT_TRUE(config.Validate().has_value());
  config.busy_timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(config.Validate().has_value());
}

TEST(IngestStoreConfig, PostgresConfigIsChecked) {
  PostgresRecordStore::Config config;
  EXPECT_EQ(config.schema, "imgorigin");
  EXPECT_EQ(config.max_connections, 8u);
  EXPECT_FALSE(config.Validate().has_value());  // no connection string
  config.conninfo = "host=db port=5432 dbname=images user=imgorigin";
  EXPECT_TRUE(config.Validate().has_value());
  config.conninfo = "postgresql://imgorigin:secret@db/images?sslmode=require";
  EXPECT_TRUE(config.Validate().has_value());

  auto bad = config;
  bad.conninfo = "host=db port";
  auto r = bad.Validate();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  bad.conninfo = "postgresql://imgorigin:secret@db/images?nosuchoption=1";
  r = bad.Validate();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message.find("secret"), std::string::npos) << r.error().message;

  for (const char* schema : {"", "Imgorigin", "img-origin", "1st", "a;DROP TABLE x"}) {
    bad = config;
    bad.schema = schema;
    EXPECT_FALSE(bad.Validate().has_value()) << schema;
  }
  bad = config;
  bad.max_connections = 0;
  EXPECT_FALSE(bad.Validate().has_value());
  bad = config;
  bad.query_timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(bad.Validate().has_value());
}

}  // namespace
}  // namespace imgorigin::ingest
