// Progress checkpoints of CNN_TRAIN tasks (docs/stanza.md, "Progress
// checkpoints and restarts"): the records a task saves with
// TaskContext::SaveResume, where a restarted attempt resumes, and the FC
// nodes' weight snapshots on the parameter-server shards.
#ifndef STRATA_WORKER_CNN_RESUME_H_
#define STRATA_WORKER_CNN_RESUME_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/coordinator.pb.h"
#include "server/client/ps_client.h"

namespace strata {
namespace cnn {

// A conv or PS worker's record: it finished training step `step`.
std::string StepRecord(int64_t step);
// An FC node's record: its newest complete snapshot is of step `step`.
std::string SnapshotRecord(int64_t step);

// From TaskAssignment.resume (every rank's latest record, by rank), for
// the ranks [first, first + count): the least step every one of them
// finished plus one (1 when one has no record): where ASYNC workers resume.
int64_t RecordedNextStep(const TaskAssignment& a, uint32_t first,
                         uint32_t count);
// The least snapshot step recorded by the FC ranks [first, first + count):
// the newest snapshot every FC node wrote (0 when one wrote none).
int64_t RecordedSnapshot(const TaskAssignment& a, uint32_t first,
                         uint32_t count);

// The least step of the dense tensors `names` (a missing tensor counts 0),
// at least 1: the step a resumed BSP job trains next (DenseSync).
absl::StatusOr<int64_t> LeastDenseStep(PsClient* client,
                                       const std::vector<std::string>& names);

// FC node `fc_rank`'s snapshots: its FC weights and momentum buffers at a
// step, kept on the shards as job-scoped ASYNC dense tensors
// "<job_id>/snap/<g>/fc<f>/{weights,velocity,step}" in two generations g
// (the k-th snapshot goes to k mod 2), so that an FC node dying while it
// writes one leaves the other. Values are written exactly: a fresh tensor
// (zero initializer, plain SGD with learning rate 1) gets one push of -v
// (0 - 1 x -v == v). The "step" tensor is written last and dropped first:
// a generation without it is torn. The coordinator's TensorReaper drops
// them with the job's other "<job_id>/" tensors.
//
// Does not own the client. Thread-compatible.
class FcSnapshots {
 public:
  struct Snapshot {
    int64_t step = 0;
    std::vector<float> weights, velocity;
  };

  FcSnapshots(PsClient* client, std::string job_id, uint32_t fc_rank,
              int64_t every)
      : client_(client),
        job_id_(std::move(job_id)),
        fc_rank_(fc_rank),
        every_(every) {}

  // Writes the snapshot of `step` (a multiple of every) over the older
  // generation.
  absl::Status Write(int64_t step, absl::Span<const float> weights,
                     absl::Span<const float> velocity);
  // The snapshot of step `target` when a generation holds it completely,
  // else the newest complete one; NOT_FOUND when neither generation is
  // complete, INVALID_ARGUMENT when one does not hold `size` weights.
  absl::StatusOr<Snapshot> Load(int64_t target, size_t size) const;

  // The tensor `what` ("weights", "velocity" or "step") of generation g.
  std::string Name(int g, absl::string_view what) const;

 private:
  // The step a complete generation g holds; 0 when it is torn or absent.
  absl::StatusOr<int64_t> GenerationStep(int g) const;
  absl::Status WriteTensor(const std::string& name,
                           absl::Span<const float> values);
  absl::StatusOr<std::vector<float>> ReadTensor(const std::string& name,
                                                size_t size) const;

  PsClient* const client_;
  const std::string job_id_;
  const uint32_t fc_rank_;
  const int64_t every_;
};

}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_RESUME_H_
