#!/usr/bin/env bash
# What cluster mode costs: the rows of benches/compare.sh against one
# sftpbox on local storage and against a one-node sftpbox cluster
# (PostgreSQL and Garage on the same machine, started by scripts/cluster.sh).
#
#   sudo GARAGE=/path/to/garage benches/cluster.sh          # 1 GiB, 3 runs
#   SIZE_MB=16 SMALL_FILES=50 LS_ENTRIES=200 CONNECTS=5 RUNS=1 benches/cluster.sh
#
# Needs root (PostgreSQL runs as the `postgres` user, cpuacct cgroups),
# OpenSSH's sftp and ssh-keygen, perl (timestamps for the rename row), and
# for the cluster: Garage (GARAGE, else `garage` on PATH), PostgreSQL's
# server programs (PG_BIN, else Debian's /usr/lib/postgresql/*/bin),
# python3 and openssl (scripts/cluster.sh). Both sides serve the same
# account with the same key and the same [limits]; the local one keeps its
# homes in the temp folder, the cluster its namespace in PostgreSQL and its
# contents in Garage in the same temp folder. Every transfer is checked with
# sha256 on what comes back through SFTP (and on disk for the local side).
# Runs alternate the sides (odd runs local first, even runs cluster first)
# and each figure is the median of RUNS runs. A row whose tool is missing
# says "not run" with the reason. Everything it starts (sftpbox, the
# cluster's PostgreSQL, Garage and node, cgroups) and the temp folder are
# removed on exit.
#
# Settings (environment):
#   ROWS         comma list of: put,get,small,ls,rename,connect (default all;
#                put and get always run together, and give the CPU rows)
#   SIZE_MB      size of the big put/get file (1024)
#   RUNS         runs per row and side (3)
#   CIPHERS      ciphers for put/get, comma list (aes128-gcm@openssh.com)
#   SMALL_FILES / SMALL_KB  the small-file tree for put -r / get -r and the
#                renamed folder (2000 files of 4 KiB)
#   LS_ENTRIES   entries in the listed folder (10000)
#   RENAMES      folder renames timed in one session, per run (20)
#   CONNECTS     logins in a row for logins per second, each `pwd` (50)
#   GARAGE_NODES Garage nodes of the cluster, replication as many (1)
#   GARAGE / PG_BIN  the cluster's engines (see above)
#   MAX_LOAD     wait until the 1-minute load is below this before starting (1.0)
#   LOAD_WAIT    seconds to wait for that at most (600), then run anyway and say so
#   SFTP_EXTRA   extra options for every sftp run, e.g. "-R 256 -B 262144" (none)
#   BENCH_PARENT where the temp folder goes (/var/lib; not tmpfs)
#   KEEP=1       keep the temp folder (for debugging; the servers still stop)
#   BUILD=1      cargo build --release first (default 0: target/release as built)
set -euo pipefail

ROWS=${ROWS:-put,get,small,ls,rename,connect}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
CIPHERS=${CIPHERS:-aes128-gcm@openssh.com}
SMALL_FILES=${SMALL_FILES:-2000}
SMALL_KB=${SMALL_KB:-4}
LS_ENTRIES=${LS_ENTRIES:-10000}
RENAMES=${RENAMES:-20}
CONNECTS=${CONNECTS:-50}
GARAGE_NODES=${GARAGE_NODES:-1}
GARAGE=${GARAGE:-garage}
MAX_LOAD=${MAX_LOAD:-1.0}
LOAD_WAIT=${LOAD_WAIT:-600}
BENCH_PARENT=${BENCH_PARENT:-/var/lib}
KEEP=${KEEP:-0}
BUILD=${BUILD:-0}
SFTP_EXTRA=${SFTP_EXTRA:-}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BOX_BIN=$REPO/target/release/sftpbox
CLUSTER_SH=$REPO/scripts/cluster.sh
CLK_TCK=$(getconf CLK_TCK)

