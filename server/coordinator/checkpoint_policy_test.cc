#include "server/coordinator/checkpoint_policy.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/client/ps_admin_client.h"
#include "server/ps/testing/local_shards.h"
#include "server/util/clock.h"

namespace strata {
namespace {

CheckpointPolicy::Options Every(absl::Duration every) {
  CheckpointPolicy::Options o;
  o.every = every;
  o.background_thread = false;
  return o;
}

TEST(CheckpointPolicyTest, ChecksPointsEveryIntervalWithTheClocksId) {
  FakeClock clock;
  std::vector<uint64_t> ids;
  CheckpointPolicy policy(Every(absl::Seconds(300)), &clock, [&](uint64_t id) {
    ids.push_back(id);
    return CheckpointPolicy::Written();
  });
  EXPECT_EQ(policy.MaybeCheckpoint(), std::nullopt);
  clock.Advance(absl::Seconds(299));
  EXPECT_EQ(policy.MaybeCheckpoint(), std::nullopt);
  clock.Advance(absl::Seconds(1));
  ASSERT_EQ(policy.MaybeCheckpoint(), absl::OkStatus());
  EXPECT_EQ(policy.MaybeCheckpoint(), std::nullopt) << "not due again yet";
  clock.Advance(absl::Seconds(300));
  ASSERT_EQ(policy.MaybeCheckpoint(), absl::OkStatus());
  const uint64_t first = absl::ToUnixMillis(absl::UnixEpoch() + absl::Hours(1) +
                                            absl::Seconds(300));
  EXPECT_EQ(ids, (std::vector<uint64_t>{first, first + 300000}));
  EXPECT_EQ(policy.counters().written, 2u);
  EXPECT_EQ(policy.counters().last_written_id, first + 300000);
}

TEST(CheckpointPolicyTest, AFailureIsCountedAndTheNextIsAnIntervalLater) {
  FakeClock clock;
  int calls = 0;
  CheckpointPolicy policy(
      Every(absl::Seconds(10)), &clock,
      [&](uint64_t) -> absl::StatusOr<CheckpointPolicy::Written> {
        ++calls;
        return absl::UnavailableError("shard 1 down");
      });
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(policy.MaybeCheckpoint(), absl::UnavailableError("shard 1 down"));
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(policy.MaybeCheckpoint(), std::nullopt);
  clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(policy.MaybeCheckpoint()->ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(policy.counters().failed, 2u);
  EXPECT_EQ(policy.counters().written, 0u);
}

TEST(CheckpointPolicyTest, ZeroIntervalIsOff) {
  FakeClock clock;
  CheckpointPolicy policy(Every(absl::ZeroDuration()), &clock, [](uint64_t) {
    return CheckpointPolicy::Written();
  });
  clock.Advance(absl::Hours(100));
  EXPECT_EQ(policy.MaybeCheckpoint(), std::nullopt);
}

TEST(CheckpointPolicyTest, RequestedIdsOnlyGrowAndAreRecordedFirst) {
  FakeClock clock;
  std::vector<uint64_t> used;
  std::vector<uint64_t> recorded;
  absl::Status record_status;
  CheckpointPolicy policy(
      Every(absl::ZeroDuration()), &clock,
      [&](uint64_t id) {
        used.push_back(id);
        return CheckpointPolicy::Written();
      },
      [&](uint64_t id) {
        recorded.push_back(id);
        return record_status;
      });
  const uint64_t now = absl::ToUnixMillis(clock.Now());
  absl::StatusOr<CheckpointPolicy::Written> first = policy.CheckpointNow();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->checkpoint_id, now);
  // Within the same millisecond, and after a restart whose store says a
  // later id was handed out (a clock that went back): above the last.
  EXPECT_EQ(policy.CheckpointNow()->checkpoint_id, now + 1);
  policy.Restore(now + 1000);
  EXPECT_EQ(policy.CheckpointNow()->checkpoint_id, now + 1001);
  EXPECT_EQ(used, recorded);
  // An id that cannot be recorded is not used.
  record_status = absl::UnavailableError("disk full");
  EXPECT_EQ(policy.CheckpointNow().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(used.size(), 3u);
  EXPECT_EQ(policy.counters().written, 3u);
  EXPECT_EQ(policy.counters().failed, 1u);
}

TEST(CheckpointPolicyTest, TheClusterCheckpointerWritesOneIdOnEveryShard) {
  const std::string dir = ::testing::TempDir() + "/checkpoint_policy";
  PsServerOptions so;
  so.data_dir = dir;
  auto shards = testing::LocalShards::Start(2, so);
  ASSERT_TRUE(shards.ok()) << shards.status();
  const std::vector<std::string> addresses = (*shards)->addresses();
  CheckpointPolicy::Checkpointer checkpointer =
      CheckpointPolicy::ConsistentCheckpointer(
          [&] { return absl::StatusOr<std::vector<std::string>>(addresses); },
          absl::Seconds(10));
  absl::StatusOr<CheckpointPolicy::Written> written = checkpointer(77);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->addresses, addresses);
  ASSERT_EQ(written->shards.size(), 2u);
  EXPECT_EQ(written->shards[1].checkpoint_id(), 77u);
  auto admin = PsAdminClient::Connect(addresses);
  ASSERT_TRUE(admin.ok());
  const PerShard<LoadResponse> loaded = (*admin)->Load(0);
  ASSERT_TRUE(AllOk(loaded).ok()) << AllOk(loaded);
  for (const auto& r : loaded) EXPECT_EQ(r.response->checkpoint_id(), 77u);
  // Incomplete shards: the error, nothing written.
  CheckpointPolicy::Checkpointer incomplete =
      CheckpointPolicy::ConsistentCheckpointer(
          [] {
            return absl::StatusOr<std::vector<std::string>>(
                absl::FailedPreconditionError("1 of 2 ps shards alive"));
          },
          absl::Seconds(10));
  EXPECT_EQ(incomplete(78).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CheckpointPolicyTest, TheBackgroundThreadCheckpointsByItself) {
  std::atomic<int> calls{0};
  CheckpointPolicy::Options o;
  o.every = absl::Milliseconds(20);
  CheckpointPolicy policy(o, RealClock(), [&](uint64_t) {
    ++calls;
    return CheckpointPolicy::Written();
  });
  while (calls.load() < 2) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_GE(policy.counters().written, 2u);
}

}  // namespace
}  // namespace strata
