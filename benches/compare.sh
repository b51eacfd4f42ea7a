#!/usr/bin/env bash
# Side-by-side benchmark: sftpbox against OpenSSH sshd with internal-sftp.
#
#   sudo benches/compare.sh                     # everything, 1 GiB, 3 runs
#   SIZE_MB=64 RUNS=3 ROWS=put,get benches/compare.sh
#
# Needs root (a private sshd, a throwaway user, network namespaces), OpenSSH's
# sftp/ssh-keygen and /usr/sbin/sshd (apt-get install -y openssh-server; the
# system service is never started). The client rows install their tool with
# apt-get when it is missing (putty-tools, rclone, lftp, sshfs) and say
# "not run" with the reason when that fails. Every transfer is checked with sha256.
# Runs alternate the servers (odd runs sftpbox first, even runs OpenSSH first)
# and each figure is the median of RUNS runs. Everything it makes (servers,
# user, namespaces, temp folder) is removed on exit.
#
# Settings (environment):
#   ROWS        comma list of: put,get,small,small1k,psftp,rclone,lftp,sshfs,ls,
#               concurrent,connect,memory,rtt,hold
#               (default all; put/get also give the CPU-per-GiB rows)
#   SIZE_MB     size of the big put/get file (1024)
#   RUNS        runs per row and server (3)
#   CIPHERS     ciphers for put/get (aes128-gcm@openssh.com,chacha20-poly1305@openssh.com)
#   SMALL_FILES / SMALL_KB   small-file tree (2000 files of 4 KiB), also the
#               tree rclone, lftp and sshfs's tar copy
#   TINY_FILES / TINY_KB     the second small-file row, small1k (20000 of 1 KiB)
#   PSFTP_MB    size psftp puts and gets (SIZE_MB; OpenSSH's sftp-server takes
#               PuTTY's pipelined 4 KiB writes at a few MiB/s, so 1 GiB there
#               is ten minutes a run)
#   PAR         parallel transfers of rclone (--transfers) and lftp (--parallel) (8)
#   LS_ENTRIES  entries in the listed folder (10000)
#   CONC / CONC_MB  concurrent sessions and MiB each (8, 128)
#   CONNECTS    logins in a row for connections per second (50)
#   IDLE_SESSIONS  idle sessions for the memory row (200)
#   RTT_MB      size moved through the 100 ms link (SIZE_MB); RTT_MODE auto|netem|proxy
#   HOLD_SESSIONS  sessions for the hold row (10000)
#   MAX_LOAD    wait until the 1-minute load is below this before starting (1.0)
#   LOAD_WAIT   seconds to wait for that at most (600), then run anyway and say so
#   SFTP_EXTRA  extra options for every sftp run, e.g. "-R 256 -B 262144" (none)
#   BENCH_PARENT  where the temp folder goes (/var/lib; not tmpfs, not world-writable)
#   KEEP=1      keep the temp folder (for debugging)
#   BOX_BIN     the sftpbox binary (target/release/sftpbox; with BUILD=0, as it is)
#   BUILD=0     use target/release as it is (no cargo build)
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
ROWS=${ROWS:-put,get,small,small1k,psftp,rclone,lftp,sshfs,ls,concurrent,connect,memory,rtt,hold}
CIPHERS=${CIPHERS:-aes128-gcm@openssh.com,chacha20-poly1305@openssh.com}
SMALL_FILES=${SMALL_FILES:-2000}
SMALL_KB=${SMALL_KB:-4}
TINY_FILES=${TINY_FILES:-20000}
TINY_KB=${TINY_KB:-1}
PAR=${PAR:-8}
PSFTP_MB=${PSFTP_MB:-$SIZE_MB}
LS_ENTRIES=${LS_ENTRIES:-10000}
CONC=${CONC:-8}
CONC_MB=${CONC_MB:-128}
CONNECTS=${CONNECTS:-50}
IDLE_SESSIONS=${IDLE_SESSIONS:-200}
RTT_MB=${RTT_MB:-$SIZE_MB}
RTT_MODE=${RTT_MODE:-auto}
HOLD_SESSIONS=${HOLD_SESSIONS:-10000}
MAX_LOAD=${MAX_LOAD:-1.0}
LOAD_WAIT=${LOAD_WAIT:-600}
BENCH_PARENT=${BENCH_PARENT:-/var/lib}
KEEP=${KEEP:-0}
SFTP_EXTRA=${SFTP_EXTRA:-}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BOX_BIN=${BOX_BIN:-$REPO/target/release/sftpbox}
HOLD_BIN=$REPO/target/release/examples/hold_sessions
PROXY_BIN=$REPO/target/release/examples/delay_proxy
SSHD=/usr/sbin/sshd
CLK_TCK=$(getconf CLK_TCK)

# shellcheck source=benches/lib.sh
source "$REPO/benches/lib.sh"
has_row() { [[ ",$ROWS," == *",$1,"* ]]; }
# need_tool command package: the command, installed from Debian when missing;
# sets WHY and fails when it cannot be had.
need_tool() {
    command -v "$1" >/dev/null && return 0
    if command -v apt-get >/dev/null; then
        log "$1 not found; apt-get install -y $2"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1; } || true
    fi
    command -v "$1" >/dev/null && return 0
    WHY="not run: $1 not found and apt-get install $2 failed"
    return 1
}
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }

