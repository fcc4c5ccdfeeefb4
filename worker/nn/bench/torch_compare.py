#!/usr/bin/python3
"""Side-by-side CPU throughput: Strata's nn_bench vs PyTorch, same models.

Runs //worker/nn:nn_bench (built beforehand, e.g. `bazel build
//worker/nn:nn_bench`) and the same three models in PyTorch 1.13 on the CPU
with the same thread count and batch, forward + backward of softmax
cross-entropy on a fixed synthetic batch, and prints both in one table.

  /usr/bin/python3 worker/nn/bench/torch_compare.py --threads 2 --batch 64
"""
import argparse
import csv
import io
import subprocess
import time

import torch
import torch.nn as nn


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def alexnet():
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 10))


def vgg():
    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU(),
                nn.Conv2d(o, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(
        *block(3, 64), *block(64, 128), *block(128, 256), nn.Flatten(),
        nn.Linear(4096, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


MODELS = {"lenet5": (lenet5, (1, 28, 28)), "alexnet": (alexnet, (3, 32, 32)),
          "vgg": (vgg, (3, 32, 32))}


def torch_images_per_s(name, batch, min_seconds, warmup):
    make, shape = MODELS[name]
    torch.manual_seed(1)
    model = make().train()
    x = torch.rand(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()

    for _ in range(warmup):
        step()
    steps, t0 = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds and steps >= 3:
            return steps * batch / elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default="bazel-bin/worker/nn/nn_bench")
    p.add_argument("--models", default="lenet5,alexnet,vgg")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--min_seconds", type=float, default=3.0)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    out = subprocess.run(
        [args.binary, "--csv", "--device=cpu", f"--threads={args.threads}",
         f"--batch={args.batch}", f"--models={args.models}",
         f"--min_seconds={args.min_seconds}", f"--warmup={args.warmup}"],
        check=True, capture_output=True, text=True).stdout
    ours = {r["model"]: r for r in csv.DictReader(io.StringIO(out))}
    print(f"CPU, {args.threads} threads, batch {args.batch}, forward+backward; "
          f"torch {torch.__version__}")
    sgemm = next(iter(ours.values()))["sgemm_gflops"]
    print(f"OpenBLAS sgemm 1024^3 in nn_bench: {sgemm} GFLOP/s")
    print(f"{'model':8} {'strata img/s':>13} {'GFLOP/s':>8} "
          f"{'torch img/s':>12} {'strata/torch':>13}")
    for name in args.models.split(","):
        theirs = torch_images_per_s(name, args.batch, args.min_seconds,
                                    args.warmup)
        r = ours[name]
        mine = float(r["images_per_s"])
        print(f"{name:8} {mine:13.1f} {float(r['gflops']):8.2f} "
              f"{theirs:12.1f} {mine / theirs:12.2f}x", flush=True)


if __name__ == "__main__":
    main()
