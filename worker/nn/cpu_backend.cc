#include "worker/nn/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace strata {
namespace nn {

void SetBlasThreads(int threads) { openblas_set_num_threads(threads); }

absl::StatusOr<float*> CpuBackend::Allocate(int64_t n) {
  if (n < 0) return absl::InvalidArgumentError("Allocate: negative size");
  size_t bytes = ((std::max<int64_t>(n, 1) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("CpuBackend: cannot allocate ", bytes, " bytes"));
  }
  return static_cast<float*>(p);
}

void CpuBackend::Free(float* p) { std::free(p); }

absl::Status CpuBackend::CopyFromHost(const float* host, int64_t n,
                                      float* dst) {
  std::memcpy(dst, host, n * sizeof(float));
  return absl::OkStatus();
}

absl::Status CpuBackend::CopyToHost(const float* src, int64_t n, float* host) {
  std::memcpy(host, src, n * sizeof(float));
  return absl::OkStatus();
}

absl::Status CpuBackend::Copy(const float* src, int64_t n, float* dst) {
  std::memmove(dst, src, n * sizeof(float));
  return absl::OkStatus();
}

absl::Status CpuBackend::Fill(float* x, int64_t n, float value) {
  std::fill(x, x + n, value);
  return absl::OkStatus();
}

absl::Status CpuBackend::Gemm(bool trans_a, bool trans_b, int64_t m,
                              int64_t n, int64_t k, float alpha,
                              const float* a, int64_t lda, const float* b,
                              int64_t ldb, float beta, float* c,
                              int64_t ldc) {
  if (m == 0 || n == 0) return absl::OkStatus();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
  return absl::OkStatus();
}

absl::Status CpuBackend::Im2Col(const ConvGeometry& g, const float* x,
                                float* col) {
  const int64_t oh = g.OutH(), ow = g.OutW(), ohw = oh * ow;
  const int64_t ld = g.n * ohw;
  for (int64_t c = 0; c < g.c; ++c) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        float* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        for (int64_t n = 0; n < g.n; ++n) {
          const float* img = x + (n * g.c + c) * g.h * g.w;
          float* out = row + n * ohw;
          for (int64_t y = 0; y < oh; ++y) {
            const int64_t iy = y * g.stride - g.pad + ki;
            float* o = out + y * ow;
            if (iy < 0 || iy >= g.h) {
              std::fill(o, o + ow, 0.0f);
              continue;
            }
            const float* src = img + iy * g.w;
            if (g.stride == 1) {
              const int64_t shift = kj - g.pad;  // ix = xo + shift
              const int64_t lo = std::max<int64_t>(0, -shift);
              const int64_t hi = std::min<int64_t>(ow, g.w - shift);
              for (int64_t xo = 0; xo < lo && xo < ow; ++xo) o[xo] = 0.0f;
              if (hi > lo) std::memcpy(o + lo, src + lo + shift, (hi - lo) * sizeof(float));
              for (int64_t xo = std::max(hi, lo); xo < ow; ++xo) o[xo] = 0.0f;
            } else {
              for (int64_t xo = 0; xo < ow; ++xo) {
                const int64_t ix = xo * g.stride - g.pad + kj;
                o[xo] = (ix >= 0 && ix < g.w) ? src[ix] : 0.0f;
              }
            }
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::Col2Im(const ConvGeometry& g, const float* col,
                                float* dx) {
  const int64_t oh = g.OutH(), ow = g.OutW(), ohw = oh * ow;
  const int64_t ld = g.n * ohw;
  std::fill(dx, dx + g.n * g.c * g.h * g.w, 0.0f);
  for (int64_t c = 0; c < g.c; ++c) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const float* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        for (int64_t n = 0; n < g.n; ++n) {
          float* img = dx + (n * g.c + c) * g.h * g.w;
          const float* in = row + n * ohw;
          for (int64_t y = 0; y < oh; ++y) {
            const int64_t iy = y * g.stride - g.pad + ki;
            if (iy < 0 || iy >= g.h) continue;
            float* dst = img + iy * g.w;
            const float* s = in + y * ow;
            for (int64_t xo = 0; xo < ow; ++xo) {
              const int64_t ix = xo * g.stride - g.pad + kj;
              if (ix >= 0 && ix < g.w) dst[ix] += s[xo];
            }
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::CnhwToNchw(const float* src, const float* bias,
                                    int64_t n, int64_t c, int64_t hw,
                                    float* y) {
  for (int64_t ci = 0; ci < c; ++ci) {
    const float b = bias == nullptr ? 0.0f : bias[ci];
    for (int64_t ni = 0; ni < n; ++ni) {
      const float* s = src + (ci * n + ni) * hw;
      float* d = y + (ni * c + ci) * hw;
      for (int64_t p = 0; p < hw; ++p) d[p] = s[p] + b;
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::NchwToCnhw(const float* x, int64_t n, int64_t c,
                                    int64_t hw, float* dst) {
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t ci = 0; ci < c; ++ci) {
      std::memcpy(dst + (ci * n + ni) * hw, x + (ni * c + ci) * hw,
                  hw * sizeof(float));
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::AddChannelBias(float* y, const float* bias,
                                        int64_t n, int64_t c, int64_t hw) {
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t ci = 0; ci < c; ++ci) {
      float* d = y + (ni * c + ci) * hw;
      const float b = bias[ci];
      for (int64_t p = 0; p < hw; ++p) d[p] += b;
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::ChannelBiasGrad(const float* dy, int64_t n,
                                         int64_t c, int64_t hw, float* db) {
  std::fill(db, db + c, 0.0f);
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t ci = 0; ci < c; ++ci) {
      const float* s = dy + (ni * c + ci) * hw;
      float acc = 0.0f;
      for (int64_t p = 0; p < hw; ++p) acc += s[p];
      db[ci] += acc;
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::MaxPoolForward(const ConvGeometry& g, const float* x,
                                        float* y) {
  const int64_t oh = g.OutH(), ow = g.OutW();
  for (int64_t plane = 0; plane < g.n * g.c; ++plane) {
    const float* in = x + plane * g.h * g.w;
    float* out = y + plane * oh * ow;
    for (int64_t yo = 0; yo < oh; ++yo) {
      for (int64_t xo = 0; xo < ow; ++xo) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t iy = yo * g.stride - g.pad + i;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = xo * g.stride - g.pad + j;
            if (ix >= 0 && ix < g.w) m = std::max(m, in[iy * g.w + ix]);
          }
        }
        out[yo * ow + xo] = m;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::MaxPoolBackward(const ConvGeometry& g,
                                         const float* x, const float* y,
                                         const float* dy, float* dx) {
  const int64_t oh = g.OutH(), ow = g.OutW();
  if (g.pad == 0 && g.stride == g.kh && g.stride == g.kw &&
      oh * g.kh == g.h && ow * g.kw == g.w) {
    // Non-overlapping windows that tile the input (2x2/2 in every model):
    // each input element belongs to exactly one window, so one pass writes
    // every dx element; the first maximum of a window takes the gradient.
    for (int64_t plane = 0; plane < g.n * g.c; ++plane) {
      const float* in = x + plane * g.h * g.w;
      float* din = dx + plane * g.h * g.w;
      const float* yp = y + plane * oh * ow;
      const float* dyp = dy + plane * oh * ow;
      for (int64_t yo = 0; yo < oh; ++yo) {
        for (int64_t xo = 0; xo < ow; ++xo) {
          const float m = yp[yo * ow + xo], d = dyp[yo * ow + xo];
          bool taken = false;
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t row = (yo * g.kh + i) * g.w + xo * g.kw;
            for (int64_t j = 0; j < g.kw; ++j) {
              const bool hit = !taken && in[row + j] == m;
              din[row + j] = hit ? d : 0.0f;
              taken = taken || hit;
            }
          }
        }
      }
    }
    return absl::OkStatus();
  }
  std::fill(dx, dx + g.n * g.c * g.h * g.w, 0.0f);
  for (int64_t plane = 0; plane < g.n * g.c; ++plane) {
    const float* in = x + plane * g.h * g.w;
    float* din = dx + plane * g.h * g.w;
    for (int64_t yo = 0; yo < oh; ++yo) {
      for (int64_t xo = 0; xo < ow; ++xo) {
        const int64_t o = plane * oh * ow + yo * ow + xo;
        bool done = false;
        for (int64_t i = 0; i < g.kh && !done; ++i) {
          const int64_t iy = yo * g.stride - g.pad + i;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = xo * g.stride - g.pad + j;
            if (ix >= 0 && ix < g.w && in[iy * g.w + ix] == y[o]) {
              din[iy * g.w + ix] += dy[o];
              done = true;
              break;
            }
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

// The elementwise kernels are written branch-free so the compiler vectorizes
// them (this library builds with -O3, which adds runtime overlap checks;
// see BUILD). In-place calls (y == x) are allowed.
namespace {
void Relu(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::max(x[i], 0.0f);
}
void ReluGrad(const float* y, const float* dy,
              int64_t n, float* dx) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i];  // unconditional load: a select, not a branch
    dx[i] = y[i] > 0.0f ? g : 0.0f;
  }
}
void Mul(const float* x, const float* m, int64_t n,
         float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * m[i];
}
}  // namespace

absl::Status CpuBackend::ReluForward(const float* x, int64_t n, float* y) {
  Relu(x, n, y);
  return absl::OkStatus();
}

absl::Status CpuBackend::ReluBackward(const float* y, const float* dy,
                                      int64_t n, float* dx) {
  ReluGrad(y, dy, n, dx);
  return absl::OkStatus();
}

absl::Status CpuBackend::Multiply(const float* x, const float* m, int64_t n,
                                  float* y) {
  Mul(x, m, n, y);
  return absl::OkStatus();
}

absl::Status CpuBackend::SoftmaxCrossEntropy(const float* logits,
                                             const float* labels, int64_t n,
                                             int64_t k, float* grad,
                                             float* row_loss) {
  for (int64_t r = 0; r < n; ++r) {
    const int64_t label = static_cast<int64_t>(labels[r]);
    if (label < 0 || label >= k || static_cast<float>(label) != labels[r]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SoftmaxCrossEntropy: label ", labels[r], " of row ", r,
          " is not a class index in [0, ", k, ")"));
    }
    const float* z = logits + r * k;
    float* gr = grad + r * k;
    const float mx = *std::max_element(z, z + k);
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(z[j] - mx));
    const double log_sum = std::log(sum);
    for (int64_t j = 0; j < k; ++j) {
      const double p = std::exp(static_cast<double>(z[j] - mx) - log_sum);
      gr[j] = static_cast<float>((p - (j == label ? 1.0 : 0.0)) / n);
    }
    row_loss[r] = static_cast<float>(log_sum - (z[label] - mx));
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::SgdUpdate(float* w, const float* g, float* v,
                                   int64_t n, float lr, float momentum,
                                   float weight_decay) {
  for (int64_t i = 0; i < n; ++i) {
    v[i] = momentum * v[i] + g[i] + weight_decay * w[i];
    w[i] -= lr * v[i];
  }
  return absl::OkStatus();
}

}  // namespace nn
}  // namespace strata
