"""Reads deploy/systemd unit files the way systemd does, for systemd_test.sh.

  systemd_units.py check UNIT...             key=value syntax, known sections,
                                             required settings
  systemd_units.py argv UNIT INSTANCE ETC [CREDS]
                                             ExecStart as argv, one per line,
                                             after Environment=/EnvironmentFile=
                                             (with /etc/strata -> ETC) and
                                             specifier (%i %H %%) expansion;
                                             with CREDS, copies the
                                             LoadCredential= files there and
                                             sets $CREDENTIALS_DIRECTORY, as
                                             systemd does
"""
import os
import re
import shutil
import socket
import sys

# Mutual TLS (docs/security.md): every unit loads these credentials and
# passes them to its daemon.
TLS_CREDENTIALS = {"ca.crt": "--tls_ca", "tls.crt": "--tls_cert", "tls.key": "--tls_key"}


def parse(path):
    """Returns [(section, key, value, lineno)], joining continuation lines."""
    out, section, pending, start = [], None, None, 0
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.rstrip("\n")
        if pending is not None:
            line = pending + " " + line.strip()
        elif not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        else:
            start = n
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        pending = None
        m = re.fullmatch(r"\[([A-Za-z]+)\]", line.strip())
        if m:
            section = m.group(1)
            continue
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)=(.*)", line)
        if not m or section is None:
            raise SystemExit(f"{path}:{start}: not KEY=VALUE inside a [Section]: {line!r}")
        out.append((section, m.group(1), m.group(2).strip(), start))
    if pending is not None:
        raise SystemExit(f"{path}: file ends in a line continuation")
    return out


def check(path):
    entries = parse(path)
    sections = {s for s, _, _, _ in entries}
    bad = sections - {"Unit", "Service", "Install"}
    if bad:
        raise SystemExit(f"{path}: unexpected sections {bad}")
    got = {(s, k): v for s, k, v, _ in entries}
    want = {("Unit", "Description"): None, ("Service", "ExecStart"): None,
            ("Service", "Restart"): "on-failure", ("Service", "KillSignal"): "SIGTERM",
            ("Service", "TimeoutStopSec"): None, ("Service", "User"): "strata",
            ("Service", "EnvironmentFile"): None, ("Service", "LimitNOFILE"): None,
            ("Install", "WantedBy"): "multi-user.target"}
    for key, value in want.items():
        if key not in got:
            raise SystemExit(f"{path}: missing {key[0]}.{key[1]}")
        if value is not None and got[key] != value:
            raise SystemExit(f"{path}: {key[1]}={got[key]}, expected {value}")
    check_tls(path, entries)
    print(f"ok {path}: {len(entries)} settings")


def check_tls(path, entries):
    """Every credential of TLS_CREDENTIALS is loaded and passed as its flag."""
    loaded = dict(v.partition(":")[::2] for s, k, v, _ in entries
                  if (s, k) == ("Service", "LoadCredential"))
    exec_start = next(v for s, k, v, _ in entries if (s, k) == ("Service", "ExecStart"))
    for cred, flag in TLS_CREDENTIALS.items():
        if not loaded.get(cred, "").startswith("/etc/strata/pki/"):
            raise SystemExit(f"{path}: no LoadCredential={cred}:/etc/strata/pki/...")
        if f"{flag}=${{CREDENTIALS_DIRECTORY}}/{cred}" not in exec_start.split():
            raise SystemExit(f"{path}: ExecStart lacks {flag}=${{CREDENTIALS_DIRECTORY}}/{cred}")
    if "--insecure" in exec_start:
        raise SystemExit(f"{path}: ExecStart passes --insecure")


def specifiers(text, instance):
    return re.sub(r"%([%iH])", lambda m: {"%": "%", "i": instance,
                                           "H": socket.gethostname()}[m.group(1)], text)


def argv(path, instance, etc, creds=None):
    env = {}
    if creds:
        os.makedirs(creds, mode=0o700, exist_ok=True)
        env["CREDENTIALS_DIRECTORY"] = creds
    for section, key, value, _ in parse(path):
        if section != "Service":
            continue
        value = specifiers(value, instance)
        if key == "Environment":
            k, _, v = value.partition("=")
            env[k] = v
        elif key == "EnvironmentFile":
            optional = value.startswith("-")
            f = value.lstrip("-").replace("/etc/strata", etc, 1)
            try:
                for line in open(f, encoding="utf-8"):
                    line = line.strip()
                    if line and not line.startswith("#"):
                        k, _, v = line.partition("=")
                        env[k.strip()] = v.strip()
            except FileNotFoundError:
                if not optional:
                    raise SystemExit(f"{path}: EnvironmentFile {f} missing")
        elif key == "LoadCredential" and creds:
            name, _, source = value.partition(":")
            dest = os.path.join(creds, name)
            if os.path.exists(dest):
                os.remove(dest)
            shutil.copyfile(source.replace("/etc/strata", etc, 1), dest)
            os.chmod(dest, 0o400)
        elif key == "ExecStart":
            exec_start = value
    words = []
    for word in exec_start.split():
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:  # $VAR: split on whitespace, nothing if empty
            words.extend(env.get(m.group(1), "").split())
        else:  # ${VAR} inside a word: substituted as is
            words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                                lambda m: env.get(m.group(1), ""), word))
    print("\n".join(words))


if __name__ == "__main__":
    if sys.argv[1] == "check":
        for p in sys.argv[2:]:
            check(p)
    elif sys.argv[1] == "argv":
        argv(*sys.argv[2:6])
