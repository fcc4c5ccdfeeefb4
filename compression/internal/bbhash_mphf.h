// A minimal perfect hash over 64-bit keys: BBHash ("Fast and scalable
// minimal perfect hashing for massive key sets", Limasset et al. 2017), from
// Debian's header-only libbbhash-dev (/usr/include/BooPHF.h). The one place
// that includes BooPHF.h: it keeps the library's exceptions, threads and
// byte format behind a Status API.
//
// What is contained here:
// * Exceptions. BooPHF allocates with new/std::vector/std::unordered_map
//   and can throw std::bad_alloc (and std::system_error from its pthread
//   use). Build() and Deserialize() catch every exception and answer
//   RESOURCE_EXHAUSTED; nothing escapes to callers (the rest of Strata has
//   no exceptions).
// * Threads and files. Built with one thread, no progress bar and
//   writeEach = false, so it never writes temporary files into the working
//   directory and never prints. Construction memory is bounded: the level
//   bit arrays (about gamma * e^(1/gamma) bits per key) plus a buffer of at
//   most 3% of the keys (its "fast mode").
// * Determinism. The hash seeds are the library's constants; with one
//   thread the same keys in the same order give the same bytes.
// * Untrusted bytes. Deserialize() validates the whole byte layout (every
//   level's size against the size the library derives from (n, gamma), the
//   rank and final-hash counts, the total length) before the library reads
//   it, so corrupt input cannot make it allocate beyond a small multiple of
//   the input or read out of bounds. A structurally valid but wrong
//   function can only return wrong positions, which Lookup bounds to
//   [0, n) or kNotFound.
#ifndef STRATA_COMPRESSION_INTERNAL_BBHASH_MPHF_H_
#define STRATA_COMPRESSION_INTERNAL_BBHASH_MPHF_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strata::compression::internal {

// Immutable after Build/Deserialize; Lookup is safe from any number of
// threads (the library's lookup only reads). Owns the function; movable.
class BBHashMphf {
 public:
  static constexpr uint64_t kNotFound = ~uint64_t{0};
  // Bits of level-0 array per key. 2 builds ~2x faster and looks up
  // faster than 1 for ~0.6 more bits per key (saec_bench, docs/saec.md).
  static constexpr double kDefaultGamma = 2.0;

  // keys must be distinct (the caller checks: duplicates would all end in
  // the library's fallback map). gamma in [1, 16].
  static absl::StatusOr<BBHashMphf> Build(absl::Span<const uint64_t> keys,
                                          double gamma = kDefaultGamma);
  // INVALID_ARGUMENT if `bytes` is not a function Serialize() could have
  // written for `n` keys; RESOURCE_EXHAUSTED if the library threw.
  static absl::StatusOr<BBHashMphf> Deserialize(absl::string_view bytes,
                                                uint64_t n);

  BBHashMphf(BBHashMphf&&) noexcept;
  BBHashMphf& operator=(BBHashMphf&&) noexcept;
  ~BBHashMphf();

  // A position in [0, size()) for a key of the build (distinct keys get
  // distinct positions); for other keys either kNotFound or any position.
  uint64_t Lookup(uint64_t key) const;
  uint64_t size() const { return n_; }
  // Heap bytes: level bit arrays and rank samples, plus ~48 bytes per key
  // of the library's final std::unordered_map (a handful of keys).
  size_t bytes() const { return bytes_; }
  // bytes() of a function of n keys, without building it (the final map,
  // a handful of keys, not counted).
  static size_t PredictBytes(uint64_t n, double gamma = kDefaultGamma);
  // The library's own byte format (BooPHF.h save()), little-endian;
  // RESOURCE_EXHAUSTED if the library threw.
  absl::StatusOr<std::string> Serialize() const;

 private:
  struct Impl;
  BBHashMphf(std::unique_ptr<Impl> impl, uint64_t n, size_t bytes);

  std::unique_ptr<Impl> impl_;  // null when n_ == 0
  uint64_t n_ = 0;
  size_t bytes_ = 0;
};

}  // namespace strata::compression::internal

#endif  // STRATA_COMPRESSION_INTERNAL_BBHASH_MPHF_H_
