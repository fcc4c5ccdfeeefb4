#include "server/coordinator/state_store.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "leveldb/db.h"
#include "server/coordinator/testing/state_testing.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("state_store_test");
  }
  std::unique_ptr<StateStore> Open() {
    absl::StatusOr<std::unique_ptr<StateStore>> store =
        StateStore::Open({dir_});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  // Writes `value` under `key` with LevelDB itself (the store must be
  // closed).
  void PutRaw(const std::string& key, const std::string& value) {
    leveldb::DB* db = nullptr;
    leveldb::Options options;
    options.create_if_missing = true;
    ASSERT_TRUE(leveldb::DB::Open(options, dir_, &db).ok());
    ASSERT_TRUE(db->Put(leveldb::WriteOptions(), key, value).ok());
    delete db;
  }
  static StoredNode Node(const std::string& id) {
    StoredNode node;
    node.mutable_node()->set_node_id(id);
    node.mutable_node()->set_role("general");
    node.mutable_node()->set_alive(true);
    node.set_secret(std::string(16, 'k'));
    return node;
  }
  static JobEvent Event(const std::string& message) {
    JobEvent event;
    event.set_message(message);
    return event;
  }

  std::string dir_;
};

TEST_F(StateStoreTest, AFreshStoreHoldsNothingAndCountsFromOne) {
  std::unique_ptr<StateStore> store = Open();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CoordinatorState> state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->next_node_seq, 1u);
  EXPECT_EQ(state->next_job_seq, 1u);
  EXPECT_EQ(state->last_checkpoint_id, 0u);
  EXPECT_THAT(state->nodes, IsEmpty());
  EXPECT_THAT(state->jobs, IsEmpty());
}

TEST_F(StateStoreTest, RecordsSurviveReopeningInIdOrder) {
  {
    std::unique_ptr<StateStore> store = Open();
    StateStore::Batch batch;
    batch.PutNodeCounter(11);
    batch.PutJobCounter(3);
    batch.PutCheckpointCounter(1700000000123);
    batch.PutNode(10, Node("node-10"));
    batch.PutNode(2, Node("node-2"));
    StoredJob job;
    job.set_job_id("job-2");
    job.set_state(RUNNING);
    job.set_next_event_index(12);
    batch.PutJob(2, job);
    batch.PutEvent(2, 11, Event("eleven"));
    batch.PutEvent(2, 3, Event("three"));
    ASSERT_TRUE(
        store->Write(std::move(batch), StateStore::Durability::kSync).ok());
  }
  std::unique_ptr<StateStore> store = Open();
  absl::StatusOr<CoordinatorState> state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->next_node_seq, 11u);
  EXPECT_EQ(state->next_job_seq, 3u);
  EXPECT_EQ(state->last_checkpoint_id, 1700000000123u);
  ASSERT_THAT(state->nodes, SizeIs(2));
  EXPECT_EQ(state->nodes[0].node().node_id(), "node-2");
  EXPECT_EQ(state->nodes[1].node().node_id(), "node-10");
  EXPECT_EQ(state->nodes[1].secret(), std::string(16, 'k'));
  ASSERT_THAT(state->jobs, SizeIs(1));
  EXPECT_EQ(state->jobs[0].job.job_id(), "job-2");
  EXPECT_EQ(state->jobs[0].job.state(), RUNNING);
  ASSERT_THAT(state->jobs[0].events, SizeIs(2));
  EXPECT_EQ(state->jobs[0].events[0].first, 3u);
  EXPECT_EQ(state->jobs[0].events[0].second.message(), "three");
  EXPECT_EQ(state->jobs[0].events[1].first, 11u);
}

