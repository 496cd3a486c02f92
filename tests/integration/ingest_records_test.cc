// The RecordStore contract (ingest/record_store.h), one suite run against both stores: SQLite on a
// temp file and a real PostgreSQL server started by the harness. Then what each store does when
// its database is down: a locked or unwritable SQLite file, a stopped or frozen PostgreSQL.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "common/handle.h"
#include "ingest/postgres_record_store.h"
#include "ingest/record.h"
#include "ingest/record_store.h"
#include "ingest/sqlite_record_store.h"
#include "tests/integration/harness.h"
#include "tests/integration/postgres_harness.h"

namespace imgorigin::ingest {
namespace {

using common::ErrorCode;
using nlohmann::json;
using testing::PostgresProcess;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

enum class Backend { kSqlite, kPostgres };

void PrintTo(Backend backend, std::ostream* out) {
  *out << (backend == Backend::kSqlite ? "SQLite" : "PostgreSQL");
}

// One server per test process (CTest runs every test in its own process).
PostgresProcess& SharedPostgres() {
  static PostgresProcess server;
  return server;
}

std::string NewId() { return *NewImageId(); }

std::string Sha(int n) {
  std::string hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 64; ++i) out += hex[(n + i) % 16];
  return out;
}

ImageRecord ReadyRecord(const std::string& id = NewId()) {
  ImageRecord r;
  r.id = id;
  r.source_url = "local:///" + id;
  r.status = ImageStatus::kReady;
  r.facts = {"jpeg", 1200, 800, 345678, Sha(1)};
  r.metadata = {{"sku", "A-1"}};
  return r;
}

Timestamp SystemNow() { return std::chrono::floor<milliseconds>(std::chrono::system_clock::now()); }

ImageRecord PendingRecord(const std::string& id = NewId()) {
  ImageRecord r;
  r.id = id;
  r.source_url = "s3://shop/originals/" + id;
  return r;
}

// Runs `sql` on the raw database behind a store, outside the store: how the tests look at
// schema_migrations or plant a newer schema version.
std::string RawQuery(Backend backend, const std::string& where, const std::string& sql) {
  if (backend == Backend::kSqlite) {
    sqlite3* raw = nullptr;
    sqlite3_open(where.c_str(), &raw);
    common::Handle<sqlite3, sqlite3_close_v2> db(raw);
    std::string out;
    sqlite3_exec(
        db.get(), sql.c_str(),
        [](void* into, int, char** values, char**) {
          *static_cast<std::string*>(into) = values[0] ? values[0] : "";
          return 0;
        },
        &out, nullptr);
    return out;
  }
  common::Handle<PGconn, PQfinish> conn(PQconnectdb(where.c_str()));
  common::Handle<PGresult, PQclear> result(PQexec(conn.get(), sql.c_str()));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) == 0) return "";
  return PQgetvalue(result.get(), 0, 0);
}

class RecordStoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      IMGORIGIN_REQUIRE_SERVICE(SharedPostgres());
      // A schema of its own, for when the whole binary runs in one process on one server.
      static int tests = 0;
      schema_ = "records_test_" + std::to_string(++tests);
    } else {
      dir_ = testing::MakeTempDir();
    }
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  common::Result<std::unique_ptr<RecordStore>> TryOpen() {
    if (GetParam() == Backend::kSqlite) {
      SqliteRecordStore::Config config;
      config.path = dir_ + "/data/records.sqlite3";
      auto store = SqliteRecordStore::Open(config);
      if (!store) return std::unexpected(store.error());
      return std::unique_ptr<RecordStore>(std::move(*store));
    }
    PostgresRecordStore::Config config;
    config.conninfo = SharedPostgres().conninfo();
    config.schema = schema_;
    config.max_connections = 4;  // fewer than the concurrent test's threads: they must queue
    auto store = PostgresRecordStore::Open(config);
    if (!store) return std::unexpected(store.error());
    return std::unique_ptr<RecordStore>(std::move(*store));
  }

  std::unique_ptr<RecordStore> Open() {
    auto store = TryOpen();
    EXPECT_TRUE(store.has_value()) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }

  std::string Raw(const std::string& sql) {
    if (GetParam() == Backend::kSqlite) {
      return RawQuery(GetParam(), dir_ + "/data/records.sqlite3", sql);
    }
    return RawQuery(GetParam(), SharedPostgres().conninfo(), sql);
  }
  std::string Table(const std::string& name) const {
    return GetParam() == Backend::kSqlite ? name : schema_ + "." + name;
  }

  // Every record a full listing returns, page by page.
  std::vector<ImageRecord> ListAll(int page_size) {
    std::vector<ImageRecord> all;
    std::string after;
    for (int pages = 0; pages < 10'000; ++pages) {
      auto page = store_->List(after, page_size);
      EXPECT_TRUE(page.has_value()) << page.error().message;
      if (!page) break;
      all.insert(all.end(), page->records.begin(), page->records.end());
      if (page->next_after.empty()) break;
      after = page->next_after;
    }
    return all;
  }

  std::string dir_;     // SQLite
  std::string schema_;  // PostgreSQL
  std::unique_ptr<RecordStore> store_;
};

