#include "server/jobs/internal/spec_rules.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "proto/job.pb.h"

namespace strata {
namespace jobs {
namespace internal {
namespace {

constexpr NumberRule kRules[] = {
    {"dim", 16, 1, 4096},
    {"rounds", kNoDefault, 0, 10, Bound::kExclusive, Bound::kExclusive},
};

TEST(SpecRulesTest, DefaultsFillOnlyZeroFieldsWithADefault) {
  PsLoadTestSpec spec;
  ApplyNumberDefaults(kRules, &spec);
  EXPECT_EQ(spec.dim(), 16u);
  EXPECT_EQ(spec.rounds(), 0u) << "kNoDefault keeps 0";
  spec.set_dim(7);
  ApplyNumberDefaults(kRules, &spec);
  EXPECT_EQ(spec.dim(), 7u) << "a set field keeps its value";
}

TEST(SpecRulesTest, BoundsAreCheckedWithInclusiveAndExclusiveEnds) {
  PsLoadTestSpec spec;
  spec.set_dim(4096);
  spec.set_rounds(9);
  EXPECT_TRUE(CheckNumberRules(kRules, spec, "t").ok());
  spec.set_dim(4097);
  absl::Status s = CheckNumberRules(kRules, spec, "t");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "t.dim 4097 is out of range [1, 4096]");
  spec.set_dim(1);
  spec.set_rounds(10);
  EXPECT_EQ(CheckNumberRules(kRules, spec, "t").message(),
            "t.rounds 10 is out of range (0, 10)");
  spec.set_rounds(0);
  EXPECT_EQ(CheckNumberRules(kRules, spec, "").message(),
            "rounds 0 is out of range (0, 10)");
}

TEST(SpecRulesTest, LargeIntegersPrintExactly) {
  constexpr NumberRule kKeys[] = {{"keys_per_worker", 1, 1, 1 << 30}};
  PsLoadTestSpec spec;
  spec.set_keys_per_worker(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(CheckNumberRules(kKeys, spec, "t").message(),
            "t.keys_per_worker 18446744073709551615 is out of range [1, "
            "1073741824]");
}

TEST(SpecRulesTest, RepeatedFieldsAreCheckedElementByElement) {
  constexpr NumberRule kHidden[] = {{"hidden", kNoDefault, 1, 8}};
  CtrModelSpec model;
  model.add_hidden(8);
  model.add_hidden(9);
  EXPECT_EQ(CheckNumberRules(kHidden, model, "m").message(),
            "m.hidden 9 is out of range [1, 8]");
}

TEST(SpecRulesTest, RuleNamingNoNumericFieldIsAProgrammerBug) {
  constexpr NumberRule kBad[] = {{"table", 1, 0, 1}};
  PsLoadTestSpec spec;
  EXPECT_DEATH(ApplyNumberDefaults(kBad, &spec), "no numeric field 'table'");
}

TEST(SpecRulesTest, LabelsAndPathsRefuseControlCharacters) {
  EXPECT_TRUE(CheckLabel("name", "my job (v2)", 256).ok());
  EXPECT_EQ(CheckLabel("name", "a\nb", 256).message(),
            "name holds a control character");
  EXPECT_EQ(CheckLabel("name", std::string(300, 'x'), 256).message(),
            "name is 300 bytes; the limit is 256");
  EXPECT_TRUE(CheckPath("p", "").ok());
  EXPECT_EQ(CheckPath("p", std::string(4097, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SpecRulesTest, WellFormedRefusesUnknownEnumValuesEverywhere) {
  JobSpec spec;
  spec.mutable_cnn_train()->set_mode(static_cast<CnnTrainSpec::Mode>(7));
  absl::Status s = CheckWellFormed(spec, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "cnn_train.mode 7 is not a value of Mode");
  spec.mutable_cnn_train()->set_mode(CnnTrainSpec::PS);
  spec.mutable_cnn_train()->set_sync(static_cast<CnnTrainSpec::Sync>(-1));
  EXPECT_EQ(CheckWellFormed(spec, "").message(),
            "cnn_train.sync -1 is not a value of Sync");
}

TEST(SpecRulesTest, WellFormedRefusesNonFiniteNumbersInNestedMessages) {
  JobSpec spec;
  spec.mutable_ctr_train()->mutable_generator()->set_zipf(
      std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(CheckWellFormed(spec, "").message(),
            "ctr_train.generator.zipf is nan; it must be finite");
  spec.mutable_ctr_train()->mutable_generator()->set_zipf(1);
  spec.mutable_ctr_train()->set_learning_rate(
      -std::numeric_limits<float>::infinity());
  EXPECT_EQ(CheckWellFormed(spec, "").message(),
            "ctr_train.learning_rate is -inf; it must be finite");
}

TEST(SpecRulesTest, WellFormedBoundsStringsAndRepeatedFields) {
  JobSpec spec;
  spec.set_name(std::string(kMaxStringBytes + 1, 'x'));
  EXPECT_EQ(CheckWellFormed(spec, "").message(),
            "name is 4097 bytes; the limit is 4096");
  spec.clear_name();
  for (int i = 0; i <= kMaxRepeated; ++i) {
    spec.mutable_cnn_train()->add_conv_devices("cpu");
  }
  EXPECT_EQ(CheckWellFormed(spec, "").message(),
            "cnn_train.conv_devices has 1025 entries; the limit is 1024");
}

TEST(SpecRulesTest, WellFormedRefusesFieldsThisBuildDoesNotKnow) {
  JobSpec spec;
  spec.mutable_ps_load_test()->set_dim(4);
  std::string wire = spec.SerializeAsString();
  // Field 99 of ps_load_test, varint 1: tag (99 << 3 | 0) = 792 -> 0x98 0x06.
  std::string inner = spec.ps_load_test().SerializeAsString() + "\x98\x06\x01";
  JobSpec parsed;
  ASSERT_TRUE(parsed.mutable_ps_load_test()->ParseFromString(inner));
  absl::Status s = CheckWellFormed(parsed, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "ps_load_test has a field this build does not know (number 99); "
            "is the client newer than the server?");
}

TEST(SpecRulesTest, MarkdownRowsShowDefaultsAndRanges) {
  EXPECT_EQ(RulesMarkdown("t", kRules),
            "| `t.dim` | 16 | [1, 4096] |  |\n"
            "| `t.rounds` | - | (0, 10) |  |\n");
}

}  // namespace
}  // namespace internal
}  // namespace jobs
}  // namespace strata
