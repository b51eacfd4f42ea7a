#!/usr/bin/env bash
# A whole sftpbox cluster on one machine, loopback only, in one folder:
# one PostgreSQL, a three-node Garage (replication 3; GARAGE_NODES=1 or 2
# for fewer, replication as many) and N sftpbox nodes
# sharing one host key. docs/CLUSTER.md walks through it; tests/cluster.rs
# runs the same script.
#
#   scripts/cluster.sh up DIR [NODES]   start PostgreSQL and Garage, write DIR/node-*/sftpbox.toml
#   scripts/cluster.sh import DIR FILE  make FILE (an accounts.toml) the cluster's accounts
#   scripts/cluster.sh serve DIR        start every sftpbox node in the background
#   scripts/cluster.sh down DIR         stop everything DIR's pid files name
#   scripts/cluster.sh pg-stop DIR | pg-start DIR            stop or start PostgreSQL
#   scripts/cluster.sh garage-stop DIR N | garage-start DIR N  stop or start Garage node N (a, b or c)
#
# Tools: GARAGE (default: `garage` on PATH), PG_BIN (default: PostgreSQL's
# bindir), SFTPBOX (default: target/release/sftpbox). NODE_TIMEOUT sets
# node_timeout_seconds (default 10). GARAGE_NODES (1, 2 or 3, default 3)
# sets how many Garage nodes `up` starts; the replication factor is that
# number and node i talks to Garage node i modulo it. Ports are picked
# free at `up` and written to DIR/ports.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
GARAGE="${GARAGE:-garage}"
SFTPBOX="${SFTPBOX:-$here/target/release/sftpbox}"
NODE_TIMEOUT="${NODE_TIMEOUT:-10}"
GARAGE_NODES="${GARAGE_NODES:-3}"
# PostgreSQL's server programs: initdb on PATH (its real folder, which has
# pg_ctl and createdb beside it), else Debian's /usr/lib/postgresql/*/bin,
# newest first.
if [[ -z "${PG_BIN:-}" ]]; then
  if command -v initdb >/dev/null 2>&1; then
    PG_BIN="$(dirname "$(readlink -f "$(command -v initdb)")")"
  else
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
      if [[ -x "$candidate/initdb" ]]; then PG_BIN="$candidate"; break; fi
    done
  fi
fi
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

die() { echo "cluster.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || [[ -x "$1" ]] || die "$1 not found ($2)"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: a root caller runs it as the
# `postgres` user (Debian's package makes one), else as `nobody`.
PG_USER="${PG_USER:-$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)}"
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --clear-groups -- "$@")
  else
    "$@"
  fi
}

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

pg_start() {
  local dir="$1" port; port="$(cat "$dir/pg/port")"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/pg.log" -w -o \
    "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir/pg/sock -c max_connections=100" \
    start >/dev/null
}

pg_stop() {
  local dir="$1"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null
}

garage_start() {
  local dir="$1" n="$2"
  "$GARAGE" -c "$dir/garage/$n.toml" server >>"$dir/garage/$n.log" 2>&1 &
  echo $! >"$dir/garage/$n.pid"
  wait_for 30 "$GARAGE" -c "$dir/garage/$n.toml" status || die "garage $n did not start (see $dir/garage/$n.log)"
}

garage_stop() {
  local dir="$1" n="$2" pid
  [[ -e "$dir/garage/$n.pid" ]] || return 0
  pid="$(cat "$dir/garage/$n.pid")"
  kill "$pid" 2>/dev/null || true
  wait_for 30 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/garage/$n.pid"
}

