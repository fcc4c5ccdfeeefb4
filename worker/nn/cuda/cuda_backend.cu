// CUDA implementation of cuda_backend.h: CudaContext, cuBLAS GEMMs and the
// kernels for im2col/col2im, layout changes, pooling, activations, dropout,
// softmax cross-entropy and SGD. Every CUDA and cuBLAS status is checked and
// returned as absl::Status.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <memory>
#include <string>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"
#include "worker/nn/cuda/cuda_backend.h"

namespace strata {
namespace nn {
namespace {

constexpr int kThreads = 256;

int Blocks(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 16 ? (b < 1 ? 1 : b) : 65535 * 16);
}

absl::Status FromCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", cudaGetErrorName(err), " (",
                                 cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) {
    return absl::ResourceExhaustedError(msg);
  }
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    return absl::FailedPreconditionError(msg);
  }
  if (err == cudaErrorInvalidDevice) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

absl::Status FromCublas(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": cuBLAS status ", static_cast<int>(st));
  if (st == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(msg);
  if (st == CUBLAS_STATUS_INVALID_VALUE) return absl::InvalidArgumentError(msg);
  if (st == CUBLAS_STATUS_NOT_INITIALIZED) {
    return absl::FailedPreconditionError(msg);
  }
  return absl::InternalError(msg);
}

// Return the failed CUDA / cuBLAS call, named, as an absl::Status.
#define NN_CUDA(expr) STRATA_RETURN_IF_ERROR(FromCuda((expr), #expr))
#define NN_CUBLAS(expr) STRATA_RETURN_IF_ERROR(FromCublas((expr), #expr))
// After a kernel launch: launch-configuration errors surface here.
#define NN_LAUNCHED(name) NN_CUDA(cudaGetLastError())

#define GRID_LOOP(i, n)                                                  \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) +       \
                   threadIdx.x;                                          \
       i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

struct Geo {
  int64_t n, c, h, w, kh, kw, stride, pad, oh, ow;
};

Geo ToGeo(const ConvGeometry& g) {
  return Geo{g.n, g.c, g.h, g.w, g.kh, g.kw, g.stride, g.pad, g.OutH(),
             g.OutW()};
}

__global__ void FillKernel(float* x, int64_t n, float v) {
  GRID_LOOP(i, n) x[i] = v;
}

// col[(c*kh+ki)*kw+kj][n*ohw + oy*ow + ox]
__global__ void Im2ColKernel(Geo g, const float* x, float* col) {
  const int64_t ohw = g.oh * g.ow, ld = g.n * ohw;
  const int64_t total = g.c * g.kh * g.kw * ld;
  GRID_LOOP(i, total) {
    const int64_t row = i / ld, j = i % ld;
    const int64_t kj = row % g.kw, ki = (row / g.kw) % g.kh, c = row / (g.kw * g.kh);
    const int64_t n = j / ohw, p = j % ohw, oy = p / g.ow, ox = p % g.ow;
    const int64_t iy = oy * g.stride - g.pad + ki, ix = ox * g.stride - g.pad + kj;
    col[i] = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
                 ? x[((n * g.c + c) * g.h + iy) * g.w + ix]
                 : 0.0f;
  }
}

// Gather form of col2im: one thread per input element, deterministic.
__global__ void Col2ImKernel(Geo g, const float* col, float* dx) {
  const int64_t ohw = g.oh * g.ow, ld = g.n * ohw;
  const int64_t total = g.n * g.c * g.h * g.w;
  GRID_LOOP(i, total) {
    const int64_t x = i % g.w, y = (i / g.w) % g.h;
    const int64_t c = (i / (g.w * g.h)) % g.c, n = i / (g.w * g.h * g.c);
    float acc = 0.0f;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t ty = y + g.pad - ki;
      if (ty < 0 || ty % g.stride != 0 || ty / g.stride >= g.oh) continue;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t tx = x + g.pad - kj;
        if (tx < 0 || tx % g.stride != 0 || tx / g.stride >= g.ow) continue;
        const int64_t row = (c * g.kh + ki) * g.kw + kj;
        acc += col[row * ld + n * ohw + (ty / g.stride) * g.ow + tx / g.stride];
      }
    }
    dx[i] = acc;
  }
}

__global__ void CnhwToNchwKernel(const float* src, const float* bias,
                                 int64_t n, int64_t c, int64_t hw, float* y) {
  GRID_LOOP(i, n * c * hw) {
    const int64_t p = i % hw, ci = (i / hw) % c, ni = i / (hw * c);
    y[i] = src[(ci * n + ni) * hw + p] + (bias ? bias[ci] : 0.0f);
  }
}

