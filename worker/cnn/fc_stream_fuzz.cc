// Fuzz target: the FC side of Stanza's Train streams (FcStream over a real
// FcSession: lenet5's FC part, 1 conv worker, 1 FC node, CPU backend), fed
// in-process without gRPC. The input is a sequence of records, each opened
// by a control byte c: stream s = c % 3 of three concurrent streams, and
// kind (c / 3) % 4:
//   0  a raw ActivationBatch: 2-byte little-endian length, then the message
//      (skipped when it does not parse);
//   1  that stream ends cleanly (WritesDone);
//   2  that stream breaks (the conv worker went away: the session fails);
//   3  a batch built from the next 6 bytes (see Template), so that short
//      inputs reach the training step and every validation rule.
// A stream whose batch was refused is over; the slot's next batch opens a
// new one. Properties checked on every message, beyond "no crash, no
// sanitizer report":
//   - every refusal has one of the documented codes;
//   - a refusal while the session is healthy changes nothing: no step, the
//     same loss and counters, the session still healthy;
//   - an accepted training batch runs exactly one FC step on its rows, an
//     accepted evaluation none;
//   - the weights move only with a step (compared bitwise at the end).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "proto/stanza.pb.h"
#include "server/jobs/job_types.h"
#include "worker/cnn/cnn_job.h"
#include "worker/cnn/fc_service.h"
#include "worker/cnn/wire.h"
#include "worker/nn/cpu_backend.h"

namespace strata {
namespace cnn {
namespace {

constexpr char kJob[] = "fuzz-job";
constexpr char kSecret[] = "fuzz-secret-0123";  // 16 bytes, like the real one
constexpr int kStreams = 3;
constexpr int64_t kFeatures = 400;  // lenet5's boundary

CnnPlan MakePlan() {
  JobSpec job;
  CnnTrainSpec* c = job.mutable_cnn_train();
  c->set_model("lenet5");
  c->set_mode(CnnTrainSpec::STANZA);
  c->set_num_conv_workers(1);
  c->set_num_fc_nodes(1);
  c->set_batch_size(4);
  c->set_steps(4);
  c->set_eval_batch(8);
  c->mutable_data()->set_synthetic_train(64);
  c->mutable_data()->set_synthetic_test(16);
  CHECK(jobs::PrepareJobSpec({}, &job).ok());
  absl::StatusOr<CnnPlan> plan = CnnPlan::Make(job.cnn_train(), 64);
  CHECK(plan.ok()) << plan.status();
  return *plan;
}

// Reads the input front to back; past the end every byte is 0.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string Bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A batch from 6 bytes: rank (b0 % 4: 0 is served), step (b1 % 8 - 1),
// flags b2 (1 eval, 2 fp16, 4 no secret, 8 wrong secret, 16 other job,
// 32 truncated activations, 64 wrong features, 128 label past the classes),
// rows b3 % 10, value seed b4 (255: a NaN, 254: an inf at index b5),
// b5 also picks the label row.
ActivationBatch Template(Reader* in) {
  uint8_t b[6];
  for (uint8_t& x : b) x = in->Byte();
  ActivationBatch m;
  m.set_job_id(b[2] & 16 ? "other-job" : kJob);
  m.set_conv_rank(b[0] % 4);
  m.set_step(static_cast<int64_t>(b[1] % 8) - 1);
  m.set_eval(b[2] & 1);
  if (!(b[2] & 4)) m.set_job_secret(b[2] & 8 ? "fuzz-secret-0124" : kSecret);
  const int64_t rows = b[3] % 10;
  m.set_batch(rows);
  m.set_features(b[2] & 64 ? kFeatures - 1 : kFeatures);
  m.set_format(b[2] & 2 ? FLOAT16 : FLOAT32);
  std::vector<float> x(rows * kFeatures);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] =
        static_cast<float>(static_cast<int>((b[4] * 31 + i * 17) % 200) - 100) /
        50.0f;
  }
  if (!x.empty() && b[4] >= 254) {
    x[b[5] % x.size()] =
        b[4] == 255 ? std::nanf("") : std::numeric_limits<float>::infinity();
  }
  PackFloats(x, m.format(), m.mutable_activations());
  if (b[2] & 32) m.mutable_activations()->resize(m.activations().size() / 2);
  std::vector<int32_t> labels(rows);
  for (int64_t i = 0; i < rows; ++i) labels[i] = (b[4] + i) % 10;
  if (rows > 0 && (b[2] & 128)) labels[b[5] % rows] = 10 + b[5];
  m.set_labels(std::string(reinterpret_cast<const char*>(labels.data()),
                           labels.size() * sizeof(int32_t)));
  return m;
}

bool IsRefusal(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
      return true;
    default:
      return false;
  }
}

