#include "server/jobs/ctr_jobs.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/base/checkpoint_ids.h"
#include "proto/base/status_macros.h"
#include "server/jobs/internal/spec_rules.h"

namespace strata {
namespace jobs {
namespace {

using internal::kNoDefault;
using internal::kUnbounded;
using internal::kClosed;
using internal::kOpen;
using internal::NumberRule;

// Used when data_path is empty.
constexpr NumberRule kGeneratorRules[] = {
    {"rows", 1000000, 1, 1e12, kClosed, kClosed, "training rows, all workers"},
    {"eval_rows", 100000, 1, 1e12, kClosed, kClosed, "held-out rows"},
    {"seed", 1, 1, kUnbounded},
    {"max_vocab", 200000, 1, 4294967296.0, kClosed, kClosed,
     "vocabulary of the largest field"},
    {"groups", 100, 1, 1 << 20, kClosed, kClosed,
     "latent groups per field"},
    {"zipf", 1.1, 0, 4, kOpen, kClosed, "Zipf exponent"},
};
constexpr NumberRule kModelRules[] = {
    {"embedding_dim", 16, 1, 4096},
    {"hidden", kNoDefault, 1, 4096, kClosed, kClosed,
     "each width; default [64, 32]"},
};
constexpr int kMaxHiddenLayers = 16;

constexpr NumberRule kTrainRules[] = {
    {"epochs", 1, 1, 1000},
    {"batch_size", 1024, 1, 1 << 20, kClosed, kClosed,
     "examples per worker per step"},
    {"learning_rate", 0.05, 0, 1000, kOpen, kClosed, "embedding Adagrad"},
    {"dense_learning_rate", 0.002, 0, 1000, kOpen, kClosed, "MLP Adam"},
    {"checkpoint_id", kNoDefault, 0, kUnbounded, kClosed, kClosed,
     "0 = current Unix ms; never in the future (now + 60 s)"},
    {"seed", 1, 1, kUnbounded},
};
// data_path set and eval_path empty: the held-out tail of the file.
constexpr NumberRule kTrainFractionRule[] = {
    {"eval_fraction", 0.1, 0, 1, kOpen, kOpen,
     "with data_path and no eval_path"},
};

constexpr NumberRule kEvalRules[] = {
    {"batch_size", 4096, 1, 1 << 20},
    {"checkpoint_id", kNoDefault, 0, kUnbounded, kClosed, kClosed,
     "0 = the shards' current state"},
};
constexpr NumberRule kEvalFractionRule[] = {
    {"eval_fraction", 1, 0, 1, kOpen, kClosed, "with data_path"},
};

// Defaults shared by both jobs.
void DefaultData(const std::string& data_path, CtrGeneratorSpec* g,
                 CtrModelSpec* m) {
  if (data_path.empty()) internal::ApplyNumberDefaults(kGeneratorRules, g);
  if (m->table().empty()) m->set_table("ctr");
  internal::ApplyNumberDefaults(kModelRules, m);
  if (m->hidden().empty()) {
    m->add_hidden(64);
    m->add_hidden(32);
  }
}

absl::Status CheckData(absl::string_view job, const std::string& data_path,
                       const CtrGeneratorSpec& g, const CtrModelSpec& m) {
  STRATA_RETURN_IF_ERROR(
      internal::CheckPath(absl::StrCat(job, ".data_path"), data_path));
  if (data_path.empty()) {
    STRATA_RETURN_IF_ERROR(internal::CheckNumberRules(
        kGeneratorRules, g, absl::StrCat(job, ".generator")));
  }
  const std::string model = absl::StrCat(job, ".model");
  STRATA_RETURN_IF_ERROR(
      internal::CheckName(absl::StrCat(model, ".table"), m.table()));
  STRATA_RETURN_IF_ERROR(internal::CheckNumberRules(kModelRules, m, model));
  if (m.hidden_size() > kMaxHiddenLayers) {
    return absl::InvalidArgumentError(
        absl::StrCat(model, ".hidden has ", m.hidden_size(),
                     " layers; the limit is ", kMaxHiddenLayers));
  }
  return absl::OkStatus();
}

std::string DataReference(absl::string_view job) {
  return absl::StrCat(
      "| `", job, ".data_path` | - | path | Criteo TSV; empty: generator |\n",
      internal::RulesMarkdown(absl::StrCat(job, ".generator"),
                              kGeneratorRules),
      "| `", job, ".model.table` | ctr | name | |\n",
      internal::RulesMarkdown(absl::StrCat(job, ".model"), kModelRules));
}

class CtrTrainJobType : public JobType {
 public:
  absl::string_view name() const override { return "ctr_train"; }
  JobSpec::JobCase job_case() const override { return JobSpec::kCtrTrain; }

