#include "server/client/internal/shard_group.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/rpc_util.h"

namespace strata {
namespace internal {

void OutageLog::Failed(const absl::Status& status, absl::Duration retry_for) {
  if (down_.load(std::memory_order_relaxed)) return;
  absl::MutexLock lock(&mu_);
  if (down_.exchange(true)) return;
  since_ = absl::Now();
  LOG(WARNING) << status << "; retrying its requests for up to " << retry_for
               << " (further failures are not logged)";
}

void OutageLog::Reached(absl::string_view label) {
  if (!down_.load(std::memory_order_relaxed)) return;
  absl::MutexLock lock(&mu_);
  if (!down_.exchange(false)) return;
  LOG(INFO) << label << " reachable again after " << absl::Now() - since_;
}

bool RetrySchedule::Next() {
  const absl::Time now = absl::Now();
  if (!failed_) {
    failed_ = true;
    first_failure_ = now;
    backoff_ = call_.retry_backoff;
  }
  return retries_ < call_.max_retries && now < first_failure_ + call_.retry_for;
}

void RetrySchedule::Sleep() {
  absl::SleepFor(
      std::min(backoff_, first_failure_ + call_.retry_for - absl::Now()));
  backoff_ = std::min(backoff_ * 2, call_.max_retry_backoff);
  ++retries_;
}

absl::Status RetrySchedule::Explain(absl::Status s) const {
  if (retries_ == 0 || !Retryable(s)) return s;
  return absl::Status(
      s.code(),
      absl::StrCat(s.message(), " (still unavailable after retrying for ",
                   absl::FormatDuration(absl::Trunc(
                       absl::Now() - first_failure_, absl::Milliseconds(1))),
                   ")"));
}

namespace {

// The shards' channel arguments: the message limit, the data plane's HTTP/2
// settings, and a reconnect backoff from retry_backoff up to
// max_retry_backoff (gRPC's default grows to two minutes, so a restarted
// shard could wait that long to be noticed).
grpc::ChannelArguments ShardChannelArguments(const ShardRpcOptions& options) {
  grpc::ChannelArguments args =
      DefaultChannelArguments(options.max_message_bytes);
  const auto ms = [](absl::Duration d) {
    return static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, 1 << 30));
  };
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ms(options.retry_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ms(options.max_retry_backoff));
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is also the deadline of a connection
  // attempt: as short as retry_backoff (100 ms) it failed every handshake
  // with a shard that had just restarted on a busy machine, so it is
  // max_retry_backoff. A failed connection also asks the resolver again,
  // which by default answers at most every 30 s: that held a restarted
  // shard's clients back 13-21 s in the chaos soak (tests/chaos), so the
  // resolver may answer every max_retry_backoff too.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, ms(options.max_retry_backoff));
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
              ms(options.max_retry_backoff));
  for (const ChannelIntArgument& a : kDataPlaneHttp2Arguments) {
    args.SetInt(a.name, a.value);
  }
  return args;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ShardGroup>> ShardGroup::Connect(
    const std::vector<std::string>& addresses, const ShardRpcOptions& options,
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
    shard->channel = grpc::CreateCustomChannel(
        addr, security::ChannelCredentialsOf(options.credentials),
        ShardChannelArguments(options));
    shard->embedding = EmbeddingService::NewStub(shard->channel);
    shard->pull_wire = std::make_unique<
        grpc::TemplatedGenericStub<grpc::ByteBuffer, grpc::ByteBuffer>>(
        shard->channel);
    shard->push_wire = std::make_unique<
        grpc::TemplatedGenericStub<grpc::ByteBuffer, PushResponse>>(
        shard->channel);
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
