// Fuzz target: every RPC handler of the parameter-server shard (embedding,
// dense, admin and compression services), called in-process as gRPC would
// call them, on a fresh shard per input with small limits (8 tables, 64 MiB
// budget, 4096 keys per batch, 1 MiB responses, 2 checkpoints kept, one
// compression thread). Checkpoints go to a directory made for the process
// (mkdtemp, in /dev/shm when it exists; emptied before each input, removed
// at exit). The input is a sequence of records `u8 op | u16 length (LE) |
// length bytes`, each a request message in protobuf binary form (a record
// that does not parse is skipped, as gRPC would refuse it); ops (op % 15):
// 0 CreateTable, 1 DropTable, 2 ListTables, 3 Pull, 4 Push (op 4 itself
// through the in-place parse gRPC calls, PushFromWire), 5 DensePull (both
// ways, PullToWire's bytes compared with Pull's), 6 DensePush (op 6 itself
// through the in-place parse, DenseServiceImpl::PushFromWire; its aliases
// 21, 36, ... through the proto path), 7 GetStats, 8 Checkpoint, 9 Load, 10
// Compress, 11 ResetDenseSteps, 12 PausePushes (the harness resumes pushes
// right after it, as a consistent checkpoint's caller would; pushes may carry
// request ids: client_id, sequence; docs/protocol.md), 13 Resolve,
// 14 SampleHead (docs/saec.md, "Cluster-wide clusters"). Checked
// besides "no crash, no sanitizer report":
//   - no handler answers INTERNAL, UNKNOWN or DATA_LOSS;
//   - the shard's memory in use stays within its budget after every call;
//   - a Checkpoint, ResetDenseSteps, PausePushes, SampleHead, and a
//     refused Load or
//     Compress, leave the tables as they were (every row, tensor, statistic
//     and the memory in use);
//   - a checkpoint written loads into a fresh shard, which then holds the
//     same rows and tensors.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/ps.pb.h"
#include "server/ps/payload_wire.h"
#include "server/ps/ps_service.h"
#include "server/storage/table_store.h"
#include "third_party/fuzz/rpc_records.h"

namespace {

using namespace strata;  // NOLINT: the many request and response names

bool Acceptable(const grpc::Status& s) {
  return s.error_code() != grpc::StatusCode::INTERNAL &&
         s.error_code() != grpc::StatusCode::UNKNOWN &&
         s.error_code() != grpc::StatusCode::DATA_LOSS;
}

// The process's checkpoint directory: made on first use, removed at exit.
const std::string& CheckpointDir() {
  static const std::string* const dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if (const char* t = getenv("TEST_TMPDIR")) base = t;
    std::string pattern = base + "/ps_service_fuzz.XXXXXX";
    CHECK(mkdtemp(pattern.data()) != nullptr) << pattern;
    auto* d = new std::string(pattern);
    atexit([] { std::filesystem::remove_all(CheckpointDir()); });
    return d;
  }();
  return *dir;
}

void EmptyCheckpointDir() {
  for (const auto& entry :
       std::filesystem::directory_iterator(CheckpointDir())) {
    std::filesystem::remove_all(entry.path());
  }
}

struct Shard {
  std::unique_ptr<TableStore> store;
  std::unique_ptr<EmbeddingServiceImpl> embedding;
  std::unique_ptr<DenseServiceImpl> dense;
  std::unique_ptr<AdminServiceImpl> admin;
  std::unique_ptr<CompressionServiceImpl> compression;
};

