// Job types CTR_TRAIN and CTR_EVAL (proto/job.proto, docs/ctr.md).
//
// CTR_TRAIN: every worker streams its share of the data (a byte range of
// the file, or a row range of the generator), pulls the batch's embeddings
// from the sparse table (server-side Adagrad), runs the MLP forward and
// backward, pushes the embedding gradients, and pushes the MLP gradients to
// BSP dense tensors, whose pull for step t + 1 is the barrier between
// steps. All workers run the same number of steps (derived from the largest
// share); a worker out of data pushes zero MLP gradients. At the end rank 0
// waits for the last step, writes a checkpoint and evaluates the held-out
// split (AUC, log loss). CTR_EVAL evaluates the shards' model on a dataset
// with read-only pulls that count no frequency.
//
// Restarts (docs/ctr.md, "Resuming after a restart"): every task saves a
// progress checkpoint (ctr_resume.proto: the MLP tensors' base steps, the
// steps per epoch) at the start and after each epoch. A task of a restarted
// job (TaskAssignment.attempt > 0) takes that record, reads the tensors'
// steps, and continues at step t = min over tensors of (step - base step):
// its data position follows from t, and a tensor that had already completed
// step t is not pushed again. Without a record it fails FAILED_PRECONDITION.
//
// Metrics are summed over a job's tasks by the coordinator, so every task
// reports its own throughput (examples_per_s, examples) and only rank 0
// reports train_loss, auc, logloss, eval_examples and checkpoint_id.
#ifndef STRATA_WORKER_CTR_CTR_TASKS_H_
#define STRATA_WORKER_CTR_CTR_TASKS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/job.pb.h"
#include "server/client/ps_client.h"
#include "worker/ctr/criteo.h"
#include "worker/ctr/datagen.h"
#include "worker/ctr/model.h"
#include "worker/task.h"

namespace strata {
namespace ctr {

CtrGeneratorOptions ToGeneratorOptions(const CtrGeneratorSpec& spec);
CtrModelConfig ToModelConfig(const CtrModelSpec& spec);
// Dense tensor i of the MLP (w0, b0, w1, ...): "<table>/w<l>" or "/b<l>".
std::string DenseTensorName(const std::string& table, int i);

// A stream of examples (one file byte range, or generated rows). Not
// thread-safe.
class ExampleSource {
 public:
  virtual ~ExampleSource() = default;
  virtual absl::StatusOr<bool> Next(CtrExample* out) = 0;
  virtual absl::Status Rewind() = 0;
  // Passes over the next `n` examples (fewer at the end): by default reads
  // and drops them (a file source parses the lines it skips).
  virtual absl::Status Skip(int64_t n);
  virtual int64_t malformed() const = 0;
};

// Generated rows [begin, end) of `stream`; the generator is not owned and
// must outlive the source.
std::unique_ptr<ExampleSource> GeneratedSource(const CtrGenerator* generator,
                                               uint64_t stream, uint64_t begin,
                                               uint64_t end);
std::unique_ptr<ExampleSource> FileSource(std::unique_ptr<CriteoReader> r);

// Stateless between runs. Run connects to the assigned shards, or uses the
// client given to the constructor (not owned; must outlive Run).
class CtrTrainTask final : public Task {
 public:
  CtrTrainTask() = default;
  explicit CtrTrainTask(PsClient* client) : client_(client) {}
  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& assignment,
                                  TaskContext* context) override;

 private:
  PsClient* client_ = nullptr;
};

class CtrEvalTask final : public Task {
 public:
  CtrEvalTask() = default;
  explicit CtrEvalTask(PsClient* client) : client_(client) {}
  absl::StatusOr<TaskMetrics> Run(const TaskAssignment& assignment,
                                  TaskContext* context) override;

 private:
  PsClient* client_ = nullptr;
};

}  // namespace ctr
}  // namespace strata

#endif  // STRATA_WORKER_CTR_CTR_TASKS_H_
