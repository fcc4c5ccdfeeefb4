// Fuzz target: job-spec parsing and the job-type rules. The first input byte
// picks how the rest is parsed: as a binary JobSpec (what SubmitJob
// receives), as text format, or as JSON (what `stratactl submit` reads).
// Properties checked on every input, beyond "no crash, no sanitizer report":
//   - a spec PrepareJobSpec accepts also passes ValidateJobSpec (what a
//     worker re-checks), and preparing it again changes nothing;
//   - every error is INVALID_ARGUMENT;
//   - a prepared spec's role needs add up to num_workers;
//   - a prepared CNN_TRAIN spec's model (preset or model_spec) infers with
//     the default limits, as the workers that build it re-check.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "glog/logging.h"
#include "proto/job.pb.h"
#include "server/jobs/cnn_model_spec.h"
#include "server/jobs/job_types.h"

namespace {

bool Parse(const uint8_t* data, size_t size, strata::JobSpec* spec) {
  if (size == 0) return false;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      return spec->ParseFromString(body);
    case 1: {
      google::protobuf::TextFormat::Parser parser;
      parser.AllowPartialMessage(false);
      return parser.ParseFromString(body, spec);
    }
    default:
      return google::protobuf::util::JsonStringToMessage(body, spec).ok();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  strata::JobSpec spec;
  if (!Parse(data, size, &spec)) return 0;
  strata::jobs::JobLimits limits;
  limits.max_workers = 64;
  const absl::Status prepared = strata::jobs::PrepareJobSpec(limits, &spec);
  if (!prepared.ok()) {
    CHECK(absl::IsInvalidArgument(prepared)) << prepared;
    return 0;
  }
  const absl::Status valid = strata::jobs::ValidateJobSpec(limits, spec);
  CHECK(valid.ok()) << "prepared spec fails validation: " << valid << "\n"
                    << spec.DebugString();
  strata::JobSpec again = spec;
  CHECK(strata::jobs::PrepareJobSpec(limits, &again).ok());
  CHECK_EQ(again.SerializeAsString(), spec.SerializeAsString())
      << "preparing twice changed the spec";
  uint64_t tasks = 0;
  for (const strata::jobs::RoleNeed& need : strata::jobs::RoleNeeds(spec)) {
    tasks += need.count;
  }
  CHECK_EQ(tasks, spec.num_workers());
  if (spec.has_cnn_train()) {
    strata::jobs::CnnModelDef model;
    const auto info = strata::jobs::InferSpecModel(
        spec.cnn_train(), strata::jobs::CnnModelLimits(), &model);
    CHECK(info.ok()) << info.status();
  }
  return 0;
}