Shard NewShard() {
  TableStore::Options o;
  o.max_memory_bytes = uint64_t{64} << 20;
  o.max_tables = 8;
  o.max_batch_keys = 4096;
  o.keep_checkpoints = 2;
  o.checkpoint_buffer_bytes = 4096;
  auto store = TableStore::Create(o);
  CHECK(store.ok()) << store.status();
  PsServiceOptions so;
  so.max_batch_keys = 4096;
  so.max_response_bytes = 1 << 20;
  so.max_dense_wait = absl::ZeroDuration();
  so.checkpoint_dir = CheckpointDir();
  so.compression_threads = 1;
  Shard s;
  s.store = *std::move(store);
  s.embedding = std::make_unique<EmbeddingServiceImpl>(s.store.get(), so);
  s.dense = std::make_unique<DenseServiceImpl>(s.store.get(), so);
  s.admin = std::make_unique<AdminServiceImpl>(s.store.get(), so);
  s.compression = std::make_unique<CompressionServiceImpl>(s.store.get(), so);
  return s;
}

template <typename Resp, typename Req, typename Service, typename Method>
grpc::Status Call(Service* service, Method method, const Req& req, Resp* resp) {
  grpc::ServerContext ctx;
  return (service->*method)(&ctx, &req, resp);
}

// What the shard holds: each table's summary, then its contents (plain
// sparse rows in key order, a dense tensor's values and step, a compressed
// table's statistics). With `memory`, the memory in use and every table's
// bytes too (a shard loaded from a checkpoint may size its indexes
// differently).
std::string Contents(Shard& s, bool memory) {
  ListTablesResponse list;
  s.store->List(&list);
  std::string out = memory ? absl::StrCat(s.store->memory_budget().used()) : "";
  for (TableInfo& t : *list.mutable_tables()) {
    if (!memory) t.clear_bytes();
    out += t.SerializeAsString();
    if (t.kind() == TableInfo::DENSE) {
      auto tensor = s.store->GetDense(t.name());
      CHECK(tensor.ok()) << tensor.status();
      (*tensor)->Visit([&out](absl::Span<const float> values,
                              absl::Span<const float> state, int64_t step) {
        out.append(reinterpret_cast<const char*>(values.data()),
                   values.size() * 4);
        out.append(reinterpret_cast<const char*>(state.data()),
                   state.size() * 4);
        absl::StrAppend(&out, step);
      });
    } else if (t.compressed()) {
      StatsRequest req;
      req.set_table(t.name());
      StatsResponse resp;
      const grpc::Status st = Call(
          s.compression.get(), &CompressionServiceImpl::GetStats, req, &resp);
      absl::StrAppend(&out, st.error_code());
      for (FieldStats& f : *resp.mutable_fields()) f.clear_seconds();
      out += resp.SerializeAsString();
    } else {
      auto table = s.store->GetSparse(t.name());
      CHECK(table.ok()) << table.status();
      const size_t dim = (*table)->dim();
      const size_t state = (*table)->state_floats_per_row();
      std::map<uint64_t, std::string> rows;
      (*table)->ForEachRow([&](uint64_t key, const float* values,
                               const float* st, int64_t step, uint64_t freq) {
        std::string& row = rows[key];
        row.append(reinterpret_cast<const char*>(values), dim * 4);
        row.append(reinterpret_cast<const char*>(st), state * 4);
        absl::StrAppend(&row, step, "/", freq);
      });
      for (const auto& [key, row] : rows) absl::StrAppend(&out, key, row);
    }
  }
  return out;
}

// A checkpoint the shard wrote loads into a fresh shard with its contents.
void CheckLoadsBack(Shard& s, uint64_t id) {
  Shard fresh = NewShard();
  LoadRequest req;
  req.set_checkpoint_id(id);
  LoadResponse resp;
  const grpc::Status loaded =
      Call(fresh.admin.get(), &AdminServiceImpl::Load, req, &resp);
  CHECK(loaded.ok()) << "checkpoint " << id
                     << " does not load back: " << loaded.error_code() << " "
                     << loaded.error_message();
  CHECK(Contents(fresh, false) == Contents(s, false))
      << "checkpoint " << id << " loads back different contents";
}

template <typename Req, typename Resp, typename Service, typename Method>
grpc::Status Parse(Service* service, Method method, const std::string& bytes,
                   Resp* resp) {
  Req req;
  if (!req.ParseFromString(bytes)) return grpc::Status::OK;
  return Call(service, method, req, resp);
}