[[ $(id -u) == 0 ]] || die "run as root (private sshd, throwaway user, netns)"
for tool in sftp ssh-keygen sha256sum ss ip; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# ---------------------------------------------------------------- clean-up
PIDS=()
USER_MADE=""
RUN_SSHD_MADE=0
NETNS_MADE=()
CGROUPS_MADE=()
W=""
MOUNTED=""
cleanup() {
    local rc=$?
    set +e
    [[ -n $MOUNTED ]] && { fusermount3 -u -z "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED" 2>/dev/null; }
    local all=() pid
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && all+=($(tree_pids "$pid"))
    done
    for pid in "${all[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${all[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${NETNS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
    for cg in "${CGROUPS_MADE[@]}"; do rmdir "$cg" 2>/dev/null || { sleep 1; rmdir "$cg" 2>/dev/null; }; done
    if [[ -n $USER_MADE ]]; then
        userdel "$USER_MADE" 2>/dev/null || { sleep 2; userdel "$USER_MADE"; }
    fi
    remove_made
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- process stats
# CPU seconds of the tree under $1 (lib.sh's tree_ticks).
tree_cpu() { calc "$(tree_ticks "$1") / $CLK_TCK" 3; }
# Server CPU: each server runs in its own cpuacct cgroup (v1) when one can be
# made, which counts exited children too (sshd's per-session processes);
# otherwise the process tree's /proc/PID/stat times (which can miss children
# that exit without being waited for).
CG_ROOT=/sys/fs/cgroup/cpuacct
declare -A CG=()
make_cgroup() { # name
    local d=$CG_ROOT/sftpbox-bench-$$-$1
    if [[ -w $CG_ROOT ]] && mkdir "$d" 2>/dev/null; then
        CGROUPS_MADE+=("$d")
        CG[$1]=$d
    fi
}
make_cgroup box
make_cgroup ssh
if [[ -n ${CG[box]:-} && -n ${CG[ssh]:-} ]]; then
    CPU_HOW="cpuacct cgroup per server (every process it started, exited ones too)"
else
    CPU_HOW="utime+stime+cutime+cstime of the live server process tree (no cpuacct cgroup: may miss exited children)"
fi
join_cgroup() { [[ -n ${CG[$1]:-} ]] && echo "$BASHPID" >"${CG[$1]}/cgroup.procs"; return 0; }
server_cpu() { # server pid
    if [[ -n ${CG[$1]:-} ]]; then
        awk '{ printf "%.3f", $1 / 1e9 }' "${CG[$1]}/cpuacct.usage"
    else
        tree_cpu "$2"
    fi
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
# Sum over the tree under $1 without $1 itself: kind rss|pss.
children_sum() {
    local kind=$1 root=$2 total=0 p
    for p in $(tree_pids "$root" | tail -n +2); do
        if [[ $kind == rss ]]; then total=$((total + $(rss_kib "$p"))); else total=$((total + $(pss_kib "$p"))); fi
    done
    echo "$total"
}

# ---------------------------------------------------------------- set up
if [[ ${BUILD:-1} == 1 ]]; then
    log "building sftpbox (cargo build --release --examples)"
    (cd "$REPO" && cargo build --release --quiet --bin sftpbox --example hold_sessions --example delay_proxy)
else
    [[ -x $BOX_BIN ]] || die "BUILD=0 but $BOX_BIN is not built"
    log "BUILD=0: using $BOX_BIN as built ($(date -r "$BOX_BIN" '+%H:%M:%S'))"
fi

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open files limit: $(ulimit -n)"

W=$(mktemp -d "$BENCH_PARENT/sftpbox-bench.XXXXXX")
chmod 755 "$W"
[[ $(stat -f -c %T "$W") != tmpfs ]] || die "$W is on tmpfs; set BENCH_PARENT"
mkdir -p "$W/client" "$W/box/keys" "$W/box/homes/bench/up" "$W/ssh/authorized" "$W/chroot/up"
KEY=$W/client/id_ed25519
ssh-keygen -q -t ed25519 -N '' -C bench -f "$KEY"
PUB=$(cat "$KEY.pub")
SFTP_OPTS=(-F /dev/null -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o IdentitiesOnly=yes -o "IdentityFile=$KEY" -o LogLevel=ERROR)
read -r -a extra <<<"$SFTP_EXTRA"
SFTP_OPTS+=("${extra[@]}")

# sftpbox deployment
BOX_PORT=$(free_port)
cat >"$W/box/accounts.toml" <<EOF
[users.bench]
keys = ["$PUB"]
EOF
cat >"$W/box/sftpbox.toml" <<EOF
listen = "127.0.0.1:$BOX_PORT"
[limits]
max_connections = 30000
max_connections_per_address = 30000
max_sessions_per_account = 30000
max_startups = 1000
login_grace_seconds = 600
idle_timeout_seconds = 3600
EOF
BOX_PID=""
# Starters set STARTED (never call them in $(...): the child would hold the pipe).
start_box() { # [netns listen-addr]
    local ns=${1:-} listen=${2:-}
    (join_cgroup box && cd "$W/box" && exec ${ns:+ip netns exec "$ns"} "$BOX_BIN" serve --config "$W/box/sftpbox.toml" ${listen:+--listen "$listen"}) \
        </dev/null >>"$W/box/serve.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}
stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
restart_box() {
    [[ -n $BOX_PID ]] && stop_pid "$BOX_PID"
    start_box
    BOX_PID=$STARTED
    wait_port 127.0.0.1 "$BOX_PORT" || { tail "$W/box/serve.log" >&2; die "sftpbox did not start"; }
}
restart_box
BOX_HOME=$W/box/homes/bench
log "sftpbox pid $BOX_PID on 127.0.0.1:$BOX_PORT"

# OpenSSH sshd with a chrooted internal-sftp account
HAVE_SSH=1
SSH_WHY=""
SSH_PID=""
if [[ ! -x $SSHD ]]; then
    HAVE_SSH=0
    SSH_WHY="no /usr/sbin/sshd (apt-get install -y openssh-server)"
else
    ssh_user_and_config "sbb$$" /up /usr/sbin/nologin
    chown root:root "$W/chroot"
    chmod 755 "$W/chroot"
    chown "$SSH_USER:" "$W/chroot/up"
    cat >>"$W/ssh/sshd_config" <<EOF
MaxStartups 1000
MaxSessions 10
LogLevel INFO
Subsystem sftp internal-sftp
Match User $SSH_USER
    ChrootDirectory $W/chroot
    ForceCommand internal-sftp
    AllowTcpForwarding no
    X11Forwarding no
EOF
    start_sshd() { # port listen-addr [netns]
        local ns=${3:-}
        (join_cgroup ssh && exec ${ns:+ip netns exec "$ns"} "$SSHD" -D -f "$W/ssh/sshd_config" -p "$1" \
            -h "$W/ssh/host_ed25519" -o PidFile=none -o "ListenAddress=$2" -E "$W/ssh/sshd.log") \
            </dev/null >>"$W/ssh/sshd.log" 2>&1 &
        STARTED=$!
        PIDS+=("$STARTED")
    }
    "$SSHD" -t -f "$W/ssh/sshd_config" -h "$W/ssh/host_ed25519" -o PidFile=none || die "sshd -t failed"
    start_sshd "$SSH_PORT" 127.0.0.1
    SSH_PID=$STARTED
    wait_port 127.0.0.1 "$SSH_PORT" || { tail "$W/ssh/sshd.log" >&2; die "sshd did not start"; }
    log "sshd pid $SSH_PID on 127.0.0.1:$SSH_PORT, user $SSH_USER chrooted in $W/chroot ($($SSHD -V 2>&1 | head -1 || true))"
fi
SSH_HOME=$W/chroot
SERVERS=(box)
((HAVE_SSH)) && SERVERS+=(ssh)

# sftp against server $1 (box|ssh) with batch commands on stdin; extra sftp options after.
# CLIENT_NS / ADDR_* / PORT_* are switched by the rtt row.
CLIENT_NS=""
declare -A ADDR=([box]=127.0.0.1 [ssh]=127.0.0.1)
declare -A PORT=([box]=$BOX_PORT [ssh]=${SSH_PORT:-0})
declare -A USERNAME=([box]=bench [ssh]=${SSH_USER:-none})
declare -A HOME_DIR=([box]=$BOX_HOME [ssh]=$SSH_HOME)
declare -A PID_OF=([box]=$BOX_PID [ssh]=$SSH_PID)
sftp_to() {
    local s=$1
    shift
    ${CLIENT_NS:+ip netns exec "$CLIENT_NS"} sftp "${SFTP_OPTS[@]}" -P "${PORT[$s]}" "$@" -b - "${USERNAME[$s]}@${ADDR[$s]}"
}
# An ssh for `sftp -S` that writes, when it ends, the CPU seconds (user +
# system) the real ssh used to $W/ssh_cpu: on one stream the client's ssh
# decrypts (get) or encrypts (put) every byte on one core, and at 100 % of
# it no server can go faster.
cat >"$W/timed_ssh" <<SH
#!/usr/bin/env bash
ssh "\$@"
rc=\$?
times >"$W/ssh_cpu"
exit \$rc
SH
chmod +x "$W/timed_ssh"
# The children's CPU seconds (user + system) in file $1, which holds what
# bash's `times` printed: its second line, as "0m1.250s 0m0.310s".
children_seconds() {
    sed -n 2p "$1" |
        awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); n += p[1] * 60 + p[2] } printf "%.3f", n }'
}
# The ssh CPU seconds of the last `sftp_to … -S $W/timed_ssh`.
timed_ssh_cpu() { children_seconds "$W/ssh_cpu"; }

