#!/usr/bin/python3
"""Times compression::KMeans (//compression:kmeans_cli) and FAISS k-means on
the same weighted data, from the same initial centroids, in one run.

Data: n x d vectors around `groups` latent centres (unit-variance centres,
noise 0.1) with Zipf(1.05) frequencies as weights, generated with a fixed
seed. Both implementations run `iters` Lloyd iterations on the same number of
threads; the script prints seconds per iteration for each and the weighted
MSE of both final centroid sets, recomputed here with one formula.

Needs Debian's python3-faiss (FAISS 1.7.3) and numpy, and a built
kmeans_cli:
  bazel build //compression:kmeans_cli
  /usr/bin/python3 compression/bench/faiss_compare.py
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import faiss
except ImportError:
    sys.exit("faiss not found: apt-get install -y python3-faiss "
             "(and run with /usr/bin/python3)")


def make_data(n, d, groups, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((groups, d)).astype(np.float32)
    group = rng.integers(0, groups, n)
    x = centres[group] + 0.1 * rng.standard_normal((n, d)).astype(np.float32)
    rank = rng.permutation(n) + 1
    w = np.maximum(1.0, np.floor(1e8 * rank.astype(np.float64) ** -1.05))
    return np.ascontiguousarray(x, dtype=np.float32), w.astype(np.float32)


def weighted_mse(x, w, centroids):
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    _, ids = index.search(x, 1)
    diff = x.astype(np.float64) - centroids[ids[:, 0]].astype(np.float64)
    return float((w * (diff * diff).sum(axis=1)).sum() / w.sum())


def run_ours(binary, files, d, iters, threads):
    cmd = [binary, "--points=" + files["x"], "--weights=" + files["w"],
           "--init_centroids=" + files["c0"], "--dim=%d" % d,
           "--iters=%d" % iters, "--threads=%d" % threads,
           "--out_centroids=" + files["ours"]]
    start = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.time() - start
    result = [l for l in out.splitlines() if l.startswith("RESULT")][0]
    fields = dict(kv.split("=") for kv in result.split()[1:])
    return float(fields["per_iter_s"]), wall


def run_faiss(x, w, c0, iters, threads, seed):
    faiss.omp_set_num_threads(threads)
    k, d = c0.shape
    km = faiss.Kmeans(d, k, niter=iters, seed=seed, verbose=False,
                      max_points_per_centroid=1 << 30,
                      min_points_per_centroid=1)
    start = time.time()
    km.train(x, weights=w, init_centroids=c0)
    wall = time.time() - start
    times = [s["time"] for s in km.iteration_stats]
    per_iter = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 \
        else wall / iters
    return per_iter, wall, np.ascontiguousarray(km.centroids)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default="bazel-bin/compression/kmeans_cli")
    p.add_argument("--n", type=int, default=200000)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=10000)
    p.add_argument("--groups", type=int, default=10000)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit("%s not found; run: bazel build //compression:kmeans_cli"
                 % args.binary)

    x, w = make_data(args.n, args.d, args.groups, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    c0 = np.ascontiguousarray(x[rng.choice(args.n, args.k, replace=False)])
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: os.path.join(tmp, name + ".f32")
                 for name in ("x", "w", "c0", "ours")}
        x.tofile(files["x"])
        w.tofile(files["w"])
        c0.tofile(files["c0"])
        ours_iter, ours_wall = run_ours(args.binary, files, args.d,
                                        args.iters, args.threads)
        ours_c = np.fromfile(files["ours"], dtype=np.float32).reshape(-1, args.d)
    faiss_iter, faiss_wall, faiss_c = run_faiss(x, w, c0, args.iters,
                                                args.threads, args.seed)

    print("n=%d d=%d k=%d weighted, %d iterations from the same initial "
          "centroids, %d threads" % (args.n, args.d, args.k, args.iters,
                                     args.threads))
    print("faiss %s compile options: %s" % (faiss.__version__,
                                            faiss.get_compile_options()))
    print("%-22s %10s %9s %12s" % ("implementation", "s/iter", "wall_s",
                                   "weighted_mse"))
    print("%-22s %10.3f %9.2f %12.5f" % ("strata KMeans", ours_iter,
                                         ours_wall, weighted_mse(x, w, ours_c)))
    print("%-22s %10.3f %9.2f %12.5f" % ("faiss.Kmeans", faiss_iter,
                                         faiss_wall,
                                         weighted_mse(x, w, faiss_c)))
    print("faiss / strata time per iteration: %.2fx" % (faiss_iter / ours_iter))


if __name__ == "__main__":
    main()