// OK while the session has not failed.
absl::Status Health(FcSession& session) {
  const absl::Status s = session.WaitDone(absl::InfinitePast());
  if (s.ok() || (absl::IsDeadlineExceeded(s) &&
                 s.message() == "conv workers still streaming")) {
    return absl::OkStatus();
  }
  return s;
}

std::string WeightBytes(const FcSession& session) {
  absl::StatusOr<std::vector<float>> w = session.Weights();
  CHECK(w.ok()) << w.status();
  return std::string(reinterpret_cast<const char*>(w->data()),
                     w->size() * sizeof(float));
}

// One input's session, its streams and what the checks compare against.
struct Harness {
  std::shared_ptr<FcSession> session;
  FcStream::Finder find;
  std::unique_ptr<FcStream> streams[kStreams];
  std::string weights;  // bitwise, as of the last FC step
};

// The session's state a refused batch must leave alone (the weights change
// only with a step; Check compares them at the end of the input).
struct Snapshot {
  bool healthy;
  int64_t steps;
  double loss;
  int64_t conv_recv;
  explicit Snapshot(FcSession& s)
      : healthy(Health(s).ok()),
        steps(s.steps_done()),
        loss(s.last_loss()),
        conv_recv(s.traffic().conv_recv) {}
  bool operator==(const Snapshot& o) const {
    return healthy == o.healthy && steps == o.steps &&
           std::memcmp(&loss, &o.loss, sizeof(loss)) == 0 &&
           conv_recv == o.conv_recv;
  }
};

// Hands `m` to the stream in `slot` and checks the properties above.
void Feed(Harness& h, std::unique_ptr<FcStream>& slot,
          const ActivationBatch& m) {
  FcSession& session = *h.session;
  if (slot == nullptr) slot = std::make_unique<FcStream>(h.find);
  const Snapshot before(session);
  absl::StatusOr<GradientBatch> out = slot->Handle(m);
  if (!out.ok()) {
    slot.reset();
    if (!before.healthy) return;  // every call answers the failure
    CHECK(IsRefusal(out.status().code())) << out.status();
    CHECK(Snapshot(session) == before) << "a refusal changed the session";
    return;
  }
  CHECK(before.healthy);
  CHECK_EQ(out->merged_rows(), m.batch());  // one conv worker: its rows only
  CHECK_EQ(session.steps_done(), before.steps + (m.eval() ? 0 : 1));
  if (!m.eval()) h.weights = WeightBytes(session);
}

// After the last record: nothing but a step moved the weights.
void Check(Harness& h) {
  if (Health(*h.session).ok()) {
    CHECK(WeightBytes(*h.session) == h.weights)
        << "the weights moved without an FC step";
  }
}

}  // namespace
}  // namespace cnn
}  // namespace strata

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::cnn;  // NOLINT: one entry point
  static const CnnPlan plan = [] {
    strata::nn::SetBlasThreads(1);  // deterministic, no helper threads
    return MakePlan();
  }();
  FcSession::Options o;
  o.job_id = kJob;
  o.job_secret = kSecret;
  o.step_timeout = absl::Milliseconds(1);  // one conv worker: never waits
  absl::StatusOr<std::shared_ptr<FcSession>> session =
      FcSession::Create(plan, std::make_unique<strata::nn::CpuBackend>(), o);
  CHECK(session.ok()) << session.status();
  Harness h;
  h.session = *session;
  h.find = [&h](const std::string& job_id)
      -> absl::StatusOr<std::shared_ptr<FcSession>> {
    if (job_id != kJob) return absl::NotFoundError("no such job");
    return h.session;
  };
  h.weights = WeightBytes(*h.session);
  Reader in(data, size);
  while (!in.done()) {
    const uint8_t c = in.Byte();
    std::unique_ptr<FcStream>& slot = h.streams[c % kStreams];
    switch ((c / kStreams) % 4) {
      case 0: {
        const size_t n = in.Byte() | (static_cast<size_t>(in.Byte()) << 8);
        strata::ActivationBatch m;
        if (m.ParseFromString(in.Bytes(n))) Feed(h, slot, m);
        break;
      }
      case 1:
      case 2:
        if (slot != nullptr) {
          slot->End((c / kStreams) % 4 == 1
                        ? absl::OkStatus()
                        : absl::UnavailableError("the conv worker went away"));
          slot.reset();
        }
        break;
      default:
        Feed(h, slot, Template(&in));
    }
  }
  Check(h);
  return 0;
}