# Order of the servers for run $1: alternate who goes first.
order() { if (($1 % 2)); then echo "${SERVERS[@]}"; else printf '%s\n' "${SERVERS[@]}" | tac | tr '\n' ' '; fi; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
tree_sha() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1; }
fix_owner() { [[ $1 == ssh ]] && chown -R "$SSH_USER:" "$2"; return 0; }
# retire path...: moves what a run made out of the way without deleting it.
# This ext4 has no journal, and then every file created skips, one bitmap
# probe each, the inodes of its group freed in the last 60 s (300 s while
# their table block is dirty): a tree removed just before the next run makes
# that run's creations 2-3x dearer, for whichever server lands in the group.
# Moved, the inodes stay in use until the bench ends and removes $W.
RETIRED=0
retire() {
    local path
    mkdir -p "$W/retired"
    for path in "$@"; do
        [[ -e $path ]] || continue
        RETIRED=$((RETIRED + 1))
        mv "$path" "$W/retired/$RETIRED"
    done
}

# ---------------------------------------------------------------- results
declare -A FIG    # FIG[row:server] = figure
declare -A RUNS_OF # RUNS_OF[row:server] = "v1 v2 v3"
ROW_ORDER=()
declare -A ROW_LABEL ROW_UNIT ROW_BETTER ROW_TARGET ROW_NOTE
def_row() { # key label unit better(higher|lower) target-ratio note
    ROW_ORDER+=("$1")
    ROW_LABEL[$1]=$2
    ROW_UNIT[$1]=$3
    ROW_BETTER[$1]=$4
    ROW_TARGET[$1]=$5
    ROW_NOTE[$1]=${6:-}
}
record() { RUNS_OF[$1:$2]="${RUNS_OF[$1:$2]:-} $3"; }
finish_row() { # key: medians of the runs
    local s
    for s in "${SERVERS[@]}"; do
        [[ -n ${RUNS_OF[$1:$s]:-} ]] && FIG[$1:$s]=$(echo "${RUNS_OF[$1:$s]}" | median)
    done
    log "${ROW_LABEL[$1]}: sftpbox [${RUNS_OF[$1:box]:-}] OpenSSH [${RUNS_OF[$1:ssh]:-}]"
}

LOAD_NOTE=""
wait_for_quiet
log "load: $LOAD_NOTE"

