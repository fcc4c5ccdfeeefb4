#include "worker/ctr/datagen.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "proto/base/hash.h"

namespace strata {
namespace ctr {
namespace {

constexpr int kMaxBuckets = 80;

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) out->push_back(buf[--n]);
}

void AppendHex8(uint32_t v, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int s = 28; s >= 0; s -= 4) out->push_back(kDigits[(v >> s) & 15]);
}

}  // namespace

CtrGenerator::CtrGenerator(CtrGeneratorOptions options) : options_(options) {
  std::mt19937_64 rng(SplitMix64(options_.seed ^ 0x5eedULL));
  for (int j = 0; j < kNumCatFields; ++j) {
    const uint64_t v = std::max<uint64_t>(
        50, static_cast<uint64_t>(options_.max_vocab / std::pow(1.0 + j, 1.2)));
    std::vector<double> cdf(v);
    double sum = 0;
    for (uint64_t r = 0; r < v; ++r) {
      sum += 1.0 / std::pow(static_cast<double>(r + 1), options_.zipf);
      cdf[r] = sum;
    }
    for (double& c : cdf) c /= sum;
    cdf_.push_back(std::move(cdf));
    const int g = static_cast<int>(std::clamp<uint64_t>(
        static_cast<uint64_t>(std::max(options_.groups, 1)), 1, v / 4));
    groups_.push_back(g);
    const double spread = 0.5 / std::sqrt(1.0 + j / 8.0);
    std::normal_distribution<float> group_w(0.0f, spread);
    std::vector<float> gw(g);
    for (float& w : gw) w = group_w(rng);
    std::normal_distribution<float> noise(0.0f, options_.noise * spread);
    std::vector<float> effect(v);
    for (uint64_t r = 0; r < v; ++r) effect[r] = gw[GroupOf(j, r)] + noise(rng);
    effect_.push_back(std::move(effect));
  }
  std::normal_distribution<float> bucket_w(0.0f, 0.25f);
  for (int i = 0; i < kNumIntFields; ++i) {
    std::vector<float> e(kMaxBuckets);
    for (float& w : e) w = bucket_w(rng);
    int_effect_.push_back(std::move(e));
    int_log_max_.push_back(std::log(1.0 + std::pow(10.0, 1 + i % 5)));
  }
}

int CtrGenerator::GroupOf(int cat_field, uint64_t rank) const {
  return static_cast<int>(SplitMix64(options_.seed ^ (uint64_t{0xca7} << 40) ^
                                     (static_cast<uint64_t>(cat_field) << 32) ^
                                     rank) %
                          static_cast<uint64_t>(groups_[cat_field]));
}

double CtrGenerator::Uniform(uint64_t stream, uint64_t index,
                             uint64_t column) const {
  const uint64_t h =
      SplitMix64(SplitMix64(options_.seed ^ (stream << 56) ^ index) ^
                 (column * kGoldenGamma));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

uint64_t CtrGenerator::SampleRank(int cat_field, double u) const {
  const std::vector<double>& cdf = cdf_[cat_field];
  const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
  return std::min<uint64_t>(it - cdf.begin(), cdf.size() - 1);
}

bool CtrGenerator::Drawable(int cat_field, uint64_t rank) const {
  if (options_.vocab_share >= 1) return true;
  const uint64_t h =
      SplitMix64(options_.seed ^ (uint64_t{0xa11} << 44) ^
                 (static_cast<uint64_t>(cat_field) << 32) ^ rank);
  return static_cast<double>(h >> 11) * 0x1.0p-53 < options_.vocab_share;
}

double CtrGenerator::AppendRow(uint64_t stream, uint64_t index,
                               std::string* out) const {
  const size_t label_at = out->size();
  out->push_back('0');  // label, fixed below
  double logit = options_.bias;
  uint64_t col = 0;
  for (int i = 0; i < kNumIntFields; ++i, col += 2) {
    out->push_back('\t');
    if (Uniform(stream, index, col) < options_.missing_rate) continue;
    const uint64_t v = static_cast<uint64_t>(
        std::exp(Uniform(stream, index, col + 1) * int_log_max_[i]) - 1.0);
    AppendUint(v, out);
    logit += int_effect_[i][std::clamp<int64_t>(
        BucketizeInt(static_cast<int64_t>(v)) + 1, 0, kMaxBuckets - 1)];
  }
  float top[2] = {0, 0};
  for (int j = 0; j < kNumCatFields; ++j, col += 2) {
    out->push_back('\t');
    if (Uniform(stream, index, col) < options_.missing_rate) continue;
    uint64_t r = SampleRank(j, Uniform(stream, index, col + 1));
    for (uint64_t redraw = 1; !Drawable(j, r) && redraw < 64; ++redraw) {
      r = SampleRank(j, Uniform(stream, index, col + 1 + (redraw << 20)));
    }
    AppendHex8(static_cast<uint32_t>(SplitMix64(
                   options_.seed ^ (static_cast<uint64_t>(j) << 40) ^ r)),
               out);
    logit += effect_[j][r];
    if (j < 2) top[j] = effect_[j][r];
  }
  logit += 2.0 * top[0] * top[1];
  out->push_back('\n');
  const double p = 1.0 / (1.0 + std::exp(-logit));
  if (Uniform(stream, index, col) < p) (*out)[label_at] = '1';
  return p;
}

}  // namespace ctr
}  // namespace strata
