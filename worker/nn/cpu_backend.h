// CpuBackend: the Backend on host memory, with GEMMs by OpenBLAS sgemm and
// the other kernels as plain loops.
#ifndef STRATA_WORKER_NN_CPU_BACKEND_H_
#define STRATA_WORKER_NN_CPU_BACKEND_H_

#include <string>

#include "worker/nn/backend.h"

namespace strata {
namespace nn {

// Stateless apart from OpenBLAS's own global thread pool, whose size the
// binary's main() sets (SetBlasThreads). Allocations are 64-byte
// aligned host memory owned by the caller's Tensor. Not thread-safe beyond
// what OpenBLAS guarantees; use one per worker thread.
class CpuBackend : public Backend {
 public:
  std::string Name() const override { return "cpu"; }
  bool IsGpu() const override { return false; }

  absl::StatusOr<float*> Allocate(int64_t n) override;
  void Free(float* p) override;
  absl::Status CopyFromHost(const float* host, int64_t n, float* dst) override;
  absl::Status CopyToHost(const float* src, int64_t n, float* host) override;
  absl::Status Copy(const float* src, int64_t n, float* dst) override;
  absl::Status Fill(float* x, int64_t n, float value) override;
  absl::Status Synchronize() override { return absl::OkStatus(); }

  absl::Status Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n,
                    int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) override;
  absl::Status Im2Col(const ConvGeometry& g, const float* x,
                      float* col) override;
  absl::Status Col2Im(const ConvGeometry& g, const float* col,
                      float* dx) override;
  absl::Status CnhwToNchw(const float* src, const float* bias, int64_t n,
                          int64_t c, int64_t hw, float* y) override;
  absl::Status NchwToCnhw(const float* x, int64_t n, int64_t c, int64_t hw,
                          float* dst) override;
  absl::Status AddChannelBias(float* y, const float* bias, int64_t n,
                              int64_t c, int64_t hw) override;
  absl::Status ChannelBiasGrad(const float* dy, int64_t n, int64_t c,
                               int64_t hw, float* db) override;
  absl::Status MaxPoolForward(const ConvGeometry& g, const float* x,
                              float* y) override;
  absl::Status MaxPoolBackward(const ConvGeometry& g, const float* x,
                               const float* y, const float* dy,
                               float* dx) override;
  absl::Status ReluForward(const float* x, int64_t n, float* y) override;
  absl::Status ReluBackward(const float* y, const float* dy, int64_t n,
                            float* dx) override;
  absl::Status Multiply(const float* x, const float* m, int64_t n,
                        float* y) override;
  absl::Status SoftmaxCrossEntropy(const float* logits, const float* labels,
                                   int64_t n, int64_t k, float* grad,
                                   float* row_loss) override;
  absl::Status SgdUpdate(float* w, const float* g, float* v, int64_t n,
                         float lr, float momentum,
                         float weight_decay) override;
};

// Sets OpenBLAS's thread count (call from main()).
void SetBlasThreads(int threads);

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_CPU_BACKEND_H_
