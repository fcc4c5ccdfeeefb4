// Key-to-shard routing. The router is the single place that decides which
// parameter-server shard owns a key or a dense tensor; the client library uses
// it to fan out requests, shards use it to reject misrouted keys, and
// checkpoint loading uses it to re-route keys when the shard count changes.
#ifndef STRATA_SERVER_ROUTER_ROUTER_H_
#define STRATA_SERVER_ROUTER_ROUTER_H_

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "proto/base/hash.h"

namespace strata {

// The one hash of a sparse key. HashRouter routes by its high 32 bits and a
// shard's SparseTable places the key in its stripes and index by its low 32
// bits, so a shard hashes each key of a batch once (ShardForHashedKey).
inline uint64_t KeyHash(uint64_t key) { return SplitMix64(key); }

// Maps keys and dense-tensor names to shards in [0, num_shards()).
// Implementations are immutable after construction and thread-safe.
class ShardRouter {
 public:
  virtual ~ShardRouter() = default;
  virtual uint32_t num_shards() const = 0;
  // Shard that owns sparse key `key`.
  virtual uint32_t ShardForKey(uint64_t key) const = 0;
  // ShardForKey(key) for a caller that has `hash` == KeyHash(key) at hand;
  // a router that routes by KeyHash overrides it to skip hashing again.
  virtual uint32_t ShardForHashedKey(uint64_t key, uint64_t hash) const {
    (void)hash;
    return ShardForKey(key);
  }
  // Shard that owns the whole dense tensor called `name`.
  virtual uint32_t ShardForName(absl::string_view name) const = 0;
};

// Default router: KeyHash of the key (SplitMix64, proto/base/hash.h),
// reduced onto the shards with a multiply-shift (Lemire's fast range) of its
// high 32 bits, so consecutive or field-prefixed keys spread evenly. A name routes
// as the key Fnv1a64(name). The mapping is part of the checkpoint contract:
// changing it re-routes keys, which checkpoint loading handles
// (docs/checkpoint.md); router_test pins it.
class HashRouter final : public ShardRouter {
 public:
  // num_shards must be >= 1 (CHECKed: a programmer error).
  explicit HashRouter(uint32_t num_shards);

  uint32_t num_shards() const override { return num_shards_; }
  uint32_t ShardForKey(uint64_t key) const override {
    return ShardForHashedKey(key, KeyHash(key));
  }
  uint32_t ShardForHashedKey(uint64_t, uint64_t hash) const override {
    return static_cast<uint32_t>(((hash >> 32) * num_shards_) >> 32);
  }
  uint32_t ShardForName(absl::string_view name) const override;

 private:
  const uint32_t num_shards_;
};

std::unique_ptr<ShardRouter> MakeHashRouter(uint32_t num_shards);

}  // namespace strata

#endif  // STRATA_SERVER_ROUTER_ROUTER_H_