TEST_P(RecordStoreContract, CreateThenGetReturnsTheStoredRecord) {
  ImageRecord r = ReadyRecord();
  r.metadata = {{"caption", "Grüße \"quoted\" \u00e9 😀"},
                {"nul", std::string("a\0b", 3)},
                {"n", 1.5},
                {"big", 9007199254740993LL},
                {"neg", -1},
                {"list", {true, nullptr, "x"}},
                {"nested", {{"deeper", {{"k", "v"}}}}}};
  r.variants = {{"small", "webp", 300, 200, 4567, "local:///variants/" + r.id + "/small.webp"}};
  const Timestamp before = SystemNow();
  auto created = store_->Create(r, std::nullopt);
  const Timestamp after = SystemNow();
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_TRUE(created->created);
  const ImageRecord& stored = created->record;
  EXPECT_GE(stored.created, before - std::chrono::seconds(2));  // PostgreSQL's clock is the host's
  EXPECT_LE(stored.created, after + std::chrono::seconds(2));
  EXPECT_EQ(stored.updated, stored.created);
  ImageRecord expected = r;
  expected.created = stored.created;
  expected.updated = stored.updated;
  EXPECT_EQ(stored, expected);
  EXPECT_EQ(stored.metadata.dump(), r.metadata.dump());

  auto got = store_->Get(r.id);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(*got, stored);
}

TEST_P(RecordStoreContract, PendingBecomesFailedThenReady) {
  const ImageRecord r = PendingRecord();
  auto created = store_->Create(r, std::nullopt);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_EQ(created->record.status, ImageStatus::kPending);
  EXPECT_FALSE(created->record.facts.known());

  auto failed = store_->MarkFailed(r.id, "the object never arrived");
  ASSERT_TRUE(failed.has_value()) << failed.error().message;
  EXPECT_EQ(failed->status, ImageStatus::kFailed);
  EXPECT_EQ(failed->last_error, "the object never arrived");
  EXPECT_GE(failed->updated, created->record.updated);
  EXPECT_EQ(failed->created, created->record.created);

  // Failing again (a retried /complete) is allowed and keeps the newest reason, cleaned.
  failed = store_->MarkFailed(r.id, "not an image:\n\xff" + std::string(3000, 'x'));
  ASSERT_TRUE(failed.has_value()) << failed.error().message;
  EXPECT_EQ(failed->last_error, CleanError("not an image:\n\xff" + std::string(3000, 'x')));
  EXPECT_EQ(failed->last_error.size(), kMaxErrorBytes);

  const ImageFacts facts{"png", 64, 32, 999, Sha(2)};
  auto ready = store_->MarkReady(r.id, facts);
  ASSERT_TRUE(ready.has_value()) << ready.error().message;
  EXPECT_EQ(ready->status, ImageStatus::kReady);
  EXPECT_EQ(ready->facts, facts);
  EXPECT_TRUE(ready->last_error.empty());
  EXPECT_EQ(*store_->Get(r.id), *ready);

  // A late failure report cannot undo a success.
  auto late = store_->MarkFailed(r.id, "lost a race");
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, ErrorCode::kConflict);
  EXPECT_EQ(*store_->Get(r.id), *ready);

  // Checking the object again may update the facts.
  const ImageFacts again{"png", 64, 32, 1000, Sha(3)};
  ready = store_->MarkReady(r.id, again);
  ASSERT_TRUE(ready.has_value()) << ready.error().message;
  EXPECT_EQ(ready->facts, again);

  auto bad = store_->MarkReady(r.id, ImageFacts{"png", 0, 32, 1000, Sha(3)});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(RecordStoreContract, VariantsAreReplacedWhole) {
  const ImageRecord r = ReadyRecord();
  ASSERT_TRUE(store_->Create(r, std::nullopt).has_value());
  std::vector<Variant> variants = {
      {"small", "webp", 300, 200, 4567, "local:///v/" + r.id + "/small.webp"},
      {"large", "avif", 1200, 800, 45678, "local:///v/" + r.id + "/large.avif"}};
  auto set = store_->SetVariants(r.id, variants);
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_EQ(set->variants, variants);
  EXPECT_EQ(store_->Get(r.id)->variants, variants);

  variants.pop_back();
  set = store_->SetVariants(r.id, variants);
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_EQ(store_->Get(r.id)->variants, variants);

  auto duplicate = store_->SetVariants(r.id, {variants[0], variants[0]});
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_EQ(duplicate.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(r.id)->variants, variants);
}

