// The compute backend of the NN engine: an abstract interface over the
// dense kernels a layer needs, implemented by CpuBackend (OpenBLAS) and
// CudaBackend (cuBLAS + CUDA kernels, worker/nn/cuda/).
//
// All pointers passed to a backend are memory it allocated itself
// (Allocate): host memory for the CPU backend, device memory for CUDA.
// Matrices are row-major. Tensors are float32 NCHW.
#ifndef STRATA_WORKER_NN_BACKEND_H_
#define STRATA_WORKER_NN_BACKEND_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata {
namespace nn {

// Where a model runs: "cpu" or "gpu:N".
struct DeviceSpec {
  enum class Kind { kCpu, kGpu };
  Kind kind = Kind::kCpu;
  int gpu_index = 0;  // meaningful for kGpu only
  std::string ToString() const;
};

// Parses "cpu" or "gpu:N" with jobs::ParseDeviceName, the parser job specs
// are admitted with. INVALID_ARGUMENT otherwise.
absl::StatusOr<DeviceSpec> ParseDevice(absl::string_view device);

// Geometry of a 2-d convolution or pooling window over NCHW input.
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t kh = 0, kw = 0, stride = 1, pad = 0;
  int64_t OutH() const { return (h + 2 * pad - kh) / stride + 1; }
  int64_t OutW() const { return (w + 2 * pad - kw) / stride + 1; }
};

// Kernels over backend memory. Implementations own their handles and
// allocations; a Backend must outlive every Tensor allocated from it. Not
// thread-safe: one backend serves one worker thread (the CUDA one issues
// everything on a single stream, so calls are ordered).
class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string Name() const = 0;
  virtual bool IsGpu() const = 0;

  // Memory. Allocate never returns nullptr on success (n may be 0).
  virtual absl::StatusOr<float*> Allocate(int64_t n) = 0;
  virtual void Free(float* p) = 0;
  virtual absl::Status CopyFromHost(const float* host, int64_t n,
                                    float* dst) = 0;
  virtual absl::Status CopyToHost(const float* src, int64_t n,
                                  float* host) = 0;
  virtual absl::Status Copy(const float* src, int64_t n, float* dst) = 0;
  virtual absl::Status Fill(float* x, int64_t n, float value) = 0;
  // Waits until all queued work is done (no-op on the CPU).
  virtual absl::Status Synchronize() = 0;

  // C[m,n] = alpha * op(A) * op(B) + beta * C, row-major, op = transpose
  // when the flag is set. lda/ldb/ldc are the row strides as stored.
  virtual absl::Status Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n,
                            int64_t k, float alpha, const float* a,
                            int64_t lda, const float* b, int64_t ldb,
                            float beta, float* c, int64_t ldc) = 0;

  // x: NCHW input; col: [C*kh*kw, N*OutH*OutW] (one column per output pixel
  // of every image, images side by side).
  virtual absl::Status Im2Col(const ConvGeometry& g, const float* x,
                              float* col) = 0;
  // Inverse of Im2Col: dx (NCHW) = sum of col entries; overwrites dx.
  virtual absl::Status Col2Im(const ConvGeometry& g, const float* col,
                              float* dx) = 0;
  // y[n,c,p] = src[c,n,p] + bias[c] (bias may be null). p spans hw.
  virtual absl::Status CnhwToNchw(const float* src, const float* bias,
                                  int64_t n, int64_t c, int64_t hw,
                                  float* y) = 0;
  // dst[c,n,p] = x[n,c,p].
  virtual absl::Status NchwToCnhw(const float* x, int64_t n, int64_t c,
                                  int64_t hw, float* dst) = 0;
  // y[n,c,p] += bias[c].
  virtual absl::Status AddChannelBias(float* y, const float* bias, int64_t n,
                                      int64_t c, int64_t hw) = 0;
  // db[c] = sum over n,p of dy[n,c,p].
  virtual absl::Status ChannelBiasGrad(const float* dy, int64_t n, int64_t c,
                                       int64_t hw, float* db) = 0;

  // Max pooling with window (kh,kw), stride and pad from g.
  virtual absl::Status MaxPoolForward(const ConvGeometry& g, const float* x,
                                      float* y) = 0;
  // Routes dy to the first maximum of each window (recomputed from x, y).
  virtual absl::Status MaxPoolBackward(const ConvGeometry& g, const float* x,
                                       const float* y, const float* dy,
                                       float* dx) = 0;

  virtual absl::Status ReluForward(const float* x, int64_t n, float* y) = 0;
  // dx = dy where y > 0, else 0.
  virtual absl::Status ReluBackward(const float* y, const float* dy,
                                    int64_t n, float* dx) = 0;
  // y = x * m elementwise.
  virtual absl::Status Multiply(const float* x, const float* m, int64_t n,
                                float* y) = 0;

  // Softmax cross-entropy over rows of logits [n,k]; labels holds class
  // indices as floats. Writes grad = (softmax - onehot) / n and the loss of
  // each row into row_loss[n]. INVALID_ARGUMENT for a label out of range
  // (checked where the labels are visible: on the host for CUDA callers).
  virtual absl::Status SoftmaxCrossEntropy(const float* logits,
                                           const float* labels, int64_t n,
                                           int64_t k, float* grad,
                                           float* row_loss) = 0;

  // v = momentum * v + g + weight_decay * w;  w -= lr * v.
  virtual absl::Status SgdUpdate(float* w, const float* g, float* v,
                                 int64_t n, float lr, float momentum,
                                 float weight_decay) = 0;
};

}  // namespace nn
}  // namespace strata

#endif  // STRATA_WORKER_NN_BACKEND_H_