up() {
  local dir="$1" nodes="${2:-3}"
  need "$GARAGE" "set GARAGE or: cargo install garage --locked"
  need "$PG_BIN/initdb" "set PG_BIN or: apt-get install postgresql"
  need openssl "apt-get install openssl"
  need ssh-keygen "apt-get install openssh-client"
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  [[ ! -e "$dir/ports" ]] || die "$dir already holds a cluster (scripts/cluster.sh down $dir first)"

  # PostgreSQL: a private cluster on a free port, trust on loopback only.
  local pg_port; pg_port="$(free_port)"
  mkdir -p "$dir/pg/sock"
  if [[ $EUID -eq 0 ]]; then
    chmod o+x "$dir"; chown -R "$PG_USER:$(id -g "$PG_USER")" "$dir/pg"
  fi
  chmod 700 "$dir/pg"
  as_pg "$PG_BIN/initdb" -D "$dir/pg/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/pg/initdb.log"
  echo "$pg_port" >"$dir/pg/port"
  pg_start "$dir"
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres sftpbox

  # Garage: three nodes (or GARAGE_NODES), replication as many, one zone each.
  [[ "$GARAGE_NODES" =~ ^[123]$ ]] || die "GARAGE_NODES must be 1, 2 or 3, not $GARAGE_NODES"
  local secret; secret="$(openssl rand -hex 32)"
  local all_names=(a b c) s3_ports=()
  local names=("${all_names[@]:0:$GARAGE_NODES}")
  for n in "${names[@]}"; do
    local s3 rpc admin; s3="$(free_port)"; rpc="$(free_port)"; admin="$(free_port)"
    s3_ports+=("$s3")
    mkdir -p "$dir/garage/$n/meta" "$dir/garage/$n/data"
    cat >"$dir/garage/$n.toml" <<EOF
metadata_dir = "$dir/garage/$n/meta"
data_dir = "$dir/garage/$n/data"
db_engine = "sqlite"
replication_factor = $GARAGE_NODES
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
[admin]
api_bind_addr = "127.0.0.1:$admin"
admin_token = "$(openssl rand -base64 32)"
metrics_token = "$(openssl rand -base64 32)"
EOF
    chmod 600 "$dir/garage/$n.toml"
    "$GARAGE" -c "$dir/garage/$n.toml" server >"$dir/garage/$n.log" 2>&1 &
    echo $! >"$dir/garage/$n.pid"
  done
  local g=("$GARAGE" -c "$dir/garage/a.toml")
  for n in "${names[@]}"; do
    wait_for 30 "$GARAGE" -c "$dir/garage/$n.toml" status || die "garage $n did not start (see $dir/garage/$n.log)"
  done
  for n in "${names[@]:1}"; do
    "${g[@]}" node connect "$("$GARAGE" -c "$dir/garage/$n.toml" node id -q)" >/dev/null
  done
  local zone=1
  for n in "${names[@]}"; do
    "${g[@]}" layout assign -z "dc$zone" -c 1G \
      "$("$GARAGE" -c "$dir/garage/$n.toml" node id -q | cut -d@ -f1)" >/dev/null
    zone=$((zone + 1))
  done
  "${g[@]}" layout apply --version 1 >/dev/null
  wait_for 30 "${g[@]}" health || die "garage did not become healthy"
  "${g[@]}" key create sftpbox-key >/dev/null
  "${g[@]}" bucket create sftpbox >/dev/null
  "${g[@]}" bucket allow --read --write --owner sftpbox --key sftpbox-key >/dev/null
  "${g[@]}" key export-env sftpbox-key >"$dir/s3.env"
  chmod 600 "$dir/s3.env"
  local key_id key_secret
  key_id="$(sed -n "s/^\(export \)\{0,1\}AWS_ACCESS_KEY_ID='\{0,1\}\([^']*\)'\{0,1\}$/\2/p" "$dir/s3.env")"
  key_secret="$(sed -n "s/^\(export \)\{0,1\}AWS_SECRET_ACCESS_KEY='\{0,1\}\([^']*\)'\{0,1\}$/\2/p" "$dir/s3.env")"
  [[ -n "$key_id" && -n "$key_secret" ]] || die "cannot read the key from $dir/s3.env"

  # One host key for every node: a client sees one server behind a balancer.
  mkdir -p "$dir/keys"; chmod 700 "$dir/keys"
  ssh-keygen -q -t ed25519 -N '' -C sftpbox-cluster -f "$dir/keys/ssh_host_ed25519_key"

  {
    echo "postgres=$pg_port"
    echo "s3=${s3_ports[*]}"
  } >"$dir/ports"
  local i=0 ssh_ports=()
  for ((i = 0; i < nodes; i++)); do
    local node="node-$((i + 1))" port; port="$(free_port)"
    ssh_ports+=("$port")
    mkdir -p "$dir/$node"
    cat >"$dir/$node/sftpbox.toml" <<EOF
