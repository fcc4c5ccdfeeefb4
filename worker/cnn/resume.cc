#include "worker/cnn/resume.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proto/base/status_macros.h"
#include "server/client/per_shard.h"

namespace strata {
namespace cnn {
namespace {

constexpr absl::string_view kStepKey = "step=";
constexpr absl::string_view kSnapshotKey = "snapshot=";
// The "step" tensor holds a step as two floats, each exact below 2^24.
constexpr int64_t kLowBits = 20;

// The number after `key` in `record`; 0 when the record is not of that
// kind or malformed (a record of another rank kind, or none).
int64_t RecordValue(absl::string_view record, absl::string_view key) {
  int64_t v = 0;
  if (!absl::ConsumePrefix(&record, key) || !absl::SimpleAtoi(record, &v) ||
      v < 0) {
    return 0;
  }
  return v;
}

// The least value of `key` over the records of ranks [first, first+count).
int64_t LeastRecorded(const TaskAssignment& a, uint32_t first, uint32_t count,
                      absl::string_view key) {
  int64_t least = -1;
  for (uint32_t r = first; r < first + count; ++r) {
    const int64_t v = r < static_cast<uint32_t>(a.resume_size())
                          ? RecordValue(a.resume(r), key)
                          : 0;
    least = least < 0 ? v : std::min(least, v);
  }
  return std::max<int64_t>(0, least);
}

}  // namespace

std::string StepRecord(int64_t step) { return absl::StrCat(kStepKey, step); }

std::string SnapshotRecord(int64_t step) {
  return absl::StrCat(kSnapshotKey, step);
}

int64_t RecordedNextStep(const TaskAssignment& a, uint32_t first,
                         uint32_t count) {
  return LeastRecorded(a, first, count, kStepKey) + 1;
}

int64_t RecordedSnapshot(const TaskAssignment& a, uint32_t first,
                         uint32_t count) {
  return LeastRecorded(a, first, count, kSnapshotKey);
}

absl::StatusOr<int64_t> LeastDenseStep(PsClient* client,
                                       const std::vector<std::string>& names) {
  int64_t least = -1;
  std::vector<float> values;
  for (const std::string& name : names) {
    absl::StatusOr<int64_t> step = client->PullDense(name, 0, &values);
    if (!step.ok() && !absl::IsNotFound(step.status())) return step.status();
    const int64_t s = step.ok() ? *step : 0;
    least = least < 0 ? s : std::min(least, s);
  }
  return std::max<int64_t>(1, least);
}

std::string FcSnapshots::Name(int g, absl::string_view what) const {
  return absl::StrCat(job_id_, "/snap/", g, "/fc", fc_rank_, "/", what);
}

absl::Status FcSnapshots::WriteTensor(const std::string& name,
                                      absl::Span<const float> values) {
  DenseConfig c;
  c.set_name(name);
  c.set_size(values.size());
  c.add_shape(values.size());
  c.mutable_optimizer()->set_type(OptimizerConfig::SGD);
  c.mutable_optimizer()->set_learning_rate(1.0f);
  c.set_sync(ASYNC);
  STRATA_RETURN_IF_ERROR(
      client_->admin().CreateDense(c, /*if_not_exists=*/false).status());
  std::vector<float> negated(values.begin(), values.end());
  for (float& x : negated) x = -x;
  return client_->PushDense(name, negated, 0, fc_rank_).status();
}

absl::Status FcSnapshots::Write(int64_t step, absl::Span<const float> weights,
                                absl::Span<const float> velocity) {
  const int g = static_cast<int>((step / every_) % 2);
  // The step tensor goes first: from here on generation g reads as torn.
  for (absl::string_view what : {"step", "weights", "velocity"}) {
    absl::Status dropped =
        OkOnSomeShard(client_->admin().DropTable(Name(g, what)));
    if (!dropped.ok() && !absl::IsNotFound(dropped)) return dropped;
  }
  STRATA_RETURN_IF_ERROR(WriteTensor(Name(g, "weights"), weights));
  STRATA_RETURN_IF_ERROR(WriteTensor(Name(g, "velocity"), velocity));
  const float encoded[2] = {static_cast<float>(step >> kLowBits),
                            static_cast<float>(step & ((1 << kLowBits) - 1))};
  return WriteTensor(Name(g, "step"), encoded);
}

absl::StatusOr<std::vector<float>> FcSnapshots::ReadTensor(
    const std::string& name, size_t size) const {
  std::vector<float> v(size);  // a large one is read in chunks at once
  STRATA_ASSIGN_OR_RETURN(int64_t written, client_->PullDense(name, 0, &v));
  if (written < 1 || v.size() != size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot tensor ", name, " holds ", v.size(), " values (written ",
        written, " times); expected ", size, " written once"));
  }
  return v;
}

absl::StatusOr<int64_t> FcSnapshots::GenerationStep(int g) const {
  std::vector<float> v;
  absl::StatusOr<int64_t> written = client_->PullDense(Name(g, "step"), 0, &v);
  if (absl::IsNotFound(written.status())) return 0;
  if (!written.ok()) return written.status();
  if (*written < 1 || v.size() != 2) return 0;
  return (static_cast<int64_t>(v[0]) << kLowBits) + static_cast<int64_t>(v[1]);
}

absl::StatusOr<FcSnapshots::Snapshot> FcSnapshots::Load(int64_t target,
                                                        size_t size) const {
  int64_t steps[2];
  for (int g = 0; g < 2; ++g) {
    STRATA_ASSIGN_OR_RETURN(steps[g], GenerationStep(g));
  }
  int g = steps[1] > steps[0] ? 1 : 0;  // the newest
  if (steps[1 - g] == target && target > 0) g = 1 - g;
  if (steps[g] == 0) {
    return absl::NotFoundError(absl::StrCat("FC node ", fc_rank_, " of job ",
                                            job_id_,
                                            " has no complete snapshot"));
  }
  Snapshot out;
  out.step = steps[g];
  STRATA_ASSIGN_OR_RETURN(out.weights, ReadTensor(Name(g, "weights"), size));
  STRATA_ASSIGN_OR_RETURN(out.velocity, ReadTensor(Name(g, "velocity"), size));
  return out;
}

}  // namespace cnn
}  // namespace strata
