#include "server/storage/push_dedup.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace strata {
namespace {

using Outcome = PushDedup::Outcome;

// Counts the applies it runs.
class Counter {
 public:
  absl::StatusOr<Outcome> Push(PushDedup& dedup, uint64_t client,
                               uint64_t sequence, bool durable = true) {
    return dedup.ApplyOnce({client, sequence}, durable, [&] {
      ++applies_;
      return absl::OkStatus();
    });
  }
  int applies() const { return applies_; }

 private:
  std::atomic<int> applies_{0};
};

// An ApplyOnce of `id` on its own thread whose apply blocks until Release.
class BlockedApply {
 public:
  BlockedApply(PushDedup& dedup, PushId id)
      : thread_([this, &dedup, id] {
          EXPECT_TRUE(dedup
                          .ApplyOnce(id, true,
                                     [this] {
                                       started_.Notify();
                                       release_.WaitForNotification();
                                       return absl::OkStatus();
                                     })
                          .ok());
        }) {
    started_.WaitForNotification();
  }
  ~BlockedApply() { Release(); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (thread_.joinable()) thread_.join();
  }

 private:
  absl::Notification started_, release_;
  std::thread thread_;
};

PushDedup::Options MaxClients(size_t n) {
  PushDedup::Options o;
  o.max_clients = n;
  return o;
}

TEST(PushDedupTest, RequestsWithoutAnIdApplyEveryTime) {
  PushDedup dedup({});
  Counter c;
  EXPECT_EQ(*c.Push(dedup, 0, 0), Outcome::kApplied);
  EXPECT_EQ(*c.Push(dedup, 0, 0), Outcome::kApplied);
  EXPECT_EQ(c.applies(), 2);
  EXPECT_EQ(dedup.counters().clients, 0u);
}

TEST(PushDedupTest, ARetriedIdIsADuplicateAndNotApplied) {
  PushDedup dedup({});
  Counter c;
  EXPECT_EQ(*c.Push(dedup, 7, 1), Outcome::kApplied);
  EXPECT_EQ(*c.Push(dedup, 7, 1), Outcome::kDuplicate);
  EXPECT_EQ(*c.Push(dedup, 8, 1), Outcome::kApplied);  // another client
  EXPECT_EQ(c.applies(), 2);
  EXPECT_EQ(dedup.counters().duplicates, 1u);
  EXPECT_EQ(dedup.counters().clients, 2u);
}

TEST(PushDedupTest, AFailedApplyIsNotRecordedSoItsRetryApplies) {
  PushDedup dedup({});
  auto fail = [] { return absl::ResourceExhaustedError("budget"); };
  EXPECT_EQ(dedup.ApplyOnce({7, 1}, true, fail).status().code(),
            absl::StatusCode::kResourceExhausted);
  Counter c;
  EXPECT_EQ(*c.Push(dedup, 7, 1), Outcome::kApplied);
  EXPECT_EQ(c.applies(), 1);
}

TEST(PushDedupTest, SequencesOutOfOrderInsideTheWindowApplyOnceEach) {
  PushDedup dedup({});
  Counter c;
  for (uint64_t s : {3, 1, 2, 1, 3, 2, 10, 5}) (void)c.Push(dedup, 7, s);
  EXPECT_EQ(c.applies(), 5);
  EXPECT_EQ(dedup.counters().duplicates, 3u);
}

TEST(PushDedupTest, ZeroSequenceOrSequenceWithoutClientIsInvalid) {
  PushDedup dedup({});
  Counter c;
  EXPECT_EQ(c.Push(dedup, 7, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Push(dedup, 0, 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.applies(), 0);
}

TEST(PushDedupTest, ASequenceOlderThanTheWindowIsAbortedNotApplied) {
  PushDedup dedup({});
  Counter c;
  ASSERT_TRUE(c.Push(dedup, 7, 1).ok());
  ASSERT_TRUE(c.Push(dedup, 7, 1 + kPushWindow).ok());
  const absl::StatusOr<Outcome> old = c.Push(dedup, 7, 1);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kAborted) << old.status();
  EXPECT_EQ(dedup.counters().too_old, 1u);
  // The oldest sequence still remembered: never applied, so it applies.
  EXPECT_EQ(*c.Push(dedup, 7, 2), Outcome::kApplied);
  EXPECT_EQ(*c.Push(dedup, 7, 2), Outcome::kDuplicate);
  EXPECT_EQ(c.applies(), 3);
}

TEST(PushDedupTest, ConcurrentCallsWithOneIdApplyItOnce) {
  PushDedup dedup({});
  std::atomic<int> applies{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto r = dedup.ApplyOnce({7, 1}, true, [&] {
        ++applies;
        absl::SleepFor(absl::Milliseconds(20));  // others arrive meanwhile
        return absl::OkStatus();
      });
      ASSERT_TRUE(r.ok()) << r.status();
      if (*r == Outcome::kDuplicate) ++duplicates;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(applies.load(), 1);
  EXPECT_EQ(duplicates.load(), 7);
}

TEST(PushDedupTest, PastMaxClientsTheLeastRecentlySeenIsForgotten) {
  PushDedup dedup(MaxClients(2));
  Counter c;
  ASSERT_TRUE(c.Push(dedup, 1, 1).ok());
  ASSERT_TRUE(c.Push(dedup, 2, 1).ok());
  ASSERT_TRUE(c.Push(dedup, 1, 2).ok());  // client 1 seen last
  ASSERT_TRUE(c.Push(dedup, 3, 1).ok());  // forgets client 2
  EXPECT_EQ(dedup.counters().clients, 2u);
  EXPECT_EQ(dedup.counters().forgotten, 1u);
  EXPECT_EQ(*c.Push(dedup, 1, 1), Outcome::kDuplicate);
  EXPECT_EQ(*c.Push(dedup, 2, 1), Outcome::kApplied);  // forgotten: again
  EXPECT_EQ(c.applies(), 5);
}

TEST(PushDedupTest, AClientWithACallInProgressIsNeverForgotten) {
  PushDedup dedup(MaxClients(1));
  BlockedApply slow(dedup, {1, 1});
  Counter c;
  ASSERT_TRUE(c.Push(dedup, 2, 1).ok());
  EXPECT_EQ(dedup.counters().clients, 2u);  // over the bound while pinned
  slow.Release();
  EXPECT_EQ(*c.Push(dedup, 1, 1), Outcome::kDuplicate);
  ASSERT_TRUE(c.Push(dedup, 3, 1).ok());
  EXPECT_EQ(dedup.counters().clients, 1u);  // back within the bound
}

TEST(PushDedupTest, SnapshotAndRestoreKeepDurableIdsMostRecentFirst) {
  PushDedup dedup({});
  Counter c;
  ASSERT_TRUE(c.Push(dedup, 1, 1).ok());
  ASSERT_TRUE(c.Push(dedup, 2, 5).ok());
  ASSERT_TRUE(c.Push(dedup, 2, 6, /*durable=*/false).ok());
  ASSERT_TRUE(c.Push(dedup, 2, 3).ok());
  const std::vector<PushWindowState> snap = dedup.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].client_id, 2u);
  EXPECT_EQ(snap[0].highest, 6u);
  ASSERT_EQ(snap[0].applied.size(), kPushWindowWords);
  // Offsets from 6: 5 -> 1, 3 -> 3; 6 (not durable) left out.
  EXPECT_EQ(snap[0].applied[0], (uint64_t{1} << 1) | (uint64_t{1} << 3));
  EXPECT_EQ(snap[1].client_id, 1u);
  EXPECT_EQ(snap[1].applied[0], 1u);

  PushDedup restored({});
  restored.Restore(snap);
  Counter r;
  EXPECT_EQ(*r.Push(restored, 2, 5), Outcome::kDuplicate);
  EXPECT_EQ(*r.Push(restored, 2, 3), Outcome::kDuplicate);
  EXPECT_EQ(*r.Push(restored, 1, 1), Outcome::kDuplicate);
  EXPECT_EQ(*r.Push(restored, 2, 6), Outcome::kApplied);  // was transient
  EXPECT_EQ(*r.Push(restored, 2, 4), Outcome::kApplied);  // never applied
  EXPECT_EQ(r.applies(), 2);
}

TEST(PushDedupTest, RestoreReplacesEverythingAndKeepsAtMostMaxClients) {
  PushDedup dedup(MaxClients(2));
  Counter c;
  ASSERT_TRUE(c.Push(dedup, 9, 1).ok());
  std::vector<PushWindowState> states(3);
  for (uint64_t i = 0; i < 3; ++i) {
    states[i].client_id = i + 1;
    states[i].highest = 1;
    states[i].applied = {1};
  }
  dedup.Restore(states);
  EXPECT_EQ(dedup.counters().clients, 2u);
  EXPECT_EQ(*c.Push(dedup, 1, 1), Outcome::kDuplicate);
  EXPECT_EQ(*c.Push(dedup, 2, 1), Outcome::kDuplicate);
  EXPECT_EQ(*c.Push(dedup, 9, 1), Outcome::kApplied);  // replaced
}

TEST(PushDedupTest, SnapshotWaitsForTheCallsInProgress) {
  PushDedup dedup({});
  BlockedApply slow(dedup, {1, 1});
  std::vector<PushWindowState> snap;
  std::thread snapshot([&] { snap = dedup.Snapshot(); });
  absl::SleepFor(absl::Milliseconds(50));
  slow.Release();
  snapshot.join();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].applied[0], 1u);
}

}  // namespace
}  // namespace strata
