#!/usr/bin/env python3
"""Summarises the CTR demo: prints the before/after table and writes a PNG.

  plot_ctr.py --stats stats.json --train train.jsonl \
      --before eval_before.json --after eval_after.json --table ctr --png out.png

stats.json: `stratactl --json stats` after compression, a
strata.ctl.FieldStatsReport (proto/ctl.proto: "fields" holds one entry per
table and field; 64-bit counts are strings). train.jsonl: `stratactl watch
--json` of the training job (JobEvent lines). before/after.json: `stratactl
--json status` of the two CTR_EVAL jobs (JobStatus).
"""
import argparse
import json
import sys


def load_jsonl(path):
    events = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                events.append(json.loads(line))
    return events


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stats", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--table", default="ctr")
    p.add_argument("--png", required=True)
    a = p.parse_args()

    rows = [r for r in json.load(open(a.stats))["fields"]
            if r["table"] == a.table]
    if not rows:
        sys.exit("plot_ctr.py: no compression stats for table %r" % a.table)
    before = json.load(open(a.before))["metrics"]
    after = json.load(open(a.after))["metrics"]
    vb = sum(int(r["vectors_before"]) for r in rows)
    va = sum(int(r["vectors_after"]) for r in rows)
    bb = sum(int(r["bytes_before"]) for r in rows)
    ba = sum(int(r["bytes_after"]) for r in rows)

    print("%-22s %14s %14s %10s" % ("", "uncompressed", "Saec", "change"))
    print("%-22s %14d %14d %9.1fx" % ("embedding vectors", vb, va, vb / max(va, 1)))
    print("%-22s %14d %14d %9.1fx" % ("bytes (index counted)", bb, ba, bb / max(ba, 1)))
    print("%-22s %14.4f %14.4f %+10.4f" % ("AUC", before["auc"], after["auc"],
                                          after["auc"] - before["auc"]))
    print("%-22s %14.4f %14.4f %+10.4f" % ("log loss", before["logloss"],
                                          after["logloss"],
                                          after["logloss"] - before["logloss"]))
    print("%-22s %14d %14d" % ("eval examples", before["eval_examples"],
                               after["eval_examples"]))

    try:
        import matplotlib
    except ImportError:
        print("plot: skipped (%s has no matplotlib; run tools/setup.sh and "
              "use /usr/bin/python3)" % sys.executable)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    rows.sort(key=lambda r: int(r["field"]))
    fields = [int(r["field"]) for r in rows]
    ax1.bar(fields, [float(r["ratio"]) for r in rows], color="tab:blue")
    ax1.set_xlabel("field (0-12 integer, 13-38 categorical)")
    ax1.set_ylabel("bytes before / after (index counted)")
    ax1.set_title("Saec compression per field: %.1fx overall" % (bb / max(ba, 1)))
    ax1.axhline(1.0, color="gray", lw=0.8)

    steps, losses = [], []
    for e in load_jsonl(a.train):
        m = e.get("metrics", {})
        if "train_loss" in m and e.get("state") == "RUNNING":
            steps.append(int(e["step"]))
            losses.append(float(m["train_loss"]))
    ax2.plot(steps, losses, color="tab:orange")
    ax2.set_xlabel("step")
    ax2.set_ylabel("training log loss (rank 0, EMA)")
    ax2.set_title("training curve; held-out AUC %.4f -> %.4f after Saec"
                  % (before["auc"], after["auc"]))
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    print("plot: %s" % a.png)


if __name__ == "__main__":
    main()
