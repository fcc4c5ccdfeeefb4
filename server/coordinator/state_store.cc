#include "server/coordinator/state_store.h"

#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "leveldb/db.h"
#include "leveldb/iterator.h"
#include "leveldb/options.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace {

// Key layout (fixed-width hex, so byte order is numeric order):
//   v                     format version
//   c/node, c/job         next id numbers
//   c/checkpoint          the last checkpoint id handed out
//   n/<seq>               StoredNode
//   j/<seq>               StoredJob
//   e/<job seq>/<index>   JobEvent
constexpr absl::string_view kVersionKey = "v";
constexpr absl::string_view kVersion = "1";
constexpr absl::string_view kNodeCounterKey = "c/node";
constexpr absl::string_view kJobCounterKey = "c/job";
constexpr absl::string_view kCheckpointCounterKey = "c/checkpoint";
constexpr absl::string_view kNodePrefix = "n/";
constexpr absl::string_view kJobPrefix = "j/";
constexpr absl::string_view kEventPrefix = "e/";

std::string Hex(uint64_t v) { return absl::StrFormat("%016x", v); }
std::string NodeKey(uint64_t seq) {
  return absl::StrCat(kNodePrefix, Hex(seq));
}
std::string JobKey(uint64_t seq) { return absl::StrCat(kJobPrefix, Hex(seq)); }
std::string EventsPrefix(uint64_t job_seq) {
  return absl::StrCat(kEventPrefix, Hex(job_seq), "/");
}
std::string EventKey(uint64_t job_seq, uint64_t index) {
  return absl::StrCat(EventsPrefix(job_seq), Hex(index));
}

bool ParseHex(absl::string_view s, uint64_t* v) {
  return s.size() == 16 && absl::SimpleHexAtoi(s, v);
}

leveldb::Slice ToSlice(absl::string_view s) {
  return leveldb::Slice(s.data(), s.size());
}
absl::string_view ToView(const leveldb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

// A LevelDB status as an absl::Status naming the store's directory.
absl::Status FromLevelDb(const leveldb::Status& s, absl::string_view dir,
                         absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string detail =
      absl::StrCat("state store ", dir, ": ", what, ": ", s.ToString());
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(
        detail,
        " (the store is corrupted: restore the directory from a backup, or "
        "move it away to start empty, forgetting every job and node id)"));
  }
  if (s.IsIOError() && absl::StrContains(s.ToString(), "lock")) {
    return absl::FailedPreconditionError(absl::StrCat(
        detail,
        " (another process holds the store: is a coordinator with the same "
        "--state_dir running?)"));
  }
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(detail);
  return absl::UnavailableError(detail);
}

absl::Status BadRecord(absl::string_view dir, absl::string_view key,
                       absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat("state store ", dir, ": record '", key, "' ", why));
}

template <typename Proto>
absl::Status ParseRecord(absl::string_view dir, absl::string_view key,
                         const leveldb::Slice& value, Proto* out) {
  if (!out->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return BadRecord(dir, key, "does not parse");
  }
  return absl::OkStatus();
}

absl::Status ParseCounter(absl::string_view dir, absl::string_view key,
                          const leveldb::Slice& value, uint64_t* out) {
  if (!absl::SimpleAtoi(ToView(value), out) || *out == 0) {
    return BadRecord(dir, key, "is not a positive counter");
  }
  return absl::OkStatus();
}

}  // namespace

void StateStore::Batch::PutNodeCounter(uint64_t next_seq) {
  batch_.Put(ToSlice(kNodeCounterKey), absl::StrCat(next_seq));
  ++ops_;
}

void StateStore::Batch::PutJobCounter(uint64_t next_seq) {
  batch_.Put(ToSlice(kJobCounterKey), absl::StrCat(next_seq));
  ++ops_;
}

void StateStore::Batch::PutCheckpointCounter(uint64_t last_id) {
  batch_.Put(ToSlice(kCheckpointCounterKey), absl::StrCat(last_id));
  ++ops_;
}

void StateStore::Batch::PutNode(uint64_t seq, const StoredNode& node) {
  batch_.Put(NodeKey(seq), node.SerializeAsString());
  ++ops_;
}

void StateStore::Batch::DeleteNode(uint64_t seq) {
  batch_.Delete(NodeKey(seq));
  ++ops_;
}

void StateStore::Batch::PutJob(uint64_t seq, const StoredJob& job) {
  batch_.Put(JobKey(seq), job.SerializeAsString());
  ++ops_;
}

void StateStore::Batch::PutEvent(uint64_t job_seq, uint64_t index,
                                 const JobEvent& event) {
  batch_.Put(EventKey(job_seq, index), event.SerializeAsString());
  ++ops_;
}

void StateStore::Batch::DeleteEvent(uint64_t job_seq, uint64_t index) {
  batch_.Delete(EventKey(job_seq, index));
  ++ops_;
}

