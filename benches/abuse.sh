#!/usr/bin/env bash
# Resource and abuse attacks at full scale, against the release build, with
# the figures the issue tracks: what one account or one source does to
# everyone else. The attacks live in tests/resources.rs and tests/abuse.rs
# (the `full_scale_*` tests, ignored in CI, and the CI memory tests, which
# already run at full scale); this script runs them one at a time and prints
# their `figure:` lines.
#
#   benches/abuse.sh                       # every row
#   ROWS=pool,wedge benches/abuse.sh
#
# Rows:
#   pool      1 TiB sparse file, 600 check-file-handle sha256 at once: the
#             other account's listing, busy threads 30 s after the attacker
#             left, whether SIGTERM ends the process
#   wedge     64 wedged connections from one address (32 per account) at
#             default limits, idle timeout ABUSE_IDLE: who can log in, at
#             once and 30 s past the idle timeout
#   fds       one account opening handles on up to 32 connections x 10
#             channels, at the machine's open-files limit
#   memory    150 directory handles on 20 000 files; 100 parallel failed
#             password logins (resident memory before and after)
#   glob      a 64 KiB line of non-matching globs over 1000 files
#   guessing  wrong passwords one address gets through in ~6 s, then the
#             right one
#   startup   how long a banner-only and a trickling connection are held
#             (login grace 30 s, idle timeout ABUSE_IDLE)
#
# The pool row runs last: it leaves the load average in the hundreds for
# minutes.
#
# Settings (environment):
#   ROWS               comma list (default all)
#   ABUSE_IDLE         idle timeout for the wedge row, seconds (60)
#   ABUSE_VICTIM_WAIT  how long the pool row's victim waits, seconds (120)
#   MAX_LOAD           wait until the 1-minute load is below this (2 x cores)
#   LOAD_WAIT          seconds to wait for that at most (120), then run anyway
#
# Every server it starts is a child of a test and is killed when the test
# ends; an interrupted run kills the test process group.
set -euo pipefail

ROWS=${ROWS:-wedge,fds,memory,glob,guessing,startup,pool}
MAX_LOAD=${MAX_LOAD:-$(($(nproc) * 2))}
LOAD_WAIT=${LOAD_WAIT:-120}
export ABUSE_IDLE=${ABUSE_IDLE:-60}
export ABUSE_VICTIM_WAIT=${ABUSE_VICTIM_WAIT:-120}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
has_row() { [[ ",$ROWS," == *",$1,"* ]]; }

RAW=$(mktemp -t sftpbox-abuse.XXXXXX)
RUNNING=""
cleanup() {
    local rc=$?
    if [[ -n $RUNNING ]] && kill -0 "$RUNNING" 2>/dev/null; then
        kill -- -"$RUNNING" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load1() { cut -d' ' -f1 /proc/loadavg; }
wait_for_quiet() {
    local waited=0
    while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }'; do
        if ((waited >= LOAD_WAIT)); then
            log "load $(load1) still >= $MAX_LOAD after ${waited}s; running anyway"
            return
        fi
        log "load $(load1) >= $MAX_LOAD; waiting"
        sleep 15
        waited=$((waited + 15))
    done
}

log "building the release tests"
cargo test --release --test resources --test abuse --no-run >/dev/null 2>&1 ||
    cargo test --release --test resources --test abuse --no-run

# run TEST_FILE TEST_NAME [--ignored]: one test alone, its output appended to $RAW.
run() {
    local file=$1 name=$2 ignored=${3:-}
    wait_for_quiet
    log "$file::$name (load $(load1))"
    printf '=== %s::%s\n' "$file" "$name" >>"$RAW"
    set -m
    cargo test --release --test "$file" -- --exact "$name" $ignored \
        --nocapture --test-threads=1 >>"$RAW" 2>&1 &
    RUNNING=$!
    set +m
    wait "$RUNNING" || true
    RUNNING=""
}

has_row wedge && run resources full_scale_wedged_connections --ignored
has_row fds && run resources full_scale_descriptor_exhaustion --ignored
if has_row memory; then
    run resources directory_handles_on_a_big_folder_cost_bounded_memory
    run resources parallel_failed_password_logins_leave_the_server_small
fi
has_row glob && run resources full_scale_glob_line --ignored
has_row guessing && run abuse full_scale_password_guessing_from_one_address --ignored
has_row startup && run abuse full_scale_unauthenticated_connections_held --ignored
has_row pool && run resources full_scale_blocking_pool_starvation --ignored

printf '\nsftpbox abuse figures (%s, %s cores, commit %s)\n' \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
sed -n 's/.*figure: //p' "$RAW" | awk -F' = ' '{ printf "  %-58s %s\n", $1, $2 }'
log "raw output: $RAW"