template <typename Req, typename Resp, typename Service, typename Method>
grpc::Status Parse(Service* service, Method method, const std::string& bytes) {
  Resp resp;
  return Parse<Req>(service, method, bytes, &resp);
}

// A pull through the proto path, then through the zero-copy one that gRPC
// calls (PullToWire): when both succeed and the pull is not read-only (the
// first one created the rows the second reads), the same bytes.
grpc::Status PullBothWays(Shard& s, const std::string& b) {
  PullResponse proto;
  const grpc::Status st = Parse<PullRequest>(
      s.embedding.get(), &EmbeddingServiceImpl::Pull, b, &proto);
  grpc::ByteBuffer wire;
  const grpc::Status ws = Parse<PullRequest>(
      s.embedding.get(), &EmbeddingServiceImpl::PullToWire, b, &wire);
  PullRequest req;
  if (st.ok() && ws.ok() && wire.Valid() && req.ParseFromString(b) &&
      !req.read_only()) {
    CHECK(WireBytes(wire) == proto.SerializeAsString()) << "PullToWire differs";
  }
  return st;
}

// `b` as gRPC may receive it: in slices of `piece` bytes.
grpc::ByteBuffer InSlices(const std::string& b, size_t piece) {
  std::vector<grpc::Slice> slices;
  for (size_t i = 0; i < b.size(); i += piece) {
    slices.emplace_back(b.data() + i, std::min(piece, b.size() - i));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// A push through the in-place path that gRPC calls (PushFromWire, on the
// record's raw bytes, in slices of 1 to 61 bytes by the record's size, so
// that gradient rows straddle slices at odd addresses) for op 4, through
// the proto path (Push) for op 19 and its other aliases. Bytes protobuf
// refuses must be refused INTERNAL (what gRPC answers then) by
// PushFromWire, and are skipped.
grpc::Status PushEitherWay(Shard& s, uint8_t op, const std::string& b) {
  if (op != 4) {
    return Parse<PushRequest, PushResponse>(s.embedding.get(),
                                            &EmbeddingServiceImpl::Push, b);
  }
  const grpc::ByteBuffer wire = InSlices(b, 1 + b.size() % 61);
  PushResponse resp;
  grpc::ServerContext ctx;
  const grpc::Status st = s.embedding->PushFromWire(&ctx, &wire, &resp);
  PushRequest req;
  if (req.ParseFromString(b)) return st;
  CHECK(st.error_code() == grpc::StatusCode::INTERNAL)
      << "PushFromWire accepted what protobuf refuses: " << st.error_code();
  return grpc::Status::OK;
}

// A dense pull through the proto path, then through the one gRPC calls
// (PullToWire): when both succeed, the same bytes.
grpc::Status DensePullBothWays(Shard& s, const std::string& b) {
  DensePullResponse proto;
  const grpc::Status st = Parse<DensePullRequest>(
      s.dense.get(), &DenseServiceImpl::Pull, b, &proto);
  grpc::ByteBuffer wire;
  const grpc::Status ws = Parse<DensePullRequest>(
      s.dense.get(), &DenseServiceImpl::PullToWire, b, &wire);
  if (st.ok() && ws.ok() && wire.Valid()) {
    CHECK(WireBytes(wire) == proto.SerializeAsString())
        << "dense PullToWire differs";
  }
  return st;
}

// A dense push through the in-place path gRPC calls (PushFromWire, on the
// record's raw bytes, in slices of 3 bytes so that floats straddle them)
// for op 6, through the proto path for its aliases. Bytes protobuf refuses
// must be refused INTERNAL by PushFromWire, and are skipped.
grpc::Status DensePushEitherWay(Shard& s, uint8_t op, const std::string& b) {
  if (op != 6) {
    return Parse<DensePushRequest, DensePushResponse>(
        s.dense.get(), &DenseServiceImpl::Push, b);
  }
  const grpc::ByteBuffer wire = InSlices(b, 3);
  DensePushResponse resp;
  grpc::ServerContext ctx;
  const grpc::Status st = s.dense->PushFromWire(&ctx, &wire, &resp);
  DensePushRequest req;
  if (req.ParseFromString(b)) return st;
  CHECK(st.error_code() == grpc::StatusCode::INTERNAL)
      << "dense PushFromWire accepted what protobuf refuses: "
      << st.error_code();
  return grpc::Status::OK;
}

// Checkpoint, Load, Compress, ResetDenseSteps, PausePushes: the tables stay
// as they were unless a Load or Compress succeeds.
grpc::Status RunAdmin(Shard& s, uint8_t op, const std::string& b) {
  const std::string before = Contents(s, true);
  grpc::Status st;
  bool changes = false;
  if (op == 8) {
    CheckpointResponse resp;
    st = Parse<CheckpointRequest>(s.admin.get(), &AdminServiceImpl::Checkpoint,
                                  b, &resp);
    if (st.ok() && resp.checkpoint_id() != 0) {
      CheckLoadsBack(s, resp.checkpoint_id());
    }
  } else if (op == 9) {
    LoadResponse resp;
    st = Parse<LoadRequest>(s.admin.get(), &AdminServiceImpl::Load, b, &resp);
    changes = st.ok();
  } else if (op == 11) {
    st = Parse<ResetDenseStepsRequest, ResetDenseStepsResponse>(
        s.admin.get(), &AdminServiceImpl::ResetDenseSteps, b);
  } else if (op == 12) {
    st = Parse<PausePushesRequest, PausePushesResponse>(
        s.admin.get(), &AdminServiceImpl::PausePushes, b);
    s.store->push_gate().Resume();
  } else if (op == 14) {
    st = Parse<SampleHeadRequest, SampleHeadResponse>(
        s.compression.get(), &CompressionServiceImpl::SampleHead, b);
  } else {
    CompressResponse resp;
    st = Parse<CompressRequest>(s.compression.get(),
                                &CompressionServiceImpl::Compress, b, &resp);
    changes = st.ok();
  }
  if (!changes) {
    CHECK(before == Contents(s, true))
        << "op " << int{op} << " changed the tables: " << st.error_code() << " "
        << st.error_message();
  }
  return st;
}

grpc::Status Run(Shard& s, uint8_t op, const std::string& b) {
  switch (op % 15) {
    case 0:
      return Parse<CreateTableRequest, CreateTableResponse>(
          s.admin.get(), &AdminServiceImpl::CreateTable, b);
    case 1:
      return Parse<DropTableRequest, DropTableResponse>(
          s.admin.get(), &AdminServiceImpl::DropTable, b);
    case 2:
      return Parse<ListTablesRequest, ListTablesResponse>(
          s.admin.get(), &AdminServiceImpl::ListTables, b);
    case 3:
      return PullBothWays(s, b);
    case 4:
      return PushEitherWay(s, op, b);
    case 5:
      return DensePullBothWays(s, b);
    case 6:
      return DensePushEitherWay(s, op, b);
    case 7:
      return Parse<StatsRequest, StatsResponse>(
          s.compression.get(), &CompressionServiceImpl::GetStats, b);
    case 13:
      return Parse<ResolveRequest, ResolveResponse>(
          s.embedding.get(), &EmbeddingServiceImpl::Resolve, b);
    default:
      return RunAdmin(s, op % 15, b);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (strata::fuzz::QuietLogs(), true);
  (void)quiet;
  EmptyCheckpointDir();
  Shard shard = NewShard();
  strata::fuzz::ForEachRecord(
      data, size, [&](uint8_t op, const std::string& b) {
        const grpc::Status s = Run(shard, op, b);
        CHECK(Acceptable(s)) << "op " << int{op} << ": " << s.error_code()
                             << " " << s.error_message();
        const MemoryBudget& budget = shard.store->memory_budget();
        CHECK_LE(budget.used(), budget.limit()) << "over the memory budget";
      });
  return 0;
}