mib_s() { calc "$1 / $2" 1; } # MiB, seconds

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
        has_row put && def_row "put:$short" "put ${SIZE_MB} MiB, $short" MiB/s higher \
            "$([[ $short == aes128-gcm ]] && echo 1.5 || echo 1.2)"
        has_row get && def_row "get:$short" "get ${SIZE_MB} MiB, $short" MiB/s higher \
            "$([[ $short == aes128-gcm ]] && echo 1.5 || echo 1.2)"
        has_row get && def_row "getnull:$short" "get ${SIZE_MB} MiB to /dev/null, $short" MiB/s higher 0 \
            "the same file, the client writing nothing: the server and the channel without the client's disk"
        has_row get && def_row "getssh:$short" "client ssh's CPU during get to /dev/null, $short" "% of a core" lower 0 \
            "the ssh that sftp runs, user + system over the wall time: near 100, the client is the limit"
        def_row "cpu:$short" "server CPU per GiB moved, $short" s/GiB lower 1 "put+get; $CPU_HOW"
        for run in $(seq 1 "$RUNS"); do
            for s in $(order "$run"); do
                cpu_s=0
                gib=0
                if has_row put; then
                    c0=$(server_cpu "$s" "${PID_OF[$s]}")
                    t0=$(now)
                    echo "put $W/client/big.bin /up/big.bin" | sftp_to "$s" -c "$c" >/dev/null
                    t1=$(now)
                    sleep 0.3
                    c1=$(server_cpu "$s" "${PID_OF[$s]}")
                    [[ $(sha "${HOME_DIR[$s]}/up/big.bin") == "$BIG_SHA" ]] || die "$s put $c: sha256 mismatch"
                    sync # write-back of this run off the next one
                    record "put:$short" "$s" "$(mib_s "$SIZE_MB" "$(elapsed "$t0" "$t1")")"
                    cpu_s=$(calc "$cpu_s + $c1 - $c0" 3)
                    gib=$(calc "$gib + $SIZE_MB / 1024" 4)
                else
                    cp "$W/client/big.bin" "${HOME_DIR[$s]}/up/big.bin"
                    fix_owner "$s" "${HOME_DIR[$s]}/up/big.bin"
                fi
                if has_row get; then
                    rm -f "$W/client/got.bin"
                    c0=$(server_cpu "$s" "${PID_OF[$s]}")
                    t0=$(now)
                    echo "get /up/big.bin $W/client/got.bin" | sftp_to "$s" -c "$c" >/dev/null
                    t1=$(now)
                    sleep 0.3
                    c1=$(server_cpu "$s" "${PID_OF[$s]}")
                    [[ $(sha "$W/client/got.bin") == "$BIG_SHA" ]] || die "$s get $c: sha256 mismatch"
                    record "get:$short" "$s" "$(mib_s "$SIZE_MB" "$(elapsed "$t0" "$t1")")"
                    # Again to /dev/null (not counted in the CPU row): the
                    # client's writes to this VM's disk swing the row above
                    # by 2-4x between runs, for both servers.
                    t2=$(now)
                    echo "get /up/big.bin /dev/null" | sftp_to "$s" -c "$c" -S "$W/timed_ssh" >/dev/null
                    t3=$(now)
                    record "getnull:$short" "$s" "$(mib_s "$SIZE_MB" "$(elapsed "$t2" "$t3")")"
                    record "getssh:$short" "$s" "$(calc "100 * $(timed_ssh_cpu) / $(elapsed "$t2" "$t3")" 0)"
                    cpu_s=$(calc "$cpu_s + $c1 - $c0" 3)
                    gib=$(calc "$gib + $SIZE_MB / 1024" 4)
                    rm -f "$W/client/got.bin"
                fi
                rm -f "${HOME_DIR[$s]}/up/big.bin"
                sync
                record "cpu:$short" "$s" "$(calc "$cpu_s / $gib" 2)"
            done
        done
        has_row put && finish_row "put:$short"
        has_row get && finish_row "get:$short"
        has_row get && finish_row "getnull:$short"
        has_row get && finish_row "getssh:$short"
        finish_row "cpu:$short"
    done
fi

# ---------------------------------------------------------------- small files
# make_tree dir files kib: a folder of random files, once.
make_tree() {
    [[ -d $1 ]] && return 0
    mkdir -p "$1"
    local i
    for i in $(seq 1 "$2"); do head -c "$(($3 << 10))" /dev/urandom >"$1/f$i"; done
}
# Seconds of CPU (user + system) used so far by this shell's waited-for
# children and theirs: sftp and the ssh it runs. `times` is a builtin, so
# it reads this shell's own counts (not those of a $(…) subshell): the
# result goes into the variable named $1.
client_cpu() {
    times >"$W/times"
    printf -v "$1" '%s' "$(children_seconds "$W/times")"
}
# small_rows key files kib target: put -r and get -r of a tree with OpenSSH's
# sftp, and where each file's time goes: the server's CPU and the client's
# (sftp waits for every request's reply, so client, server and the
# loopback's wake-ups add up to the wall time of each file).
small_rows() {
    local key=$1 files=$2 kb=$3 target=$4 tree=$W/client/$1 want run s t0 t1 c0 c1 k0 k1
    def_row "$key:put" "put -r ${files} files of ${kb} KiB" files/s higher "$target" "default cipher"
    def_row "$key:get" "get -r ${files} files of ${kb} KiB" files/s higher "$target" "default cipher"
    def_row "$key:cpu" "server CPU per file of ${kb} KiB, put -r + get -r" µs lower 1 "$CPU_HOW"
    def_row "$key:client" "client CPU per file of ${kb} KiB, put -r + get -r" µs lower 0 \
        "sftp and its ssh, user + system: the same client against each server"
    make_tree "$tree" "$files" "$kb"
    want=$(tree_sha "$tree")
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            retire "${HOME_DIR[$s]}/up/$key" "$W/client/got_$key"
            c0=$(server_cpu "$s" "${PID_OF[$s]}")
            client_cpu k0
            t0=$(now)
            echo "put -r $tree /up/$key" | sftp_to "$s" >/dev/null
            t1=$(now)
            [[ $(tree_sha "${HOME_DIR[$s]}/up/$key") == "$want" ]] || die "$s put -r: sha256 mismatch"
            record "$key:put" "$s" "$(calc "$files / $(elapsed "$t0" "$t1")" 0)"
            t0=$(now)
            echo "get -r /up/$key $W/client/got_$key" | sftp_to "$s" >/dev/null
            t1=$(now)
            client_cpu k1
            sleep 0.3
            c1=$(server_cpu "$s" "${PID_OF[$s]}")
            [[ $(tree_sha "$W/client/got_$key") == "$want" ]] || die "$s get -r: sha256 mismatch"
            record "$key:get" "$s" "$(calc "$files / $(elapsed "$t0" "$t1")" 0)"
            record "$key:cpu" "$s" "$(calc "($c1 - $c0) * 1000000 / $files" 0)"
            record "$key:client" "$s" "$(calc "($k1 - $k0) * 1000000 / $files" 0)"
            retire "${HOME_DIR[$s]}/up/$key" "$W/client/got_$key"
        done
    done
    finish_row "$key:put"
    finish_row "$key:get"
    finish_row "$key:cpu"
    finish_row "$key:client"
}
has_row small && small_rows small "$SMALL_FILES" "$SMALL_KB" 1.5
has_row small1k && small_rows small1k "$TINY_FILES" "$TINY_KB" 1.5

