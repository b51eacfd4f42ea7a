#!/usr/bin/env bash
# What the program's view costs: a build's sandbox against another's (by
# default this checkout's release binary against main's).
#
#   benches/view.sh                                   # 5 runs of each row
#   OLD=/work/main/target/release/sftpbox NEW=target/release/sftpbox RUNS=7 benches/view.sh
#
# Needs root (the sandbox does), OpenSSH's ssh and ssh-keygen, tar. Each
# binary serves a deployment of its own in a folder on disk (BENCH_PARENT,
# default /var/tmp; not tmpfs) with one account that may run sh, true and
# tar, no quota. One ssh connection per server is shared by every run
# (ControlMaster), so the rows time the command, not the login. Rows, each
# the median of RUNS runs, old and new alternating:
#   true    `ssh host true`: starting a sandboxed /usr/bin/true
#   stdin   `ssh host sh -c 'cat > f'` fed 1 GiB (SIZE_MB) of zeros
#   local   `ssh host sh -c 'head -c 1GiB /dev/zero | cat > f'`: the same
#           write without the SSH channel in the way
#   tar     `ssh host tar -xf a.tar -C x`: 2000 (FILES) files of 4 KiB
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OLD=${OLD:-/work/main/target/release/sftpbox}
NEW=${NEW:-$REPO/target/release/sftpbox}
RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-2000}
BENCH_PARENT=${BENCH_PARENT:-/var/tmp}

WORK=$(mktemp -d "$BENCH_PARENT/sftpbox-view.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for side in old new; do
        ssh -o ControlPath="$WORK/$side.ctl" -O exit x 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
mkdir -p "$WORK/tree"
for i in $(seq 1 "$FILES"); do
    head -c 4096 /dev/urandom > "$WORK/tree/f$i"
done
tar -cf "$WORK/a.tar" -C "$WORK" tree

# deploy SIDE BINARY PORT: a deployment folder, a server, a shared connection.
deploy() {
    local side=$1 binary=$2 port=$3 dir=$WORK/$1
    mkdir -p "$dir/homes"
    cat > "$dir/sftpbox.toml" <<EOF
listen = "127.0.0.1:$port"
[limits]
command_timeout_seconds = 600
EOF
    cat > "$dir/accounts.toml" <<EOF
[users.bench]
keys = ["$(cat "$WORK/key.pub")"]
commands = ["sh", "true", "tar"]
EOF
    "$binary" serve --config "$dir/sftpbox.toml" 2> "$dir/log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        grep -q "listening" "$dir/log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "listening" "$dir/log" || { cat "$dir/log" >&2; exit 1; }
    ssh -fN -o ControlMaster=yes -o ControlPath="$WORK/$side.ctl" -o ControlPersist=600 \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o BatchMode=yes -i "$WORK/key" -p "$port" bench@127.0.0.1
    remote "$side" true
    cat "$WORK/a.tar" | remote "$side" sh -c "'cat > a.tar'"
}

remote() {
    local side=$1
    shift
    ssh -o ControlPath="$WORK/$side.ctl" -o BatchMode=yes x "$@"
}

# seconds COMMAND...: the wall time of COMMAND, in seconds.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

median() {
    sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

row_true() { seconds remote "$1" true; }
row_stdin() {
    seconds sh -c "head -c $((SIZE_MB << 20)) /dev/zero | ssh -o ControlPath='$WORK/$1.ctl' x sh -c \"'cat > f'\""
    remote "$1" sh -c "'rm -f f'"
}
row_local() {
    seconds remote "$1" sh -c "'head -c $((SIZE_MB << 20)) /dev/zero | cat > f'"
    remote "$1" sh -c "'rm -f f'"
}
row_tar() {
    seconds remote "$1" sh -c "'mkdir x && tar -xf a.tar -C x'"
    remote "$1" sh -c "'rm -rf x'"
}

deploy old "$OLD" 22911
deploy new "$NEW" 22912

printf '%-8s %12s %12s %8s\n' row old new new/old
for row in true stdin local tar; do
    : > "$WORK/old.$row"
    : > "$WORK/new.$row"
    for run in $(seq 1 "$RUNS"); do
        if (( run % 2 )); then order="old new"; else order="new old"; fi
        for side in $order; do
            "row_$row" "$side" | tail -n 1 >> "$WORK/$side.$row"
        done
    done
    old=$(median < "$WORK/old.$row")
    new=$(median < "$WORK/new.$row")
    case $row in
        stdin | local)
            printf '%-8s %9.0f MB/s %9.0f MB/s %8.2f\n' "$row" \
                "$(echo "$SIZE_MB * 1.048576 / $old" | bc -l)" \
                "$(echo "$SIZE_MB * 1.048576 / $new" | bc -l)" \
                "$(echo "$old / $new" | bc -l)"
            ;;
        *)
            printf '%-8s %10.1f ms %10.1f ms %8.2f\n' "$row" \
                "$(echo "$old * 1000" | bc -l)" "$(echo "$new * 1000" | bc -l)" \
                "$(echo "$new / $old" | bc -l)"
            ;;
    esac
done