__global__ void NchwToCnhwKernel(const float* x, int64_t n, int64_t c,
                                 int64_t hw, float* dst) {
  GRID_LOOP(i, n * c * hw) {
    const int64_t p = i % hw, ni = (i / hw) % n, ci = i / (hw * n);
    dst[i] = x[(ni * c + ci) * hw + p];
  }
}

__global__ void AddChannelBiasKernel(float* y, const float* bias, int64_t n,
                                     int64_t c, int64_t hw) {
  GRID_LOOP(i, n * c * hw) y[i] += bias[(i / hw) % c];
}

// One block per channel; fixed-order tree reduction (deterministic).
__global__ void ChannelBiasGradKernel(const float* dy, int64_t n, int64_t c,
                                      int64_t hw, float* db) {
  __shared__ float part[kThreads];
  const int64_t ci = blockIdx.x;
  float acc = 0.0f;
  for (int64_t j = threadIdx.x; j < n * hw; j += blockDim.x) {
    acc += dy[((j / hw) * c + ci) * hw + j % hw];
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[ci] = part[0];
}

__device__ int64_t FirstMax(const Geo& g, const float* plane, int64_t oy,
                            int64_t ox, float* value) {
  float m = -FLT_MAX;
  int64_t at = -1;
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t iy = oy * g.stride - g.pad + i;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t ix = ox * g.stride - g.pad + j;
      if (ix < 0 || ix >= g.w) continue;
      const float v = plane[iy * g.w + ix];
      if (at < 0 || v > m) {
        m = v;
        at = iy * g.w + ix;
      }
    }
  }
  *value = m;
  return at;
}

__global__ void MaxPoolForwardKernel(Geo g, const float* x, float* y) {
  GRID_LOOP(i, g.n * g.c * g.oh * g.ow) {
    const int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, plane = i / (g.ow * g.oh);
    float m;
    FirstMax(g, x + plane * g.h * g.w, oy, ox, &m);
    y[i] = m;
  }
}

// One thread per input element: sums dy of the windows whose first maximum
// it is (matches the CPU backend's routing, no atomics).
__global__ void MaxPoolBackwardKernel(Geo g, const float* x, const float* dy,
                                      float* dx) {
  GRID_LOOP(i, g.n * g.c * g.h * g.w) {
    const int64_t ix = i % g.w, iy = (i / g.w) % g.h, plane = i / (g.w * g.h);
    const float* in = x + plane * g.h * g.w;
    float acc = 0.0f;
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      const int64_t y0 = oy * g.stride - g.pad;
      if (iy < y0 || iy >= y0 + g.kh) continue;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const int64_t x0 = ox * g.stride - g.pad;
        if (ix < x0 || ix >= x0 + g.kw) continue;
        float m;
        if (FirstMax(g, in, oy, ox, &m) == iy * g.w + ix) {
          acc += dy[(plane * g.oh + oy) * g.ow + ox];
        }
      }
    }
    dx[i] = acc;
  }
}

