#include "server/storage/push_gate.h"

#include <atomic>
#include <optional>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

TEST(PushGateTest, OpenGateLetsPushesThroughAndCountsThem) {
  PushGate gate;
  {
    absl::StatusOr<PushGate::Pass> a = gate.Enter(absl::InfinitePast());
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(gate.in_flight(), 1);
  }
  EXPECT_EQ(gate.in_flight(), 0);
  EXPECT_FALSE(gate.paused());
}

TEST(PushGateTest, PauseHoldsPushesUntilResume) {
  PushGate gate;
  ASSERT_EQ(*gate.Pause(absl::Seconds(30)), 0);
  EXPECT_TRUE(gate.paused());
  std::atomic<bool> entered{false};
  std::thread pusher([&] {
    absl::StatusOr<PushGate::Pass> p = gate.Enter(absl::InfiniteFuture());
    EXPECT_TRUE(p.ok()) << p.status();
    entered = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(entered.load()) << "a paused shard holds the push";
  gate.Resume();
  pusher.join();
  EXPECT_TRUE(entered.load());
}

TEST(PushGateTest, AHeldPushIsUnavailableAtItsDeadline) {
  PushGate gate;
  ASSERT_TRUE(gate.Pause(absl::Seconds(30)).ok());
  absl::StatusOr<PushGate::Pass> p =
      gate.Enter(absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(gate.in_flight(), 0);
}

TEST(PushGateTest, TheLeaseEndsThePauseByItself) {
  PushGate gate;
  ASSERT_TRUE(gate.Pause(absl::Milliseconds(30)).ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<PushGate::Pass> p = gate.Enter(absl::InfiniteFuture());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  EXPECT_FALSE(gate.paused());
}

TEST(PushGateTest, PauseWaitsForThePushesInFlight) {
  PushGate gate;
  std::optional<PushGate::Pass> in_flight;
  in_flight.emplace(*gate.Enter(absl::InfinitePast()));
  std::thread finisher([&] {
    absl::SleepFor(absl::Milliseconds(30));
    in_flight.reset();
  });
  absl::StatusOr<int> paused = gate.Pause(absl::Seconds(30));
  finisher.join();
  ASSERT_TRUE(paused.ok()) << paused.status();
  EXPECT_EQ(*paused, 1);
  EXPECT_EQ(gate.in_flight(), 0);
}

TEST(PushGateTest, PauseIsDeadlineExceededWhenPushesDoNotDrain) {
  PushGate gate;
  absl::StatusOr<PushGate::Pass> stuck = gate.Enter(absl::InfinitePast());
  ASSERT_TRUE(stuck.ok());
  absl::StatusOr<int> paused = gate.Pause(absl::Milliseconds(20));
  EXPECT_EQ(paused.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(paused.status().message(), "1 pushes still in flight after 20ms");
}

TEST(PushGateTest, LeaseOutsideTheBoundIsInvalidArgument) {
  PushGate gate;
  for (absl::Duration lease :
       {absl::ZeroDuration(), kMaxPushPauseLease + absl::Milliseconds(1)}) {
    EXPECT_EQ(gate.Pause(lease).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(gate.paused());
}

}  // namespace
}  // namespace strata
