// The channel and stub setup that PsClient and PsAdminClient share, and the
// one fan-out both send their requests through: every request of a call in
// flight at once on one completion queue, one deadline, UNAVAILABLE (and a
// shutting-down shard's CANCELLED) retried with capped exponential backoff for
// a bounded time (only the failed requests are re-sent, unchanged), one log
// line per shard outage, and every error described by DescribeRpcFailure.
#ifndef STRATA_SERVER_CLIENT_INTERNAL_SHARD_GROUP_H_
#define STRATA_SERVER_CLIENT_INTERNAL_SHARD_GROUP_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "proto/ps.grpc.pb.h"
#include "server/client/shard_rpc.h"
#include "server/router/router.h"

namespace strata {
namespace internal {

// Whether a shard is down as far as the calls of one client saw: one
// WARNING when a call first finds it unavailable and retries, one INFO when a
// call reaches it again, whatever the number of calls and attempts in
// between. Thread-safe.
class OutageLog {
 public:
  // A call will retry after `status` (Retryable) for up to `retry_for`.
  void Failed(const absl::Status& status, absl::Duration retry_for);
  // A call reached the shard. Cheap when the shard is up (one atomic load).
  void Reached(absl::string_view label);

 private:
  std::atomic<bool> down_{false};
  absl::Mutex mu_;
  absl::Time since_ ABSL_GUARDED_BY(mu_);
};

// One shard's channel and a stub per service. Stubs are thread-safe.
struct ShardStubs {
  std::string address;
  mutable OutageLog outage;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<EmbeddingService::Stub> embedding;
  // EmbeddingService's Pull and Push with payloads encoded and decoded in
  // gRPC slices (server/ps/payload_wire.h): the same methods and wire
  // messages as `embedding`, without protobuf copies of the payload.
  std::unique_ptr<
      grpc::TemplatedGenericStub<grpc::ByteBuffer, grpc::ByteBuffer>>
      pull_wire;
  std::unique_ptr<grpc::TemplatedGenericStub<grpc::ByteBuffer, PushResponse>>
      push_wire;
  std::unique_ptr<DenseService::Stub> dense;
  std::unique_ptr<AdminService::Stub> admin;
  std::unique_ptr<CompressionService::Stub> compression;
};

// The shards of one parameter server, by shard id, and the router that
// places keys and dense tensors on them. Immutable after Connect, so it is
// thread-safe and shared (shared_ptr) by the clients built on it.
class ShardGroup {
 public:
  // `addresses` lists the shards by shard id; with no router a HashRouter
  // over addresses.size() shards is used. The channels take the message
  // limit and reconnect backoff of `options`. INVALID_ARGUMENT for no or an
  // empty address, or a router of another shard count. Does not wait for
  // the shards to be up (the first RPC does, within its deadline).
  static absl::StatusOr<std::shared_ptr<const ShardGroup>> Connect(
      const std::vector<std::string>& addresses, const ShardRpcOptions& options,
      std::unique_ptr<ShardRouter> router);

  uint32_t size() const { return static_cast<uint32_t>(shards_.size()); }
  const ShardStubs& shard(uint32_t s) const { return *shards_[s]; }
  const ShardRouter& router() const { return *router_; }

 private:
  ShardGroup(std::vector<std::unique_ptr<ShardStubs>> shards,
             std::unique_ptr<ShardRouter> router);

  const std::vector<std::unique_ptr<ShardStubs>> shards_;
  const std::unique_ptr<ShardRouter> router_;
};

// Whether a failed request is sent again: UNAVAILABLE (the shard is down,
// restarting or unreachable, or the connection broke) and CANCELLED (what a
// shard that shuts down answers the calls it has not started; the clients
// never cancel their own calls).
inline bool Retryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsCancelled(status);
}

// How one fan-out behaves.
struct FanOutCall {
  absl::string_view method;  // names the call in errors: "Pull(emb)"
  absl::Duration timeout;    // deadline of each round of requests
  // Retries of Retryable failures: at most max_retries, for up to retry_for
  // after the first failure, backoff doubling from retry_backoff to
  // max_retry_backoff (ShardRpcOptions).
  int max_retries = 0;
  absl::Duration retry_for;
  absl::Duration retry_backoff;
  absl::Duration max_retry_backoff;
  // Data plane: give up at the first error that is not Retryable (the
  // whole call fails anyway). Admin: finish every request, so each shard's
  // own outcome is known.
  bool stop_at_first_error = true;