# not_run key... reason: rows that could not run, with why.
not_run() {
    local why=${*: -1} k s
    for k in "${@:1:$#-1}"; do
        for s in box ssh; do FIG[$k:$s]=$why; done
    done
    log "$why"
}
ensure_big() {
    [[ -f $W/client/big.bin ]] && return 0
    log "making ${SIZE_MB} MiB of random data"
    head -c "$((SIZE_MB << 20))" /dev/urandom >"$W/client/big.bin"
    BIG_SHA=$(sha "$W/client/big.bin")
    sync
}
host_fp() { ssh-keygen -lf "$1" | awk '{ print $2 }'; }
declare -A HOST_PUB=([box]=$W/box/keys/ssh_host_ed25519_key.pub [ssh]=$W/ssh/host_ed25519.pub)

# ---------------------------------------------------------------- PuTTY psftp
# psftp keeps PuTTY's own small window and request sizes (WinSCP's engine).
if has_row psftp; then
    def_row psftp:put "psftp put ${PSFTP_MB} MiB" MiB/s higher 0 "PuTTY psftp, its default cipher"
    def_row psftp:get "psftp get ${PSFTP_MB} MiB" MiB/s higher 0 "PuTTY psftp, its default cipher"
    if need_tool psftp putty-tools && need_tool puttygen putty-tools; then
        head -c "$((PSFTP_MB << 20))" /dev/urandom >"$W/client/psftp.bin"
        PSFTP_SHA=$(sha "$W/client/psftp.bin")
        puttygen "$KEY" -O private -o "$KEY.ppk" 2>/dev/null || die "puttygen could not convert the key"
        PSFTP_VERSION=$(psftp -V 2>&1 | sed -n 1p || true)
        ROW_NOTE[psftp:put]="$PSFTP_VERSION, its default cipher"
        psftp_to() { # server batch-file
            psftp -batch -P "${PORT[$1]}" -l "${USERNAME[$1]}" -i "$KEY.ppk" \
                -hostkey "$(host_fp "${HOST_PUB[$1]}")" -b "$2" "${ADDR[$1]}" 2>"$W/client/psftp.err" ||
                { grep -v '^Using username' "$W/client/psftp.err" >&2; return 1; }
        }
        echo "put $W/client/psftp.bin /up/psftp.bin" >"$W/client/psftp_put"
        echo "get /up/psftp.bin $W/client/psftp_got.bin" >"$W/client/psftp_get"
        for run in $(seq 1 "$RUNS"); do
            for s in $(order "$run"); do
                t0=$(now)
                psftp_to "$s" "$W/client/psftp_put" >/dev/null || die "$s psftp put failed"
                t1=$(now)
                [[ $(sha "${HOME_DIR[$s]}/up/psftp.bin") == "$PSFTP_SHA" ]] || die "$s psftp put: sha256 mismatch"
                record psftp:put "$s" "$(mib_s "$PSFTP_MB" "$(elapsed "$t0" "$t1")")"
                rm -f "$W/client/psftp_got.bin"
                t0=$(now)
                psftp_to "$s" "$W/client/psftp_get" >/dev/null || die "$s psftp get failed"
                t1=$(now)
                [[ $(sha "$W/client/psftp_got.bin") == "$PSFTP_SHA" ]] || die "$s psftp get: sha256 mismatch"
                record psftp:get "$s" "$(mib_s "$PSFTP_MB" "$(elapsed "$t0" "$t1")")"
                rm -f "$W/client/psftp_got.bin" "${HOME_DIR[$s]}/up/psftp.bin"
                sync
            done
        done
        finish_row psftp:put
        finish_row psftp:get
    else
        not_run psftp:put psftp:get "$WHY"
    fi
fi

# ---------------------------------------------------------------- rclone
if has_row rclone; then
    def_row rclone "rclone copy of ${SMALL_FILES} files of ${SMALL_KB} KiB, --transfers ${PAR}" files/s higher 0 \
        "no hashing over ssh (shell_type none), modification times set"
    if need_tool rclone rclone; then
        make_tree "$W/client/small" "$SMALL_FILES" "$SMALL_KB"
        want=$(tree_sha "$W/client/small")
        ROW_NOTE[rclone]="$(rclone version 2>/dev/null | sed -n 1p || true); ${ROW_NOTE[rclone]}"
        for run in $(seq 1 "$RUNS"); do
            for s in $(order "$run"); do
                retire "${HOME_DIR[$s]}/up/rclone"
                t0=$(now)
                rclone copy --config "$W/client/rclone.conf" -q --transfers "$PAR" --checkers "$PAR" \
                    "$W/client/small" \
                    ":sftp,host=${ADDR[$s]},port=${PORT[$s]},user=${USERNAME[$s]},key_file=$KEY,shell_type=none,disable_hashcheck=true:/up/rclone" ||
                    die "$s rclone copy failed"
                t1=$(now)
                [[ $(tree_sha "${HOME_DIR[$s]}/up/rclone") == "$want" ]] || die "$s rclone: sha256 mismatch"
                record rclone "$s" "$(calc "$SMALL_FILES / $(elapsed "$t0" "$t1")" 0)"
                retire "${HOME_DIR[$s]}/up/rclone"
            done
        done
        finish_row rclone
    else
        not_run rclone "$WHY"
    fi
fi

