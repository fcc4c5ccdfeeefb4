#!/usr/bin/env python3
"""Chaos soak (issue 12): jobs must survive daemons being SIGKILLed.

Starts a supervised local cluster (deploy/local/cluster.sh up --supervise:
a daemon that dies comes back 1 s later with the same flags), runs a
CTR_TRAIN job and a STANZA CNN_TRAIN job once undisturbed (the reference),
then runs the same two jobs again while SIGKILLing one daemon at a time: a
parameter-server shard, a worker, a conv worker, the FC node, the
coordinator. After each kill it waits until the cluster has recovered (the
daemon serves again and every running job has made progress past the step
it had reached when the daemon died) and measures that time, then waits
--kill_every_s before the next kill.

Both chaos jobs must SUCCEED with quality within bounds of the reference
(AUC within --max_auc_drop, test accuracy within --max_accuracy_drop). It
prints the recovery time per kind of failure (p50, max), the jobs' restarts
and the updates the shards reported lost. Exit status 0 when everything
held, 1 otherwise.

Short version in CI: //tests/chaos:chaos_smoke_test. By hand, longer:
  bazel build //server:strata_coordinator //server:ps_server //worker \\
      //tools:stratactl
  tests/chaos/chaos.py --dir /tmp/chaos --scale 4 --kill_every_s 10
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time

KINDS = ("ps", "worker", "conv", "fc", "coordinator")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Cluster:
    """A deploy/local/cluster.sh cluster in `dir`, driven through stratactl."""

    def __init__(self, repo, bin_dir, dir_):
        self.script = os.path.join(repo, "deploy/local/cluster.sh")
        self.bin = bin_dir
        self.dir = dir_
        self.ctl = os.path.join(bin_dir, "tools/stratactl")

    def up(self, args):
        subprocess.run([self.script, "up", self.dir, "--bin_dir", self.bin,
                        "--timeout_s", "90", "--supervise"] + args, check=True)
        with open(os.path.join(self.dir, "coordinator.addr")) as f:
            self.coordinator = f.read().strip()
        # Mutual TLS unless the cluster runs in plaintext: stratactl acts
        # as the cluster's admin (DIR/pki, made by cluster.sh up).
        self.tls = []
        if not os.path.exists(os.path.join(self.dir, "plaintext")):
            pki = os.path.join(self.dir, "pki")
            self.tls = ["--tls_ca=" + os.path.join(pki, "ca.crt"),
                        "--tls_cert=" + os.path.join(pki, "admin.crt"),
                        "--tls_key=" + os.path.join(pki, "admin.key")]

    def down(self):
        subprocess.run([self.script, "down", self.dir], check=False,
                       stdout=subprocess.DEVNULL)

    def kill(self, name):
        subprocess.run([self.script, "kill", self.dir, name], check=True,
                       stdout=subprocess.DEVNULL)

    def pids(self):
        """{name: pid} of DIR/pids (the supervisor rewrites it on restarts)."""
        out = {}
        try:
            with open(os.path.join(self.dir, "pids")) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2:
                        out[parts[0]] = int(parts[1])
        except OSError:
            pass
        return out

    def run_ctl(self, *args, timeout=30):
        return subprocess.run(
            [self.ctl, "--coordinator=" + self.coordinator, "--timeout_s=5"]
            + self.tls + list(args), capture_output=True, text=True, timeout=timeout)

    def ctl_json(self, *args):
        """Parsed JSON of `stratactl --json ARGS`, or None on any error (the
        coordinator may be down)."""
        try:
            r = self.run_ctl("--json", *args)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def submit(self, spec_path):
        r = self.run_ctl("submit", spec_path)
        if r.returncode != 0:
            raise RuntimeError("submit %s: %s" % (spec_path, r.stderr))
        return r.stdout.strip()

    def healthy(self):
        try:
            return self.run_ctl("health").returncode == 0
        except subprocess.TimeoutExpired:
            return False


def write_specs(dir_, tag, scale, retries, mnist_dir):
    """The CTR and CNN job specs of one run; `tag` keeps their tables apart."""
    ctr = os.path.join(dir_, "ctr-%s.textproto" % tag)
    cnn = os.path.join(dir_, "cnn-%s.textproto" % tag)
    with open(ctr, "w") as f:
        f.write("""name: "chaos-ctr-%s" num_workers: 2 max_task_retries: %d
ctr_train { generator { rows: %d eval_rows: 40000 seed: 7 max_vocab: 20000
                        groups: 20 }
            model { table: "chaos_ctr_%s" embedding_dim: 8 hidden: 32 }
            epochs: 1 batch_size: 256 skip_checkpoint: true seed: 3 }
""" % (tag, retries, 1600000 * scale, tag))
    data = ('mnist_dir: "%s" max_train: 20000 max_test: 2000' % mnist_dir
            if mnist_dir else "synthetic_train: 4096 synthetic_test: 512")
    with open(cnn, "w") as f:
        f.write("""name: "chaos-cnn-%s" max_task_retries: %d
cnn_train { model: "lenet5" data { %s }
            mode: STANZA num_conv_workers: 2 num_fc_nodes: 1 batch_size: 32
            learning_rate: 0.02 steps: %d step_timeout_s: 60 seed: 5 }
