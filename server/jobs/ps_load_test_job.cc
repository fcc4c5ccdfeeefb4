#include "server/jobs/ps_load_test_job.h"

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "server/jobs/internal/spec_rules.h"

namespace strata {
namespace jobs {
namespace {

using internal::kUnbounded;
using internal::NumberRule;

constexpr NumberRule kRules[] = {
    {"dim", 16, 1, 4096},
    {"keys_per_worker", 100000, 1, 1 << 30, {}, {}, "distinct keys per worker"},
    {"batch_size", 8192, 1, 1 << 20, {}, {}, "keys per request"},
    {"rounds", 3, 1, 1000},
    {"seed", 1, 1, kUnbounded, {}, {}, "0 means the default"},
};

// Largest pull or push one batch of the load test may send (keys x dim x 4
// bytes); well under the shards' default message limit.
constexpr uint64_t kMaxBatchBytes = uint64_t{64} << 20;

class PsLoadTestJobType : public JobType {
 public:
  absl::string_view name() const override { return "ps_load_test"; }
  JobSpec::JobCase job_case() const override { return JobSpec::kPsLoadTest; }

  void ApplyDefaults(JobSpec* spec) const override {
    PsLoadTestSpec* t = spec->mutable_ps_load_test();
    if (t->table().empty()) t->set_table("loadtest");
    internal::ApplyNumberDefaults(kRules, t);
  }

  absl::Status Validate(const JobSpec& spec,
                        const JobLimits&) const override {
    const PsLoadTestSpec& t = spec.ps_load_test();
    STRATA_RETURN_IF_ERROR(internal::CheckName("ps_load_test.table",
                                               t.table()));
    STRATA_RETURN_IF_ERROR(
        internal::CheckNumberRules(kRules, t, "ps_load_test"));
    const uint64_t batch_bytes = uint64_t{t.batch_size()} * t.dim() * 4;
    if (batch_bytes > kMaxBatchBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ps_load_test.batch_size x dim x 4 bytes = ", batch_bytes,
          " exceeds the ", kMaxBatchBytes, "-byte request limit"));
    }
    return absl::OkStatus();
  }

  std::string Reference() const override {
    return absl::StrCat(
        internal::kRulesTableHead,
        "| `ps_load_test.table` | loadtest | name | created if absent |\n",
        internal::RulesMarkdown("ps_load_test", kRules),
        "\nRules: batch_size x dim x 4 bytes <= ", kMaxBatchBytes, ".\n");
  }
};

}  // namespace

const JobType& PsLoadTestJob() {
  static const PsLoadTestJobType* const kType = new PsLoadTestJobType();
  return *kType;
}

}  // namespace jobs
}  // namespace strata