TEST_F(StateStoreTest, DeletesRemoveRecordsAndAJobsEventsOnly) {
  std::unique_ptr<StateStore> store = Open();
  StateStore::Batch batch;
  for (uint64_t seq : {1, 2}) {
    StoredJob job;
    job.set_job_id(absl::StrCat("job-", seq));
    batch.PutJob(seq, job);
    batch.PutEvent(seq, 0, Event("submitted"));
    batch.PutEvent(seq, 1, Event("assigned"));
  }
  batch.PutNode(1, Node("node-1"));
  batch.PutNode(2, Node("node-2"));
  ASSERT_TRUE(
      store->Write(std::move(batch), StateStore::Durability::kBuffered).ok());
  StateStore::Batch deletes;
  deletes.DeleteJob(1);
  deletes.DeleteEvent(2, 0);
  deletes.DeleteNode(1);
  EXPECT_FALSE(deletes.empty());
  ASSERT_TRUE(
      store->Write(std::move(deletes), StateStore::Durability::kSync).ok());
  absl::StatusOr<CoordinatorState> state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_THAT(state->jobs, SizeIs(1));
  EXPECT_EQ(state->jobs[0].job.job_id(), "job-2");
  ASSERT_THAT(state->jobs[0].events, SizeIs(1));
  EXPECT_EQ(state->jobs[0].events[0].second.message(), "assigned");
  ASSERT_THAT(state->nodes, SizeIs(1));
  EXPECT_EQ(state->nodes[0].node().node_id(), "node-2");
}

TEST_F(StateStoreTest, ASecondOpenOfTheSameDirectoryIsFailedPrecondition) {
  std::unique_ptr<StateStore> first = Open();
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<StateStore>> second = StateStore::Open({dir_});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
      << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr(dir_));
  EXPECT_THAT(second.status().message(), HasSubstr("--state_dir"));
  first.reset();
  EXPECT_NE(Open(), nullptr) << "free again once the first is closed";
}

TEST_F(StateStoreTest, AnEmptyDirectoryIsInvalidArgument) {
  EXPECT_EQ(StateStore::Open({""}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StateStoreTest, ADirectoryThatIsAFileIsUnavailable) {
  std::filesystem::create_directories(dir_);
  const std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open({file});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable)
      << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(file));
}

TEST_F(StateStoreTest, ACorruptedManifestPointerIsDataLoss) {
  ASSERT_NE(Open(), nullptr);
  std::ofstream(dir_ + "/CURRENT", std::ios::trunc) << "garbage";
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open({dir_});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss)
      << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(dir_));
  EXPECT_THAT(store.status().message(), HasSubstr("corrupted"));
}

TEST_F(StateStoreTest, ACorruptedLogIsDataLoss) {
  {
    std::unique_ptr<StateStore> store = Open();
    StateStore::Batch batch;
    for (int i = 1; i <= 50; ++i) batch.PutNode(i, Node("node"));
    ASSERT_TRUE(
        store->Write(std::move(batch), StateStore::Durability::kSync).ok());
  }
  // Flip bytes in the middle of the write-ahead log: its checksum fails.
  bool flipped = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.path().extension() != ".log" || entry.file_size() < 200) continue;
    std::fstream log(entry.path(),
                     std::ios::in | std::ios::out | std::ios::binary);
    log.seekp(static_cast<std::streamoff>(entry.file_size() / 2));
    log.write("\xff\xff\xff\xff", 4);
    flipped = true;
  }
  ASSERT_TRUE(flipped);
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open({dir_});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss)
      << store.status();
}

TEST_F(StateStoreTest, ARecordThatDoesNotParseIsDataLossNamingIt) {
  PutRaw("n/0000000000000007", "\xff\xff not a proto");
  std::unique_ptr<StateStore> store = Open();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<CoordinatorState> state = store->Load();
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss)
      << state.status();
  EXPECT_THAT(state.status().message(), HasSubstr("n/0000000000000007"));
}

TEST_F(StateStoreTest, AKeyOfUnknownFormIsDataLoss) {
  PutRaw("zz", "1");
  std::unique_ptr<StateStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Load().status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(StateStoreTest, AnotherFormatVersionIsFailedPrecondition) {
  PutRaw("v", "2");
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open({dir_});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition)
      << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("version '2'"));
}

}  // namespace
}  // namespace strata