""" % (tag, retries, data, 2500 * scale))
    return ctr, cnn


def wait_jobs(cluster, ids, timeout_s):
    """Polls until every job is terminal; returns {id: status}."""
    deadline = time.monotonic() + timeout_s
    done = {}
    while time.monotonic() < deadline and len(done) < len(ids):
        for i in ids:
            if i in done:
                continue
            st = cluster.ctl_json("status", i)
            if st and st.get("state") in TERMINAL:
                done[i] = st
        time.sleep(0.5)
    for i in ids:
        if i not in done:
            done[i] = cluster.ctl_json("status", i) or {"state": "UNKNOWN"}
    return done


def checkpointer(cluster, every_s, stop):
    """`stratactl checkpoint` every every_s seconds until `stop` is set (the
    shards then have a recent checkpoint to come back from)."""
    while not stop.wait(every_s):
        try:
            cluster.run_ctl("checkpoint", timeout=60)
        except subprocess.TimeoutExpired:
            pass


def victims(cluster, kind):
    names = sorted(cluster.pids())
    if kind == "ps":
        return [n for n in names if n.startswith("ps-")]
    if kind == "worker":
        return [n for n in names if n.startswith("worker-") and
                n[len("worker-"):].isdigit()]
    if kind == "conv":
        return [n for n in names if n.startswith("worker-conv-")]
    if kind == "fc":
        return [n for n in names if n.startswith("worker-fc-")]
    return ["coordinator"]


def running_jobs(cluster, ids):
    """{id: status} of the jobs that are not terminal; None if unreadable
    (the coordinator is down)."""
    out = {}
    for i in ids:
        st = cluster.ctl_json("status", i)
        if st is None:
            return None
        if st.get("state") not in TERMINAL:
            out[i] = st
    return out


class Progress:
    """Whether a job made progress after a kill. Without a restart: its
    step (the sum of its tasks' latest reports) passed the step it had. With
    one (the killed daemon ran one of its tasks): its restart count grew,
    the new attempt was placed (assigned_nodes is empty between attempts),
    and the step then moved past what it was at the placement."""

    def __init__(self, before, expect_restart):
        self.step = int(before.get("step", 0))
        self.restarts = int(before.get("restarts", 0))
        self.expect_restart = expect_restart
        self.placed_step = None

    def moved(self, st):
        if st is None:
            return False
        if st.get("state") in TERMINAL:
            return True
        step = int(st.get("step", 0))
        if not self.expect_restart:
            return step > self.step
        if int(st.get("restarts", 0)) <= self.restarts:
            return False
        if not st.get("assigned_nodes"):
            return False
        if self.placed_step is None:
            self.placed_step = step
            return False
        return step > self.placed_step


def recover(cluster, name, old_pid, progress, timeout_s):
    """Seconds until `name` runs again under a new pid, the cluster is
    healthy, and every job of `progress` ({id: Progress}) moved; None on
    timeout."""
    t0 = time.monotonic()
    back = False
    while time.monotonic() - t0 < timeout_s:
        if not back:
            pid = cluster.pids().get(name)
            back = (pid is not None and pid != old_pid and
                    os.path.exists("/proc/%d" % pid) and cluster.healthy())
        if back and all([p.moved(cluster.ctl_json("status", i))
                         for i, p in progress.items()]):
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def chaos_run(cluster, ids, args, rng):
    """Kills daemons until the jobs end; returns [(kind, name, seconds)].
    ids = [ctr job, cnn job]: a killed worker's tasks are the CTR job's, a
    conv worker's or FC node's the CNN job's (every such node runs one
    while its job runs)."""
    kinds = [k for k in args.kinds.split(",") if k]
    users = {"worker": ids[0], "conv": ids[1], "fc": ids[1]}
    order = []
    results = []
    time.sleep(args.first_kill_after_s)
    while len(results) < args.max_kills:
        before = running_jobs(cluster, ids)
        if before is None:
            time.sleep(1)
            continue
        if not before:
            break  # every job ended
        if any(not st.get("assigned_nodes") for st in before.values()):
            # A job between attempts: its nodes run nothing of it yet, so a
            # kill now would not be the failure it names. Wait.
            time.sleep(0.2)
            continue
        if not order:
            order = list(kinds)
            rng.shuffle(order)
        kind = order.pop(0)
        name = rng.choice(victims(cluster, kind))
        old_pid = cluster.pids().get(name)
        progress = {i: Progress(st, kind in users and users[kind] == i)
                    for i, st in before.items()}
        log("kill -9 %s (%s); running jobs at steps %s" % (
            name, kind, {i: int(st.get("step", 0)) for i, st in before.items()}))
        cluster.kill(name)
        secs = recover(cluster, name, old_pid, progress,
                       args.recovery_timeout_s)
        if secs is None:
            log("NOT recovered within %ds after killing %s" %
                (args.recovery_timeout_s, name))
            results.append((kind, name, None))
            break
        log("recovered from %s in %.2f s" % (name, secs))
        results.append((kind, name, secs))
        time.sleep(args.kill_every_s)
    return results


def updates_lost(dir_):
    """Sum of the updates the shards reported lost at their restarts (the
    start-up WARNING "... and LOST N updates ...", docs/failures.md)."""
    total = 0
    for fn in os.listdir(dir_):
        if not (fn.startswith("ps-") and fn.endswith(".log")):
            continue
        with open(os.path.join(dir_, fn), errors="replace") as f:
            for line in f:
                m = re.search(r" and LOST (\d+) updates", line)
                if m:
                    total += int(m.group(1))
    return total


def summarize(results, clean, chaos, lost, args):
    ok = True
    print("\n== recovery time per kind of failure ==")
    print("%-12s %6s %8s %8s" % ("kind", "kills", "p50 s", "max s"))
    for kind in KINDS:
        secs = [s for k, _, s in results if k == kind and s is not None]
        failed = [n for k, n, s in results if k == kind and s is None]
        if not secs and not failed:
            continue
        print("%-12s %6d %8s %8s%s" % (
            kind, len(secs) + len(failed),
            "%.2f" % statistics.median(secs) if secs else "-",
            "%.2f" % max(secs) if secs else "-",
            "  NOT RECOVERED: %s" % failed if failed else ""))
        ok = ok and not failed
    print("\n== jobs ==")
    for kind in ("ctr", "cnn"):
        c, x = clean[kind], chaos[kind]
        metric = "auc" if kind == "ctr" else "test_accuracy"
        bound = args.max_auc_drop if kind == "ctr" else args.max_accuracy_drop
        cm = c.get("metrics", {}).get(metric)
        xm = x.get("metrics", {}).get(metric)
        print("%s: reference %s %s=%s | chaos %s %s=%s restarts=%s" % (
            kind, c.get("state"), metric, cm, x.get("state"), metric, xm,
            x.get("restarts", 0)))
        if x.get("state") != "SUCCEEDED":
            print("  FAIL: chaos job %s: %s" % (x.get("state"), x.get("reason")))
            ok = False
        elif cm is None or xm is None or xm < cm - bound:
            print("  FAIL: %s %s is more than %s below the reference %s" %
                  (metric, xm, bound, cm))
            ok = False
    print("updates lost (shards' restart reports): %d" % lost)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, help="scratch directory")
    p.add_argument("--repo", default=None,
                   help="source tree holding deploy/local/cluster.sh "
                   "(default: this file's)")
    p.add_argument("--bin_dir", default=None,
                   help="binaries (default: REPO/bazel-bin)")
    p.add_argument("--scale", type=int, default=1,
                   help="job length multiplier (CI: 1)")
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--kill_every_s", type=float, default=5)
    p.add_argument("--first_kill_after_s", type=float, default=8)
    p.add_argument("--max_kills", type=int, default=100)
    p.add_argument("--recovery_timeout_s", type=int, default=240)
    p.add_argument("--checkpoint_every_s", type=float, default=4)
    p.add_argument("--max_auc_drop", type=float, default=0.01)
    p.add_argument("--max_accuracy_drop", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mnist_dir", default="",
                   help="real MNIST for the CNN job (default: synthetic)")
    args = p.parse_args()

    repo = args.repo or os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.realpath(__file__))))
    bin_dir = args.bin_dir or os.path.join(repo, "bazel-bin")
    os.makedirs(args.dir, exist_ok=True)
    cluster = Cluster(repo, bin_dir, os.path.abspath(args.dir))
    rng = random.Random(args.seed)
    # Workers read job inputs only under their --data_root (resolved).
    roots = []
    if args.mnist_dir:
        args.mnist_dir = os.path.realpath(args.mnist_dir)
        roots = ["--data_root", args.mnist_dir]
    cluster.up(["--ps", "2", "--workers", "2", "--conv_workers", "2",
                "--fc_nodes", "1"] + roots)
    stop = threading.Event()
    ck = threading.Thread(target=checkpointer,
                          args=(cluster, args.checkpoint_every_s, stop),
                          daemon=True)
    ck.start()
    try:
        log("reference run (no failures)")
        ctr, cnn = write_specs(cluster.dir, "ref", args.scale, 100,
                               args.mnist_dir)
        ids = [cluster.submit(ctr), cluster.submit(cnn)]
        st = wait_jobs(cluster, ids, 3600 * args.scale)
        clean = {"ctr": st[ids[0]], "cnn": st[ids[1]]}
        for k, v in clean.items():
            if v.get("state") != "SUCCEEDED":
                log("reference %s job did not succeed: %s" % (k, v))
                return 1
        log("chaos run")
        ctr, cnn = write_specs(cluster.dir, "chaos", args.scale, 100,
                               args.mnist_dir)
        ids = [cluster.submit(ctr), cluster.submit(cnn)]
        results = chaos_run(cluster, ids, args, rng)
        st = wait_jobs(cluster, ids, 3600 * args.scale)
        chaos = {"ctr": st[ids[0]], "cnn": st[ids[1]]}
        ok = summarize(results, clean, chaos, updates_lost(cluster.dir), args)
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        stop.set()
        cluster.down()


if __name__ == "__main__":
    sys.exit(main())
