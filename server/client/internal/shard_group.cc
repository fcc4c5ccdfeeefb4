#include "server/client/internal/shard_group.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/rpc_util.h"

namespace strata {
namespace internal {

absl::StatusOr<std::shared_ptr<const ShardGroup>> ShardGroup::Connect(
    const std::vector<std::string>& addresses, int max_message_bytes,
    std::unique_ptr<ShardRouter> router) {
  if (addresses.empty()) {
    return absl::InvalidArgumentError("no parameter-server shard addresses");
  }
  if (router == nullptr) router = MakeHashRouter(addresses.size());
  if (router->num_shards() != addresses.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("router has ", router->num_shards(), " shards but ",
                     addresses.size(), " addresses were given"));
  }
  std::vector<std::unique_ptr<ShardStubs>> shards;
  for (const std::string& addr : addresses) {
    if (addr.empty()) return absl::InvalidArgumentError("empty shard address");
    auto shard = std::make_unique<ShardStubs>();
    shard->address = addr;
    shard->channel =
        grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(),
                                  DefaultChannelArguments(max_message_bytes));
    shard->embedding = EmbeddingService::NewStub(shard->channel);
    shard->dense = DenseService::NewStub(shard->channel);
    shard->admin = AdminService::NewStub(shard->channel);
    shard->compression = CompressionService::NewStub(shard->channel);
    shards.push_back(std::move(shard));
  }
  return std::shared_ptr<const ShardGroup>(
      new ShardGroup(std::move(shards), std::move(router)));
}

ShardGroup::ShardGroup(std::vector<std::unique_ptr<ShardStubs>> shards,
                       std::unique_ptr<ShardRouter> router)
    : shards_(std::move(shards)), router_(std::move(router)) {}

}  // namespace internal
}  // namespace strata
