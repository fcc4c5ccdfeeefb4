#include "compression/internal/bbhash_mphf.h"

#include <BooPHF.h>

#include <cmath>
#include <cstring>
#include <exception>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace strata::compression::internal {
namespace {

using Function = boomphf::mphf<uint64_t, boomphf::SingleHashFunctor<uint64_t>>;

// Library constants the byte format depends on (BooPHF.h).
constexpr int kMaxLevels = 64;       // accepted when reading
constexpr int kBuiltLevels = 25;     // what mphf::setup() builds
constexpr uint64_t kRankBits = 512;  // bitVector::_nb_bits_per_rank_sample
constexpr size_t kFinalEntryHeapBytes = 48;  // unordered_map node + bucket

// Bounds-checked reads of the library's format.
class Reader {
 public:
  explicit Reader(absl::string_view b) : b_(b) {}
  template <typename T>
  bool Get(T* out) {
    if (b_.size() < sizeof(T)) return false;
    std::memcpy(out, b_.data(), sizeof(T));
    b_.remove_prefix(sizeof(T));
    return true;
  }
  bool Skip(uint64_t words) {  // 64-bit words
    if (words > b_.size() / 8) return false;
    b_.remove_prefix(words * 8);
    return true;
  }
  bool done() const { return b_.empty(); }

 private:
  absl::string_view b_;
};

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("corrupt minimal perfect hash: ", what));
}

// The bit-array size of each level, computed exactly as BooPHF's setup()
// and load() do (same expressions, same types), from n and gamma.
uint64_t LevelBits(uint64_t n, double gamma, int level) {
  const uint64_t hash_domain = static_cast<size_t>(ceil(double(n) * gamma));
  const double p =
      1.0 - pow(((gamma * (double)n - 1) / (gamma * (double)n)), n - 1);
  uint64_t bits = (((uint64_t)(hash_domain * pow(p, level)) + 63) / 64) * 64;
  return bits == 0 ? 64 : bits;
}

// Checks that `b` is exactly what save() writes for a function of n keys
// and returns its heap bytes; nothing is allocated.
absl::StatusOr<size_t> CheckLayout(absl::string_view b, uint64_t n) {
  Reader r(b);
  double gamma;
  int levels;
  uint64_t last_rank, nelem;
  if (!r.Get(&gamma) || !r.Get(&levels) || !r.Get(&last_rank) ||
      !r.Get(&nelem)) {
    return Invalid("truncated header");
  }
  if (!(gamma >= 1.0 && gamma <= 16.0) || levels < 1 || levels > kMaxLevels ||
      nelem != n || last_rank > n) {
    return Invalid(absl::StrCat("header (gamma ", gamma, ", ", levels,
                                " levels, ", nelem, " keys, expected ", n,
                                ")"));
  }
  size_t bytes = 0;
  for (int i = 0; i < levels; ++i) {
    uint64_t bits, words, ranks;
    if (!r.Get(&bits) || !r.Get(&words)) return Invalid("truncated level");
    if (bits != LevelBits(n, gamma, i) || words != 1 + bits / 64) {
      return Invalid(absl::StrCat("level ", i, " has ", bits, " bits"));
    }
    if (!r.Skip(words) || !r.Get(&ranks)) return Invalid("truncated level");
    if (ranks != (words * 64 + kRankBits - 1) / kRankBits || !r.Skip(ranks)) {
      return Invalid(absl::StrCat("level ", i, " has ", ranks, " ranks"));
    }
    bytes += (words + ranks) * sizeof(uint64_t);
  }
  uint64_t final_keys;
  if (!r.Get(&final_keys) || final_keys > n - last_rank ||
      !r.Skip(2 * final_keys) || !r.done()) {
    return Invalid("final map size or trailing bytes");
  }
  return bytes + final_keys * kFinalEntryHeapBytes;
}

}  // namespace

struct BBHashMphf::Impl {
  Impl() = default;  // for load()
  template <typename... Args>
  explicit Impl(Args&&... args) : f(std::forward<Args>(args)...) {}
  Function f;  // lookup() is not const in the library but only reads
};

BBHashMphf::BBHashMphf(std::unique_ptr<Impl> impl, uint64_t n, size_t bytes)
    : impl_(std::move(impl)), n_(n), bytes_(bytes) {}
BBHashMphf::BBHashMphf(BBHashMphf&&) noexcept = default;
BBHashMphf& BBHashMphf::operator=(BBHashMphf&&) noexcept = default;
BBHashMphf::~BBHashMphf() = default;

absl::StatusOr<BBHashMphf> BBHashMphf::Build(absl::Span<const uint64_t> keys,
                                             double gamma) {
  if (!(gamma >= 1.0 && gamma <= 16.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gamma ", gamma, " is outside [1, 16]"));
  }
  const uint64_t n = keys.size();
  if (n == 0) return BBHashMphf(nullptr, 0, 0);
  std::unique_ptr<Impl> impl;
  std::string bytes;
  try {
    const std::vector<uint64_t> input(keys.begin(), keys.end());
    impl = std::make_unique<Impl>(n, input, /*num_thread=*/1, gamma,
                                  /*writeEach=*/false, /*progress=*/false);
    std::ostringstream os;
    impl->f.save(os);
    bytes = os.str();
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "building a minimal perfect hash of ", n, " keys failed: ", e.what()));
  }
  absl::StatusOr<size_t> heap = CheckLayout(bytes, n);
  if (!heap.ok()) {  // the library and CheckLayout disagree: a bug
    return absl::InternalError(heap.status().message());
  }
  return BBHashMphf(std::move(impl), n, *heap);
}

absl::StatusOr<BBHashMphf> BBHashMphf::Deserialize(absl::string_view bytes,
                                                   uint64_t n) {
  if (n == 0) {
    if (!bytes.empty()) return Invalid("bytes for an empty function");
    return BBHashMphf(nullptr, 0, 0);
  }
  absl::StatusOr<size_t> heap = CheckLayout(bytes, n);
  if (!heap.ok()) return heap.status();
  auto impl = std::make_unique<Impl>();
  try {
    std::istringstream is{std::string(bytes)};
    impl->f.load(is);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "loading a minimal perfect hash of ", n, " keys failed: ", e.what()));
  }
  return BBHashMphf(std::move(impl), n, *heap);
}

size_t BBHashMphf::PredictBytes(uint64_t n, double gamma) {
  if (n == 0) return 0;
  size_t bytes = 0;
  for (int i = 0; i < kBuiltLevels; ++i) {
    const uint64_t words = 1 + LevelBits(n, gamma, i) / 64;
    bytes += (words + (words * 64 + kRankBits - 1) / kRankBits) * 8;
  }
  return bytes;
}

uint64_t BBHashMphf::Lookup(uint64_t key) const {
  if (impl_ == nullptr) return kNotFound;
  const uint64_t pos = impl_->f.lookup(key);
  return pos < n_ ? pos : kNotFound;
}

absl::StatusOr<std::string> BBHashMphf::Serialize() const {
  if (impl_ == nullptr) return std::string();
  try {
    std::ostringstream os;
    impl_->f.save(os);
    return os.str();
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("serializing a minimal perfect hash failed: ", e.what()));
  }
}

}  // namespace strata::compression::internal
