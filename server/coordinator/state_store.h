// The coordinator's durable state (--state_dir): id counters, the node
// registry's records and the jobs with their events, in an embedded LevelDB
// database. See docs/coordinator.md ("State store").
#ifndef STRATA_SERVER_COORDINATOR_STATE_STORE_H_
#define STRATA_SERVER_COORDINATOR_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "leveldb/write_batch.h"
#include "proto/coordinator.pb.h"

namespace leveldb {
class DB;
}  // namespace leveldb

namespace strata {

// Everything a restarted coordinator resumes from (StateStore::Load).
struct CoordinatorState {
  // The next id numbers to hand out ("node-N", "job-N"): ids are never
  // reused, across restarts too.
  uint64_t next_node_seq = 1;
  uint64_t next_job_seq = 1;
  // The last checkpoint id the coordinator handed out (0: none); later ones
  // are above it (CheckpointPolicy).
  uint64_t last_checkpoint_id = 0;
  std::vector<StoredNode> nodes;  // in id order
  struct Job {
    StoredJob job;
    // The job's retained events with their absolute indices, ascending.
    std::vector<std::pair<uint64_t, JobEvent>> events;
  };
  std::vector<Job> jobs;  // in id order
};

// Owns the open database. Thread-safe: Write may be called from several
// threads at once (LevelDB serializes writes; each batch is atomic). Callers
// that need their writes in the order of their in-memory changes (the node
// registry, the job manager) write while holding their own lock.
class StateStore {
 public:
  struct Options {
    // Directory of the database; created (with its parents) if missing.
    // One process at a time: a second Open of the same directory is
    // FAILED_PRECONDITION.
    std::string dir;
  };

  // How a Write reaches the disk.
  enum class Durability {
    // fsync before Write returns: survives a machine crash. For state
    // changes (registrations, job transitions, id counters).
    kSync,
    // Handed to the kernel before Write returns: survives the coordinator
    // being killed, not a machine crash. For progress, at a fraction of the
    // cost.
    kBuffered,
  };

  // Changes applied together by Write (all or none). Records are keyed by
  // the numeric part of their ids.
  class Batch {
   public:
    void PutNodeCounter(uint64_t next_seq);
    void PutJobCounter(uint64_t next_seq);
    void PutCheckpointCounter(uint64_t last_id);
    void PutNode(uint64_t seq, const StoredNode& node);
    void DeleteNode(uint64_t seq);
    void PutJob(uint64_t seq, const StoredJob& job);
    void PutEvent(uint64_t job_seq, uint64_t index, const JobEvent& event);
    void DeleteEvent(uint64_t job_seq, uint64_t index);
    // The job's record and all its events.
    void DeleteJob(uint64_t job_seq);
    bool empty() const { return ops_ == 0; }

   private:
    friend class StateStore;
    leveldb::WriteBatch batch_;
    std::vector<uint64_t> deleted_jobs_;
    size_t ops_ = 0;
  };

  // Opens (or creates) the store. INVALID_ARGUMENT for an empty dir,
  // FAILED_PRECONDITION when another process holds it or it was written by
  // an incompatible version, DATA_LOSS when it is corrupted, UNAVAILABLE for
  // other I/O errors. Every message names the directory.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(Options options);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Reads every record. DATA_LOSS naming the key for a record that does not
  // parse or a key of unknown form.
  absl::StatusOr<CoordinatorState> Load();

  // Applies `batch` atomically. UNAVAILABLE (with the I/O error) when it
  // could not be written; nothing of it is applied then.
  absl::Status Write(Batch batch, Durability durability);

  const std::string& dir() const { return options_.dir; }

 private:
  StateStore(Options options, std::unique_ptr<leveldb::DB> db);

  // Constant after construction.
  const Options options_;
  const std::unique_ptr<leveldb::DB> db_;  // thread-safe itself
};

}  // namespace strata

#endif  // STRATA_SERVER_COORDINATOR_STATE_STORE_H_
