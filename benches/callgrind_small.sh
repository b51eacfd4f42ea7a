#!/usr/bin/env bash
# Instruction counts of the small-file row: sftpbox under callgrind, an OpenSSH
# `sftp -b` put -r and get -r of a tree of small files, and the same session
# with no files (the login alone), so that the difference is what the files
# cost. Instruction counts repeat within a fraction of a percent on a busy
# machine, where wall-clock figures move by 2x.
#
#   benches/callgrind_small.sh                 # 2000 files of 4 KiB
#   FILES=200 KB=4 OUT=/tmp/cg benches/callgrind_small.sh
#   VALGRIND=/opt/valgrind/bin/valgrind BIN=/tmp/old-sftpbox benches/callgrind_small.sh
#
# Valgrind 3.19 (Debian 12) does not know openat2, which the box needs for
# every path: use 3.22 or later (VALGRIND=path).
#
# Needs valgrind, OpenSSH's sftp and ssh-keygen. Prints instructions per file
# for put and get (server side, all threads) and leaves the callgrind outputs
# in $OUT for callgrind_annotate.
set -euo pipefail

FILES=${FILES:-2000}
KB=${KB:-4}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$REPO/target/release/sftpbox}
OUT=${OUT:-$(mktemp -d /tmp/sftpbox-cg.XXXXXX)}
mkdir -p "$OUT"
VALGRIND=${VALGRIND:-valgrind}
for tool in "$VALGRIND" sftp ssh-keygen; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done

W=$(mktemp -d /var/lib/sftpbox-cg.XXXXXX)
SERVER=""
cleanup() {
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/box/homes/bench" "$W/client/small"
ssh-keygen -q -t ed25519 -N '' -f "$W/client/key"
port=$((20000 + RANDOM % 40000))
cat >"$W/box/accounts.toml" <<EOF
[users.bench]
keys = ["$(cat "$W/client/key.pub")"]
EOF
cat >"$W/box/sftpbox.toml" <<EOF
listen = "127.0.0.1:$port"
[limits]
login_grace_seconds = 600
idle_timeout_seconds = 3600
EOF
for i in $(seq 1 "$FILES"); do head -c "$((KB << 10))" /dev/urandom >"$W/client/small/f$i"; done

sftp_run() { # batch line
    echo "$1" | sftp -F /dev/null -q -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o "IdentityFile=$W/client/key" \
        -o LogLevel=ERROR -o ConnectTimeout=120 -P "$port" -b - bench@127.0.0.1 >/dev/null
}

# One server under callgrind per measurement: name, then the batch line.
measure() {
    local name=$1 line=$2
    (cd "$W/box" && exec "$VALGRIND" --tool=callgrind --callgrind-out-file="$OUT/$name.out" \
        "$BIN" serve --config "$W/box/sftpbox.toml") >"$OUT/$name.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 600); do
        bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break
        sleep 0.2
    done
    sftp_run "$line"
    kill -INT "$SERVER"
    wait "$SERVER" || true
    SERVER=""
    awk '/^summary:/ { print $2 }' "$OUT/$name.out"
}

login=$(measure login "pwd")
put=$(measure put "put -r $W/client/small /small")
get=$(measure get "get -r /small $W/client/got")
cmp -s <(cd "$W/client/small" && sha256sum -- *) <(cd "$W/client/got" && sha256sum -- *) ||
    { echo "get -r did not bring the tree back" >&2; exit 1; }
rm -rf "$W/box/homes/bench/small"
echo "login only: $login instructions"
echo "put -r $FILES x $KB KiB: $(((put - login) / FILES)) instructions per file"
echo "get -r $FILES x $KB KiB: $(((get - login) / FILES)) instructions per file"
echo "callgrind outputs: $OUT"
