#include "server/jobs/cnn_model_summary.h"

#include <string>

#include "gtest/gtest.h"

namespace strata {
namespace jobs {
namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(CnnModelSummaryTest, ListsLayersPartsAndTheByteFormulaOfAlexNet) {
  JobSpec spec;
  spec.mutable_cnn_train()->set_model("alexnet");
  spec.mutable_cnn_train()->set_batch_size(64);
  absl::StatusOr<std::string> s = CnnJobSummaryText(spec);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(Has(*s,
                  "model alexnet: input 3x32x32, 17 layers, conv part = "
                  "layers[0, 10)\n"))
      << *s;
  EXPECT_TRUE(Has(*s,
                  "   3  conv2        CONV      128x16x16           73856"
                  "        37.75\n"))
      << *s;
  EXPECT_TRUE(Has(*s, "---- split: boundary D = 4096 floats per image ----"));
  EXPECT_TRUE(Has(*s,
                  "fc   part:     33603594 params ( 98.9%),      67.19 "
                  "MFLOP fwd,     201.57 MFLOP fwd+bwd per image\n"))
      << *s;
  // docs/stanza.md "Byte formula": PS 271.8 MB, STANZA 5.06 MB, ratio 53.7.
  EXPECT_TRUE(
      Has(*s, "  PS      pull 135.90 MB + push 135.90 MB = 271.80 MB\n"));
  EXPECT_TRUE(Has(*s,
                  "  STANZA  pull 1.48 MB + push 1.48 MB + activations "
                  "1.05 MB + gradients 1.05 MB = 5.06 MB\n"));
  EXPECT_TRUE(
      Has(*s, "  ratio PS / STANZA = 53.7: STANZA moves fewer bytes\n"));
}

TEST(CnnModelSummaryTest, SmallModelsSayStanzaDoesNotPayOff) {
  JobSpec spec;
  CnnTrainSpec* c = spec.mutable_cnn_train();
  c->set_batch_size(4096);  // lenet5 (default): 4096 x 400 floats each way
  c->set_fp16_wire(true);
  absl::StatusOr<std::string> s = CnnJobSummaryText(spec);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(Has(*s, "at batch 4096 (fp16 wire)")) << *s;
  EXPECT_TRUE(Has(*s, "STANZA does not pay off in bytes")) << *s;
}

TEST(CnnModelSummaryTest, RejectsWhatSubmitRejects) {
  JobSpec spec;
  EXPECT_EQ(CnnJobSummaryText(spec).status().message(),
            "the spec is no cnn_train job");
  spec.mutable_cnn_train()->set_model("resnet");
  absl::Status s = CnnJobSummaryText(spec).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "cnn_train.model 'resnet' is not one of lenet5, alexnet, vgg");
}

}  // namespace
}  // namespace jobs
}  // namespace strata