# ---------------------------------------------------------------- lftp
if has_row lftp; then
    def_row lftp "lftp mirror -R --parallel=${PAR} of ${SMALL_FILES} files of ${SMALL_KB} KiB" files/s higher 0 \
        "lftp over OpenSSH's ssh"
    if need_tool lftp lftp; then
        make_tree "$W/client/small" "$SMALL_FILES" "$SMALL_KB"
        want=$(tree_sha "$W/client/small")
        ROW_NOTE[lftp]="$(lftp --version 2>/dev/null | sed -n 1p | tr -s ' |' ' ' || true), over OpenSSH's ssh"
        LFTP_SSH="ssh -a -x -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR -i $KEY"
        for run in $(seq 1 "$RUNS"); do
            for s in $(order "$run"); do
                retire "${HOME_DIR[$s]}/up/lftp"
                t0=$(now)
                lftp -c "set sftp:connect-program '$LFTP_SSH'; set net:max-retries 1; set cmd:fail-exit yes;
                    open -u ${USERNAME[$s]}, -p ${PORT[$s]} sftp://${ADDR[$s]};
                    mirror -R --parallel=$PAR $W/client/small /up/lftp" >/dev/null ||
                    die "$s lftp mirror failed"
                t1=$(now)
                [[ $(tree_sha "${HOME_DIR[$s]}/up/lftp") == "$want" ]] || die "$s lftp: sha256 mismatch"
                record lftp "$s" "$(calc "$SMALL_FILES / $(elapsed "$t0" "$t1")" 0)"
                retire "${HOME_DIR[$s]}/up/lftp"
            done
        done
        finish_row lftp
    else
        not_run lftp "$WHY"
    fi
fi

# ---------------------------------------------------------------- sshfs
if has_row sshfs; then
    def_row sshfs:cp "sshfs: cp of ${SIZE_MB} MiB into the mount" MiB/s higher 0 "sshfs over OpenSSH's ssh"
    def_row sshfs:tar "sshfs: tar -x of ${SMALL_FILES} files of ${SMALL_KB} KiB into the mount" files/s higher 0 ""
    if [[ ! -e /dev/fuse ]]; then
        not_run sshfs:cp sshfs:tar "not run: no /dev/fuse on this machine"
    elif need_tool sshfs sshfs; then
        ensure_big
        make_tree "$W/client/small" "$SMALL_FILES" "$SMALL_KB"
        want=$(tree_sha "$W/client/small")
        tar -c -f "$W/client/small.tar" -C "$W/client" small
        ROW_NOTE[sshfs:cp]="$(sshfs --version 2>&1 | grep -i '^sshfs' || true), over OpenSSH's ssh"
        mkdir -p "$W/mnt"
        mount_of() { # server
            sshfs -p "${PORT[$1]}" -o "ssh_command=ssh -F /dev/null,IdentityFile=$KEY,IdentitiesOnly=yes" \
                -o "BatchMode=yes,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR" \
                "${USERNAME[$1]}@${ADDR[$1]}:/up" "$W/mnt" || die "$1: sshfs mount failed"
            MOUNTED=$W/mnt
        }
        unmount() { fusermount3 -u "$W/mnt" 2>/dev/null || fusermount -u "$W/mnt" 2>/dev/null || umount "$W/mnt"; MOUNTED=""; }
        for run in $(seq 1 "$RUNS"); do
            for s in $(order "$run"); do
                retire "${HOME_DIR[$s]}/up/small"
                rm -f "${HOME_DIR[$s]}/up/sshfs.bin"
                mount_of "$s"
                t0=$(now)
                cp "$W/client/big.bin" "$W/mnt/sshfs.bin"
                t1=$(now)
                record sshfs:cp "$s" "$(mib_s "$SIZE_MB" "$(elapsed "$t0" "$t1")")"
                t0=$(now)
                tar --no-same-owner --no-same-permissions -x -f "$W/client/small.tar" -C "$W/mnt"
                t1=$(now)
                record sshfs:tar "$s" "$(calc "$SMALL_FILES / $(elapsed "$t0" "$t1")" 0)"
                unmount
                [[ $(sha "${HOME_DIR[$s]}/up/sshfs.bin") == "$BIG_SHA" ]] || die "$s sshfs cp: sha256 mismatch"
                [[ $(tree_sha "${HOME_DIR[$s]}/up/small") == "$want" ]] || die "$s sshfs tar: sha256 mismatch"
                retire "${HOME_DIR[$s]}/up/small"
                rm -f "${HOME_DIR[$s]}/up/sshfs.bin"
                sync
            done
        done
        finish_row sshfs:cp
        finish_row sshfs:tar
    else
        not_run sshfs:cp sshfs:tar "$WHY"
    fi
fi

# ---------------------------------------------------------------- ls -l
if has_row ls; then
    def_row ls "ls -l of ${LS_ENTRIES} entries (login included)" s lower 1 "seconds for the whole sftp run"
    for s in "${SERVERS[@]}"; do
        mkdir -p "${HOME_DIR[$s]}/up/many"
        (cd "${HOME_DIR[$s]}/up/many" && seq -f 'entry%05g' 1 "$LS_ENTRIES" | xargs touch)
        fix_owner "$s" "${HOME_DIR[$s]}/up/many"
    done
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            t0=$(now)
            echo "ls -l /up/many" | sftp_to "$s" >"$W/client/ls.txt"
            t1=$(now)
            n=$(grep -c '[ /]entry[0-9]*$' "$W/client/ls.txt" || true)
            [[ $n == "$LS_ENTRIES" ]] || die "$s ls -l listed $n entries, not $LS_ENTRIES"
            record ls "$s" "$(elapsed "$t0" "$t1")"
        done
    done
    finish_row ls
    for s in "${SERVERS[@]}"; do rm -rf "${HOME_DIR[$s]}/up/many"; done
fi

# ---------------------------------------------------------------- concurrent
if has_row concurrent; then
    def_row concurrent "${CONC} sessions each putting ${CONC_MB} MiB" "MiB/s total" higher 1.2 "default cipher"
    head -c "$((CONC_MB << 20))" /dev/urandom >"$W/client/conc.bin"
    CONC_SHA=$(sha "$W/client/conc.bin")
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            pids=()
            t0=$(now)
            for i in $(seq 1 "$CONC"); do
                echo "put $W/client/conc.bin /up/conc$i.bin" | sftp_to "$s" >/dev/null &
                pids+=($!)
            done
            for p in "${pids[@]}"; do wait "$p" || die "$s concurrent put failed"; done
            t1=$(now)
            for i in $(seq 1 "$CONC"); do
                [[ $(sha "${HOME_DIR[$s]}/up/conc$i.bin") == "$CONC_SHA" ]] || die "$s concurrent put $i: sha256 mismatch"
                rm -f "${HOME_DIR[$s]}/up/conc$i.bin"
            done
            record concurrent "$s" "$(mib_s "$((CONC * CONC_MB))" "$(elapsed "$t0" "$t1")")"
        done
    done
    finish_row concurrent
    rm -f "$W/client/conc.bin"
