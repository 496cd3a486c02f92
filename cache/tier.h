// The interface of the cache tiers below memory: shared (Redis, memcached), disk, S3 results.
//
// A tier stores opaque encoded entries (see entry_codec.h) under variant keys; it knows nothing
// of images, which keeps the checksum and the "garbage is a miss" rule in one place
// (TieredCache). Every call blocks on the network or the disk, so tiers are only ever called from
// TieredCache's I/O pool threads, never from an event loop; each implementation is safe to call
// from several of those threads at once. TieredCache owns the tiers it is given.
//
// A SharedTier is one that every node of a fleet sees: it also holds the render leases
// (fleet-wide coalescing) and the per-source purge generations.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace imgorigin::cache {

class Tier {
 public:
  virtual ~Tier() = default;

  // The metrics label and X-Cache suffix: "redis", "memcached", "disk", "s3".
  virtual std::string_view name() const = 0;

  // nullopt = miss. An error means the tier could not answer (down, slow, refused).
  virtual common::Result<std::optional<std::string>> Get(const std::string& key) = 0;
  // Stores `entry` with the tier's configured TTL. A tier may decline an entry it cannot hold
  // (too large) by returning false; that is not an error.
  virtual common::Result<bool> Put(const std::string& key, std::string_view entry) = 0;
  virtual common::Result<void> Erase(const std::string& key) = 0;
};

class SharedTier : public Tier {
 public:
  struct LeaseAnswer {
    bool acquired = false;
    std::optional<std::string> entry;  // the value, read in the same round trip as the lease
  };
  struct PollAnswer {
    std::optional<std::string> entry;
    bool leased = false;  // somebody still holds the render lease
  };

  // Takes the render lease for `key` if nobody holds it (it expires after `ttl` on its own), and
  // reads the entry in the same round trip so a render that finished just before is not redone.
  virtual common::Result<LeaseAnswer> TryLease(const std::string& key,
                                               std::chrono::milliseconds ttl) = 0;
  // The entry and whether the lease is still held, for nodes waiting on another node's render.
  virtual common::Result<PollAnswer> Poll(const std::string& key) = 0;
  // Put() also releases the lease once the value is visible; this releases it without a value
  // (the render failed), so waiting nodes stop waiting.
  virtual common::Result<void> ReleaseLease(const std::string& key) = 0;

  // Named counters for purge generations: 0 when absent.
  virtual common::Result<uint64_t> GetCounter(const std::string& name) = 0;
  // Increments `name`, then `epoch` (in that order, so a node that sees the new epoch reads the
  // new generation); returns the new value of `name`.
  virtual common::Result<uint64_t> IncrementWithEpoch(const std::string& name,
                                                      const std::string& epoch) = 0;
};

}  // namespace imgorigin::cache