# shellcheck source=benches/lib.sh
source "$REPO/benches/lib.sh"
has_row() { [[ ",$ROWS," == *",$1,"* ]]; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
mib_s() { calc "$1 / $2" 1; } # MiB, seconds

[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL as the postgres user, cgroups)"
for tool in sftp ssh-keygen sha256sum ss awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
((RENAMES % 2 == 0)) || die "RENAMES must be even (the folder is renamed there and back)"

# ---------------------------------------------------------------- clean-up
PIDS=()          # processes started here
CLUSTER_DIR=""   # set once scripts/cluster.sh up has been called
CGROUPS_MADE=()
RUN_SSHD_MADE=0  # for remove_made
W=""
# Every pid the cluster's pid files name, PostgreSQL's postmaster included.
cluster_pids() {
    local f
    for f in "$CLUSTER_DIR"/node-*/sftpbox.pid "$CLUSTER_DIR"/garage/*.pid; do
        [[ -e $f ]] && cat "$f"
    done
    [[ -e $CLUSTER_DIR/pg/data/postmaster.pid ]] && head -1 "$CLUSTER_DIR/pg/data/postmaster.pid"
    return 0
}
# Waits for pids that are not children of this shell; SIGKILL after 10 s.
wait_gone() {
    local pid
    for pid in "$@"; do
        for _ in $(seq 1 33); do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
        kill -0 "$pid" 2>/dev/null && { log "pid $pid still there; SIGKILL"; kill -9 "$pid" 2>/dev/null; }
    done
    return 0
}
cleanup() {
    local rc=$?
    set +e
    if [[ -n $CLUSTER_DIR ]]; then
        local cpids=() p
        for p in $(cluster_pids); do cpids+=($(tree_pids "$p")); done
        GARAGE=$GARAGE "$CLUSTER_SH" down "$CLUSTER_DIR" >>"$W/cluster.log" 2>&1
        wait_gone "${cpids[@]}"
    fi
    local all=() pid
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && all+=($(tree_pids "$pid"))
    done
    for pid in "${all[@]}"; do kill "$pid" 2>/dev/null; done
    wait_gone "${all[@]}"
    for pid in "${all[@]}"; do wait "$pid" 2>/dev/null; done
    for cg in "${CGROUPS_MADE[@]}"; do rmdir "$cg" 2>/dev/null || { sleep 1; rmdir "$cg" 2>/dev/null; }; done
    remove_made
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- process stats
# Server CPU: each side in its own cpuacct cgroup (v1) when one can be made,
# which counts every process it started, exited ones too; otherwise the
# live process trees' /proc/PID/stat times.
CG_ROOT=/sys/fs/cgroup/cpuacct
declare -A CG=()
make_cgroup() { # name
    local d=$CG_ROOT/sftpbox-cluster-bench-$$-$1
    if [[ -w $CG_ROOT ]] && mkdir "$d" 2>/dev/null; then
        CGROUPS_MADE+=("$d")
        CG[$1]=$d
    fi
}
make_cgroup local
make_cgroup cluster
if [[ -n ${CG[local]:-} && -n ${CG[cluster]:-} ]]; then
    CPU_HOW="cpuacct cgroup per side (local: the sftpbox process; cluster: the node, PostgreSQL and Garage)"
else
    CG=()
    CPU_HOW="utime+stime+cutime+cstime of the live process trees (local: sftpbox; cluster: the node, PostgreSQL and Garage; no cpuacct cgroup)"
fi
join_cgroup() { [[ -n ${CG[$1]:-} ]] && echo "$BASHPID" >"${CG[$1]}/cgroup.procs"; return 0; }
server_cpu() { # side -> CPU seconds so far
    if [[ -n ${CG[$1]:-} ]]; then
        awk '{ printf "%.3f", $1 / 1e9 }' "${CG[$1]}/cpuacct.usage"
    elif [[ $1 == local ]]; then
        calc "$(tree_ticks "$LOCAL_PID") / $CLK_TCK" 3
    else
        local total=0 p
        for p in $(cluster_pids); do total=$((total + $(tree_ticks "$p"))); done
        calc "$total / $CLK_TCK" 3
    fi
}

# ---------------------------------------------------------------- set up
if [[ $BUILD == 1 ]]; then
    log "building sftpbox (cargo build --release --bin sftpbox)"
    (cd "$REPO" && nice cargo build --release --quiet --bin sftpbox)
else
    [[ -x $BOX_BIN ]] || die "BUILD=0 but $BOX_BIN is not built"
    log "BUILD=0: using $BOX_BIN as built ($(date -r "$BOX_BIN" '+%Y-%m-%d %H:%M:%S'))"
fi

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

W=$(mktemp -d "$BENCH_PARENT/sftpbox-cluster-bench.XXXXXX")
chmod 755 "$W"
[[ $(stat -f -c %T "$W") != tmpfs ]] || die "$W is on tmpfs; set BENCH_PARENT"
mkdir -p "$W/client" "$W/local/keys" "$W/local/homes/bench/up"
KEY=$W/client/id_ed25519
ssh-keygen -q -t ed25519 -N '' -C bench -f "$KEY"
SFTP_OPTS=(-F /dev/null -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o IdentitiesOnly=yes -o "IdentityFile=$KEY" -o LogLevel=ERROR)
read -r -a extra <<<"$SFTP_EXTRA"
SFTP_OPTS+=("${extra[@]}")

# The one account both sides serve, and the limits both run with.
cat >"$W/accounts.toml" <<EOF
[users.bench]
keys = ["$(cat "$KEY.pub")"]
EOF
LIMITS='[limits]
max_connections = 30000
max_connections_per_address = 30000
max_sessions_per_account = 30000
max_startups = 1000
login_grace_seconds = 600
idle_timeout_seconds = 3600'

# (a) sftpbox on local storage
LOCAL_PORT=$(free_port)
cp "$W/accounts.toml" "$W/local/accounts.toml"
printf 'listen = "127.0.0.1:%s"\n%s\n' "$LOCAL_PORT" "$LIMITS" >"$W/local/sftpbox.toml"
(join_cgroup local && cd "$W/local" && exec "$BOX_BIN" serve --config "$W/local/sftpbox.toml") \
    </dev/null >>"$W/local/serve.log" 2>&1 &
LOCAL_PID=$!
PIDS+=("$LOCAL_PID")
wait_port 127.0.0.1 "$LOCAL_PORT" || { tail "$W/local/serve.log" >&2; die "sftpbox did not start"; }
LOCAL_HOME=$W/local/homes/bench
log "local: sftpbox pid $LOCAL_PID on 127.0.0.1:$LOCAL_PORT, home $LOCAL_HOME"

# (b) a one-node cluster
HAVE_CLUSTER=1
CLUSTER_WHY=""
if ! command -v "$GARAGE" >/dev/null && [[ ! -x $GARAGE ]]; then
    HAVE_CLUSTER=0
    CLUSTER_WHY="not run: Garage not found (set GARAGE, or cargo install garage --version 2.5.0 --locked)"
else
    for tool in python3 openssl setpriv; do
        command -v "$tool" >/dev/null || { HAVE_CLUSTER=0; CLUSTER_WHY="not run: $tool not found (scripts/cluster.sh needs it)"; }
    done
fi
PG_VERSION=""
if ((HAVE_CLUSTER)); then
    pg_bin=${PG_BIN:-}
    if [[ -z $pg_bin ]]; then
        if command -v initdb >/dev/null; then
            pg_bin=$(dirname "$(readlink -f "$(command -v initdb)")")
        else
            pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1 || true)
        fi
    fi
    if [[ -x $pg_bin/initdb && -x $pg_bin/postgres ]]; then
        PG_VERSION=$("$pg_bin/postgres" --version)
    else
        HAVE_CLUSTER=0
        CLUSTER_WHY="not run: PostgreSQL's server programs not found (set PG_BIN, or apt-get install postgresql)"
    fi
fi
if ((HAVE_CLUSTER)); then
    CLUSTER_DIR=$W/cluster
    export GARAGE GARAGE_NODES SFTPBOX=$BOX_BIN PG_BIN=$pg_bin
    log "cluster: scripts/cluster.sh up $CLUSTER_DIR 1 (GARAGE_NODES=$GARAGE_NODES)"
    (join_cgroup cluster && exec "$CLUSTER_SH" up "$CLUSTER_DIR" 1) </dev/null >>"$W/cluster.log" 2>&1 ||
        { tail "$W/cluster.log" >&2; die "scripts/cluster.sh up failed"; }
    printf '\n%s\n' "$LIMITS" >>"$CLUSTER_DIR/node-1/sftpbox.toml"
    "$CLUSTER_SH" import "$CLUSTER_DIR" "$W/accounts.toml" </dev/null >>"$W/cluster.log" 2>&1 ||
        { tail "$W/cluster.log" >&2; die "scripts/cluster.sh import failed"; }
    (join_cgroup cluster && exec "$CLUSTER_SH" serve "$CLUSTER_DIR") </dev/null >>"$W/cluster.log" 2>&1 ||
        { tail "$W/cluster.log" "$CLUSTER_DIR"/node-1/sftpbox.log >&2; die "scripts/cluster.sh serve failed"; }
    CLUSTER_PORT=$(sed -n 's/^ssh=//p' "$CLUSTER_DIR/ports")
    [[ $CLUSTER_PORT =~ ^[0-9]+$ ]] || die "no node port in $CLUSTER_DIR/ports"
    log "cluster: node on 127.0.0.1:$CLUSTER_PORT, $(tr '\n' ' ' <"$CLUSTER_DIR/ports")"
fi
SERVERS=(local)
((HAVE_CLUSTER)) && SERVERS+=(cluster)
declare -A PORT=([local]=$LOCAL_PORT [cluster]=${CLUSTER_PORT:-0})

# sftp to side $1 with batch commands on stdin; extra sftp options after.
sftp_to() {
    local s=$1
    shift
    sftp "${SFTP_OPTS[@]}" -P "${PORT[$s]}" "$@" -b - "bench@127.0.0.1"
}
# Order of the sides for run $1: alternate who goes first.
order() { if (($1 % 2)); then echo "${SERVERS[@]}"; else printf '%s\n' "${SERVERS[@]}" | tac | tr '\n' ' '; fi; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
tree_sha() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1; }
# Removes folder $2 (files only, one level) of side $1, untimed.
remove_tree() {
    if [[ $1 == local ]]; then
        rm -rf "${LOCAL_HOME:?}$2"
    else
        printf 'rm %s/*\nrmdir %s\n' "$2" "$2" | sftp_to "$1" >/dev/null || die "$1: removing $2 failed"
    fi
}

if ((HAVE_CLUSTER)); then
    echo "mkdir /up" | sftp_to cluster >/dev/null || die "cluster: mkdir /up failed (see $CLUSTER_DIR/node-1/sftpbox.log)"
fi

# ---------------------------------------------------------------- results
declare -A FIG     # FIG[row:side] = figure
declare -A RUNS_OF # RUNS_OF[row:side] = " v1 v2 v3"
ROW_ORDER=()
declare -A ROW_LABEL ROW_UNIT ROW_BETTER ROW_NOTE
def_row() { # key label unit better(higher|lower) note
    ROW_ORDER+=("$1")
    ROW_LABEL[$1]=$2
    ROW_UNIT[$1]=$3
    ROW_BETTER[$1]=$4
    ROW_NOTE[$1]=${5:-}
}
record() { RUNS_OF[$1:$2]="${RUNS_OF[$1:$2]:-} $3"; }
finish_row() { # key: medians of the runs
    local s
    for s in "${SERVERS[@]}"; do
        [[ -n ${RUNS_OF[$1:$s]:-} ]] && FIG[$1:$s]=$(echo "${RUNS_OF[$1:$s]}" | median)
    done
    log "${ROW_LABEL[$1]}: local [${RUNS_OF[$1:local]:-}] cluster [${RUNS_OF[$1:cluster]:-}]"
}
# not_run key... reason: rows that could not run at all, with why.
not_run() {
    local why=${*: -1} k
    for k in "${@:1:$#-1}"; do FIG[$k:local]=$why; FIG[$k:cluster]=$why; done
    log "$why"
}
# make_tree dir files kib: a folder of random files, once.
make_tree() {
    [[ -d $1 ]] && return 0
    mkdir -p "$1"
    local i
    for i in $(seq 1 "$2"); do head -c "$(($3 << 10))" /dev/urandom >"$1/f$i"; done
}
SMALL=$W/client/small

LOAD_NOTE=""
wait_for_quiet
log "load: $LOAD_NOTE"

# ---------------------------------------------------------------- put / get / cpu
if has_row put || has_row get; then
    log "making ${SIZE_MB} MiB of random data"
    head -c "$((SIZE_MB << 20))" /dev/urandom >"$W/client/big.bin"
    BIG_SHA=$(sha "$W/client/big.bin")
    sync
    IFS=, read -r -a cipher_list <<<"$CIPHERS"
    for c in "${cipher_list[@]}"; do
        short=${c%%@*}
        short=${short%%-poly1305}
        def_row "put:$short" "put ${SIZE_MB} MiB, $short" MiB/s higher "sha256 of the file got back"
        def_row "get:$short" "get ${SIZE_MB} MiB, $short" MiB/s higher "sha256 of the downloaded file"
        def_row "cpu-put:$short" "server CPU per GiB put, $short" s/GiB lower "$CPU_HOW"
        def_row "cpu-get:$short" "server CPU per GiB got, $short" s/GiB lower ""
        gib=$(calc "$SIZE_MB / 1024" 4)
        for run in $(seq 1 "$RUNS"); do
            for s in $(order "$run"); do
                remote=/up/big_$run.bin
                c0=$(server_cpu "$s")
                t0=$(now)
                echo "put $W/client/big.bin $remote" | sftp_to "$s" -c "$c" >/dev/null || die "$s put $c failed"
                t1=$(now)
                sleep 1
                c1=$(server_cpu "$s")
                if [[ $s == local ]]; then
                    [[ $(sha "$LOCAL_HOME$remote") == "$BIG_SHA" ]] || die "local put $c: sha256 mismatch on disk"
                fi
                sync
                record "put:$short" "$s" "$(mib_s "$SIZE_MB" "$(elapsed "$t0" "$t1")")"
                record "cpu-put:$short" "$s" "$(calc "($c1 - $c0) / $gib" 2)"
                rm -f "$W/client/got.bin"
                c0=$(server_cpu "$s")
                t0=$(now)
                echo "get $remote $W/client/got.bin" | sftp_to "$s" -c "$c" >/dev/null || die "$s get $c failed"
                t1=$(now)
                sleep 1
                c1=$(server_cpu "$s")
                [[ $(sha "$W/client/got.bin") == "$BIG_SHA" ]] || die "$s get $c: sha256 mismatch"
                record "get:$short" "$s" "$(mib_s "$SIZE_MB" "$(elapsed "$t0" "$t1")")"
                record "cpu-get:$short" "$s" "$(calc "($c1 - $c0) / $gib" 2)"
                rm -f "$W/client/got.bin"
                echo "rm $remote" | sftp_to "$s" >/dev/null || die "$s: rm $remote failed"
                sync
            done
        done
        for k in put get cpu-put cpu-get; do finish_row "$k:$short"; done
    done
    rm -f "$W/client/big.bin"
fi

# ---------------------------------------------------------------- small files
if has_row small; then
    def_row small:put "put -r ${SMALL_FILES} files of ${SMALL_KB} KiB" files/s higher "sha256 of the tree got back"
    def_row small:get "get -r ${SMALL_FILES} files of ${SMALL_KB} KiB" files/s higher "sha256 of the downloaded tree"
    make_tree "$SMALL" "$SMALL_FILES" "$SMALL_KB"
    want=$(tree_sha "$SMALL")
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            remote=/up/small_$run
            rm -rf "$W/client/got_small"
            t0=$(now)
            echo "put -r $SMALL $remote" | sftp_to "$s" >/dev/null || die "$s put -r failed"
            t1=$(now)
            if [[ $s == local ]]; then
                [[ $(tree_sha "$LOCAL_HOME$remote") == "$want" ]] || die "local put -r: sha256 mismatch on disk"
            fi
            record small:put "$s" "$(calc "$SMALL_FILES / $(elapsed "$t0" "$t1")" 0)"
            t0=$(now)
            echo "get -r $remote $W/client/got_small" | sftp_to "$s" >/dev/null || die "$s get -r failed"
            t1=$(now)
            [[ $(tree_sha "$W/client/got_small") == "$want" ]] || die "$s get -r: sha256 mismatch"
            record small:get "$s" "$(calc "$SMALL_FILES / $(elapsed "$t0" "$t1")" 0)"
            rm -rf "$W/client/got_small"
            remove_tree "$s" "$remote"
        done
    done
    finish_row small:put
    finish_row small:get
fi

# ---------------------------------------------------------------- ls -l
if has_row ls; then
    def_row ls "ls -l of ${LS_ENTRIES} entries (login included)" s lower "seconds for the whole sftp run; empty files"
    for s in "${SERVERS[@]}"; do
        t0=$(now)
        if [[ $s == local ]]; then
            mkdir -p "$LOCAL_HOME/up/many"
            (cd "$LOCAL_HOME/up/many" && seq -f 'entry%05g' 1 "$LS_ENTRIES" | xargs touch)
        else
            mkdir -p "$W/client/many"
            (cd "$W/client/many" && seq -f 'entry%05g' 1 "$LS_ENTRIES" | xargs touch)
            echo "put -r $W/client/many /up/many" | sftp_to "$s" >/dev/null || die "$s: put -r of the ls folder failed"
            rm -rf "$W/client/many"
        fi
        log "$s: ${LS_ENTRIES} entries made in $(elapsed "$t0" "$(now)") s"
    done
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            t0=$(now)
            echo "ls -l /up/many" | sftp_to "$s" >"$W/client/ls.txt" || die "$s ls -l failed"
            t1=$(now)
            n=$(grep -c '[ /]entry[0-9]*$' "$W/client/ls.txt" || true)
            [[ $n == "$LS_ENTRIES" ]] || die "$s ls -l listed $n entries, not $LS_ENTRIES"
            record ls "$s" "$(elapsed "$t0" "$t1")"
        done
    done
    finish_row ls
    for s in "${SERVERS[@]}"; do remove_tree "$s" /up/many; done
fi

# ---------------------------------------------------------------- rename
# RENAMES renames of one folder (there and back) in one session; the time
# between two `pwd` lines around them (sftp's pwd makes no round trip), as
# perl stamps them on arrival, so the login is not in the figure.
if has_row rename; then
    def_row rename "rename of a folder of ${SMALL_FILES} files" ms lower \
        "mean of ${RENAMES} renames in one session, login excluded; tree checked by get -r after"
    if ! perl -MTime::HiRes -e 1 2>/dev/null; then
        not_run rename "not run: perl with Time::HiRes not found"
    else
        make_tree "$SMALL" "$SMALL_FILES" "$SMALL_KB"
        want=$(tree_sha "$SMALL")
        for s in "${SERVERS[@]}"; do
            echo "put -r $SMALL /up/rn_a" | sftp_to "$s" >/dev/null || die "$s: put -r of the renamed tree failed"
        done
        for run in $(seq 1 "$RUNS"); do
            for s in $(order "$run"); do
                {
                    echo pwd
                    for _ in $(seq 1 $((RENAMES / 2))); do
                        echo "rename /up/rn_a /up/rn_b"
                        echo "rename /up/rn_b /up/rn_a"
                    done
                    echo pwd
                } | sftp_to "$s" | perl -MTime::HiRes=time -ne '$| = 1; printf "%.6f %s", time, $_' \
                    >"$W/client/rename.txt" || die "$s rename failed"
                mapfile -t stamps < <(awk '/Remote working directory/ { print $1 }' "$W/client/rename.txt")
                ((${#stamps[@]} == 2)) || die "$s rename: no two pwd lines in $W/client/rename.txt"
                record rename "$s" "$(calc "(${stamps[1]} - ${stamps[0]}) * 1000 / $RENAMES" 2)"
            done
        done
        for s in "${SERVERS[@]}"; do
            rm -rf "$W/client/got_rn"
            echo "get -r /up/rn_a $W/client/got_rn" | sftp_to "$s" >/dev/null || die "$s: get -r after the renames failed"
            [[ $(tree_sha "$W/client/got_rn") == "$want" ]] || die "$s rename: tree changed (sha256 mismatch)"
            rm -rf "$W/client/got_rn"
            remove_tree "$s" /up/rn_a
        done
        finish_row rename
    fi
fi

# ---------------------------------------------------------------- logins
if has_row connect; then
    def_row connect "logins: connect + key auth + pwd, ${CONNECTS} in a row" logins/s higher "one sftp process per login"
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            t0=$(now)
            for _ in $(seq 1 "$CONNECTS"); do
                echo pwd | sftp_to "$s" >/dev/null || die "$s login failed"
            done
            t1=$(now)
            record connect "$s" "$(calc "$CONNECTS / $(elapsed "$t0" "$t1")" 1)"
        done
    done
    finish_row connect
fi

# ---------------------------------------------------------------- table
garage_version=$( ((HAVE_CLUSTER)) && "$GARAGE" --version 2>/dev/null | head -1 || true)
echo
echo "sftpbox local vs cluster (1 node; ${PG_VERSION:-no PostgreSQL}; ${garage_version:-no Garage}, ${GARAGE_NODES} node(s)), $(date -u '+%Y-%m-%d %H:%M UTC'), RUNS=$RUNS SIZE_MB=$SIZE_MB, $(nproc) CPUs, $LOAD_NOTE, ended at load $(load1)"
echo
printf '| %s | %s | %s | %s |\n' row local cluster cluster/local
printf '|---|---:|---:|---:|\n'
for k in "${ROW_ORDER[@]}"; do
    l=${FIG[$k:local]:-NA}
    if ((HAVE_CLUSTER)); then c=${FIG[$k:cluster]:-NA}; else c=$CLUSTER_WHY; fi
    ratio="—"
    if [[ $l =~ ^[0-9.]+$ && $c =~ ^[0-9.]+$ ]] && awk -v l="$l" 'BEGIN { exit !(l > 0) }'; then
        ratio=$(calc "$c / $l" 2)
    fi
    printf '| %s (%s, %s is better) | %s | %s | %s |\n' "${ROW_LABEL[$k]}" "${ROW_UNIT[$k]}" \
        "${ROW_BETTER[$k]}" "$l" "$c" "$ratio"
done
echo
for k in "${ROW_ORDER[@]}"; do
    [[ -n ${ROW_NOTE[$k]} ]] && echo "- ${ROW_LABEL[$k]}: ${ROW_NOTE[$k]}"
done
echo "- runs (local | cluster):"
for k in "${ROW_ORDER[@]}"; do
    [[ -n ${RUNS_OF[$k:local]:-} ]] && echo "  - ${ROW_LABEL[$k]}:${RUNS_OF[$k:local]} |${RUNS_OF[$k:cluster]:-}"
done
exit 0