TEST_P(RecordStoreContract, DeletedRecordsAreTombstones) {
  const ImageRecord r = ReadyRecord();
  ASSERT_TRUE(store_->Create(r, std::nullopt).has_value());
  auto deleted = store_->MarkDeleted(r.id);
  ASSERT_TRUE(deleted.has_value()) << deleted.error().message;
  EXPECT_EQ(deleted->status, ImageStatus::kDeleted);
  EXPECT_EQ(deleted->facts, r.facts);  // the caller still needs to know what to delete

  auto again = store_->MarkDeleted(r.id);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, *deleted);
  EXPECT_EQ(store_->Get(r.id)->status, ImageStatus::kDeleted);

  for (auto result : {store_->MarkReady(r.id, r.facts), store_->MarkChecked(r.id, r.facts),
                      store_->MarkFailed(r.id, "x"), store_->SetVariants(r.id, {})}) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kConflict);
    EXPECT_NE(result.error().message.find("deleted"), std::string::npos);
  }
  EXPECT_TRUE(ListAll(10).empty());
}

TEST_P(RecordStoreContract, UnknownAndMalformedIds) {
  const std::string missing = NewId();
  const ImageFacts facts{"png", 1, 1, 1, Sha(0)};
  for (auto result : {store_->Get(missing), store_->MarkReady(missing, facts),
                      store_->MarkChecked(missing, facts), store_->MarkFailed(missing, "x"),
                      store_->SetVariants(missing, {}), store_->MarkDeleted(missing)}) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kNotFound) << result.error().message;
  }
  for (const char* bad :
       {"", "not-a-uuid", "0190A3F2-7B1C-7D2E-8F00-123456789ABC", "'; DROP TABLE images; --"}) {
    auto result = store_->Get(bad);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

TEST_P(RecordStoreContract, DuplicateIdIsAConflict) {
  const ImageRecord r = ReadyRecord();
  ASSERT_TRUE(store_->Create(r, std::nullopt).has_value());
  ImageRecord other = PendingRecord(r.id);
  auto again = store_->Create(other, std::nullopt);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  // A key does not make a taken id free.
  again = store_->Create(other, Idempotency{"fresh-key", "fp"});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(store_->Get(r.id)->status, ImageStatus::kReady);
}

TEST_P(RecordStoreContract, IdempotencyKeyReturnsTheFirstRecord) {
  const ImageRecord first = ReadyRecord();
  const Idempotency key{"order-42/photo-1", Sha(7)};
  auto created = store_->Create(first, key);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_TRUE(created->created);

  // The retry comes with a fresh id (its object was written under it): the first record answers
  // and nothing new is stored.
  const ImageRecord retry = ReadyRecord();
  auto replayed = store_->Create(retry, key);
  ASSERT_TRUE(replayed.has_value()) << replayed.error().message;
  EXPECT_FALSE(replayed->created);
  EXPECT_EQ(replayed->record, created->record);
  EXPECT_EQ(store_->Get(retry.id).error().code, ErrorCode::kNotFound);

  // The same key for another request is refused, whatever the id.
  auto reused = store_->Create(ReadyRecord(), Idempotency{key.key, Sha(8)});
  ASSERT_FALSE(reused.has_value());
  EXPECT_EQ(reused.error().code, ErrorCode::kConflict);
  EXPECT_NE(reused.error().message.find("Idempotency-Key"), std::string::npos);

  // The first record as it is now, even once deleted.
  ASSERT_TRUE(store_->MarkDeleted(first.id).has_value());
  replayed = store_->Create(ReadyRecord(), key);
  ASSERT_TRUE(replayed.has_value()) << replayed.error().message;
  EXPECT_FALSE(replayed->created);
  EXPECT_EQ(replayed->record.id, first.id);
  EXPECT_EQ(replayed->record.status, ImageStatus::kDeleted);

  // Other keys, and no key, are independent.
  auto other = store_->Create(ReadyRecord(), Idempotency{"order-42/photo-2", Sha(7)});
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(other->created);
  EXPECT_TRUE(store_->Create(ReadyRecord(), std::nullopt)->created);
  EXPECT_EQ(ListAll(10).size(), 2u);

  auto bad_key = store_->Create(ReadyRecord(), Idempotency{"", Sha(7)});
  ASSERT_FALSE(bad_key.has_value());
  EXPECT_EQ(bad_key.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(RecordStoreContract, ConcurrentRetriesOfOneKeyCreateOneRecord) {
  constexpr int kThreads = 8;
  const Idempotency key{"burst", Sha(9)};
  std::vector<common::Result<CreateOutcome>> outcomes(kThreads,
                                                      common::Fail(ErrorCode::kInternal, ""));
  std::atomic<bool> go = false;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const ImageRecord r = ReadyRecord();
      while (!go) std::this_thread::yield();
      outcomes[i] = store_->Create(r, key);
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  int created = 0;
  std::set<std::string> ids;
  for (const auto& o : outcomes) {
    ASSERT_TRUE(o.has_value()) << o.error().message;
    created += o->created ? 1 : 0;
    ids.insert(o->record.id);
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(ListAll(100).size(), 1u);
}

TEST_P(RecordStoreContract, ListPagesThroughEveryRecordOnce) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) ids.push_back(NewId());
  // Ids made within one millisecond differ in random bits only: listing order is id order.
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> creation_order = ids;
  std::shuffle(creation_order.begin(), creation_order.end(), std::mt19937(42));
  for (const auto& id : creation_order) {
    ASSERT_TRUE(store_->Create(ReadyRecord(id), std::nullopt).has_value());
  }
  ASSERT_TRUE(store_->MarkDeleted(ids[3]).has_value());
  ASSERT_TRUE(store_->MarkDeleted(ids[24]).has_value());
  std::vector<std::string> expected;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i != 3 && i != 24) expected.push_back(ids[i]);
  }
  std::sort(expected.begin(), expected.end());

  auto first = store_->List("", 10);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_EQ(first->records.size(), 10u);
  EXPECT_EQ(first->next_after, first->records.back().id);
  auto second = store_->List(first->next_after, 10);
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->records.size(), 10u);
  auto third = store_->List(second->next_after, 10);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->records.size(), 3u);
  EXPECT_TRUE(third->next_after.empty());

  std::vector<std::string> listed;
  for (const auto* page : {&*first, &*second, &*third}) {
    for (const auto& r : page->records) listed.push_back(r.id);
  }
  EXPECT_EQ(listed, expected);  // in id order, each once, tombstones skipped

  // A page that ends exactly at the last record says so.
  auto exact = store_->List("", 23);
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->records.size(), 23u);
  EXPECT_TRUE(exact->next_after.empty());
  auto past_end = store_->List(expected.back(), 5);
  ASSERT_TRUE(past_end.has_value());
  EXPECT_TRUE(past_end->records.empty());
  EXPECT_TRUE(past_end->next_after.empty());
  // A cursor need not be a record that exists (it may have been deleted meanwhile).
  auto after_deleted = store_->List(ids[3], 1);
  ASSERT_TRUE(after_deleted.has_value());
  ASSERT_EQ(after_deleted->records.size(), 1u);
  EXPECT_EQ(after_deleted->records[0].id, ids[4]);

  for (int limit : {0, -1, kMaxListLimit + 1}) {
    auto bad = store_->List("", limit);
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  }
  auto bad_cursor = store_->List("zzz", 10);
  ASSERT_FALSE(bad_cursor.has_value());
  EXPECT_EQ(bad_cursor.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(RecordStoreContract, PendingRecordWithFactsIsCreatedThenMadeReady) {
  ImageRecord r = PendingRecord();
  r.facts = {"webp", 640, 480, 12345, Sha(4)};
  auto created = store_->Create(r, std::nullopt);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_EQ(created->record.status, ImageStatus::kPending);
  EXPECT_EQ(created->record.facts, r.facts);
  EXPECT_EQ(*store_->Get(r.id), created->record);

  auto ready = store_->MarkReady(r.id, r.facts);
  ASSERT_TRUE(ready.has_value()) << ready.error().message;
  EXPECT_EQ(ready->status, ImageStatus::kReady);
  EXPECT_EQ(ready->facts, r.facts);

  ImageRecord half = PendingRecord();
  half.facts.bytes = 10;  // facts are whole or absent
  auto refused = store_->Create(half, std::nullopt);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(half.id).error().code, ErrorCode::kNotFound);
}

