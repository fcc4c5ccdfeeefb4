#!/usr/bin/env bash
# Certificates for a Strata cluster (docs/security.md), with openssl.
#
#   certs.sh ca DIR [--days N]
#       a cluster CA: DIR/ca.crt, DIR/ca.key (mode 0600). Refuses to
#       overwrite an existing CA.
#   certs.sh issue DIR ROLE NAME [--ip ADDR]... [--dns HOST]... [--days N]
#       a certificate for one daemon or user, signed by DIR's CA:
#       DIR/NAME.crt, DIR/NAME.key. Its identity is the URI SAN
#       spiffe://strata/ROLE/NAME; ROLE is one of admin, operator, reader,
#       worker, shard, coordinator. Daemons that serve get their addresses
#       as IP/DNS SANs (--ip/--dns, repeatable; default 127.0.0.1 and
#       localhost) so clients can verify them.
#   certs.sh cluster DIR [--shards N] [--workers M] [--users "alice:admin ..."]
#       a CA (if DIR has none) and the certificates of a local cluster:
#       coordinator, ps-0..N-1 (role shard), worker (role worker, shared by
#       the local workers), and one per user (default "admin:admin").
#
# Keys are EC P-256. Everything under DIR is created with umask 077.
set -euo pipefail

ROLES="admin operator reader worker shard coordinator"
DAYS=825

die() { echo "certs.sh: $*" >&2; exit 1; }

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
}

is_name() { [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]]; }

cmd_ca() {
  local dir="$1"
  shift
  local days=3650
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --days) days="$2"; shift 2 ;;
      *) die "ca: unknown argument '$1'" ;;
    esac
  done
  [[ ! -e "$dir/ca.key" ]] || die "$dir/ca.key exists; not overwriting a CA"
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -days "$days" \
    -subj "/O=Strata/CN=Strata cluster CA $(date -u +%Y%m%dT%H%M%SZ)" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  chmod 600 "$dir/ca.key"
  echo "CA: $dir/ca.crt"
}

cmd_issue() {
  [[ $# -ge 3 ]] || die "issue: expected DIR ROLE NAME"
  local dir="$1" role="$2" name="$3"
  shift 3
  local days="$DAYS" sans=() ips=0 dnss=0
  [[ " $ROLES " == *" $role "* ]] || die "unknown role '$role' (one of: $ROLES)"
  is_name "$name" || die "bad name '$name' (letters, digits, _ . -; at most 63)"
  [[ -f "$dir/ca.key" && -f "$dir/ca.crt" ]] || die "no CA in $dir (certs.sh ca $dir)"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --ip) sans+=("IP:$2"); ips=$((ips + 1)); shift 2 ;;
      --dns) sans+=("DNS:$2"); dnss=$((dnss + 1)); shift 2 ;;
      --days) days="$2"; shift 2 ;;
      *) die "issue: unknown argument '$1'" ;;
    esac
  done
  ((ips + dnss > 0)) || sans+=("IP:127.0.0.1" "DNS:localhost")
  local san="URI:spiffe://strata/$role/$name"
  local s
  for s in "${sans[@]}"; do san="$san,$s"; done
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now
  trap "rm -rf '$tmp'" RETURN
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/$name.key" -out "$tmp/req.csr" \
    -subj "/O=Strata/OU=$role/CN=$name" 2>/dev/null
  cat >"$tmp/ext.cnf" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
EOF
  openssl x509 -req -in "$tmp/req.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/$name.crt" -days "$days" \
    -extfile "$tmp/ext.cnf" 2>/dev/null
  chmod 600 "$dir/$name.key"
  echo "$role $name: $dir/$name.crt ($san)"
}

cmd_cluster() {
  [[ $# -ge 1 ]] || die "cluster: expected DIR"
  local dir="$1" shards=2 users="admin:admin" i u
  shift
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --shards) shards="$2"; shift 2 ;;
      --workers) shift 2 ;;  # the local workers share one certificate
      --users) users="$2"; shift 2 ;;
      *) die "cluster: unknown argument '$1'" ;;
    esac
  done
  [[ -f "$dir/ca.key" ]] || cmd_ca "$dir"
  cmd_issue "$dir" coordinator coordinator
  for ((i = 0; i < shards; i++)); do cmd_issue "$dir" shard "ps-$i"; done
  cmd_issue "$dir" worker worker
  for u in $users; do cmd_issue "$dir" "${u#*:}" "${u%%:*}"; done
}

main() {
  umask 077
  [[ $# -ge 1 ]] || { usage >&2; exit 2; }
  local cmd="$1"
  shift
  case "$cmd" in
    ca) [[ $# -ge 1 ]] || die "ca: expected DIR"; cmd_ca "$@" ;;
    issue) cmd_issue "$@" ;;
    cluster) cmd_cluster "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
