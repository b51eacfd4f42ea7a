#!/usr/bin/env bash
# Per-account rates: the aggregate rate that 1 and 8 parallel sessions of one
# account get under one upload_rate and one download_rate, against the
# release build on loopback. The rate is per account, so 8 sessions should
# together get what 1 gets, not 8 times it.
#
#   cargo build --release && benches/rates.sh
#   RATE_MIB=4 FILE_MB=8 benches/rates.sh
#
# Rows, each upload then download, every file checked with sha256:
#   sftp x1   one OpenSSH sftp session moving FILES x FILE_MB
#   sftp x8   8 OpenSSH sftp processes at once, FILE_MB each
#   rclone    rclone copy --transfers 8 (8 files of FILE_MB)
#   free x8   8 sftp processes of an account without rates (for scale)
#
# Settings (environment):
#   RATE_MIB  upload_rate and download_rate of the rated account, MiB/s (8)
#   FILE_MB   size of each file (16)
#   FILES     files the single session moves (4)
#   KEEP=1    keep the temp folder
set -euo pipefail

RATE_MIB=${RATE_MIB:-8}
FILE_MB=${FILE_MB:-16}
FILES=${FILES:-4}
KEEP=${KEEP:-0}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/target/release/sftpbox
[[ -x $BIN ]] || { echo "build first: cargo build --release" >&2; exit 2; }
for tool in sftp ssh-keygen rclone sha256sum python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

WORK=$(mktemp -d -t sftpbox-rates.XXXXXX)
SERVER=""
cleanup() {
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    [[ $KEEP == 1 ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/homes" "$WORK/local/up" "$WORK/local/down"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client" >/dev/null
KEY=$(cat "$WORK/client.pub")
cat >"$WORK/sftpbox.toml" <<EOF
listen = "127.0.0.1:$PORT"
EOF
cat >"$WORK/accounts.toml" <<EOF
[users.rated]
keys = ["$KEY"]
upload_rate = "$RATE_MIB MiB/s"
download_rate = "$RATE_MIB MiB/s"

[users.free]
keys = ["$KEY"]
EOF
"$BIN" serve --config "$WORK/sftpbox.toml" 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 100); do
    grep -q listening "$WORK/server.log" 2>/dev/null && break
    sleep 0.1
done

for i in $(seq 0 7); do
    head -c $((FILE_MB << 20)) /dev/urandom >"$WORK/local/up/f$i"
done
(cd "$WORK/local/up" && sha256sum f* >"$WORK/sums")

SSH_OPTS=(-P "$PORT" -i "$WORK/client" -F /dev/null -o BatchMode=yes
    -o StrictHostKeyChecking=no -o UserKnownHostsFile="$WORK/known_hosts"
    -o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR)

now() { date +%s.%N; }
# rate BYTES START END -> MiB/s
rate() { python3 -c "import sys; b,s,e=map(float,sys.argv[1:]); print(f'{b/(e-s)/1048576:6.2f} MiB/s  ({b/1048576:.0f} MiB in {e-s:.2f} s)')" "$@"; }
check_home() { # USER FILE... : sha256 of the uploaded files
    local user=$1; shift
    (cd "$WORK/homes/$user" && grep -E " ($(IFS='|'; echo "$*"))\$" "$WORK/sums" | sha256sum --quiet -c -)
}
check_down() { # FILE...
    (cd "$WORK/local/down" && grep -E " ($(IFS='|'; echo "$*"))\$" "$WORK/sums" | sha256sum --quiet -c -)
}
clean() { rm -f "$WORK/homes/$1"/f* "$WORK/local/down"/f*; }

row() { printf '%-32s %s\n' "$1" "$2"; }

echo "rate per account: upload_rate = download_rate = $RATE_MIB MiB/s; files of $FILE_MB MiB"

# 1 session, FILES files one after another.
single() { # USER
    local user=$1 files=() script="" start end
    for i in $(seq 0 $((FILES - 1))); do files+=("f$i"); script+="put $WORK/local/up/f$i f$i"$'\n'; done
    start=$(now); sftp "${SSH_OPTS[@]}" -b - "$user@127.0.0.1" <<<"$script" >/dev/null; end=$(now)
    check_home "$user" "${files[@]}"
    row "$user sftp x1 upload" "$(rate $((FILES * FILE_MB << 20)) "$start" "$end")"
    script=""
    for f in "${files[@]}"; do script+="get $f $WORK/local/down/$f"$'\n'; done
    start=$(now); sftp "${SSH_OPTS[@]}" -b - "$user@127.0.0.1" <<<"$script" >/dev/null; end=$(now)
    check_down "${files[@]}"
    row "$user sftp x1 download" "$(rate $((FILES * FILE_MB << 20)) "$start" "$end")"
    clean "$user"
}

# 8 sftp processes at once, one file each.
parallel() { # USER
    local user=$1 files=() pids=() start end
    for i in $(seq 0 7); do files+=("f$i"); done
    start=$(now)
    for f in "${files[@]}"; do
        sftp "${SSH_OPTS[@]}" -b - "$user@127.0.0.1" <<<"put $WORK/local/up/$f $f" >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"; end=$(now)
    check_home "$user" "${files[@]}"
    row "$user sftp x8 upload" "$(rate $((8 * FILE_MB << 20)) "$start" "$end")"
    pids=()
    start=$(now)
    for f in "${files[@]}"; do
        sftp "${SSH_OPTS[@]}" -b - "$user@127.0.0.1" <<<"get $f $WORK/local/down/$f" >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"; end=$(now)
    check_down "${files[@]}"
    row "$user sftp x8 download" "$(rate $((8 * FILE_MB << 20)) "$start" "$end")"
    clean "$user"
}

# rclone with 8 transfers (and as many SSH connections as it likes).
with_rclone() { # USER
    local user=$1 remote start end files=()
    for i in $(seq 0 7); do files+=("f$i"); done
    remote=":sftp,host=127.0.0.1,port=$PORT,user=$user,key_file=$WORK/client:"
    start=$(now)
    rclone copy --transfers 8 --checkers 8 --config /dev/null "$WORK/local/up" "$remote" 2>>"$WORK/rclone.log"
    end=$(now)
    check_home "$user" "${files[@]}"
    row "$user rclone --transfers 8 up" "$(rate $((8 * FILE_MB << 20)) "$start" "$end")"
    start=$(now)
    rclone copy --transfers 8 --checkers 8 --config /dev/null "$remote" "$WORK/local/down" 2>>"$WORK/rclone.log"
    end=$(now)
    check_down "${files[@]}"
    row "$user rclone --transfers 8 down" "$(rate $((8 * FILE_MB << 20)) "$start" "$end")"
    clean "$user"
}

single rated
parallel rated
with_rclone rated
parallel free