fi

# ---------------------------------------------------------------- connect
if has_row connect; then
    def_row connect "connect + key auth + stat, ${CONNECTS} in a row" conn/s higher 2 "one sftp process per login"
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            t0=$(now)
            for i in $(seq 1 "$CONNECTS"); do
                echo "cd /up" | sftp_to "$s" >/dev/null
            done
            t1=$(now)
            record connect "$s" "$(calc "$CONNECTS / $(elapsed "$t0" "$t1")" 1)"
        done
    done
    finish_row connect
fi

# ---------------------------------------------------------------- memory
# Sessions from the hold_sessions example: key login, sftp subsystem, INIT/VERSION, idle.
hold() { # server count -> sets HELD; leaves HOLD_PID running
    local s=$1 n=$2 out=$W/client/hold.out
    : >"$out"
    "$HOLD_BIN" "${PORT[$s]}" "$n" "${USERNAME[$s]}" "$KEY" "${ADDR[$s]}" 16 >"$out" 2>"$W/client/hold.err" &
    HOLD_PID=$!
    PIDS+=("$HOLD_PID")
    local i
    for i in $(seq 1 1200); do
        grep -q '^held' "$out" && break
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.5
    done
    grep -q '^held' "$out" || { cat "$W/client/hold.err" >&2; die "hold_sessions did not finish"; }
    log "$s: $(cat "$out") $(cat "$W/client/hold.err")"
    HELD=$(awk '{ print $2 }' "$out")
}
if has_row memory; then
    def_row mem:rss "RSS per idle SFTP session (${IDLE_SESSIONS} open)" KiB lower 0.0667 \
        "OpenSSH: sum of its per-session processes; sftpbox: growth of its process"
    def_row mem:pss "PSS per idle SFTP session (${IDLE_SESSIONS} open)" KiB lower 0.0667 "shared pages split between processes"
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            if [[ $s == box ]]; then
                restart_box
                PID_OF[box]=$BOX_PID
                # one session first so one-off start-up allocations are in the baseline
                hold box 1
                stop_pid "$HOLD_PID"
                sleep 0.5
                r0=$(rss_kib "$BOX_PID")
                p0=$(pss_kib "$BOX_PID")
            else
                r0=$(children_sum rss "$SSH_PID")
                p0=$(children_sum pss "$SSH_PID")
            fi
            hold "$s" "$IDLE_SESSIONS"
            n=$HELD
            sleep 1
            if [[ $s == box ]]; then
                r1=$(rss_kib "$BOX_PID")
                p1=$(pss_kib "$BOX_PID")
            else
                r1=$(children_sum rss "$SSH_PID")
                p1=$(children_sum pss "$SSH_PID")
                log "ssh: $(tree_pids "$SSH_PID" | tail -n +2 | wc -l) per-session processes for $n sessions"
            fi
            stop_pid "$HOLD_PID"
            ((n > 0)) || die "$s: no session held"
            record mem:rss "$s" "$(calc "($r1 - $r0) / $n" 0)"
            record mem:pss "$s" "$(calc "($p1 - $p0) / $n" 0)"
            sleep 1
        done
    done
    finish_row mem:rss
    finish_row mem:pss
fi

# ---------------------------------------------------------------- 100 ms RTT
if has_row rtt; then
    RTT_HOW=""
    mode=$RTT_MODE
    if [[ $mode == auto || $mode == netem ]]; then
        NS_S=sbsrv$$
        NS_C=sbcli$$
        if ip netns add "$NS_S" 2>/dev/null; then
            NETNS_MADE+=("$NS_S")
            ip netns add "$NS_C"
            NETNS_MADE+=("$NS_C")
            ip link add "sbs$$" type veth peer name "sbc$$"
            ip link set "sbs$$" netns "$NS_S"
            ip link set "sbc$$" netns "$NS_C"
            ip -n "$NS_S" addr add 10.231.7.1/24 dev "sbs$$"
            ip -n "$NS_C" addr add 10.231.7.2/24 dev "sbc$$"
            for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
            ip -n "$NS_S" link set "sbs$$" up
            ip -n "$NS_C" link set "sbc$$" up
            if ip netns exec "$NS_S" tc qdisc add dev "sbs$$" root netem delay 50ms limit 1000000 2>/dev/null &&
                ip netns exec "$NS_C" tc qdisc add dev "sbc$$" root netem delay 50ms limit 1000000 2>/dev/null; then
                mode=netem
                RTT_HOW="two netns joined by a veth pair, tc netem delay 50ms on each side"
            else
                [[ $mode == netem ]] && die "tc netem is not available in this kernel"
                mode=proxy
            fi
        else
            [[ $mode == netem ]] && die "cannot make network namespaces"
            mode=proxy
        fi
    fi
    declare -A RTT_PID=()
    if [[ $mode == netem ]]; then
        # fresh server instances inside the server namespace, same deployment and chroot
        start_box "$NS_S" "10.231.7.1:$BOX_PORT"
        RTT_PID[box]=$STARTED
        if ((HAVE_SSH)); then
            start_sshd "$SSH_PORT" 10.231.7.1 "$NS_S"
            RTT_PID[ssh]=$STARTED
        fi
        for s in "${SERVERS[@]}"; do
            ADDR[$s]=10.231.7.1
            wait_port 10.231.7.1 "${PORT[$s]}" "$NS_S" || die "$s did not start in $NS_S"
        done
        CLIENT_NS=$NS_C
        ip netns exec "$NS_C" ping -c 3 -q 10.231.7.1 | tail -1 >&2 || true
    else
        RTT_HOW="no netem in this kernel: a userspace delay line (examples/delay_proxy.rs) adds 50 ms each way on loopback; the SSH windows still decide the rate"
        for ns in "${NETNS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
        NETNS_MADE=()
        for s in "${SERVERS[@]}"; do
            pp=$(free_port)
            "$PROXY_BIN" "$pp" "${PORT[$s]}" 50 &
            RTT_PID[$s]=$!
            PIDS+=("${RTT_PID[$s]}")
            wait_port 127.0.0.1 "$pp" || die "delay_proxy did not start"
            PORT[$s]=$pp
        done
    fi
    log "100 ms RTT via: $RTT_HOW"
    def_row rtt:put "put ${RTT_MB} MiB at 100 ms RTT, aes128-gcm" MiB/s higher 5 "$RTT_HOW"
    def_row rtt:get "get ${RTT_MB} MiB at 100 ms RTT, aes128-gcm" MiB/s higher 0 "download rate is set by the client's window"
    head -c "$((RTT_MB << 20))" /dev/urandom >"$W/client/rtt.bin"
    RTT_SHA=$(sha "$W/client/rtt.bin")
    for run in $(seq 1 "$RUNS"); do
        for s in $(order "$run"); do
            t0=$(now)
            echo "put $W/client/rtt.bin /up/rtt.bin" | sftp_to "$s" -c aes128-gcm@openssh.com >/dev/null
            t1=$(now)
            [[ $(sha "${HOME_DIR[$s]}/up/rtt.bin") == "$RTT_SHA" ]] || die "$s rtt put: sha256 mismatch"
            record rtt:put "$s" "$(mib_s "$RTT_MB" "$(elapsed "$t0" "$t1")")"
            rm -f "$W/client/rtt_got.bin"
            t0=$(now)
            echo "get /up/rtt.bin $W/client/rtt_got.bin" | sftp_to "$s" -c aes128-gcm@openssh.com >/dev/null
            t1=$(now)
            [[ $(sha "$W/client/rtt_got.bin") == "$RTT_SHA" ]] || die "$s rtt get: sha256 mismatch"
            record rtt:get "$s" "$(mib_s "$RTT_MB" "$(elapsed "$t0" "$t1")")"
            rm -f "$W/client/rtt_got.bin" "${HOME_DIR[$s]}/up/rtt.bin"
        done
    done
    finish_row rtt:put
    finish_row rtt:get
    for s in "${SERVERS[@]}"; do stop_pid "${RTT_PID[$s]}"; done
    CLIENT_NS=""
    ADDR=([box]=127.0.0.1 [ssh]=127.0.0.1)
    PORT=([box]=$BOX_PORT [ssh]=${SSH_PORT:-0})
    for ns in "${NETNS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    NETNS_MADE=()
    rm -f "$W/client/rtt.bin"
