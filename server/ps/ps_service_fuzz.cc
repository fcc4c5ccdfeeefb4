// Fuzz target: the parameter-server shard's RPC handlers (embedding, dense
// and admin services), called in-process as gRPC would call them, on a
// fresh shard per input with small limits (8 tables, 64 MiB budget, 4096
// keys per batch, 1 MiB responses). The input is a sequence of records
// `u8 op | u16 length (LE) | length bytes`, each a request message in
// protobuf binary form; ops: 0 CreateTable, 1 DropTable, 2 ListTables,
// 3 Pull, 4 Push, 5 DensePull, 6 DensePush, 7 GetStats. Checkpoint, Load
// and Compress (filesystem, clustering) are not driven here. Checked
// besides "no crash, no sanitizer report": no handler answers INTERNAL,
// UNKNOWN or DATA_LOSS, and the shard's memory in use stays within its
// budget after every call.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "glog/logging.h"
#include "grpcpp/grpcpp.h"
#include "proto/ps.pb.h"
#include "server/ps/ps_service.h"
#include "server/storage/table_store.h"

namespace {

using strata::TableStore;

bool Acceptable(const grpc::Status& s) {
  return s.error_code() != grpc::StatusCode::INTERNAL &&
         s.error_code() != grpc::StatusCode::UNKNOWN &&
         s.error_code() != grpc::StatusCode::DATA_LOSS;
}

struct Shard {
  std::unique_ptr<TableStore> store;
  std::unique_ptr<strata::EmbeddingServiceImpl> embedding;
  std::unique_ptr<strata::DenseServiceImpl> dense;
  std::unique_ptr<strata::AdminServiceImpl> admin;
  std::unique_ptr<strata::CompressionServiceImpl> compression;
};

Shard NewShard() {
  TableStore::Options o;
  o.max_memory_bytes = uint64_t{64} << 20;
  o.max_tables = 8;
  o.max_batch_keys = 4096;
  auto store = TableStore::Create(o);
  CHECK(store.ok()) << store.status();
  strata::PsServiceOptions so;
  so.max_batch_keys = 4096;
  so.max_response_bytes = 1 << 20;
  so.max_dense_wait = absl::ZeroDuration();
  Shard s;
  s.store = *std::move(store);
  s.embedding =
      std::make_unique<strata::EmbeddingServiceImpl>(s.store.get(), so);
  s.dense = std::make_unique<strata::DenseServiceImpl>(s.store.get(), so);
  s.admin = std::make_unique<strata::AdminServiceImpl>(s.store.get(), so);
  s.compression =
      std::make_unique<strata::CompressionServiceImpl>(s.store.get(), so);
  return s;
}

template <typename Req, typename Resp, typename Service, typename Method>
grpc::Status Call(Service* service, Method method, const std::string& bytes) {
  Req req;
  if (!req.ParseFromString(bytes)) return grpc::Status::OK;
  Resp resp;
  grpc::ServerContext ctx;
  return (service->*method)(&ctx, &req, &resp);
}

grpc::Status Run(Shard& s, uint8_t op, const std::string& b) {
  using namespace strata;  // NOLINT: request/response names
  switch (op % 8) {
    case 0:
      return Call<CreateTableRequest, CreateTableResponse>(
          s.admin.get(), &AdminServiceImpl::CreateTable, b);
    case 1:
      return Call<DropTableRequest, DropTableResponse>(
          s.admin.get(), &AdminServiceImpl::DropTable, b);
    case 2:
      return Call<ListTablesRequest, ListTablesResponse>(
          s.admin.get(), &AdminServiceImpl::ListTables, b);
    case 3:
      return Call<PullRequest, PullResponse>(
          s.embedding.get(), &EmbeddingServiceImpl::Pull, b);
    case 4:
      return Call<PushRequest, PushResponse>(
          s.embedding.get(), &EmbeddingServiceImpl::Push, b);
    case 5:
      return Call<DensePullRequest, DensePullResponse>(
          s.dense.get(), &DenseServiceImpl::Pull, b);
    case 6:
      return Call<DensePushRequest, DensePushResponse>(
          s.dense.get(), &DenseServiceImpl::Push, b);
    default:
      return Call<StatsRequest, StatsResponse>(
          s.compression.get(), &CompressionServiceImpl::GetStats, b);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Shard shard = NewShard();
  size_t i = 0;
  while (i + 3 <= size) {
    const uint8_t op = data[i];
    const size_t len = data[i + 1] | (size_t{data[i + 2]} << 8);
    i += 3;
    const size_t n = std::min(len, size - i);
    const std::string payload(reinterpret_cast<const char*>(data) + i, n);
    i += n;
    const grpc::Status s = Run(shard, op, payload);
    CHECK(Acceptable(s)) << "op " << int{op} << ": " << s.error_code() << " "
                         << s.error_message();
    const strata::MemoryBudget& budget = shard.store->memory_budget();
    CHECK_LE(budget.used(), budget.limit()) << "over the memory budget";
  }
  return 0;
}