  // `method` within `timeout`, with the retries of `options`.
  static FanOutCall With(const ShardRpcOptions& options,
                         absl::string_view method, absl::Duration timeout,
                         bool stop_at_first_error) {
    FanOutCall call;
    call.method = method;
    call.timeout = timeout;
    call.max_retries = options.max_retries;
    call.retry_for = options.retry_for;
    call.retry_backoff = options.retry_backoff;
    call.max_retry_backoff = options.max_retry_backoff;
    call.stop_at_first_error = stop_at_first_error;
    return call;
  }
};

// The retries of one fan-out, as `call` schedules them. Not thread-safe.
class RetrySchedule {
 public:
  explicit RetrySchedule(const FanOutCall& call) : call_(call) {}
  // After a round that left requests to retry: whether to retry them (the
  // budget starts at the first call).
  bool Next();
  // Sleeps the backoff before the retry Next allowed.
  void Sleep();
  // `s`, saying how long it was retried when it was.
  absl::Status Explain(absl::Status s) const;

 private:
  const FanOutCall& call_;
  bool failed_ = false;
  int retries_ = 0;
  absl::Duration backoff_;
  absl::Time first_failure_;
};

// Sends reqs[i] to shard shard_of[i] for every i and waits for all, into
// (*resps)[i]; requests that fail Retryable are sent again, unchanged, as
// `call` says. `prepare` is (const ShardStubs&, grpc::ClientContext*,
// const Req&, grpc::CompletionQueue*) -> unique_ptr<
// ClientAsyncResponseReader<Resp>> (a PrepareAsyncXxx stub method).
// Returns the first error (by request index), or OK. When `statuses` is
// given it receives every request's final outcome.
template <typename Req, typename Resp, typename Prepare>
absl::Status FanOut(const ShardGroup& shards, const FanOutCall& call,
                    const std::vector<uint32_t>& shard_of,
                    const std::vector<Req>& reqs, std::vector<Resp>* resps,
                    Prepare prepare,
                    std::vector<absl::Status>* statuses = nullptr);

// As FanOut, but reqs[i] is made by produce(i) (bool(size_t), which fills
// reqs[i]) just before it is sent, in index order: request i is on its way
// while request i + 1 is made (a push's gathered rows). Retries resend the
// produced requests. When produce(i) returns false request i had nothing to
// carry: it is not sent and counts as answered OK, (*resps)[i] left
// default.
template <typename Req, typename Resp, typename Prepare, typename Produce>
absl::Status FanOutProduced(const ShardGroup& shards, const FanOutCall& call,
                            const std::vector<uint32_t>& shard_of,
                            const std::vector<Req>& reqs,
                            std::vector<Resp>* resps, Prepare prepare,
                            Produce produce);

// --- Implementation ---------------------------------------------------------

// One round: sends reqs[i] for every i in `pending`, waits for all of them
// and records each outcome in (*status)[i].
// In the `first` round produce(i) makes request i just before it is sent
// (a retry resends what was produced), or returns false to send nothing:
// then i leaves `pending`, its status OK.
template <typename Req, typename Resp, typename Prepare, typename Produce>
void FanOutRound(const ShardGroup& shards, const FanOutCall& call,
                 const std::vector<uint32_t>& shard_of,
                 const std::vector<Req>& reqs, std::vector<Resp>* resps,
                 Prepare& prepare, Produce& produce, bool first,
                 std::vector<size_t>* pending,
                 std::vector<absl::Status>* status) {
  grpc::CompletionQueue cq;
  std::vector<grpc::ClientContext> ctx(reqs.size());
  std::vector<grpc::Status> rpc_status(reqs.size());
  std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>> rpcs(
      reqs.size());
  const auto deadline = absl::ToChronoTime(absl::Now() + call.timeout);
  size_t sent = 0;
  for (size_t i : *pending) {
    if (first && !produce(i)) continue;  // nothing to send
    ctx[i].set_deadline(deadline);
    rpcs[i] = prepare(shards.shard(shard_of[i]), &ctx[i], reqs[i], &cq);
    rpcs[i]->StartCall();
    rpcs[i]->Finish(&(*resps)[i], &rpc_status[i], reinterpret_cast<void*>(i));
    (*pending)[sent++] = i;
  }
  pending->resize(sent);
  for (size_t done = 0; done < sent; ++done) {
    void* tag = nullptr;
    bool ok = false;
    CHECK(cq.Next(&tag, &ok)) << "completion queue shut down unexpectedly";
  }
  for (size_t i : *pending) {
    (*status)[i] = rpc_status[i].ok()
                       ? absl::OkStatus()
                       : DescribeRpcFailure(rpc_status[i], call.method,
                                            ShardLabel(shard_of[i]),
                                            shards.shard(shard_of[i]).address,
                                            call.timeout);
  }
}

// FanOut and FanOutProduced: `produce` makes the first round's requests.
template <typename Req, typename Resp, typename Prepare, typename Produce>
absl::Status FanOutRounds(const ShardGroup& shards, const FanOutCall& call,
                          const std::vector<uint32_t>& shard_of,
                          const std::vector<Req>& reqs,
                          std::vector<Resp>* resps, Prepare& prepare,
                          Produce& produce,
                          std::vector<absl::Status>* statuses) {
  resps->resize(reqs.size());
  std::vector<absl::Status> own;
  std::vector<absl::Status>& status = statuses != nullptr ? *statuses : own;
  status.assign(reqs.size(), absl::OkStatus());
  std::vector<size_t> pending(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) pending[i] = i;
  RetrySchedule schedule(call);
  for (bool first = true;; first = false) {
    FanOutRound(shards, call, shard_of, reqs, resps, prepare, produce, first,
                &pending, &status);
    std::vector<size_t> retry;
    for (size_t i : pending) {
      if (status[i].ok()) {
        shards.shard(shard_of[i]).outage.Reached(ShardLabel(shard_of[i]));
        continue;
      }
      if (!Retryable(status[i])) {
        if (call.stop_at_first_error) return status[i];
        continue;
      }
      retry.push_back(i);
    }
    if (retry.empty() || !schedule.Next()) break;
    for (size_t i : retry) {
      shards.shard(shard_of[i]).outage.Failed(status[i], call.retry_for);
    }
    schedule.Sleep();
    pending = std::move(retry);
  }
  for (absl::Status& s : status) s = schedule.Explain(std::move(s));
  for (const absl::Status& s : status) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

template <typename Req, typename Resp, typename Prepare>
absl::Status FanOut(const ShardGroup& shards, const FanOutCall& call,
                    const std::vector<uint32_t>& shard_of,
                    const std::vector<Req>& reqs, std::vector<Resp>* resps,
                    Prepare prepare, std::vector<absl::Status>* statuses) {
  const auto made = [](size_t) { return true; };
  return FanOutRounds(shards, call, shard_of, reqs, resps, prepare, made,
                      statuses);
}

template <typename Req, typename Resp, typename Prepare, typename Produce>
absl::Status FanOutProduced(const ShardGroup& shards, const FanOutCall& call,
                            const std::vector<uint32_t>& shard_of,
                            const std::vector<Req>& reqs,
                            std::vector<Resp>* resps, Prepare prepare,
                            Produce produce) {
  return FanOutRounds(shards, call, shard_of, reqs, resps, prepare, produce,
                      nullptr);
}

}  // namespace internal
}  // namespace strata

#endif  // STRATA_SERVER_CLIENT_INTERNAL_SHARD_GROUP_H_