fi

# ---------------------------------------------------------------- hold
if has_row hold; then
    def_row hold "idle SFTP sessions held by one server (asked ${HOLD_SESSIONS})" sessions higher 0 \
        "sftpbox only (OpenSSH runs 3 processes per session, see the memory row); open files limit $(ulimit -n)"
    def_row hold:rss "RSS growth holding them" MiB lower 0 "sftpbox process"
    restart_box
    PID_OF[box]=$BOX_PID
    r0=$(rss_kib "$BOX_PID")
    hold box "$HOLD_SESSIONS"
    n=$HELD
    sleep 2
    r1=$(rss_kib "$BOX_PID")
    FIG[hold:box]=$n
    FIG[hold:rss:box]=$(calc "($r1 - $r0) / 1024" 0)
    log "sftpbox held $n sessions, RSS $r0 -> $r1 KiB, $(ls "/proc/$BOX_PID/fd" | wc -l) fds"
    stop_pid "$HOLD_PID"
    FIG[hold:ssh]="not run"
    FIG[hold:rss:ssh]="not run"
fi

# ---------------------------------------------------------------- table
echo
echo "sftpbox vs OpenSSH ($($SSHD -V 2>&1 | head -1 || true)), $(date -u '+%Y-%m-%d %H:%M UTC'), RUNS=$RUNS SIZE_MB=$SIZE_MB, $(nproc) CPUs, $LOAD_NOTE, ended at load $(load1)"
echo
printf '| %s | %s | %s | %s | %s | %s |\n' row sftpbox OpenSSH "sftpbox / OpenSSH" target met
printf '|---|---:|---:|---:|---|---|\n'
for k in "${ROW_ORDER[@]}"; do
    b=${FIG[$k:box]:-NA}
    if ((HAVE_SSH)); then o=${FIG[$k:ssh]:-NA}; else o="not run: $SSH_WHY"; fi
    ratio="—"
    met="—"
    if [[ $b =~ ^[0-9.]+$ && $o =~ ^[0-9.]+$ ]] && awk -v o="$o" 'BEGIN { exit !(o > 0) }'; then
        ratio=$(calc "$b / $o" 2)
        t=${ROW_TARGET[$k]}
        if awk -v t="$t" 'BEGIN { exit !(t > 0) }'; then
            if [[ ${ROW_BETTER[$k]} == higher ]]; then
                awk -v r="$ratio" -v t="$t" 'BEGIN { exit !(r >= t) }' && met=yes || met=no
                t="≥ $t"
            else
                awk -v r="$b" -v o="$o" -v t="$t" 'BEGIN { exit !(r <= o * t + 1e-9) }' && met=yes || met=no
                [[ $t == 0.0667 ]] && t="≤ 1/15" || t="≤ $t"
            fi
        else
            t="—"
        fi
    else
        t="—"
        if [[ $k == hold ]]; then
            t="≥ $HOLD_SESSIONS"
            [[ $b =~ ^[0-9]+$ ]] && ((b >= HOLD_SESSIONS)) && met=yes || met=no
        fi
    fi
    printf '| %s (%s, %s is better) | %s | %s | %s | %s | %s |\n' "${ROW_LABEL[$k]}" "${ROW_UNIT[$k]}" \
        "${ROW_BETTER[$k]}" "$b" "$o" "$ratio" "$t" "$met"
done
echo
for k in "${ROW_ORDER[@]}"; do
    [[ -n ${ROW_NOTE[$k]} ]] && echo "- ${ROW_LABEL[$k]}: ${ROW_NOTE[$k]}"
done
echo "- runs (sftpbox | OpenSSH):"
for k in "${ROW_ORDER[@]}"; do
    [[ -n ${RUNS_OF[$k:box]:-} ]] && echo "  - ${ROW_LABEL[$k]}:${RUNS_OF[$k:box]} |${RUNS_OF[$k:ssh]:-}"
done
exit 0
