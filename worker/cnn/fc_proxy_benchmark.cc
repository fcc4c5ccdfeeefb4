// The cost of the FC relay (docs/worker.md): one Train stream of batches
// of `features` floats x 64 rows, each answered by a gradient batch of the
// same size, straight to an echoing StanzaFc server over loopback TCP
// ("direct", what --task_isolation=thread does) and through an FcProxy to
// the same server on a Unix socket ("relayed", the default). The time per
// batch is a round trip; the difference is the hop's cost.
//
//   bazel run -c opt //worker/cnn:fc_proxy_benchmark
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "worker/cnn/fc_proxy.h"
#include "worker/cnn/fc_service.h"

namespace strata {
namespace cnn {
namespace {

// Answers every batch with a gradient batch as large as its activations.
class EchoFc final : public StanzaFc::Service {
 public:
  grpc::Status Train(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<GradientBatch, ActivationBatch>* stream)
      override {
    ActivationBatch in;
    GradientBatch out;
    while (stream->Read(&in)) {
      out.set_step(in.step());
      out.set_gradients(in.activations());
      if (!stream->Write(out)) break;
    }
    return grpc::Status::OK;
  }
};

void RoundTrips(benchmark::State& state, bool relayed) {
  const size_t bytes = size_t(state.range(0)) * 64 * 4;
  EchoFc echo;
  const std::string socket =
      absl::StrCat("unix:/tmp/strata-fc-proxy-bench-", getpid(), ".sock");
  auto child = ServeStanzaFc(relayed ? socket : "127.0.0.1:0", 512 << 20,
                             &echo);
  FcProxy proxy;
  StanzaServer front;
  if (relayed) {
    front = *ServeStanzaFc("127.0.0.1:0", 512 << 20, &proxy);
    (void)proxy.AddRoute("job", socket);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(512 << 20);
  auto stub = StanzaFc::NewStub(grpc::CreateCustomChannel(
      relayed ? front.address : child->address,
      grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  auto stream = stub->Train(&ctx);
  ActivationBatch batch;
  batch.set_job_id("job");
  batch.set_activations(std::string(bytes, '\1'));
  GradientBatch g;
  for (auto _ : state) {
    batch.set_step(batch.step() + 1);
    if (!stream->Write(batch) || !stream->Read(&g)) {
      state.SkipWithError("stream broke");
      break;
    }
  }
  stream->WritesDone();
  (void)stream->Finish();
  state.SetBytesProcessed(int64_t(state.iterations()) * 2 * bytes);
  if (relayed) front.server->Shutdown();
  child->server->Shutdown();
  unlink(socket.substr(5).c_str());
}

void BM_Direct(benchmark::State& state) { RoundTrips(state, false); }
void BM_Relayed(benchmark::State& state) { RoundTrips(state, true); }

// Boundary features per row: LeNet-5 (400), AlexNet-style 32x32 (4096),
// AlexNet on ImageNet (9216).
BENCHMARK(BM_Direct)->Arg(400)->Arg(4096)->Arg(9216)->UseRealTime();
BENCHMARK(BM_Relayed)->Arg(400)->Arg(4096)->Arg(9216)->UseRealTime();

}  // namespace
}  // namespace cnn
}  // namespace strata

BENCHMARK_MAIN();