void StateStore::Batch::DeleteJob(uint64_t job_seq) {
  batch_.Delete(JobKey(job_seq));
  deleted_jobs_.push_back(job_seq);  // its events: listed by Write
  ++ops_;
}

StateStore::StateStore(Options options, std::unique_ptr<leveldb::DB> db)
    : options_(std::move(options)), db_(std::move(db)) {}

StateStore::~StateStore() = default;

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(Options options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("state store directory is empty");
  }
  std::error_code error;
  std::filesystem::create_directories(options.dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "state store ", options.dir, ": cannot create it: ", error.message()));
  }
  leveldb::Options db_options;
  db_options.create_if_missing = true;
  db_options.paranoid_checks = true;  // corruption is an error, not skipped
  leveldb::DB* raw = nullptr;
  STRATA_RETURN_IF_ERROR(FromLevelDb(
      leveldb::DB::Open(db_options, options.dir, &raw), options.dir, "open"));
  std::unique_ptr<leveldb::DB> db(raw);
  std::string version;
  const leveldb::Status got =
      db->Get(leveldb::ReadOptions(), ToSlice(kVersionKey), &version);
  if (got.IsNotFound()) {
    leveldb::WriteOptions sync;
    sync.sync = true;
    STRATA_RETURN_IF_ERROR(
        FromLevelDb(db->Put(sync, ToSlice(kVersionKey), ToSlice(kVersion)),
                    options.dir, "write version"));
  } else if (!got.ok()) {
    return FromLevelDb(got, options.dir, "read version");
  } else if (version != kVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("state store ", options.dir, " has format version '",
                     version, "'; this coordinator reads version ", kVersion));
  }
  return std::unique_ptr<StateStore>(
      new StateStore(std::move(options), std::move(db)));
}

absl::StatusOr<CoordinatorState> StateStore::Load() {
  CoordinatorState state;
  std::vector<uint64_t> job_seqs;  // parallel to state.jobs
  std::map<uint64_t, std::vector<std::pair<uint64_t, JobEvent>>> events;
  leveldb::ReadOptions read;
  read.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(read));
  const std::string& dir = options_.dir;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    absl::string_view rest = key;
    uint64_t seq = 0;
    uint64_t index = 0;
    if (key == kVersionKey) continue;
    if (key == kNodeCounterKey) {
      STRATA_RETURN_IF_ERROR(
          ParseCounter(dir, key, it->value(), &state.next_node_seq));
    } else if (key == kJobCounterKey) {
      STRATA_RETURN_IF_ERROR(
          ParseCounter(dir, key, it->value(), &state.next_job_seq));
    } else if (key == kCheckpointCounterKey) {
      STRATA_RETURN_IF_ERROR(
          ParseCounter(dir, key, it->value(), &state.last_checkpoint_id));
    } else if (absl::ConsumePrefix(&rest, kNodePrefix) &&
               ParseHex(rest, &seq)) {
      STRATA_RETURN_IF_ERROR(
          ParseRecord(dir, key, it->value(), &state.nodes.emplace_back()));
    } else if (absl::ConsumePrefix(&rest, kJobPrefix) && ParseHex(rest, &seq)) {
      STRATA_RETURN_IF_ERROR(
          ParseRecord(dir, key, it->value(), &state.jobs.emplace_back().job));
      job_seqs.push_back(seq);
    } else if (absl::ConsumePrefix(&rest, kEventPrefix) && rest.size() == 33 &&
               rest[16] == '/' && ParseHex(rest.substr(0, 16), &seq) &&
               ParseHex(rest.substr(17), &index)) {
      auto& event = events[seq].emplace_back(index, JobEvent());
      STRATA_RETURN_IF_ERROR(ParseRecord(dir, key, it->value(), &event.second));
    } else {
      return BadRecord(dir, key, "has a key of unknown form");
    }
  }
  STRATA_RETURN_IF_ERROR(FromLevelDb(it->status(), dir, "read"));
  // Events sort before jobs ('e' < 'j') and in index order within a job.
  // Events of a job without a record cannot be written (a job and its events
  // are deleted in one batch), so none are left over.
  for (size_t i = 0; i < state.jobs.size(); ++i) {
    if (auto e = events.find(job_seqs[i]); e != events.end()) {
      state.jobs[i].events = std::move(e->second);
    }
  }
  return state;
}

absl::Status StateStore::Write(Batch batch, Durability durability) {
  // A deleted job's events, found now: only the job's owner writes them, and
  // it does so under the lock it holds while calling Write.
  for (uint64_t job_seq : batch.deleted_jobs_) {
    const std::string prefix = EventsPrefix(job_seq);
    std::unique_ptr<leveldb::Iterator> it(
        db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      batch.batch_.Delete(it->key());
    }
    STRATA_RETURN_IF_ERROR(
        FromLevelDb(it->status(), options_.dir, "list a job's events"));
  }
  leveldb::WriteOptions write;
  write.sync = durability == Durability::kSync;
  return FromLevelDb(db_->Write(write, &batch.batch_), options_.dir, "write");
}

}  // namespace strata
