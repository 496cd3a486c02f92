// How both record stores lay a record out in a table row, and how a row is read back.
//
// The stores keep the same columns (record_store.h's contract is checked by one test suite
// against both), so reading a row into an ImageRecord is written once here. Metadata and
// variants are compact JSON text in both databases: what goes in comes back byte for byte, and
// neither backend accepts or refuses anything the other would not. Pure functions: any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "ingest/record.h"

namespace imgorigin::ingest {

struct StoredColumns {
  std::string_view id;
  std::string_view source_url;
  std::string_view status;
  std::string_view format;
  int64_t width = 0;
  int64_t height = 0;
  int64_t bytes = 0;
  std::string_view sha256;
  std::string_view metadata;
  std::string_view variants;
  std::string_view last_error;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// kInternal when a column holds something no store writes.
common::Result<ImageRecord> FromStoredColumns(const StoredColumns& row);

}  // namespace imgorigin::ingest
