#include "proto/base/status_macros.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

int calls = 0;

absl::Status Counted(absl::Status s) {
  ++calls;
  return s;
}

absl::Status ReturnsFirstError(absl::Status a, absl::Status b) {
  STRATA_RETURN_IF_ERROR(Counted(a));
  STRATA_RETURN_IF_ERROR(Counted(b));
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstErrorAndEvaluatesOnce) {
  calls = 0;
  EXPECT_EQ(ReturnsFirstError(absl::NotFoundError("a"), absl::OkStatus()),
            absl::NotFoundError("a"));
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_EQ(ReturnsFirstError(absl::OkStatus(), absl::DataLossError("b")),
            absl::DataLossError("b"));
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(ReturnsFirstError(absl::OkStatus(), absl::OkStatus()).ok());
}

absl::StatusOr<std::unique_ptr<std::string>> Make(bool ok) {
  if (!ok) return absl::ResourceExhaustedError("full");
  return std::make_unique<std::string>("value");
}

absl::StatusOr<size_t> TwoAssignments(bool first, bool second) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<std::string> a, Make(first));
  std::unique_ptr<std::string> b;
  STRATA_ASSIGN_OR_RETURN(b, Make(second));  // into an existing variable
  return a->size() + b->size();
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheStatus) {
  EXPECT_EQ(*TwoAssignments(true, true), 10u);  // move-only values work
  EXPECT_EQ(TwoAssignments(false, true).status(),
            absl::ResourceExhaustedError("full"));
  EXPECT_EQ(TwoAssignments(true, false).status(),
            absl::ResourceExhaustedError("full"));
}

}  // namespace
}  // namespace strata
