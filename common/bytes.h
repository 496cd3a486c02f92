// Immutable, reference-counted byte buffers.
//
// Encoded images travel from a worker to the caches and to any number of HTTP replies without
// being copied: every holder keeps a reference, the last one frees the bytes. Safe to share
// across threads (the bytes never change after construction).
#pragma once

#include <memory>
#include <string>

namespace imgorigin::common {

using SharedBytes = std::shared_ptr<const std::string>;

inline SharedBytes MakeShared(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

}  // namespace imgorigin::common
