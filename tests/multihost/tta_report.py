#!/usr/bin/env python3
"""Summarises tests/multihost/time_to_accuracy.sh: a table and a PNG.

  tta_report.py --dir DIR --rates "1gbit 10gbit" --target 0.85 --batch 64 \
      --workers 2 [--scaling "1 2 4"] [--png out.png]

Reads, for each rate R and mode M (STANZA, PS), DIR/tta-R-M.jsonl
(`stratactl --json watch`: JobEvent lines) and DIR/tta-R-M.json
(`stratactl --json status`: JobStatus); for each scaling point W,
DIR/scale-W.json. Prints per mode and link: time to the target test
accuracy (from the job's start), final test accuracy, images/s, worker
bytes per step, and at each rate STANZA's measured speed-up in time to
target against the one expected from the bytes alone (below). Writes a PNG
of test accuracy against wall time for every run when matplotlib imports
(Debian: python3-matplotlib), else says so.

Expected speed-up: the PS step time T_PS (global batch / images/s) less the
link time Stanza saves per step, (B_PS - B_STANZA) x 8 / bandwidth, with
B the bytes one conv worker sends and receives per step (its own link):
expected = T_PS / (T_PS - (B_PS - B_STANZA) x 8 / bandwidth).
"""
import argparse
import json
import re
import sys


def rate_bps(rate):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)bit", rate)
    if not m:
        sys.exit("tta_report.py: cannot read rate %r" % rate)
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]


def load_run(d, rate, mode):
    status = json.load(open("%s/tta-%s-%s.json" % (d, rate, mode)))
    if status.get("state") != "SUCCEEDED":
        sys.exit("tta_report.py: %s at %s ended %s: %s" % (
            mode, rate, status.get("state"), status.get("reason", "")))
    t0 = int(status["start_time_unix_ms"])
    curve, seen = [], set()
    for line in open("%s/tta-%s-%s.jsonl" % (d, rate, mode)):
        line = line.strip()
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        m = e.get("metrics", {})
        step = m.get("test_accuracy_step")
        if (step is None or step in seen or "test_accuracy" not in m or
                "time_unix_ms" not in e):
            continue
        seen.add(step)
        curve.append(((int(e["time_unix_ms"]) - t0) / 1e3, int(step),
                      m["test_accuracy"]))
    m = status["metrics"]
    end_s = (int(status["end_time_unix_ms"]) - t0) / 1e3
    final_step = int(m.get("test_accuracy_step", 0))
    if final_step not in seen:
        curve.append((end_s, final_step, m["test_accuracy"]))
    return {"curve": curve, "metrics": m, "wall": end_s}


def time_to(curve, target):
    for t, step, acc in curve:
        if acc >= target:
            return t, step
    return None, None


def report(a):
    rates = a.rates.split()
    runs = {(r, mode): load_run(a.dir, r, mode)
            for r in rates for mode in ("STANZA", "PS")}
    print("\ntarget test accuracy %.1f%%; %d conv workers x batch %d" % (
        100 * a.target, a.workers, a.batch))
    print("%-7s %-7s %10s %9s %9s %9s %14s %14s %8s" % (
        "link", "mode", "to target", "at step", "final", "images/s",
        "bytes/step", "per worker", "wall"))
    for r in rates:
        for mode in ("STANZA", "PS"):
            run = runs[(r, mode)]
            m = run["metrics"]
            t, step = time_to(run["curve"], a.target)
            print("%-7s %-7s %10s %9s %8.2f%% %9.0f %14.0f %14.0f %7.1fs" % (
                r, mode, "-" if t is None else "%.1fs" % t,
                "-" if step is None else step, 100 * m["test_accuracy"],
                m["images_per_s"], m["worker_bytes_per_step"],
                m["worker_bytes_per_step"] / a.workers, run["wall"]))
    print()
    for r in rates:
        st, ps = runs[(r, "STANZA")], runs[(r, "PS")]
        gap = 100 * (st["metrics"]["test_accuracy"] - ps["metrics"]["test_accuracy"])
        t_st, _ = time_to(st["curve"], a.target)
        t_ps, _ = time_to(ps["curve"], a.target)
        b_ps = ps["metrics"]["worker_bytes_per_step"] / a.workers
        b_st = st["metrics"]["worker_bytes_per_step"] / a.workers
        step_ps = a.workers * a.batch / ps["metrics"]["images_per_s"]
        saved = (b_ps - b_st) * 8 / rate_bps(r)
        expected = step_ps / (step_ps - saved)
        measured = "n/a" if not (t_st and t_ps) else "%.2fx" % (t_ps / t_st)
        print("%s: STANZA - PS final accuracy %+.2f points; speed-up to target "
              "%s (PS / STANZA); expected from bytes %.2fx (PS step %.1f ms, "
              "link time saved %.2f ms, byte ratio %.2f)" % (
                  r, gap, measured, expected, 1e3 * step_ps, 1e3 * saved,
                  b_ps / b_st))
    return runs


def scaling(a):
    print("\nFC-node scaling (STANZA, 1 FC node, batch %d per conv worker, "
          "link %s)" % (a.batch, a.link))
    print("%-6s %10s %10s %14s %14s %14s %12s" % (
        "conv", "images/s", "s/step", "conv compute", "conv comm",
        "FC s/step", "FC us/image"))
    for w in [int(x) for x in a.scaling.split()]:
        m = json.load(open("%s/scale-%d.json" % (a.dir, w)))["metrics"]
        steps = m["steps"] / w  # summed over conv workers
        fc_step = m["fc_compute_s"] / max(1, m["fc_steps"])
        print("%-6d %10.0f %10.4f %13.4fs %13.4fs %13.4fs %12.1f" % (
            w, m["images_per_s"], w * a.batch / m["images_per_s"],
            m["worker_compute_s"] / w / steps, m["worker_comm_s"] / w / steps,
            fc_step, 1e6 * fc_step / (w * a.batch)))
    print("conv compute / comm: per conv worker per step; FC s/step: the FC "
          "node's compute per step (all workers' batches merged).")


def plot(a, runs):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no PNG: matplotlib does not import (Debian: python3-matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    rates = sorted({r for r, _ in runs}, key=rate_bps)
    for (r, mode), run in sorted(runs.items()):
        ax.plot([t for t, _, _ in run["curve"]],
                [100 * acc for _, _, acc in run["curve"]], marker=".",
                color="C0" if mode == "STANZA" else "C1",
                linestyle=["-", "--", ":", "-."][rates.index(r) % 4],
                label="%s, %s" % (mode, r))
    ax.axhline(100 * a.target, color="grey", linewidth=0.8, linestyle=":",
               label="target %.0f%%" % (100 * a.target))
    ax.set_xlabel("wall time since the job started (s)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(max(0, 100 * a.target - 30), 100)
    ax.set_title(a.title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    print("wrote %s" % a.png)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--rates", default="")
    p.add_argument("--target", type=float, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scaling", default="")
    p.add_argument("--link", default="", help="the scaling runs' link rate")
    p.add_argument("--png", default="")
    p.add_argument("--title", default="test accuracy against wall time")
    a = p.parse_args()
    if a.rates:
        runs = report(a)
        if a.png:
            plot(a, runs)
    if a.scaling:
        scaling(a)


if __name__ == "__main__":
    main()
