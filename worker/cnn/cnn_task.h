// CNN_TRAIN tasks (docs/stanza.md): one Task class that runs, depending on
// the job's mode and the assignment's role, a Stanza conv worker, a Stanza
// FC node, or a PS-mode worker that trains the whole model.
#ifndef STRATA_WORKER_CNN_CNN_TASK_H_
#define STRATA_WORKER_CNN_CNN_TASK_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "server/client/ps_client.h"
#include "worker/cnn/fc_service.h"
#include "worker/task.h"

namespace strata {
namespace cnn {

// True when `assignment` makes its CnnTrainTask an FC node (a STANZA job
// and the FC role), which needs the worker's StanzaFc service.
bool ServesFc(const TaskAssignment& assignment);

// The bytes of images one CNN_TRAIN task may load (the worker's
// --max_task_dataset_mb, docs/limits.md): set by the worker's main in the
// daemon and in each task process before any task runs, as
// SetTaskCredentials; default jobs::JobLimits().max_dataset_bytes. A task
// reading MNIST/IDX or CIFAR-10 files passes it to the readers as both caps
// of nn::ReadOptions (a file's bytes grow fourfold as floats, so a file
// over it cannot fit), and its train and test images together (float32)
// must fit it too (checked once loaded, so a task holds at most twice the
// cap); otherwise the task fails RESOURCE_EXHAUSTED naming the flag.
// Thread-safe.
void SetTaskDatasetCap(uint64_t max_dataset_bytes);
uint64_t TaskDatasetCap();

// A restarted job's task (TaskAssignment.attempt > 0) resumes from the
// job's progress checkpoint, and every task saves its progress records
// (docs/stanza.md, "Progress checkpoints and restarts"; worker/cnn/resume.h).
//
// Does not own the host or the client. `host` (null when the worker serves
// no RPCs) is needed by FC-role tasks; `client` (null: connect to the
// assignment's shards) lets tests share one. Thread-compatible: one Run
// per instance.
class CnnTrainTask : public Task {
 public:
  explicit CnnTrainTask(FcServiceHost* host, PsClient* client = nullptr)
      : host_(host), client_(client) {}
  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& assignment,
                              TaskContext* context) override;
  // After a successful FC-role Run: the FC part's final weights, every
  // parameter concatenated in model order (tests compare them).
  const std::vector<float>& fc_weights() const { return fc_weights_; }

 private:
  std::vector<float> fc_weights_;
  FcServiceHost* const host_;
  PsClient* const client_;
};

}  // namespace cnn
}  // namespace strata

#endif  // STRATA_WORKER_CNN_CNN_TASK_H_