  void ApplyDefaults(JobSpec* spec) const override {
    CtrTrainSpec* t = spec->mutable_ctr_train();
    DefaultData(t->data_path(), t->mutable_generator(), t->mutable_model());
    internal::ApplyNumberDefaults(kTrainRules, t);
    if (HeldOutTail(*t)) {
      internal::ApplyNumberDefaults(kTrainFractionRule, t);
    }
  }

  absl::Status Validate(const JobSpec& spec,
                        const JobLimits&) const override {
    const CtrTrainSpec& t = spec.ctr_train();
    STRATA_RETURN_IF_ERROR(
        CheckData("ctr_train", t.data_path(), t.generator(), t.model()));
    STRATA_RETURN_IF_ERROR(
        internal::CheckPath("ctr_train.eval_path", t.eval_path()));
    STRATA_RETURN_IF_ERROR(
        internal::CheckNumberRules(kTrainRules, t, "ctr_train"));
    STRATA_RETURN_IF_ERROR(CheckChosenCheckpointId(
        "ctr_train.checkpoint_id", t.checkpoint_id(), absl::Now()));
    if (HeldOutTail(t)) {
      STRATA_RETURN_IF_ERROR(
          internal::CheckNumberRules(kTrainFractionRule, t, "ctr_train"));
    }
    return absl::OkStatus();
  }

  std::string Reference() const override {
    return absl::StrCat(
        internal::kRulesTableHead, DataReference("ctr_train"),
        internal::RulesMarkdown("ctr_train", kTrainRules),
        internal::RulesMarkdown("ctr_train", kTrainFractionRule),
        "| `ctr_train.eval_path` | - | path | held-out file |\n",
        "\nRules: the generator is used (and checked) only when data_path "
        "is empty; at most ", kMaxHiddenLayers, " hidden layers.\n");
  }

  bool Restartable() const override { return true; }

  // The MLP's BSP tensors are named after the model's table.
  std::vector<std::string> BspTensorPrefixes(
      const JobSpec& spec, absl::string_view) const override {
    return {absl::StrCat(spec.ctr_train().model().table(), "/")};
  }

 private:
  static bool HeldOutTail(const CtrTrainSpec& t) {
    return !t.data_path().empty() && t.eval_path().empty();
  }
};

class CtrEvalJobType : public JobType {
 public:
  absl::string_view name() const override { return "ctr_eval"; }
  JobSpec::JobCase job_case() const override { return JobSpec::kCtrEval; }

  void ApplyDefaults(JobSpec* spec) const override {
    CtrEvalSpec* e = spec->mutable_ctr_eval();
    DefaultData(e->data_path(), e->mutable_generator(), e->mutable_model());
    internal::ApplyNumberDefaults(kEvalRules, e);
    if (!e->data_path().empty()) {
      internal::ApplyNumberDefaults(kEvalFractionRule, e);
    }
  }

  absl::Status Validate(const JobSpec& spec,
                        const JobLimits&) const override {
    if (spec.num_workers() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ctr_eval runs on one worker (AUC needs every score), got "
          "num_workers ",
          spec.num_workers()));
    }
    const CtrEvalSpec& e = spec.ctr_eval();
    STRATA_RETURN_IF_ERROR(
        CheckData("ctr_eval", e.data_path(), e.generator(), e.model()));
    STRATA_RETURN_IF_ERROR(
        internal::CheckNumberRules(kEvalRules, e, "ctr_eval"));
    if (!e.data_path().empty()) {
      STRATA_RETURN_IF_ERROR(
          internal::CheckNumberRules(kEvalFractionRule, e, "ctr_eval"));
    }
    return absl::OkStatus();
  }

  std::string Reference() const override {
    return absl::StrCat(
        internal::kRulesTableHead, DataReference("ctr_eval"),
        internal::RulesMarkdown("ctr_eval", kEvalRules),
        internal::RulesMarkdown("ctr_eval", kEvalFractionRule),
        "\nRules: num_workers must be 1 (AUC needs every score); with the "
        "generator, its held-out stream is evaluated.\n");
  }
};

}  // namespace

const JobType& CtrTrainJob() {
  static const CtrTrainJobType* const kType = new CtrTrainJobType();
  return *kType;
}

const JobType& CtrEvalJob() {
  static const CtrEvalJobType* const kType = new CtrEvalJobType();
  return *kType;
}

}  // namespace jobs
}  // namespace strata
