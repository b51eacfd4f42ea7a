#!/usr/bin/env bash
# Side-by-side benchmark of rsync: sftpbox (rsync --server in its sandbox,
# `commands = ["rsync"]`) against OpenSSH's sshd (rsync --server run by the
# user's shell, unconfined: what OpenSSH offers without a hand-built chroot),
# the same rsync client and ssh options for both, in the same run.
#
#   sudo benches/rsync.sh                   # 1 GiB file and 10 000 files, push and pull, 3 runs
#   SIZE_MB=256 RUNS=5 benches/rsync.sh
#
# Needs root (a private sshd and a throwaway user), rsync, OpenSSH's ssh and
# ssh-keygen, and /usr/sbin/sshd (apt-get install -y openssh-server rsync;
# the system service is never started). Rows: push and pull of one SIZE_MB
# file, push and pull of FILES small files (in 100 folders), and a second
# push of the same tree (nothing to send: the cost of comparing). Every
# transfer starts from an empty destination and is checked with sha256; runs
# alternate which server goes first and each figure is the median of RUNS.
# Everything it makes is removed on exit.
#
# Settings (environment):
#   SIZE_MB      size of the big file (1024)
#   FILES        files in the tree (10000), FILE_KB KiB each at most (8)
#   RUNS         runs per row and server (3)
#   CIPHER       the cipher both use (aes128-gcm@openssh.com)
#   BENCH_PARENT where the temp folder goes (/var/lib; not tmpfs)
#   KEEP=1       keep the temp folder
#   BUILD=0      use the binary as it is (BOX_BIN, default target/release/sftpbox)
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-10000}
FILE_KB=${FILE_KB:-8}
RUNS=${RUNS:-3}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
BENCH_PARENT=${BENCH_PARENT:-/var/lib}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BOX_BIN=${BOX_BIN:-$REPO/target/release/sftpbox}
SSHD=/usr/sbin/sshd

# shellcheck source=benches/lib.sh
source "$REPO/benches/lib.sh"

[[ $(id -u) == 0 ]] || die "run as root (private sshd, throwaway user)"
for tool in rsync ssh ssh-keygen sha256sum ss; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -x $SSHD ]] || die "no $SSHD (apt-get install -y openssh-server)"

PIDS=()
USER_MADE=""
RUN_SSHD_MADE=0
W=""
cleanup() {
    local rc=$? pid
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if [[ -n $USER_MADE ]]; then
        left=$(pgrep -u "$USER_MADE" || true)
        for pid in $left; do kill "$pid" 2>/dev/null; done
        sleep 0.5
        userdel "$USER_MADE" 2>/dev/null
    fi
    remove_made
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $BUILD == 1 ]]; then
    log "building sftpbox (cargo build --release)"
    (cd "$REPO" && cargo build --release --quiet --bin sftpbox)
fi

W=$(mktemp -d "$BENCH_PARENT/sftpbox-rsync.XXXXXX")
chmod 755 "$W"
[[ $(stat -f -c %T "$W") != tmpfs ]] || die "$W is on tmpfs; set BENCH_PARENT"
mkdir -p "$W/client/tree" "$W/box/homes" "$W/ssh/authorized" "$W/sshhome"
KEY=$W/client/id_ed25519
ssh-keygen -q -t ed25519 -N '' -C bench -f "$KEY"

log "making the data: one ${SIZE_MB} MiB file, $FILES files"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$W/client/big.bin"
BIG_SHA=$(sha256sum "$W/client/big.bin" | cut -d' ' -f1)
for ((i = 0; i < FILES; i++)); do
    d=$W/client/tree/d$((i % 100))
    [[ -d $d ]] || mkdir "$d"
    head -c "$(((RANDOM % FILE_KB + 1) * 1024 - RANDOM % 1000))" /dev/urandom >"$d/f$i"
done
tree_sha() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1; }
TREE_SHA=$(tree_sha "$W/client/tree")

# sftpbox
BOX_PORT=$(free_port)
cat >"$W/box/accounts.toml" <<EOF
[users.bench]
keys = ["$(cat "$KEY.pub")"]
commands = ["rsync"]
EOF
cat >"$W/box/sftpbox.toml" <<EOF
listen = "127.0.0.1:$BOX_PORT"
[limits]
command_timeout_seconds = 3600
EOF
(cd "$W/box" && exec "$BOX_BIN" serve --config "$W/box/sftpbox.toml") </dev/null >>"$W/box/serve.log" 2>&1 &
PIDS+=($!)
wait_port 127.0.0.1 "$BOX_PORT" || { tail "$W/box/serve.log" >&2; die "sftpbox did not start"; }

