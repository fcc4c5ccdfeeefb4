// Runs compression::KMeans on raw float32 files, for comparisons with other
// implementations (bench/faiss_compare.py). Prints one line per assignment
// pass and a RESULT line; optionally writes the final centroids.
//
//   kmeans_cli --points=x.f32 --dim=16 --weights=w.f32
//              --init_centroids=c0.f32 --iters=10 --threads=2
#include <cblas.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "compression/kmeans.h"

ABSL_FLAG(std::string, points, "", "n x dim float32, row-major");
ABSL_FLAG(int, dim, 16, "dimension");
ABSL_FLAG(std::string, weights, "", "n float32 weights (optional)");
ABSL_FLAG(std::string, init_centroids, "",
          "k x dim float32 starting centroids (else k-means++ with --k)");
ABSL_FLAG(int64_t, k, 0, "clusters when --init_centroids is not given");
ABSL_FLAG(int, iters, 10, "centroid updates (tolerance 0: all of them run)");
ABSL_FLAG(int, threads, 2, "threads");
ABSL_FLAG(std::string, out_centroids, "", "write final centroids here");

namespace {

template <typename T>
bool ReadFile(const std::string& path, std::vector<T>& out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return false;
  const std::streamsize size = in.tellg();
  in.seekg(0);
  out.resize(size / sizeof(T));
  return static_cast<bool>(
      in.read(reinterpret_cast<char*>(out.data()), out.size() * sizeof(T)));
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  openblas_set_num_threads(1);  // we thread over row blocks ourselves
  using strata::compression::KMeansOptions;
  using strata::compression::KMeansResult;
  std::vector<float> points, weights_f, init;
  if (!ReadFile(absl::GetFlag(FLAGS_points), points)) {
    std::fprintf(stderr, "cannot read --points\n");
    return 1;
  }
  if (!absl::GetFlag(FLAGS_weights).empty() &&
      !ReadFile(absl::GetFlag(FLAGS_weights), weights_f)) {
    std::fprintf(stderr, "cannot read --weights\n");
    return 1;
  }
  const std::vector<double> weights(weights_f.begin(), weights_f.end());
  KMeansOptions o;
  o.max_iters = absl::GetFlag(FLAGS_iters);
  o.tol = 0;
  o.num_threads = absl::GetFlag(FLAGS_threads);
  const int dim = absl::GetFlag(FLAGS_dim);
  absl::StatusOr<KMeansResult> r;
  if (!absl::GetFlag(FLAGS_init_centroids).empty()) {
    if (!ReadFile(absl::GetFlag(FLAGS_init_centroids), init)) {
      std::fprintf(stderr, "cannot read --init_centroids\n");
      return 1;
    }
    r = strata::compression::KMeansFromCentroids(points, dim, weights, init, o);
  } else {
    r = strata::compression::KMeans(points, dim, weights,
                                    absl::GetFlag(FLAGS_k), o);
  }
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
    return 1;
  }
  double update_seconds = 0;
  int updates = 0;
  for (size_t i = 0; i < r->iterations.size(); ++i) {
    const auto& it = r->iterations[i];
    std::printf("pass %d objective %.6g seconds %.3f\n", it.iteration,
                it.objective, it.seconds);
    if (i + 1 < r->iterations.size()) {  // passes followed by an update
      update_seconds += it.seconds;
      ++updates;
    }
  }
  std::printf(
      "RESULT n=%zu k=%u iterations=%d per_iter_s=%.4f total_s=%.3f "
      "init_s=%.3f objective=%.6g\n",
      points.size() / dim, r->k, updates,
      updates ? update_seconds / updates : 0.0, r->seconds, r->init_seconds,
      r->objective);
  if (!absl::GetFlag(FLAGS_out_centroids).empty()) {
    std::ofstream out(absl::GetFlag(FLAGS_out_centroids), std::ios::binary);
    out.write(reinterpret_cast<const char*>(r->centroids.data()),
              r->centroids.size() * sizeof(float));
  }
  return 0;
}