# Node $node of the cluster in $dir (written by scripts/cluster.sh).
listen = "127.0.0.1:$port"
keys_dir = "../keys"
control_socket = "sftpbox.sock"

[cluster]
database = "host=127.0.0.1 port=$pg_port user=postgres dbname=sftpbox"
node = "$node"
node_timeout_seconds = $NODE_TIMEOUT

[storage]
endpoint = "http://127.0.0.1:${s3_ports[$((i % GARAGE_NODES))]}"
bucket = "sftpbox"
region = "garage"
access_key_id = "$key_id"
secret_access_key = "$key_secret"
EOF
    chmod 600 "$dir/$node/sftpbox.toml"
  done
  echo "ssh=${ssh_ports[*]}" >>"$dir/ports"
  echo "cluster in $dir: PostgreSQL on 127.0.0.1:$pg_port, Garage S3 on ${s3_ports[*]}, nodes on ${ssh_ports[*]}"
}

import() {
  local dir="$1" file="$2"
  "$SFTPBOX" account import --config "$dir/node-1/sftpbox.toml" "$file"
}

serve() {
  local dir="$1"
  need "$SFTPBOX" "set SFTPBOX or: cargo build --release"
  for config in "$dir"/node-*/sftpbox.toml; do
    local node; node="$(dirname "$config")"
    "$SFTPBOX" serve --config "$config" >"$node/sftpbox.log" 2>&1 &
    echo $! >"$node/sftpbox.pid"
  done
  for config in "$dir"/node-*/sftpbox.toml; do
    local node; node="$(dirname "$config")"
    wait_for 30 grep -q "listening" "$node/sftpbox.log" || die "$node did not start (see $node/sftpbox.log)"
  done
  echo "nodes listening: $(sed -n 's/^ssh=//p' "$dir/ports")"
}

down() {
  local dir="$1"
  for pidfile in "$dir"/node-*/sftpbox.pid "$dir"/garage/*.pid; do
    [[ -e "$pidfile" ]] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  if [[ -e "$dir/pg/data/postmaster.pid" ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null || true
  fi
  rm -f "$dir/ports"
}

case "${1:-}" in
  pg-stop) [[ $# -eq 2 ]] || die "usage: $0 pg-stop DIR"; pg_stop "$2" ;;
  pg-start) [[ $# -eq 2 ]] || die "usage: $0 pg-start DIR"; pg_start "$2" ;;
  garage-stop) [[ $# -eq 3 ]] || die "usage: $0 garage-stop DIR a|b|c"; garage_stop "$2" "$3" ;;
  garage-start) [[ $# -eq 3 ]] || die "usage: $0 garage-start DIR a|b|c"; garage_start "$2" "$3" ;;
  up) [[ $# -ge 2 ]] || die "usage: $0 up DIR [NODES]"; up "$2" "${3:-3}" ;;
  import) [[ $# -eq 3 ]] || die "usage: $0 import DIR FILE"; import "$2" "$3" ;;
  serve) [[ $# -eq 2 ]] || die "usage: $0 serve DIR"; serve "$2" ;;
  down) [[ $# -eq 2 ]] || die "usage: $0 down DIR"; down "$2" ;;
  *) die "usage: $0 up DIR [NODES] | import DIR FILE | serve DIR | down DIR | pg-stop DIR | pg-start DIR | garage-stop DIR N | garage-start DIR N" ;;
esac
