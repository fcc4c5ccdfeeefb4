"""Structural lint of deploy/docker/Dockerfile (it cannot be built here).

Checks: Debian 12 base images; a build stage and a slim runtime stage; the
build stage installs bazel-bootstrap and the build packages of
tools/setup.sh; it builds the four daemon targets and copies exactly the
binaries that exist in this build (the test's data); the runtime stage
installs the Debian package of every shared library those binaries link
(ldd + dpkg -S, where available), runs as a non-root user, and has an
ENTRYPOINT whose dispatcher knows every daemon; entrypoint.sh parses.
Mutual TLS (docs/security.md): the image carries tools/certs.sh and the
runtime installs openssl for it; entrypoint.sh, run with stub binaries,
passes the daemon's flags and $STRATA_TLS_* through unchanged and points
$STRATA_TLS_* at ca.crt/tls.crt/tls.key of /etc/strata/tls when those are
mounted and nothing else is set.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", ""), "strata")
if not os.path.isdir(os.path.join(RUNFILES, "deploy", "docker")):
    RUNFILES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("STRATA_TEST_BIN_DIR", RUNFILES)
DOCKER = os.path.join(RUNFILES, "deploy", "docker")
TARGETS = {"//server:strata_coordinator": "server/strata_coordinator",
           "//server:ps_server": "server/ps_server",
           "//worker:worker": "worker/worker",
           "//tools:stratactl": "tools/stratactl"}
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def instructions(text):
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


ins = instructions(open(os.path.join(DOCKER, "Dockerfile")).read())
stages, cur = {}, None
for op, rest in ins:
    if op == "FROM":
        m = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest, re.I)
        cur = m.group(2) if m else str(len(stages))
        stages[cur] = {"image": m.group(1) if m else rest, "ins": []}
    elif cur is None:
        check(op == "ARG", f"only ARG before the first FROM, got {op}")
    else:
        stages[cur]["ins"].append((op, rest))

check(list(stages) == ["build", "runtime"], f"two stages build, runtime: {list(stages)}")
check(stages.get("build", {}).get("image") == "debian:12", "build stage FROM debian:12")
check(stages.get("runtime", {}).get("image") == "debian:12-slim", "runtime stage FROM debian:12-slim")


def installed(stage):
    pkgs = set()
    for op, rest in stages.get(stage, {}).get("ins", []):
        if op == "RUN":
            for part in rest.split("&&"):
                words = shlex.split(part)
                if words[:2] == ["apt-get", "install"]:
                    pkgs |= {w for w in words[2:] if not w.startswith("-")}
    return pkgs


build_pkgs, runtime_pkgs = installed("build"), installed("runtime")
# tools/setup.sh is not a Bazel data file: find it next to the real
# deploy/docker (runfiles are symlinks into the source tree).
setup_path = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(
    os.path.join(DOCKER, "Dockerfile")))), "..", "tools", "setup.sh")
setup = open(setup_path).read() if os.path.exists(setup_path) else ""
if not setup:
    print("SKIP (setup.sh part): tools/setup.sh not found from the runfiles")
m = re.search(r"PACKAGES=\((.*?)\n\)", setup, re.S)
setup_pkgs = set(re.sub(r"#.*", "", m.group(1)).split()) if m else set()
check(bool(setup_pkgs) or not setup, "tools/setup.sh lists PACKAGES")
not_needed = {"python3", "python3-matplotlib", "procps", "libgtest-dev", "libgmock-dev",
              "libbenchmark-dev", "munge", "slurmctld", "slurmd", "slurm-client",
              "nodejs", "npm", "clang", "libfuzzer-14-dev",  # test-only tools
              "dataset-fashion-mnist",  # tools/demo.sh's data
              "openssl"}  # tools/certs.sh: in the runtime stage (below)
missing = setup_pkgs - not_needed - build_pkgs
check(not missing, f"build stage installs setup.sh's build packages (missing: {sorted(missing)})")
check("bazel-bootstrap" in build_pkgs, "build stage installs bazel-bootstrap")
check(not any(p.endswith("-dev") for p in runtime_pkgs), "runtime stage installs no -dev package")

build_runs = " ".join(r for o, r in stages.get("build", {}).get("ins", []) if o == "RUN")
for target, path in TARGETS.items():
    check(target in build_runs, f"bazel builds {target}")
    check(f"bazel-bin/{path}" in build_runs, f"copies bazel-bin/{path}")
    check(os.access(os.path.join(BIN, path), os.X_OK), f"{target} exists in this build ({path})")

rt = stages.get("runtime", {}).get("ins", [])
users = [r for o, r in rt if o == "USER"]
check(bool(users) and users[-1].split(":")[0] not in ("root", "0"), f"runtime runs as non-root USER {users}")
entry = [r for o, r in rt if o == "ENTRYPOINT"]
check(entry == ['["/opt/strata/bin/strata-entrypoint"]'], f"exec-form ENTRYPOINT {entry}")
check(any(o == "COPY" and "--from=build" in r and "/opt/strata/bin" in r for o, r in rt),
      "runtime copies the binaries from the build stage")
ep = os.path.join(DOCKER, "entrypoint.sh")
check(subprocess.run(["sh", "-n", ep]).returncode == 0, "entrypoint.sh parses")
ep_text = open(ep).read()
for name in ("coordinator)", "strata_coordinator", "ps_server", "worker)", "stratactl"):
    check(name in ep_text, f"entrypoint dispatches {name}")
check(any(o == "COPY" and "deploy/docker/entrypoint.sh" in r for o, r in rt), "entrypoint.sh copied")
check("certs)" in ep_text and "certs.sh" in ep_text, "entrypoint dispatches certs to certs.sh")
check(any(o == "COPY" and r.split() == ["tools/certs.sh", "/opt/strata/bin/certs.sh"] for o, r in rt),
      "tools/certs.sh copied to /opt/strata/bin/certs.sh")
check("openssl" in runtime_pkgs, "runtime installs openssl (tools/certs.sh)")


def run_entrypoint(args, env, tls_files):
    """Runs entrypoint.sh with stub binaries that print their argv and the
    STRATA_TLS_* they see; tls_files: names created in the TLS directory."""
    with tempfile.TemporaryDirectory() as d:
        bindir, tlsdir = os.path.join(d, "bin"), os.path.join(d, "tls")
        os.makedirs(bindir)
        os.makedirs(tlsdir)
        for name in tls_files:
            open(os.path.join(tlsdir, name), "w").close()
        for name in ("strata_coordinator", "ps_server", "worker", "stratactl", "certs.sh"):
            with open(os.path.join(bindir, name), "w") as f:
                f.write('#!/bin/sh\necho "$0" "$@"\n'
                        'echo "CA=${STRATA_TLS_CA:-} CERT=${STRATA_TLS_CERT:-} KEY=${STRATA_TLS_KEY:-}"\n')
            os.chmod(os.path.join(bindir, name), 0o755)
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STRATA_BIN_DIR": bindir,
                    "STRATA_TLS_DIR": tlsdir, **env}
        r = subprocess.run(["sh", ep] + args, env=full_env, capture_output=True, text=True)
        return r.returncode, r.stdout.replace(d, "D")


TLS3 = ["ca.crt", "tls.crt", "tls.key"]
rc, out = run_entrypoint(["coordinator", "--listen=0.0.0.0:7070", "--tls_ca=x"], {}, TLS3)
check(rc == 0 and "strata_coordinator --listen=0.0.0.0:7070 --tls_ca=x" in out and
      "CA=D/tls/ca.crt CERT=D/tls/tls.crt KEY=D/tls/tls.key" in out,
      f"entrypoint passes flags and sets STRATA_TLS_* from a mounted /etc/strata/tls: {out!r}")
rc, out = run_entrypoint(["worker"], {"STRATA_TLS_CA": "/a", "STRATA_TLS_CERT": "/b", "STRATA_TLS_KEY": "/c"}, TLS3)
check(rc == 0 and "CA=/a CERT=/b KEY=/c" in out, f"entrypoint keeps STRATA_TLS_* given with -e: {out!r}")
rc, out = run_entrypoint(["ps", "--shard_id=1"], {}, ["ca.crt", "tls.crt"])
check(rc == 0 and "ps_server --shard_id=1" in out and "CA= CERT= KEY=" in out,
      f"entrypoint sets nothing when the mount lacks tls.key: {out!r}")
rc, out = run_entrypoint(["certs", "issue", "/pki", "worker", "w1"], {}, [])
check(rc == 0 and "certs.sh issue /pki worker w1" in out, f"entrypoint runs certs.sh: {out!r}")
rc, out = run_entrypoint(["nope"], {}, [])
check(rc == 2, f"entrypoint refuses an unknown command (exit {rc})")
ignore = open(os.path.join(DOCKER, "Dockerfile.dockerignore")).read().split()
check("bazel-*" in ignore, "Dockerfile.dockerignore leaves out bazel-*")


# Runtime libraries: every linked library's package, or one it depends on,
# must be installed in the runtime stage (base packages of debian:12-slim aside).
# dpkg is slow per call, so every query is one batched call.
def dpkg_owners(libs):
    """Maps each library path to its package (None when dpkg does not know)."""
    cands = {}
    for lib in libs:
        real = os.path.realpath(lib)
        cands[lib] = [lib, real, lib.replace("/usr/lib/", "/lib/", 1),
                      real.replace("/usr/lib/", "/lib/", 1)]
    paths = sorted({c for cs in cands.values() for c in cs})
    r = subprocess.run(["dpkg", "-S"] + paths, capture_output=True, text=True)
    owner = {}
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        owner[path.strip()] = pkg.split(":")[0].strip()
    return {lib: next((owner[c] for c in cs if c in owner), None)
            for lib, cs in cands.items()}


def depends(pkgs):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}\\n"] + sorted(pkgs),
                       capture_output=True, text=True)
    return {re.split(r"[ (:]", d.strip())[0]
            for d in re.split(r"[,|\n]", r.stdout) if d.strip()}


if subprocess.run(["sh", "-c", "command -v ldd && command -v dpkg"], capture_output=True).returncode:
    print("SKIP (runtime libraries part): no ldd/dpkg here")
else:
    base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}  # in debian:12-slim
    provided = set(runtime_pkgs) | base
    while True:  # dependency closure
        more = depends(provided) - provided
        if not more:
            break
        provided |= more
    libs = set()
    for path in TARGETS.values():
        r = subprocess.run(["ldd", os.path.join(BIN, path)], capture_output=True, text=True)
        libs |= set(re.findall(r"=> (/\S+)", r.stdout))
    needed = {}
    for lib, pkg in sorted(dpkg_owners(libs).items()):
        if pkg:
            needed.setdefault(pkg, lib)
    check(bool(needed), f"ldd found the binaries' libraries ({len(needed)} packages)")
    for pkg, lib in sorted(needed.items()):
        check(pkg in provided, f"runtime provides {pkg} ({os.path.basename(lib)})")

print(f"{len(failures)} failures" if failures else "PASS")
sys.exit(1 if failures else 0)