TEST_P(RecordStoreContract, MarkCheckedKeepsAPendingRecordPendingWithFacts) {
  const ImageFacts facts{"jpg", 800, 600, 54321, Sha(5)};
  const ImageRecord pending = PendingRecord();
  auto created = store_->Create(pending, std::nullopt);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  auto checked = store_->MarkChecked(pending.id, facts);
  ASSERT_TRUE(checked.has_value()) << checked.error().message;
  EXPECT_EQ(checked->status, ImageStatus::kPending);
  EXPECT_EQ(checked->facts, facts);
  EXPECT_EQ(checked->created, created->record.created);
  EXPECT_GE(checked->updated, created->record.updated);
  EXPECT_EQ(*store_->Get(pending.id), *checked);
  // Checked again (a retried job): the newest facts win.
  const ImageFacts again{"jpg", 800, 600, 54322, Sha(6)};
  checked = store_->MarkChecked(pending.id, again);
  ASSERT_TRUE(checked.has_value()) << checked.error().message;
  EXPECT_EQ(checked->facts, again);

  // failed → pending, the old error cleared.
  const ImageRecord failed = PendingRecord();
  ASSERT_TRUE(store_->Create(failed, std::nullopt).has_value());
  ASSERT_TRUE(store_->MarkFailed(failed.id, "timed out").has_value());
  checked = store_->MarkChecked(failed.id, facts);
  ASSERT_TRUE(checked.has_value()) << checked.error().message;
  EXPECT_EQ(checked->status, ImageStatus::kPending);
  EXPECT_EQ(checked->facts, facts);
  EXPECT_TRUE(checked->last_error.empty());

  // A ready record stays ready: a late check cannot undo a success.
  const ImageRecord ready = ReadyRecord();
  ASSERT_TRUE(store_->Create(ready, std::nullopt).has_value());
  const ImageRecord ready_before = *store_->Get(ready.id);
  auto late = store_->MarkChecked(ready.id, facts);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, ErrorCode::kConflict);
  EXPECT_NE(late.error().message.find("ready"), std::string::npos) << late.error().message;
  EXPECT_EQ(*store_->Get(ready.id), ready_before);

  auto bad = store_->MarkChecked(pending.id, ImageFacts{"jpg", 800, 0, 1, Sha(5)});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(pending.id)->facts, again);
  EXPECT_EQ(store_->MarkChecked("nope", facts).error().code, ErrorCode::kInvalidArgument);
  // Deleted and unknown ids: DeletedRecordsAreTombstones, UnknownAndMalformedIds.
}

