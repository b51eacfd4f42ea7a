# Shared by the side-by-side benchmarks (compare.sh, rsync.sh, cluster.sh), sourced
# after their settings: logging, figures, ports, and the private sshd's
# throwaway user and the common part of its configuration.
# shellcheck shell=bash

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "NA"; exit } if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# A free loopback port, never 22 nor 2024.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        [[ $p == 22 || $p == 2024 ]] && continue
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# Waits up to 10 s for something to listen on host:port (in netns, if given).
wait_port() { # host port [netns]
    local i
    for i in $(seq 1 100); do
        if ${3:+ip netns exec "$3"} bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# The throwaway user NAME (home HOME, shell SHELL) that logs in to the
# private sshd with $KEY only, the sshd's host key in $W/ssh, and
# $W/ssh/sshd_config with what every bench needs (the caller appends its
# own lines). Sets SSH_USER, USER_MADE (for the clean-up), SSH_PORT and,
# when it makes /run/sshd, RUN_SSHD_MADE.
ssh_user_and_config() { # name home shell
    SSH_USER=$1
    useradd -r -M -d "$2" -s "$3" "$SSH_USER"
    USER_MADE=$SSH_USER
    usermod -p '*' "$SSH_USER" # not locked ("!"), no password either: key only
    cp "$KEY.pub" "$W/ssh/authorized/$SSH_USER"
    chmod 644 "$W/ssh/authorized/$SSH_USER"
    ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/host_ed25519"
    [[ -d /run/sshd ]] || { mkdir -p /run/sshd && chmod 755 /run/sshd && RUN_SSHD_MADE=1; }
    SSH_PORT=$(free_port)
    cat >"$W/ssh/sshd_config" <<CONFIG
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $W/ssh/authorized/%u
AllowUsers $SSH_USER
CONFIG
}

# The last of a clean-up (with set +e): /run/sshd if this run made it, and
# the temp folder $W unless KEEP=1.
remove_made() {
    [[ $RUN_SSHD_MADE == 1 ]] && rmdir /run/sshd 2>/dev/null
    if [[ -n $W && -d $W ]]; then
        if [[ $KEEP == 1 ]]; then log "kept $W"; else rm -rf "$W"; fi
    fi
}

# The 1-minute load; wait_for_quiet waits (up to $LOAD_WAIT s) until it is
# below $MAX_LOAD and says in LOAD_NOTE what it started at.
load1() { cut -d' ' -f1 /proc/loadavg; }
wait_for_quiet() {
    local waited=0
    while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l >= m) }'; do
        if ((waited >= LOAD_WAIT)); then
            log "load $(load1) still >= $MAX_LOAD after ${waited}s; running anyway"
            LOAD_NOTE="started at load $(load1) (>= $MAX_LOAD)"
            return
        fi
        log "load $(load1) >= $MAX_LOAD (others are busy); waiting"
        sleep 20
        waited=$((waited + 20))
    done
    LOAD_NOTE="started at load $(load1)"
}

# Every pid of the tree under $1, itself first.
tree_pids() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END {
            n = 1; q[1] = root; i = 1
            while (i <= n) { p = q[i++]; print p; m = split(kids[p], k, " "); for (j = 1; j <= m; j++) q[++n] = k[j] }
        }'
}

# CPU ticks of the tree under $1: utime+stime+cutime+cstime of every live
# process (a reaped child's time is in its parent's c-times).
tree_ticks() {
    local total=0 p stat rest
    for p in $(tree_pids "$1"); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$total"
}