__global__ void ReluForwardKernel(const float* x, int64_t n, float* y) {
  GRID_LOOP(i, n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void ReluBackwardKernel(const float* y, const float* dy, int64_t n,
                                   float* dx) {
  GRID_LOOP(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

__global__ void MultiplyKernel(const float* x, const float* m, int64_t n,
                               float* y) {
  GRID_LOOP(i, n) y[i] = x[i] * m[i];
}

// One thread per row (K is small: the class count).
__global__ void SoftmaxXentKernel(const float* logits, const float* labels,
                                  int64_t n, int64_t k, float* grad,
                                  float* row_loss) {
  GRID_LOOP(r, n) {
    const float* z = logits + r * k;
    float* gr = grad + r * k;
    const int64_t label = static_cast<int64_t>(labels[r]);
    float mx = z[0];
    for (int64_t j = 1; j < k; ++j) mx = fmaxf(mx, z[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += exp(static_cast<double>(z[j] - mx));
    const double log_sum = log(sum);
    for (int64_t j = 0; j < k; ++j) {
      const double p = exp(static_cast<double>(z[j] - mx) - log_sum);
      gr[j] = static_cast<float>((p - (j == label ? 1.0 : 0.0)) / n);
    }
    row_loss[r] = static_cast<float>(log_sum - (z[label] - mx));
  }
}

__global__ void SgdKernel(float* w, const float* g, float* v, int64_t n,
                          float lr, float momentum, float wd) {
  GRID_LOOP(i, n) {
    const float vi = momentum * v[i] + g[i] + wd * w[i];
    v[i] = vi;
    w[i] -= lr * vi;
  }
}

// The Backend on one CUDA device. Owns the stream, the cuBLAS handle and
// all device memory it hands out (freed at destruction at the latest).
class CudaContext : public Backend {
 public:
  explicit CudaContext(int device) : device_(device) {}
  ~CudaContext() override {
    cudaSetDevice(device_);
    for (float* p : live_) cudaFree(p);
    if (blas_ != nullptr) cublasDestroy(blas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  absl::Status Open() {
    NN_CUDA(cudaSetDevice(device_));
    NN_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    NN_CUBLAS(cublasCreate(&blas_));
    NN_CUBLAS(cublasSetStream(blas_, stream_));
    return absl::OkStatus();
  }

  std::string Name() const override { return absl::StrCat("gpu:", device_); }
  bool IsGpu() const override { return true; }

  absl::StatusOr<float*> Allocate(int64_t n) override {
    NN_CUDA(cudaSetDevice(device_));
    void* p = nullptr;
    NN_CUDA(cudaMalloc(&p, (n < 1 ? 1 : n) * sizeof(float)));
    live_.insert(static_cast<float*>(p));
    return static_cast<float*>(p);
  }
  void Free(float* p) override {
    if (live_.erase(p) > 0) cudaFree(p);
  }
  absl::Status CopyFromHost(const float* host, int64_t n, float* dst) override {
    NN_CUDA(cudaMemcpyAsync(dst, host, n * sizeof(float),
                            cudaMemcpyHostToDevice, stream_));
    return Synchronize();  // `host` may be reused as soon as we return
  }
  absl::Status CopyToHost(const float* src, int64_t n, float* host) override {
    NN_CUDA(cudaMemcpyAsync(host, src, n * sizeof(float),
                            cudaMemcpyDeviceToHost, stream_));
    return Synchronize();
  }
  absl::Status Copy(const float* src, int64_t n, float* dst) override {
    NN_CUDA(cudaMemcpyAsync(dst, src, n * sizeof(float),
                            cudaMemcpyDeviceToDevice, stream_));
    return absl::OkStatus();
  }
  absl::Status Fill(float* x, int64_t n, float value) override {
    FillKernel<<<Blocks(n), kThreads, 0, stream_>>>(x, n, value);
    NN_LAUNCHED("Fill");
    return absl::OkStatus();
  }
  absl::Status Synchronize() override {
    NN_CUDA(cudaStreamSynchronize(stream_));
    return absl::OkStatus();
  }

  absl::Status Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    float alpha, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float beta, float* c, int64_t ldc) override {
    if (m == 0 || n == 0) return absl::OkStatus();
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    NN_CUBLAS(cublasSgemm(blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                          ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b,
                          ldb, a, lda, &beta, c, ldc));
    return absl::OkStatus();
  }

  absl::Status Im2Col(const ConvGeometry& cg, const float* x,
                      float* col) override {
    const Geo g = ToGeo(cg);
    Im2ColKernel<<<Blocks(g.c * g.kh * g.kw * g.n * g.oh * g.ow), kThreads, 0,
                   stream_>>>(g, x, col);
    NN_LAUNCHED("Im2Col");
    return absl::OkStatus();
  }
  absl::Status Col2Im(const ConvGeometry& cg, const float* col,
                      float* dx) override {
    const Geo g = ToGeo(cg);
    Col2ImKernel<<<Blocks(g.n * g.c * g.h * g.w), kThreads, 0, stream_>>>(
        g, col, dx);
    NN_LAUNCHED("Col2Im");
    return absl::OkStatus();
  }
  absl::Status CnhwToNchw(const float* src, const float* bias, int64_t n,
                          int64_t c, int64_t hw, float* y) override {
    CnhwToNchwKernel<<<Blocks(n * c * hw), kThreads, 0, stream_>>>(src, bias, n,
                                                                  c, hw, y);
    NN_LAUNCHED("CnhwToNchw");
    return absl::OkStatus();
  }
  absl::Status NchwToCnhw(const float* x, int64_t n, int64_t c, int64_t hw,
                          float* dst) override {
    NchwToCnhwKernel<<<Blocks(n * c * hw), kThreads, 0, stream_>>>(x, n, c, hw,
                                                                  dst);
    NN_LAUNCHED("NchwToCnhw");
    return absl::OkStatus();
  }
  absl::Status AddChannelBias(float* y, const float* bias, int64_t n,
                              int64_t c, int64_t hw) override {
    AddChannelBiasKernel<<<Blocks(n * c * hw), kThreads, 0, stream_>>>(
        y, bias, n, c, hw);
    NN_LAUNCHED("AddChannelBias");
    return absl::OkStatus();
  }
  absl::Status ChannelBiasGrad(const float* dy, int64_t n, int64_t c,
                               int64_t hw, float* db) override {
    if (c == 0) return absl::OkStatus();
    ChannelBiasGradKernel<<<static_cast<unsigned>(c), kThreads, 0, stream_>>>(
        dy, n, c, hw, db);
    NN_LAUNCHED("ChannelBiasGrad");
    return absl::OkStatus();
  }
  absl::Status MaxPoolForward(const ConvGeometry& cg, const float* x,
                              float* y) override {
    const Geo g = ToGeo(cg);
    MaxPoolForwardKernel<<<Blocks(g.n * g.c * g.oh * g.ow), kThreads, 0,
                           stream_>>>(g, x, y);
    NN_LAUNCHED("MaxPoolForward");
    return absl::OkStatus();
  }
  absl::Status MaxPoolBackward(const ConvGeometry& cg, const float* x,
                               const float* y, const float* dy,
                               float* dx) override {
    const Geo g = ToGeo(cg);
    MaxPoolBackwardKernel<<<Blocks(g.n * g.c * g.h * g.w), kThreads, 0,
                            stream_>>>(g, x, dy, dx);
    NN_LAUNCHED("MaxPoolBackward");
    return absl::OkStatus();
  }
  absl::Status ReluForward(const float* x, int64_t n, float* y) override {
    ReluForwardKernel<<<Blocks(n), kThreads, 0, stream_>>>(x, n, y);
    NN_LAUNCHED("ReluForward");
    return absl::OkStatus();
  }
  absl::Status ReluBackward(const float* y, const float* dy, int64_t n,
                            float* dx) override {
    ReluBackwardKernel<<<Blocks(n), kThreads, 0, stream_>>>(y, dy, n, dx);
    NN_LAUNCHED("ReluBackward");
    return absl::OkStatus();
  }
  absl::Status Multiply(const float* x, const float* m, int64_t n,
                        float* y) override {
    MultiplyKernel<<<Blocks(n), kThreads, 0, stream_>>>(x, m, n, y);
    NN_LAUNCHED("Multiply");
    return absl::OkStatus();
  }
  absl::Status SoftmaxCrossEntropy(const float* logits, const float* labels,
                                   int64_t n, int64_t k, float* grad,
                                   float* row_loss) override {
    // Labels were range-checked on the host by SoftmaxCrossEntropyLoss.
    SoftmaxXentKernel<<<Blocks(n), kThreads, 0, stream_>>>(logits, labels, n,
                                                           k, grad, row_loss);
    NN_LAUNCHED("SoftmaxCrossEntropy");
    return absl::OkStatus();
  }
  absl::Status SgdUpdate(float* w, const float* g, float* v, int64_t n,
                         float lr, float momentum, float wd) override {
    SgdKernel<<<Blocks(n), kThreads, 0, stream_>>>(w, g, v, n, lr, momentum,
                                                   wd);
    NN_LAUNCHED("SgdUpdate");
    return absl::OkStatus();
  }

 private:
  const int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::unordered_set<float*> live_;
};

}  // namespace

bool CudaBackendBuilt() { return true; }

absl::StatusOr<int> CudaDeviceCount() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    return 0;
  }
  if (err != cudaSuccess) return FromCuda(err, "cudaGetDeviceCount");
  return count;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaContext(int index) {
  STRATA_ASSIGN_OR_RETURN(const int count, CudaDeviceCount());
  if (count == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device gpu:", index, " requested but no CUDA device is visible"));
  }
  if (index < 0 || index >= count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "device gpu:", index, " out of range: ", count, " CUDA device(s)"));
  }
  auto ctx = std::make_unique<CudaContext>(index);
  STRATA_RETURN_IF_ERROR(ctx->Open());
  return std::unique_ptr<Backend>(std::move(ctx));
}

}  // namespace nn
}  // namespace strata