TEST_P(RecordStoreContract, FindBySourcePicksTheNewestLiveRecord) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(NewId());
  std::sort(ids.begin(), ids.end());
  const std::string source = "s3://shop/originals/2024/a.jpg";
  auto with_source = [&](ImageRecord r) {
    r.source_url = source;
    return r;
  };
  // Created out of id order: the answer follows ids, not insertion.
  ASSERT_TRUE(store_->Create(with_source(PendingRecord(ids[2])), std::nullopt).has_value());
  ASSERT_TRUE(store_->Create(with_source(ReadyRecord(ids[0])), std::nullopt).has_value());
  ASSERT_TRUE(store_->Create(with_source(PendingRecord(ids[1])), std::nullopt).has_value());
  ASSERT_TRUE(store_->Create(PendingRecord(ids[3]), std::nullopt).has_value());  // another source
  ASSERT_TRUE(store_->MarkDeleted(ids[2]).has_value());

  auto found = store_->FindBySource(source);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found->id, ids[1]);  // ids[2] is newer but a tombstone
  EXPECT_EQ(found->status, ImageStatus::kPending);
  ASSERT_TRUE(store_->MarkDeleted(ids[1]).has_value());
  found = store_->FindBySource(source);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found->id, ids[0]);
  EXPECT_EQ(*found, *store_->Get(ids[0]));
  EXPECT_EQ(store_->FindBySource("s3://shop/originals/" + ids[3])->id, ids[3]);

  // Exactly this URL: no prefixes, no case folding, no pattern characters.
  for (const std::string& other :
       {source + "x", std::string("s3://shop/originals/2024/"),
        std::string("S3://shop/originals/2024/a.jpg"), std::string("s3://shop/originals/2024/%"),
        std::string("s3://shop/originals/2024/_.jpg")}) {
    auto missing = store_->FindBySource(other);
    ASSERT_FALSE(missing.has_value()) << other;
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound) << other;
  }
  ASSERT_TRUE(store_->MarkDeleted(ids[0]).has_value());
  EXPECT_EQ(store_->FindBySource(source).error().code, ErrorCode::kNotFound);

  for (const std::string& bad :
       {std::string(), std::string("local:///a\nb"), std::string("local:///a\0b", 12),
        std::string("local:///\xff"), "s3://b/" + std::string(kMaxSourceUrlBytes, 'k')}) {
    auto refused = store_->FindBySource(bad);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST_P(RecordStoreContract, ListPendingPagesThroughPendingRecordsChangedBeforeTheCutoff) {
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(NewId());
  std::sort(ids.begin(), ids.end());
  ASSERT_TRUE(store_->Create(ReadyRecord(ids[1]), std::nullopt).has_value());
  for (int i : {0, 2, 3, 4, 5, 6, 7}) {
    ImageRecord r = PendingRecord(ids[i]);
    if (i == 3) r.facts = {"png", 10, 10, 100, Sha(3)};  // checked, variants to make
    ASSERT_TRUE(store_->Create(r, std::nullopt).has_value());
  }
  ASSERT_TRUE(store_->MarkFailed(ids[4], "refused").has_value());
  ASSERT_TRUE(store_->MarkDeleted(ids[6]).has_value());
  Timestamp last_change{};
  for (const auto& id : ids) last_change = std::max(last_change, store_->Get(id)->updated);
  const Timestamp cutoff = last_change + milliseconds(1);
  // Later changes must land at or after the cutoff (both stores stamp with this host's clock).
  for (int i = 0; i < 1000 && SystemNow() <= cutoff; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_GT(SystemNow(), cutoff);
  auto checked = store_->MarkChecked(ids[5], {"gif", 1, 1, 1, Sha(5)});  // changed: too recent
  ASSERT_TRUE(checked.has_value()) << checked.error().message;
  ASSERT_GE(checked->updated, cutoff);
  const ImageRecord late = PendingRecord();  // created after the cutoff, sorts after every id
  auto created = store_->Create(late, std::nullopt);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  ASSERT_GE(created->record.updated, cutoff);

  auto ids_of = [](const Page& page) {
    std::vector<std::string> out;
    for (const auto& r : page.records) out.push_back(r.id);
    return out;
  };
  auto first = store_->ListPending("", cutoff, 3);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(ids_of(*first), (std::vector<std::string>{ids[0], ids[2], ids[3]}));
  EXPECT_EQ(first->next_after, ids[3]);
  EXPECT_EQ(first->records[1], *store_->Get(ids[2]));
  auto second = store_->ListPending(first->next_after, cutoff, 3);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(ids_of(*second), (std::vector<std::string>{ids[7]}));
  EXPECT_TRUE(second->next_after.empty());
  // A page that ends exactly at the last one says so; a cursor need not exist.
  auto exact = store_->ListPending(ids[1], cutoff, 3);
  ASSERT_TRUE(exact.has_value()) << exact.error().message;
  EXPECT_EQ(ids_of(*exact), (std::vector<std::string>{ids[2], ids[3], ids[7]}));
  EXPECT_TRUE(exact->next_after.empty());

  auto all = store_->ListPending("", SystemNow() + std::chrono::hours(1), kMaxListLimit);
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_EQ(ids_of(*all),
            (std::vector<std::string>{ids[0], ids[2], ids[3], ids[5], ids[7], late.id}));
  auto none = store_->ListPending("", last_change - std::chrono::hours(1), 10);
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_TRUE(none->records.empty());
  EXPECT_TRUE(none->next_after.empty());

  for (int limit : {0, -1, kMaxListLimit + 1}) {
    EXPECT_EQ(store_->ListPending("", cutoff, limit).error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(store_->ListPending("zzz", cutoff, 10).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(RecordStoreContract, MetadataOverTheBoundIsRefusedAndNothingStored) {
  ImageRecord at_bound = ReadyRecord();
  at_bound.metadata = {{"k", std::string(kMaxMetadataBytes - 8, 'x')}};
  auto created = store_->Create(at_bound, std::nullopt);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_EQ(store_->Get(at_bound.id)->metadata, at_bound.metadata);

  ImageRecord over = ReadyRecord();
  over.metadata = {{"k", std::string(kMaxMetadataBytes - 7, 'x')}};
  auto refused = store_->Create(over, std::nullopt);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(over.id).error().code, ErrorCode::kNotFound);

  ImageRecord not_object = ReadyRecord();
  not_object.metadata = json::array({1, 2});
  EXPECT_EQ(store_->Create(not_object, std::nullopt).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(not_object.id).error().code, ErrorCode::kNotFound);
}

TEST_P(RecordStoreContract, MigrationsRunOnceAcrossReopens) {
  const ImageRecord r = ReadyRecord();
  ASSERT_TRUE(store_->Create(r, std::nullopt).has_value());
  for (int i = 0; i < 2; ++i) {
    store_.reset();
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    auto got = store_->Get(r.id);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(got->facts, r.facts);
  }
  const std::string table = Table("schema_migrations");
  EXPECT_EQ(Raw("SELECT count(*) FROM " + table), "2");
  EXPECT_EQ(Raw("SELECT count(DISTINCT version) FROM " + table), "2");
  EXPECT_EQ(Raw("SELECT max(version) FROM " + table), "2");
}

TEST_P(RecordStoreContract, MigratesADatabaseOfSchemaVersion1) {
  const ImageRecord r = PendingRecord();
  ASSERT_TRUE(store_->Create(r, std::nullopt).has_value());
  store_.reset();
  // Version 2 only added indexes: without them and its row, this is what version 1 left.
  Raw("DROP INDEX " + Table("images_by_source"));
  Raw("DROP INDEX " + Table("images_pending"));
  Raw("DELETE FROM " + Table("schema_migrations") + " WHERE version = 2");
  const std::string indexes = GetParam() == Backend::kSqlite
                                  ? "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                    "name IN ('images_by_source', 'images_pending')"
                                  : "SELECT count(*) FROM pg_indexes WHERE schemaname = '" +
                                        schema_ +
                                        "' AND indexname IN ('images_by_source', 'images_pending')";
  ASSERT_EQ(Raw(indexes), "0");
  ASSERT_EQ(Raw("SELECT max(version) FROM " + Table("schema_migrations")), "1");

  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Raw(indexes), "2");
  EXPECT_EQ(Raw("SELECT max(version) FROM " + Table("schema_migrations")), "2");
  auto found = store_->FindBySource(r.source_url);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found->id, r.id);
  auto pending = store_->ListPending("", SystemNow() + std::chrono::hours(1), 10);
  ASSERT_TRUE(pending.has_value()) << pending.error().message;
  ASSERT_EQ(pending->records.size(), 1u);
  EXPECT_EQ(pending->records[0].id, r.id);
}

TEST_P(RecordStoreContract, RefusesASchemaFromANewerImgorigin) {
  store_.reset();
  Raw("INSERT INTO " + Table("schema_migrations") + " (version" +
      (GetParam() == Backend::kSqlite ? ", applied_ms) VALUES (99, 0)" : ") VALUES (99)") +
      " RETURNING version");
  auto refused = TryOpen();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInternal);
  EXPECT_NE(refused.error().message.find("newer"), std::string::npos) << refused.error().message;
}

TEST_P(RecordStoreContract, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> failures = 0;
  std::vector<std::vector<std::string>> mine(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const ImageRecord r = i % 2 ? ReadyRecord() : PendingRecord();
        auto created = store_->Create(r, std::nullopt);
        if (!created) {
          ++failures;
          ADD_FAILURE() << created.error().message;
          continue;
        }
        mine[t].push_back(r.id);
        common::Result<ImageRecord> next =
            i % 2 ? store_->SetVariants(r.id, {{"small", "webp", 10, 10, 10, "local:///v"}})
                  : store_->MarkReady(r.id, {"gif", 2, 2, 20, Sha(t)});
        if (!next) {
          ++failures;
          ADD_FAILURE() << next.error().message;
        }
        if (i % 5 == 0 && !store_->MarkDeleted(r.id)) ++failures;
        if (!store_->Get(r.id) || !store_->List("", 5)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);

  std::set<std::string> expected;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < static_cast<int>(mine[t].size()); ++i) {
      if (i % 5 != 0) expected.insert(mine[t][i]);
    }
  }
  std::set<std::string> listed;
  for (const auto& r : ListAll(7)) {
    EXPECT_EQ(r.status, ImageStatus::kReady) << r.id;
    listed.insert(r.id);
  }
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(expected.size(), static_cast<size_t>(kThreads * (kPerThread - 5)));
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordStoreContract,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

// --- SQLite: a lock held elsewhere and a file that cannot be written ---

TEST(SqliteRecordStoreDown, LockedDatabaseGivesUnavailableWithinTheBusyTimeout) {
  const std::string dir = testing::MakeTempDir();
  SqliteRecordStore::Config config;
  config.path = dir + "/records.sqlite3";
  config.busy_timeout = milliseconds(200);
  auto store = SqliteRecordStore::Open(config);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  const ImageRecord before = ReadyRecord();
  ASSERT_TRUE((*store)->Create(before, std::nullopt).has_value());

  // Another process (here: another connection) holds the write lock.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(config.path.c_str(), &raw), SQLITE_OK);
  common::Handle<sqlite3, sqlite3_close_v2> other(raw);
  ASSERT_EQ(sqlite3_exec(other.get(), "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);

  const auto start = Clock::now();
  auto blocked = (*store)->Create(ReadyRecord(), std::nullopt);
  const auto waited = Clock::now() - start;
  ASSERT_FALSE(blocked.has_value());
  EXPECT_EQ(blocked.error().code, ErrorCode::kUnavailable) << blocked.error().message;
  EXPECT_GE(waited, milliseconds(150));
  EXPECT_LT(waited, milliseconds(3000));
  EXPECT_EQ((*store)->MarkDeleted(before.id).error().code, ErrorCode::kUnavailable);
  // WAL: readers are not blocked by a writer.
  EXPECT_TRUE((*store)->Get(before.id).has_value());

  ASSERT_EQ(sqlite3_exec(other.get(), "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_TRUE((*store)->Create(ReadyRecord(), std::nullopt).has_value());
  EXPECT_EQ((*store)->Get(before.id)->status, ImageStatus::kReady);
  std::filesystem::remove_all(dir);
}

TEST(SqliteRecordStoreDown, UnusableFileGivesUnavailable) {
  const std::string dir = testing::MakeTempDir();
  std::ofstream(dir + "/not-a-directory") << "x";
  SqliteRecordStore::Config config;
  config.path = dir + "/not-a-directory/records.sqlite3";
  auto store = SqliteRecordStore::Open(config);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(store.error().message.find(dir), std::string::npos) << "no paths in messages";

  config.path = dir;  // a directory, not a file
  store = SqliteRecordStore::Open(config);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable) << store.error().message;
  std::filesystem::remove_all(dir);
}

TEST(SqliteRecordStoreDown, NotADatabaseIsAnError) {
  const std::string dir = testing::MakeTempDir();
  std::ofstream(dir + "/records.sqlite3") << std::string(4096, 'x');
  SqliteRecordStore::Config config;
  config.path = dir + "/records.sqlite3";
  auto store = SqliteRecordStore::Open(config);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kInternal) << store.error().message;
  std::filesystem::remove_all(dir);
}

// --- PostgreSQL: stopped, frozen, and back ---

class PostgresRecordStoreDown : public ::testing::Test {
 protected:
  void SetUp() override { IMGORIGIN_REQUIRE_SERVICE(server_); }

  PostgresRecordStore::Config Config() const {
    PostgresRecordStore::Config config;
    config.conninfo = server_.conninfo();
    config.connect_timeout = milliseconds(1000);
    config.query_timeout = milliseconds(1000);
    config.acquire_timeout = milliseconds(1000);
    config.max_connections = 2;
    return config;
  }

  // Every call on a store whose server is down: kUnavailable, each well within its timeouts.
  void ExpectUnavailable(RecordStore& store, const std::string& id) {
    using Call = std::function<common::Result<void>()>;
    auto drop = [](auto result) -> common::Result<void> {
      if (result) return {};
      return std::unexpected(result.error());
    };
    const std::vector<std::pair<const char*, Call>> calls = {
        {"Get", [&] { return drop(store.Get(id)); }},
        {"List", [&] { return drop(store.List("", 10)); }},
        {"Create", [&] { return drop(store.Create(ReadyRecord(), std::nullopt)); }},
        {"MarkDeleted", [&] { return drop(store.MarkDeleted(id)); }},
    };
    for (const auto& [name, call] : calls) {
      const auto start = Clock::now();
      auto result = call();
      const auto took = Clock::now() - start;
      ASSERT_FALSE(result.has_value()) << name;
      EXPECT_EQ(result.error().code, ErrorCode::kUnavailable)
          << name << ": " << result.error().message;
      // One connect or one statement timeout (1 s), with room for a loaded machine.
      EXPECT_LT(took, milliseconds(2500)) << name;
    }
  }

  PostgresProcess server_;
};

TEST_F(PostgresRecordStoreDown, StoppedServerGivesUnavailableAndRecoversAfterRestart) {
  auto store = PostgresRecordStore::Open(Config());
  ASSERT_TRUE(store.has_value()) << store.error().message;
  const ImageRecord r = ReadyRecord();
  ASSERT_TRUE((*store)->Create(r, std::nullopt).has_value());
  ASSERT_TRUE((*store)->Get(r.id).has_value());  // leaves an idle pooled connection behind

  ASSERT_TRUE(server_.Stop());
  ExpectUnavailable(**store, r.id);

  ASSERT_TRUE(server_.Start()) << server_.error();
  // The same store, with no restart of its own: stale connections are replaced on first use.
  auto got = (*store)->Get(r.id);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->status, ImageStatus::kReady);
  EXPECT_TRUE((*store)->Create(ReadyRecord(), std::nullopt).has_value());
  EXPECT_EQ((*store)->List("", 10)->records.size(), 2u);
}

TEST_F(PostgresRecordStoreDown, FrozenServerTimesOutInsteadOfHanging) {
  auto store = PostgresRecordStore::Open(Config());
  ASSERT_TRUE(store.has_value()) << store.error().message;
  const ImageRecord r = ReadyRecord();
  ASSERT_TRUE((*store)->Create(r, std::nullopt).has_value());

  // The server accepts TCP connections (the kernel does) and reads nothing: both the pooled
  // connection's statement and new connections must run into their timeouts.
  server_.Freeze();
  ExpectUnavailable(**store, r.id);
  server_.Thaw();

  auto got = (*store)->Get(r.id);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_TRUE((*store)->MarkDeleted(r.id).has_value());
}

TEST_F(PostgresRecordStoreDown, OpenWhileDownGivesUnavailable) {
  ASSERT_TRUE(server_.Stop());
  const auto start = Clock::now();
  auto store = PostgresRecordStore::Open(Config());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable) << store.error().message;
  EXPECT_LT(Clock::now() - start, milliseconds(2500));
  EXPECT_EQ(store.error().message.find("127.0.0.1"), std::string::npos) << "no hosts in messages";

  ASSERT_TRUE(server_.Start()) << server_.error();
  store = PostgresRecordStore::Open(Config());
  ASSERT_TRUE(store.has_value()) << store.error().message;
}

TEST_F(PostgresRecordStoreDown, AllConnectionsBusyGivesUnavailableAfterTheAcquireTimeout) {
  auto config = Config();
  config.max_connections = 1;
  config.acquire_timeout = milliseconds(300);
  config.query_timeout = milliseconds(3000);
  auto store = PostgresRecordStore::Open(config);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  const ImageRecord r = ReadyRecord();
  ASSERT_TRUE((*store)->Create(r, std::nullopt).has_value());

  // One call holds the only connection on a frozen server until its statement times out.
  server_.Freeze();
  std::thread holder([&] { (void)(*store)->Get(r.id); });
  std::this_thread::sleep_for(milliseconds(200));
  const auto start = Clock::now();
  auto waited = (*store)->Get(r.id);
  const auto took = Clock::now() - start;
  holder.join();
  server_.Thaw();
  ASSERT_FALSE(waited.has_value());
  EXPECT_EQ(waited.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(waited.error().message.find("busy"), std::string::npos) << waited.error().message;
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_TRUE((*store)->Get(r.id).has_value());
}

}  // namespace
}  // namespace imgorigin::ingest