# OpenSSH: a throwaway user whose shell runs rsync --server
ssh_user_and_config "srb$$" "$W/sshhome" /bin/sh
chown "$SSH_USER:" "$W/sshhome"
echo "LogLevel ERROR" >>"$W/ssh/sshd_config"
"$SSHD" -D -f "$W/ssh/sshd_config" -p "$SSH_PORT" -h "$W/ssh/host_ed25519" -o PidFile=none \
    -o ListenAddress=127.0.0.1 -E "$W/ssh/sshd.log" </dev/null >>"$W/ssh/sshd.log" 2>&1 &
PIDS+=($!)
wait_port 127.0.0.1 "$SSH_PORT" || { tail "$W/ssh/sshd.log" >&2; die "sshd did not start"; }
log "sftpbox on :$BOX_PORT, sshd on :$SSH_PORT ($($SSHD -V 2>&1 | head -1 || true)), $(rsync --version | head -1)"

declare -A PORT=([box]=$BOX_PORT [ssh]=$SSH_PORT)
declare -A USERNAME=([box]=bench [ssh]=$SSH_USER)
declare -A HOME_DIR=([box]=$W/box/homes/bench [ssh]=$W/sshhome)
RSH="ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i $KEY -o LogLevel=ERROR -c $CIPHER"
rsync_to() { # server args... (remote paths as :PATH)
    local s=$1
    shift
    local args=() a
    for a in "$@"; do
        [[ $a == :* ]] && a="${USERNAME[$s]}@127.0.0.1$a"
        args+=("$a")
    done
    rsync -e "$RSH -p ${PORT[$s]}" "${args[@]}"
}
# Empties the destinations of server $1 (as root on the host: not timed).
clear_remote() { [[ ! -d ${HOME_DIR[$1]} ]] || find "${HOME_DIR[$1]}" -mindepth 1 -delete; }

# One timed run: seconds of "$@".
timed() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" >/dev/null
    t1=$EPOCHREALTIME
    calc "$t1 - $t0" 3
}

declare -A TIMES
record() { TIMES[$1:$2]="${TIMES[$1:$2]:-} $3"; }

ROWS=(big-push big-pull tree-push tree-pull tree-again)
for ((run = 1; run <= RUNS; run++)); do
    if ((run % 2)); then order=(box ssh); else order=(ssh box); fi
    for s in "${order[@]}"; do
        log "run $run/$RUNS: $s"
        clear_remote "$s"
        record big-push "$s" "$(timed rsync_to "$s" -a "$W/client/big.bin" :big.bin)"
        [[ $(sha256sum "${HOME_DIR[$s]}/big.bin" | cut -d' ' -f1) == "$BIG_SHA" ]] || die "$s: big push differs"
        rm -f "$W/client/pulled.bin"
        record big-pull "$s" "$(timed rsync_to "$s" -a :big.bin "$W/client/pulled.bin")"
        [[ $(sha256sum "$W/client/pulled.bin" | cut -d' ' -f1) == "$BIG_SHA" ]] || die "$s: big pull differs"
        rm -f "$W/client/pulled.bin"
        record tree-push "$s" "$(timed rsync_to "$s" -a "$W/client/tree/" :tree/)"
        [[ $(tree_sha "${HOME_DIR[$s]}/tree") == "$TREE_SHA" ]] || die "$s: tree push differs"
        rm -rf "$W/client/pulled"
        record tree-pull "$s" "$(timed rsync_to "$s" -a :tree/ "$W/client/pulled/")"
        [[ $(tree_sha "$W/client/pulled") == "$TREE_SHA" ]] || die "$s: tree pull differs"
        rm -rf "$W/client/pulled"
        record tree-again "$s" "$(timed rsync_to "$s" -a "$W/client/tree/" :tree/)"
        clear_remote "$s"
    done
done

printf '\nrsync %s, %d runs each (median seconds; ratio = sftpbox / sshd, lower is better for sftpbox)\n' \
    "$(rsync --version | head -1 | awk '{ print $3 }')" "$RUNS"
printf '%-34s %10s %10s %8s\n' row sftpbox sshd ratio
label() {
    case $1 in
    big-push) echo "push 1 file of $SIZE_MB MiB" ;;
    big-pull) echo "pull 1 file of $SIZE_MB MiB" ;;
    tree-push) echo "push $FILES files" ;;
    tree-pull) echo "pull $FILES files" ;;
    tree-again) echo "push $FILES files, unchanged" ;;
    esac
}
for row in "${ROWS[@]}"; do
    b=$(echo "${TIMES[$row:box]}" | median)
    o=$(echo "${TIMES[$row:ssh]}" | median)
    printf '%-34s %10s %10s %8s\n' "$(label "$row")" "$b" "$o" "$(calc "$b / $o")"
done
for row in big-push big-pull; do
    b=$(echo "${TIMES[$row:box]}" | median)
    o=$(echo "${TIMES[$row:ssh]}" | median)
    printf '%-34s %10s %10s\n' "$(label "$row") (MiB/s)" "$(calc "$SIZE_MB / $b" 1)" "$(calc "$SIZE_MB / $o" 1)"
done
