// One result per shard, for calls that go to several parameter-server shards
// (PsAdminClient): callers see exactly which shards failed and why, and
// merge with the helpers below when all they need is one status.
#ifndef STRATA_SERVER_CLIENT_PER_SHARD_H_
#define STRATA_SERVER_CLIENT_PER_SHARD_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace strata {

// One shard's outcome of a call. Plain value.
template <typename T>
struct ShardResult {
  uint32_t shard = 0;
  std::string address;
  // The shard's reply, or its error; the message names the method, the shard
  // and its address ("Checkpoint on ps shard 1 127.0.0.1:5000: disk full").
  absl::StatusOr<T> response = absl::UnknownError("not called");

  bool ok() const { return response.ok(); }
  const absl::Status& status() const { return response.status(); }
};

// Results by shard id: element i is shard i's.
template <typename T>
using PerShard = std::vector<ShardResult<T>>;

// OK when every shard succeeded, else the first failure by shard id.
template <typename T>
absl::Status AllOk(const PerShard<T>& results) {
  for (const ShardResult<T>& r : results) {
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

// Every shard's reply by shard id, or the first failure by shard id.
template <typename T>
absl::StatusOr<std::vector<T>> RequireAllOk(PerShard<T> results) {
  std::vector<T> out;
  out.reserve(results.size());
  for (ShardResult<T>& r : results) {
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r.response));
  }
  return out;
}

// How many shards succeeded.
template <typename T>
size_t CountOk(const PerShard<T>& results) {
  size_t n = 0;
  for (const ShardResult<T>& r : results) n += r.ok();
  return n;
}

// For a name that lives on some shards only (a dense tensor lives on one):
// OK when at least one shard succeeded and every other answered NOT_FOUND;
// else the first failure that is not NOT_FOUND, or the first NOT_FOUND when
// no shard had it.
template <typename T>
absl::Status OkOnSomeShard(const PerShard<T>& results) {
  const absl::Status* not_found = nullptr;
  bool any_ok = false;
  for (const ShardResult<T>& r : results) {
    if (r.ok()) {
      any_ok = true;
    } else if (r.status().code() != absl::StatusCode::kNotFound) {
      return r.status();
    } else if (not_found == nullptr) {
      not_found = &r.status();
    }
  }
  if (any_ok || not_found == nullptr) return absl::OkStatus();
  return *not_found;
}

}  // namespace strata

#endif  // STRATA_SERVER_CLIENT_PER_SHARD_H_
