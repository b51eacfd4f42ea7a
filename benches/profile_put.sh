#!/usr/bin/env bash
# Where the server's CPU goes during one big upload: starts sftpbox in a
# temp folder (on disk), puts SIZE_MB of random data once to warm up, then
# records the server with perf (DWARF call graphs) during a second put and
# prints the hottest leaf functions and the sftpbox/russh frames above them.
#
#   benches/profile_put.sh                       # 1 GiB, aes128-gcm
#   SIZE_MB=256 CIPHER=chacha20-poly1305@openssh.com benches/profile_put.sh
#
# Needs perf, OpenSSH's sftp and ssh-keygen, python3, and a release build
# (BUILD=0 uses target/release as it is). KEEP=1 keeps the folder.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
BENCH_PARENT=${BENCH_PARENT:-/var/lib}
KEEP=${KEEP:-0}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BOX_BIN=$REPO/target/release/sftpbox
# shellcheck source=benches/lib.sh
source "$REPO/benches/lib.sh"
for tool in perf sftp ssh-keygen python3; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
if [[ ${BUILD:-1} == 1 ]]; then
    (cd "$REPO" && cargo build --release --quiet --bin sftpbox)
fi

W=$(mktemp -d "$BENCH_PARENT/sftpbox-profile.XXXXXX")
BOX_PID=""
RUN_SSHD_MADE=0
cleanup() {
    set +e
    [[ -n $BOX_PID ]] && { kill "$BOX_PID"; wait "$BOX_PID"; } 2>/dev/null
    remove_made
}
trap cleanup EXIT
[[ $(stat -f -c %T "$W") != tmpfs ]] || die "$W is on tmpfs; set BENCH_PARENT"
mkdir -p "$W/box/homes/bench" "$W/box/keys"
ssh-keygen -q -t ed25519 -N '' -f "$W/id"
PORT=$(free_port)
printf '[users.bench]\nkeys = ["%s"]\n' "$(cat "$W/id.pub")" >"$W/box/accounts.toml"
printf 'listen = "127.0.0.1:%s"\n' "$PORT" >"$W/box/sftpbox.toml"
(cd "$W/box" && exec "$BOX_BIN" serve --config sftpbox.toml) </dev/null >"$W/serve.log" 2>&1 &
BOX_PID=$!
wait_port 127.0.0.1 "$PORT" || die "sftpbox did not start"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$W/big.bin"
put() {
    echo "put $W/big.bin /big.bin" | sftp -F /dev/null -q -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o "IdentityFile=$W/id" -o LogLevel=ERROR \
        -c "$CIPHER" -P "$PORT" -b - "bench@127.0.0.1" >/dev/null
}
log "warm-up put of $SIZE_MB MiB"
put
perf record -q -F 499 --call-graph dwarf,32768 -p "$BOX_PID" -o "$W/perf.data" -- sleep 3600 2>/dev/null &
PERF_PID=$!
sleep 0.5
t0=$EPOCHREALTIME
put
t1=$EPOCHREALTIME
kill -INT "$PERF_PID"
wait "$PERF_PID" || true
log "profiled put: $(calc "$SIZE_MB / ($t1 - $t0)" 1) MiB/s"
perf script -i "$W/perf.data" -F comm,tid,ip,sym 2>/dev/null >"$W/stacks.txt"
python3 - "$W/stacks.txt" <<'PY'
import collections, sys
leaves, callers, total = collections.Counter(), collections.Counter(), 0
for block in open(sys.argv[1]).read().split("\n\n"):
    lines = [l.strip() for l in block.strip().split("\n") if l.strip()]
    if len(lines) < 2:
        continue
    total += 1
    frames = [" ".join(l.split()[1:]) for l in lines[1:]]
    leaves[frames[0][:70]] += 1
    ours = [f for f in frames[1:] if ("sftpbox" in f or "russh::" in f) and "alloc" not in f][:3]
    callers[(frames[0][:30], " <- ".join(f[:90] for f in ours))] += 1
print(f"{total} samples\n\nleaf functions:")
for name, n in leaves.most_common(15):
    print(f"{100 * n / total:5.1f}%  {name}")
print("\nleaf and the sftpbox/russh frames above it:")
for (leaf, ours), n in callers.most_common(15):
    print(f"{100 * n / total:5.1f}%  {leaf}  <-  {ours}")
PY
