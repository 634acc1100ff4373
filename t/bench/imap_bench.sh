#!/usr/bin/env bash
#
# IMAP: logins/s, SELECT + FETCH 1:* (FLAGS ENVELOPE) and SEARCH FROM /
# SUBJECT on a 10,000-message mailbox (first and repeated), and memory
# per idle authenticated session: Tern side by side with Dovecot, on
# loopback, plain text (no TLS).  Not a test: run it by hand, as root:
#
#     t/bench/imap_bench.sh [objs/tern]
#
# Everything runs in a fresh temp dir with its own ports and its own
# Dovecot configuration; the system's Dovecot is never started or
# touched.  The load client (t/bench/imap_load.c) is built into the temp
# dir.  See t/bench/README.
#
# Environment (defaults in parentheses):
#     BENCH_MESSAGES (10000)     messages in the FETCH/SEARCH mailboxes
#     BENCH_LOGIN_CLIENTS (20)   parallel login clients
#     BENCH_LOGIN_SECONDS (10)   seconds of the login run
#     BENCH_LOGIN_MAX (300000)   logins at most in the login run
#     BENCH_REPEATS (5)          repeated (warm) runs after the first
#     BENCH_FROM (hartmann)      SEARCH FROM term
#     BENCH_SUBJECT (quarterly)  SEARCH SUBJECT term
#     BENCH_IDLE (5000)          idle sessions, logged in and SELECTed
#     BENCH_IDLE_USERS (50)      users the idle sessions log in as
#     BENCH_IDLE_MSGS (10)       messages in each idle user's INBOX
#     BENCH_IDLE_CLIENTS (20)    threads opening the idle sessions
#     BENCH_IDLE_BIG (0)         N > 0: also N idle sessions all SELECTing
#                                the BENCH_MESSAGES mailbox of f@
#     BENCH_IDLE_SECONDS (400)   stop opening idle sessions after this
#     BENCH_PW_COST (0)          yescrypt cost (0: libxcrypt's default)
#     BENCH_PIN (1)              pin servers and client to separate CPUs
#     BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  the CPU lists (taskset -c)
#     BENCH_DROP_CACHES (0)      1: drop the page cache before each
#                                first run (the whole machine's!)
#     BENCH_TIMEOUT (600)        seconds allowed for one client run
#     BENCH_TERN=1 BENCH_DOVECOT=1         0 skips that server
#     BENCH_LOGIN=1 BENCH_FETCH=1 BENCH_SEARCH=1 BENCH_IDLE_TEST=1
#                                0 skips that test
#     BENCH_TERN_LOG (info)      Tern's error_log level
#     BENCH_TERN_USER=NAME       add "user NAME;" to Tern's configuration
#     BENCH_KEEP=1               keep the temp dir (logs, configs, mail)

set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TERN=${1:-${TERN_BINARY:-$ROOT/objs/tern}}
case $TERN in /*) ;; *) TERN=$PWD/$TERN ;; esac

N=${BENCH_MESSAGES:-10000}
LOGIN_CLIENTS=${BENCH_LOGIN_CLIENTS:-20}
LOGIN_SECS=${BENCH_LOGIN_SECONDS:-10}
LOGIN_MAX=${BENCH_LOGIN_MAX:-300000}
REPEATS=${BENCH_REPEATS:-5}
FROM_TERM=${BENCH_FROM:-hartmann}
SUBJECT_TERM=${BENCH_SUBJECT:-quarterly}
IDLE=${BENCH_IDLE:-5000}
IDLE_USERS=${BENCH_IDLE_USERS:-50}
IDLE_MSGS=${BENCH_IDLE_MSGS:-10}
IDLE_CLIENTS=${BENCH_IDLE_CLIENTS:-20}
IDLE_BIG=${BENCH_IDLE_BIG:-0}
IDLE_SECS=${BENCH_IDLE_SECONDS:-400}
PW_COST=${BENCH_PW_COST:-0}
TMO=${BENCH_TIMEOUT:-600}
DO_TERN=${BENCH_TERN:-1}
DO_DOVECOT=${BENCH_DOVECOT:-1}
DO_LOGIN=${BENCH_LOGIN:-1}
DO_FETCH=${BENCH_FETCH:-1}
DO_SEARCH=${BENCH_SEARCH:-1}
DO_IDLE=${BENCH_IDLE_TEST:-1}

PASSWORD=bench-secret
NOBODY_UID=$(id -u nobody 2>/dev/null || echo 65534)
NOBODY_GID=$(id -g nobody 2>/dev/null || echo 65534)
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

# the mailboxes: f (FETCH), sf (SEARCH FROM), ss (SEARCH SUBJECT) hold
# the same BENCH_MESSAGES messages, so that every first run is the first
# on its mailbox; u logs in for the login run; i1..iN for the idle run

BIG_USERS="f sf ss"

declare -A R         # results: key -> value
declare -a NOTES     # lines printed under the table
PIDS=()              # background processes to kill on exit
TERN_PID=
DC_CONF=
DC_DIR=
W=
BUSY_RUNS=


log() {
    printf '%s %s\n' "$(date +%T)" "$*" >&2
}


note() {
    NOTES+=("$*")
    log "NOTE: $*"
}


now() {
    date +%s.%N
}


# awk arithmetic: calc 'expr' -> number

calc() {
    awk "BEGIN { printf \"%.6g\", ($1) }"
}


cleanup() {
    local rc=$? p

    trap - EXIT INT TERM

    for p in "${PIDS[@]}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    done

    [ -n "$TERN_PID" ] && tern_stop
    [ -n "$DC_CONF" ] && dovecot_stop

    sleep 0.2
    for p in "${PIDS[@]}"; do
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
    done

    if [ -n "$W" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
            log "kept $W"
        else
            rm -rf "$W"
        fi
    fi

    exit $rc
}

trap cleanup EXIT
trap 'exit 130' INT TERM


###############################################################################

# helpers

# run CMD...: in the background and waited for, so that Ctrl-C stops the
# script at once (a foreground `timeout` sits in its own process group)

run() {
    local pid rc

    "$@" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid"
    rc=$?
    PIDS=("${PIDS[@]/$pid}")

    return $rc
}


USED_PORTS=" "

free_port() {
    local p

    for _ in $(seq 1 50); do
        p=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        case $USED_PORTS in *" $p "*) continue ;; esac
        USED_PORTS="$USED_PORTS$p "
        echo "$p"
        return 0
    done

    return 1
}


wait_port() {
    local port=$1 secs=${2:-10}

    for _ in $(seq 1 $((secs * 20))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done

    return 1
}


count_mail() {
    find "$1/new" "$1/cur" -maxdepth 1 -type f 2>/dev/null | wc -l
}


# all descendants of a pid, and the pid itself

tree_pids() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            keep[root] = 1; changed = 1
            while (changed) {
                changed = 0
                for (i in pids) {
                    p = pids[i]
                    if (!(p in keep) && (parent[p] in keep)) {
                        keep[p] = 1; changed = 1
                    }
                }
            }
            for (p in keep) print p
        }'
}


# CPU seconds (user + system) used so far by the process trees of the
# given pids, with what their processes have reaped (Dovecot's master
# reaps its imap and imap-login processes)

tree_cpu() {
    local root p

    for root in "$@"; do
        [ -n "$root" ] && tree_pids "$root"
    done | sort -u | while read -r p; do
        sed 's/.*) //' "/proc/$p/stat" 2>/dev/null
    done | awk -v hz="$HZ" '
        { t += $12 + $13 + $14 + $15 }
        END { printf "%.2f", t / hz }'
}


# memory of a process tree in kB: "PSS RSS PROCESSES" (summed).  PSS is
# the proportional size of the anonymous and shared-memory pages
# (Pss_Anon + Pss_Shmem, where the kernel has them): what sessions
# allocate.  File pages are left out: Tern maps its index databases
# (mmap_size), and the page cache moving them in and out would swamp
# the figure; the libraries' pages are shared by Dovecot's processes
# and split between them by Pss anyway.

tree_mem() {
    tree_pids "$1" | while read -r p; do
        awk '/^Pss:/ { pss = $2 } /^Rss:/ { rss = $2 }
             /^Pss_Anon:/ { anon = $2; split_pss = 1 }
             /^Pss_Shmem:/ { shmem = $2 }
             END { if (rss != "") print (split_pss ? anon + shmem : pss) + 0,
                                        rss + 0 }' \
            "/proc/$p/smaps_rollup" 2>/dev/null
    done | awk '{ pss += $1; rss += $2; n++ }
                END { printf "%d %d %d\n", pss, rss, n }'
}


# a CPU list ("0-3,6") -> how many CPUs

cpu_count() {
    local n=0 part parts

    IFS=, read -ra parts <<< "$1"
    for part in "${parts[@]}"; do
        case $part in
        *-*) n=$((n + ${part#*-} - ${part%-*} + 1)) ;;
        *) n=$((n + 1)) ;;
        esac
    done

    echo "$n"
}


# busy and idle seconds so far of the server's CPUs (all of them when
# nothing is pinned), from /proc/stat

cpus_stat() {
    awk -v list="$STAT_CPUS" -v hz="$HZ" '
        BEGIN {
            n = split(list, parts, ",")
            for (i = 1; i <= n; i++) {
                if (split(parts[i], r, "-") == 2) {
                    for (c = r[1]; c <= r[2]; c++) want["cpu" c] = 1
                } else {
                    want[parts[i] == "all" ? "cpu" : "cpu" parts[i]] = 1
                }
            }
        }
        ($1 in want) { busy += $2 + $3 + $4 + $7 + $8 + $9; idle += $5 + $6 }
        END { printf "%.2f %.2f\n", busy / hz, idle / hz }' /proc/stat
}


# others_start, others_end TAG SERVER_CPU_SECONDS [CLIENT_CPU_SECONDS]:
# how busy the server's CPUs were during a run, and how much of them went
# to anything but the server (and the client when nothing is pinned);
# noted above 10%

others_start() {
    read -r OB0 OI0 < <(cpus_stat)
}


others_end() {
    local tag=$1 ours=$2 client=${3:-0} b1 i1 pct

    read -r b1 i1 < <(cpus_stat)
    [ "${#SRV[@]}" -gt 0 ] && client=0

    b1=$(calc "$b1 - $OB0")
    i1=$(calc "$b1 + $i1 - $OI0")
    pct=0
    [ "$(calc "$i1 > 0")" = 1 ] &&
        pct=$(calc "($b1 - $ours - $client) * 100 / $i1")
    pct=$(calc "$pct < 0 ? 0 : $pct")
    R[${tag}_others]=$pct
    R[${tag}_busy]=$(calc "$i1 > 0 ? $b1 * 100 / $i1 : 0")

    [ "$(calc "$pct > 10")" = 1 ] &&
        BUSY_RUNS="$BUSY_RUNS ${tag//_/ } $(fmt "$pct" %.0f)%,"
}


# value KEY: KEY=value from the client's output line in $OUT

value() {
    sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<< "$OUT"
}


client_error() {
    sed -n 's/.*error="\(.*\)"$/\1/p' <<< "$OUT"
}


# the load average, and the share of the last minute some task waited
# for a CPU (pressure stall information, when the kernel has it)

machine_load() {
    local psi

    psi=$(sed -n 's/^some avg10=[^ ]* avg60=\([^ ]*\).*/\1/p' \
          /proc/pressure/cpu 2>/dev/null)
    printf '%s%s' "$(cut -d' ' -f1-3 /proc/loadavg)" \
        "${psi:+, CPU pressure $psi%}"
}


drop_caches() {
    [ "${BENCH_DROP_CACHES:-0}" = 1 ] || return 0
    sync
    echo 3 > /proc/sys/vm/drop_caches
}


###############################################################################

# the runs; ROOT is the server's master pid (for its CPU time)

# login_run WHO PORT ROOT

login_run() {
    local who=$1 port=$2 root=$3 k=${1}_login c0 c1 n t

    log "$who: logins, $LOGIN_CLIENTS clients, $LOGIN_SECS s"

    c0=$(tree_cpu "$root")
    others_start
    run timeout -k 5 $((LOGIN_SECS + TMO)) "${CLI[@]}" "$LOAD" -m login \
        -c "$LOGIN_CLIENTS" -n "$LOGIN_MAX" -t "$LOGIN_SECS" \
        -u u@bench.test -p "$PASSWORD" "127.0.0.1:$port" > "$W/$k.out" 2>&1
    c1=$(tree_cpu "$root")
    OUT=$(tail -1 "$W/$k.out")
    others_end "$k" "$(calc "$c1 - $c0")" "$(value cpu)"

    n=$(value sessions)
    t=$(value elapsed)

    if [ -z "$n" ] || [ "$n" = 0 ]; then
        note "$who: login run failed: $OUT"
        return 1
    fi

    [ "$(value failed)" != 0 ] &&
        note "$who logins: $(value failed) of $((n + $(value failed)))" \
             "sessions failed: $(client_error)"

    R[$k]=$(calc "$n / $t")
    R[${k}_n]=$n
    R[${k}_t]=$t
    R[${k}_scpu]=$(calc "$c1 - $c0")
    R[${k}_ccpu]=$(value cpu)
    R[${k}_slowest]="greeting $(value max_greeting) s, LOGIN\
 $(value max_login) s, LOGOUT $(value max_logout) s; $(value slow)\
 sessions over 1 s"

    log "$who: ${R[$k]} logins/s ($n in $t s), server CPU" \
        "${R[${k}_scpu]} s, client CPU ${R[${k}_ccpu]} s"
}


# cmd_run WHO TAG PORT USER ROOT COMMAND...: one session, the commands
# 1 + BENCH_REPEATS times; R[WHO_TAG_cK_first|med|min|n|bytes]

cmd_run() {
    local who=$1 tag=$2 port=$3 user=$4 root=$5 k c0 c1 i args=() key
    shift 5
    k=${who}_$tag

    for i in "$@"; do
        args+=(-C "$i")
    done

    log "$who: $tag: $* (1 + $REPEATS times, as $user)"

    drop_caches
    c0=$(tree_cpu "$root")
    others_start
    run timeout -k 5 "$TMO" "${CLI[@]}" "$LOAD" -m run -r "$REPEATS" \
        -t "$TMO" -P "$root" -u "$user" -p "$PASSWORD" "${args[@]}" \
        "127.0.0.1:$port" > "$W/$k.out" 2>&1
    c1=$(tree_cpu "$root")
    OUT=$(tail -1 "$W/$k.out")
    others_end "$k" "$(calc "$c1 - $c0")"

    if [ "$(value runs)" = 0 ] || [ -z "$(value runs)" ]; then
        note "$who $tag failed: $OUT"
        return 1
    fi

    [ -n "$(client_error)" ] && note "$who $tag: $(client_error)"

    for key in $(grep -o 'c[0-9]*_[a-z]*=' <<< "$OUT" | tr -d =); do
        R[${k}_$key]=$(value "$key")
    done
    R[${k}_runs]=$(value runs)
    R[${k}_scpu]=$(calc "$c1 - $c0")
    R[${k}_ccpu]=$(value cpu)

    log "$who $tag: $(sed 's/ error=.*//' <<< "$OUT"), server CPU" \
        "${R[${k}_scpu]} s"
}


# idle_run WHO PORT ROOT TAG COUNT USER USERS: COUNT sessions logged in
# as USER (%ld: 1..USERS, or one user when USERS is 0) and SELECTed

idle_run() {
    local who=$1 port=$2 root=$3 k=${1}_$4 count=$5 user=$6 users=$7
    local out="$W/${1}_$4.out"
    local b_pss b_rss b_n a_pss a_rss a_n n pid t0

    log "$who: $count idle sessions (LOGIN, SELECT INBOX) as $user" \
        "($users users), $IDLE_CLIENTS threads opening them"

    sleep 1
    read -r b_pss b_rss b_n < <(tree_mem "$root")

    t0=$(now)
    : > "$out"
    timeout -k 5 $((IDLE_SECS + TMO)) "${CLI[@]}" "$LOAD" -m idle -S \
        -c "$IDLE_CLIENTS" -n "$count" -t "$IDLE_SECS" -H $((TMO + 60)) \
        -u "$user" -U "$users" -p "$PASSWORD" \
        "127.0.0.1:$port" > "$out" 2>&1 &
    pid=$!
    PIDS+=("$pid")

    while ! grep -q 'sessions=' "$out" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done

    OUT=$(grep 'sessions=' "$out" | tail -1)
    n=$(value sessions)
    R[${k}_open]=$(calc "$(now) - $t0")

    sleep 2
    read -r a_pss a_rss a_n < <(tree_mem "$root")

    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    PIDS=("${PIDS[@]/$pid}")

    if [ -z "$n" ] || [ "$n" = 0 ]; then
        note "$who: idle sessions failed: $(tail -2 "$out" | tr '\n' ' ')"
        return 1
    fi

    [ "$(value failed)" != 0 ] &&
        note "$who $4: $(value failed) sessions failed: $(client_error)"
    [ "$n" -lt "$count" ] &&
        note "$who $4: $n of $count sessions opened" \
             "(BENCH_IDLE_SECONDS=$IDLE_SECS)"

    R[$k]=$(calc "($a_pss - $b_pss) * 1024 / $n")
    R[${k}_rss]=$(calc "($a_rss - $b_rss) * 1024 / $n")
    R[${k}_n]=$n
    R[${k}_procs]="$b_n -> $a_n"
    R[${k}_slowest]="greeting $(value max_greeting) s, LOGIN\
 $(value max_login) s, SELECT $(value max_select) s"
    R[${k}_pss]="$b_pss -> $a_pss"

    log "$who idle: $n sessions in ${R[${k}_open]} s; Pss $b_pss ->" \
        "$a_pss kB, Rss $b_rss -> $a_rss kB, processes $b_n -> $a_n"

    # let the server see the connections go (Dovecot: its processes end)
    for _ in $(seq 1 60); do
        sleep 1
        [ "$(tree_pids "$root" | wc -l)" -le "$b_n" ] && break
    done
}


# all runs against one server

server_runs() {
    local who=$1 port=$2 root=$3

    [ "$DO_LOGIN" = 1 ] && login_run "$who" "$port" "$root"

    if [ "$DO_FETCH" = 1 ]; then
        cmd_run "$who" fetch "$port" f@bench.test "$root" "SELECT INBOX" \
            "FETCH 1:* (FLAGS ENVELOPE)"
    fi

    if [ "$DO_SEARCH" = 1 ]; then
        cmd_run "$who" sfrom "$port" sf@bench.test "$root" "SELECT INBOX" \
            "SEARCH FROM $FROM_TERM"
        cmd_run "$who" ssubj "$port" ss@bench.test "$root" "SELECT INBOX" \
            "SEARCH SUBJECT $SUBJECT_TERM"
    fi

    [ "$DO_IDLE" = 1 ] && idle_run "$who" "$port" "$root" idle "$IDLE" \
        'i%ld@bench.test' "$IDLE_USERS"

    # optional: sessions on the big mailbox
    [ "$IDLE_BIG" -gt 0 ] && idle_run "$who" "$port" "$root" idlebig \
        "$IDLE_BIG" f@bench.test 0
}


###############################################################################

# Tern

TP=

tern_conf() {
    mkdir -p "$TP/logs"

    cat > "$TP/tern.conf" <<EOF
daemon off;
${BENCH_TERN_USER:+user $BENCH_TERN_USER;}
worker_processes $WORKERS;
error_log logs/error.log ${BENCH_TERN_LOG:-info};
pid logs/tern.pid;
thread_pool_threads 4;

events {
    worker_connections $((IDLE_MAX + 1000));
}

store {
    password_scheme yescrypt;
    password_cost $PW_COST;
}

mail {
    server_name mail.bench.test;
    $TERN_LIMITS

    server {
        listen 127.0.0.1:$T_SMTP;
        protocol smtp;
    }

    server {
        listen 127.0.0.1:$T_IMAP;
        protocol imap;
        imap_auth_plaintext on;
    }
}
EOF
}


tern_cli() {
    timeout 60 "$TERN" -p "$TP" -c "$TP/tern.conf" "$@"
}


tern_start() {
    "${SRV[@]}" "$TERN" -p "$TP" -c "$TP/tern.conf" \
        >> "$TP/stderr.log" 2>&1 &
    TERN_PID=$!

    if ! wait_port "$T_SMTP" 10 || ! wait_port "$T_IMAP" 10; then
        note "tern did not start: $(tail -3 "$TP/stderr.log" \
              "$TP/logs/error.log" 2>/dev/null | tr '\n' ' ')"
        tern_stop
        return 1
    fi

    log "tern started, pid $TERN_PID, $WORKERS worker(s)"
}


tern_stop() {
    local pid=$TERN_PID kids

    [ -n "$pid" ] || return 0
    TERN_PID=

    kill -QUIT "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done

    if kill -0 "$pid" 2>/dev/null; then
        note "tern did not stop on SIGQUIT in 10 s"
        kids=$(tree_pids "$pid")
        kill -TERM "$pid" 2>/dev/null
        sleep 2
        # shellcheck disable=SC2086 # one word per pid
        kill -KILL $kids 2>/dev/null
    fi

    wait "$pid" 2>/dev/null
}


# deliver WHO RCPTS COUNT: the generated messages over Tern's SMTP

tern_deliver() {
    local tag=$1 rcpts=$2 n=$3

    log "tern: delivering $n messages to $rcpts over SMTP"

    run timeout -k 5 "$TMO" "${CLI[@]}" "$LOAD" -m smtp -n "$n" -c 4 \
        -M 100 -t "$TMO" -f sender@client.bench.test -R "$rcpts" \
        "127.0.0.1:$T_SMTP" > "$W/tern_$tag.out" 2>&1
    OUT=$(tail -1 "$W/tern_$tag.out")

    if [ "$(value messages)" != "$n" ]; then
        note "tern: delivery ($tag) failed: $OUT"
        return 1
    fi

    R[tern_${tag}_rate]=$(calc "$n / $(value elapsed)")
    log "tern: $n messages in $(value elapsed) s"
}


tern_bench() {
    local i u n idle_rcpts

    log "=== Tern ($TERN)"
    R[tern_load]=$(machine_load)

    TP="$W/tern"
    T_SMTP=$(free_port)
    T_IMAP=$(free_port)

    # every client connection comes from 127.0.0.1: no per-address limit
    # (Dovecot's mail_max_userip_connections is raised too); a build
    # without the directive has no such limit

    TERN_LIMITS="max_connections_per_ip 0;"
    tern_conf
    if ! tern_cli -t > "$W/tern-t.log" 2>&1 \
       && grep -q 'unknown directive "max_connections_per_ip"' \
               "$W/tern-t.log"
    then
        TERN_LIMITS=
        tern_conf
    fi

    if ! tern_cli -t > "$W/tern-t.log" 2>&1; then
        note "tern -t failed: $(tail -2 "$W/tern-t.log" | tr '\n' ' ')"
        return 1
    fi

    tern_start || return 1

    if ! (
        tern_cli domain add bench.test || exit 1
        for u in u $BIG_USERS $(seq -f 'i%g' 1 "$IDLE_USERS"); do
            echo "$PASSWORD" | tern_cli user add "$u@bench.test" || exit 1
        done
    ) > "$W/tern-cli.log" 2>&1
    then
        note "tern: domain/user setup failed:" \
             "$(tail -2 "$W/tern-cli.log" | tr '\n' ' ')"
        tern_stop
        return 1
    fi

    # the same hashes for Dovecot's passwd-file

    python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for a, h in c.execute("SELECT address, password_hash FROM users"):
    print("%s %s" % (a, h))' "$TP/tern.db" > "$W/hashes" 2>> "$W/tern-cli.log"
    log "tern: $(wc -l < "$W/hashes") users, hash" \
        "$(head -1 "$W/hashes" | cut -d' ' -f2 | cut -c1-7)..."

    # the mailboxes: cache filled at delivery

    idle_rcpts=$(seq -f 'i%g@bench.test' 1 "$IDLE_USERS" | paste -sd,)

    if ! tern_deliver big "f@bench.test,sf@bench.test,ss@bench.test" "$N" \
       || ! tern_deliver idle "$idle_rcpts" "$IDLE_MSGS"
    then
        tern_stop
        return 1
    fi

    for u in $BIG_USERS; do
        n=$(count_mail "$TP/mail/bench.test/$u")
        [ "$n" != "$N" ] &&
            note "tern: $u@ holds $n messages after $N delivered"
    done

    # the size of f@'s index.db in use (pages not on the free list,
    # the WAL's newest version of each), the header cache included

    R[tern_index]=$(python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
v = [c.execute("PRAGMA " + p).fetchone()[0]
     for p in ("page_size", "page_count", "freelist_count")]
print(v[0] * (v[1] - v[2]))' "$TP/mail/bench.test/f/index.db" 2>/dev/null)

    # Dovecot's copy, taken now: the files where delivery put them
    # (Tern's first SELECT moves them from new/ to cur/, Dovecot's will)

    for u in $BIG_USERS $(seq -f 'i%g' 1 "$IDLE_USERS"); do
        mkdir -p "$W/mailcopy/$u/new" "$W/mailcopy/$u/cur"
        for i in new cur; do
            find "$TP/mail/bench.test/$u/$i" -maxdepth 1 -type f \
                -exec cp -p -t "$W/mailcopy/$u/$i" {} +
        done
    done
    MAIL_SRC="$W/mailcopy"

    # a fresh server for the first runs

    tern_stop
    tern_start || return 1

    server_runs tern "$T_IMAP" "$TERN_PID"

    # (not in a pipeline: note() must run in this shell)
    while read -r i; do
        note "tern log: $i"
    done < <(grep -E '\[(alert|emerg|crit)\]' "$TP/logs/error.log" \
             2>/dev/null | head -3)

    n=$(grep -c '\[error\]' "$TP/logs/error.log" 2>/dev/null)
    [ "${n:-0}" -gt 0 ] &&
        note "tern log: $n [error] lines, the first:" \
             "$(grep -m1 '\[error\]' "$TP/logs/error.log")"

    tern_stop
}


###############################################################################

# Dovecot

dovecot_stop() {
    local conf=$DC_CONF pid

    DC_CONF=
    pid=$(cat "$DC_DIR/run/master.pid" 2>/dev/null)

    timeout 30 doveadm -c "$conf" stop > /dev/null 2>&1

    for _ in $(seq 1 200); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done

    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # shellcheck disable=SC2046 # one word per pid
        kill -KILL $(tree_pids "$pid") 2>/dev/null
    fi
}


# dovecot_mail USER COUNT: the user's Maildir, the copy of Tern's taken
# after the deliveries (the message files only: new/ and cur/), or
# generated

dovecot_mail() {
    local u=$1 n=$2 dst="$DC_DIR/mail/bench.test/$1"

    mkdir -p "$dst/tmp" "$dst/new" "$dst/cur"

    if [ -n "${MAIL_SRC:-}" ] && [ -d "$MAIL_SRC/$u" ]; then
        find "$MAIL_SRC/$u/new" -maxdepth 1 -type f \
            -exec mv -t "$dst/new" {} + 2>/dev/null
        find "$MAIL_SRC/$u/cur" -maxdepth 1 -type f \
            -exec mv -t "$dst/cur" {} + 2>/dev/null

    elif [ -n "${GEN_SRC:-}" ] && [ "$n" = "$N" ]; then
        cp -p "$GEN_SRC"/new/* "$dst/new/"

    else
        "$LOAD" -m gen -n "$n" -o "$dst" > /dev/null || return 1
    fi

    [ "$(count_mail "$dst")" = "$n" ] ||
        note "dovecot: $u@ got $(count_mail "$dst") of $n messages"
}


dovecot_bench() {
    local d="$W/dovecot" port u pw hash salt master i

    log "=== Dovecot $(dovecot --version 2>/dev/null)"
    R[dovecot_load]=$(machine_load)

    DC_DIR=$d
    port=$(free_port)
    mkdir -p "$d/run" "$d/state" "$d/home"

    if [ -z "${MAIL_SRC:-}" ]; then
        GEN_SRC="$d/gen"
        mkdir -p "$GEN_SRC/new"
        "$LOAD" -m gen -n "$N" -o "$GEN_SRC" > /dev/null || return 1
        note "no Tern run: Dovecot's mailboxes are generated files, not" \
             "a copy of Tern's"
    fi

    for u in $BIG_USERS; do
        dovecot_mail "$u" "$N" || return 1
    done
    for u in $(seq -f 'i%g' 1 "$IDLE_USERS"); do
        dovecot_mail "$u" "$IDLE_MSGS" || return 1
    done
    rm -rf "${GEN_SRC:-/nonexistent}"

    log "dovecot: mail $([ -n "${MAIL_SRC:-}" ] && echo copied from Tern ||
        echo generated), $(du -sh "$d/mail" | cut -f1)"

    chown -R "$NOBODY_UID:$NOBODY_GID" "$d/mail" "$d/home"

    # Tern's yescrypt hashes as {CRYPT} (libxcrypt's crypt(3)); without
    # a Tern run, a hash made the same way (libxcrypt, "$y$j9T$")

    for u in u $BIG_USERS $(seq -f 'i%g' 1 "$IDLE_USERS"); do
        hash=$(awk -v a="$u@bench.test" '$1 == a { print $2 }' \
               "$W/hashes" 2>/dev/null)
        if [ -z "$hash" ]; then
            salt=$(head -c 12 /dev/urandom | base64 | tr + . | cut -c1-16)
            hash=$(perl -e 'print crypt($ARGV[0], $ARGV[1])' "$PASSWORD" \
                   "\$y\$j9T\$$salt")
        fi
        case $hash in
        '$y$'*) ;;
        *) note "no yescrypt hash for $u: $hash"; return 1 ;;
        esac
        pw="{CRYPT}$hash"
        printf '%s@bench.test:%s:%s:%s::%s::\n' "$u" "$pw" "$NOBODY_UID" \
            "$NOBODY_GID" "$d/home"
    done > "$d/passwd"

    cat > "$d/dovecot.conf" <<EOF
instance_name = dovecot-tern-bench-imap
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:$d/mail/%d/%n

# room for BENCH_IDLE sessions of one client address: a process each
# (Dovecot's default), and the master's services (log, anvil, config,
# auth) must take a connection from every one of them
default_client_limit = $((IDLE_MAX + 1000))

passdb {
    driver = passwd-file
    args = username_format=%u $d/passwd
}

userdb {
    driver = passwd-file
    args = username_format=%u $d/passwd
}

protocol imap {
    mail_max_userip_connections = $((IDLE_MAX + 100))
}

service imap-login {
    inet_listener imap {
        address = 127.0.0.1
        port = $port
    }
}

service imap {
    process_limit = $((IDLE_MAX + 200))
}
EOF

    if ! run timeout 30 "${SRV[@]}" dovecot -c "$d/dovecot.conf" \
            > "$d/start.log" 2>&1
    then
        note "dovecot did not start: $(tail -2 "$d/start.log" | tr '\n' ' ')"
        return 1
    fi
    DC_CONF="$d/dovecot.conf"

    if ! wait_port "$port" 10; then
        note "dovecot not listening on $port: $(tail -2 "$d/dovecot.log")"
        dovecot_stop
        return 1
    fi

    master=$(cat "$d/run/master.pid")
    log "dovecot master $master;" \
        "$(taskset -pc "$master" 2>/dev/null | sed 's/.*: /CPUs /')"

    server_runs dovecot "$port" "$master"

    while read -r i; do
        note "dovecot log: $i"
    done < <(grep -E 'Fatal|Panic|Error' "$d/dovecot.log" 2>/dev/null \
             | sed 's/^[A-Z][a-z][a-z] [0-9 ]* [0-9:]* //' | sort \
             | uniq -c | sort -rn | head -3)

    dovecot_stop
}


###############################################################################

# the report

fmt() {
    [ -n "${1:-}" ] && printf "${2:-%.1f}" "$1" || printf -- '-'
}


# row LABEL TERN DOVECOT FORMAT [RATIO TARGET OP LIMIT]: RATIO is given
# (or '-'), the target met when RATIO OP LIMIT

row() {
    local label=$1 t=${2:-} d=${3:-} f=${4:-%.1f} ratio=${5:-} target=${6:-}
    local op=${7:-} lim=${8:-} met='' r='-'

    if [ -n "$ratio" ]; then
        r=$(printf '%.2fx' "$ratio")
        [ -n "$op" ] && met=$([ "$(calc "$ratio $op $lim")" = 1 ] \
                              && echo met || echo MISSED)
    fi

    printf '%-50s | %9s | %9s | %7s | %-23s %s\n' \
        "$label" "$(fmt "$t" "$f")" "$(fmt "$d" "$f")" "$r" "$target" "$met"
}


# ratio A B: A / B, or nothing when either is missing or B is 0

ratio() {
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && [ "$(calc "$2 > 0")" = 1 ] &&
        calc "$1 / $2"
}


ms() {
    [ -n "${1:-}" ] && calc "$1 * 1000"
}


# sum of two timings in ms

ms2() {
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && calc "($1 + $2) * 1000"
}


report() {
    local t d k tag name

    echo
    echo "Tern IMAP benchmark: $NCPU cores; $PIN_TEXT; $N messages," \
         "$REPEATS repeats; plain text, no TLS"
    echo
    printf '%-50s | %9s | %9s | %7s | %s\n' metric Tern Dovecot ratio target
    printf '%s\n' "$(printf '%.0s-' $(seq 1 106))"

    if [ "$DO_LOGIN" = 1 ]; then
        t=${R[tern_login]:-}
        d=${R[dovecot_login]:-}
        row "logins/s, $LOGIN_CLIENTS clients (LOGIN + LOGOUT)" "$t" "$d" \
            %.0f "$(ratio "$t" "$d")" "Tern/Dovecot >= 5" '>=' 5
        t=$(ratio "${R[tern_login_n]:-}" "${R[tern_login_scpu]:-}")
        d=$(ratio "${R[dovecot_login_n]:-}" "${R[dovecot_login_scpu]:-}")
        row "  logins per server CPU-second" "$t" "$d" %.0f \
            "$(ratio "$t" "$d")" "CPU: Tern/Dc >= 5" '>=' 5
    fi

    if [ "$DO_FETCH" = 1 ]; then
        row "SELECT, first (ms)" "$(ms "${R[tern_fetch_c0_first]:-}")" \
            "$(ms "${R[dovecot_fetch_c0_first]:-}")"
        row "SELECT, warm, median (ms)" "$(ms "${R[tern_fetch_c0_med]:-}")" \
            "$(ms "${R[dovecot_fetch_c0_med]:-}")"
        row "FETCH 1:* (FLAGS ENVELOPE), first (ms)" \
            "$(ms "${R[tern_fetch_c1_first]:-}")" \
            "$(ms "${R[dovecot_fetch_c1_first]:-}")"
        row "SELECT + FETCH, warm, median (ms)" \
            "$(ms2 "${R[tern_fetch_c0_med]:-}" "${R[tern_fetch_c1_med]:-}")" \
            "$(ms2 "${R[dovecot_fetch_c0_med]:-}" \
                   "${R[dovecot_fetch_c1_med]:-}")"
        t=${R[tern_fetch_c1_med]:-}
        d=${R[dovecot_fetch_c1_med]:-}
        row "FETCH 1:* (FLAGS ENVELOPE), warm, median (ms)" \
            "$(ms "$t")" "$(ms "$d")" %.1f "$(ratio "$t" "$d")" \
            "Tern/Dovecot <= 0.5" '<=' 0.5
        [ -n "${R[tern_index]:-}" ] &&
            row "index.db of the $N-message mailbox (kB)" \
                "$(calc "${R[tern_index]} / 1024")" "" %.0f
        row "FETCH warm, fastest (ms)" "$(ms "${R[tern_fetch_c1_min]:-}")" \
            "$(ms "${R[dovecot_fetch_c1_min]:-}")"
        t=${R[tern_fetch_c1_scpumean]:-}
        d=${R[dovecot_fetch_c1_scpumean]:-}
        row "  FETCH warm, server CPU, mean (ms)" "$(ms "$t")" "$(ms "$d")" \
            %.1f "$(ratio "$t" "$d")" "CPU: Tern/Dc <= 0.5" '<=' 0.5
    fi

    if [ "$DO_SEARCH" = 1 ]; then
        for tag in sfrom ssubj; do
            if [ "$tag" = sfrom ]; then
                name="SEARCH FROM $FROM_TERM"
            else
                name="SEARCH SUBJECT $SUBJECT_TERM"
            fi
            row "$name, first (ms)" "$(ms "${R[tern_${tag}_c1_first]:-}")" \
                "$(ms "${R[dovecot_${tag}_c1_first]:-}")"
            t=${R[tern_${tag}_c1_first]:-}
            d=${R[dovecot_${tag}_c1_med]:-}
            row "$name, repeated, median (ms)" \
                "$(ms "${R[tern_${tag}_c1_med]:-}")" "$(ms "$d")" %.1f \
                "$(ratio "$t" "$d")" "Tern first/Dc rep. <= 1" '<=' 1
            t=${R[tern_${tag}_c1_scpufirst]:-}
            d=${R[dovecot_${tag}_c1_scpumean]:-}
            row "  server CPU, Tern first / Dovecot mean (ms)" "$(ms "$t")" \
                "$(ms "$d")" %.1f "$(ratio "$t" "$d")" \
                "CPU: Tern 1st/Dc <= 1" '<=' 1
        done
    fi

    if [ "$DO_IDLE" = 1 ]; then
        t=${R[tern_idle]:-}
        d=${R[dovecot_idle]:-}
        row "idle session, anon Pss bytes ($IDLE, SELECTed)" "$t" "$d" %.0f \
            "$(ratio "$t" 16384)" "Tern < 16 KB" '<' 1
        row "  Rss bytes" "${R[tern_idle_rss]:-}" "${R[dovecot_idle_rss]:-}" \
            %.0f
    fi

    if [ "$IDLE_BIG" -gt 0 ]; then
        row "idle session on $N msgs, anon Pss bytes ($IDLE_BIG)" \
            "${R[tern_idlebig]:-}" "${R[dovecot_idlebig]:-}" %.0f
    fi

    echo
    echo "ratio: Tern/Dovecot (logins/s, FETCH), Tern's first SEARCH /" \
         "Dovecot's repeated one, Tern/16384 (memory)"
    echo

    for k in tern dovecot; do
        [ -n "${R[${k}_login]:-}" ] &&
            printf 'logins %-7s: %s in %.1f s; server CPU %.2f ms/login' \
                   "$k" "${R[${k}_login_n]}" "${R[${k}_login_t]}" \
                   "$(calc "${R[${k}_login_scpu]} * 1000 / \
                            ${R[${k}_login_n]}")" &&
            printf ' (%.0f%% of %s core), client %.0f%% of %s core;' \
                   "$(calc "${R[${k}_login_scpu]} / (${R[${k}_login_t]} * \
                            $SERVER_N) * 100")" "$SERVER_N" \
                   "$(calc "${R[${k}_login_ccpu]} / (${R[${k}_login_t]} * \
                            $CLIENT_N) * 100")" "$CLIENT_N" &&
            printf ' others %.0f%%\n       slowest: %s\n' \
                   "${R[${k}_login_others]:-0}" "${R[${k}_login_slowest]}"
    done

    for k in tern dovecot; do
        for tag in fetch sfrom ssubj; do
            [ -n "${R[${k}_${tag}_runs]:-}" ] || continue
            printf '%-6s %-7s: %s responses, %s bytes; SELECT first %s' \
                "$tag" "$k" "${R[${k}_${tag}_c1_n]:-}" \
                "${R[${k}_${tag}_c1_bytes]:-}" \
                "$(fmt "$(ms "${R[${k}_${tag}_c0_first]:-}")")"
            printf ' ms, warm %s ms; server CPU: SELECT first %s, warm' \
                "$(fmt "$(ms "${R[${k}_${tag}_c0_med]:-}")")" \
                "$(fmt "$(ms "${R[${k}_${tag}_c0_scpufirst]:-}")" %.0f)"
            printf ' %s ms, %s first %s, warm %s ms; whole run %.2f s;' \
                "$(fmt "$(ms "${R[${k}_${tag}_c0_scpumean]:-}")" %.0f)" \
                "$([ "$tag" = fetch ] && echo FETCH || echo SEARCH)" \
                "$(fmt "$(ms "${R[${k}_${tag}_c1_scpufirst]:-}")" %.0f)" \
                "$(fmt "$(ms "${R[${k}_${tag}_c1_scpumean]:-}")" %.0f)" \
                "${R[${k}_${tag}_scpu]}"
            printf ' client CPU in the commands %.2f s (%s runs);' \
                "${R[${k}_${tag}_ccpu]}" "${R[${k}_${tag}_runs]}"
            printf ' others %.0f%%\n' "${R[${k}_${tag}_others]:-0}"
        done
    done

    echo "expected SEARCH results: FROM $FROM_TERM $EXP_FROM, SUBJECT" \
         "$SUBJECT_TERM $EXP_SUBJ (RFC 2047 decoded)"

    for k in tern_idle dovecot_idle tern_idlebig dovecot_idlebig; do
        [ -n "${R[${k}_n]:-}" ] &&
            printf '%-15s: %s sessions opened in %s s; Pss %s kB;' \
                   "${k/_/ }" "${R[${k}_n]}" "$(fmt "${R[${k}_open]}")" \
                   "${R[${k}_pss]}" &&
            printf ' processes %s\n       slowest: %s\n' \
                   "${R[${k}_procs]}" "${R[${k}_slowest]}"
    done

    [ -n "${R[tern_big_rate]:-}" ] &&
        echo "delivery: Tern took $N messages to 3 users (${BIG_USERS// /,})" \
             "over SMTP at $(fmt "${R[tern_big_rate]}" %.0f) msgs/s"

    echo "notes: first = the first command on that mailbox after the" \
         "server started (files in the page cache"
    echo "       unless BENCH_DROP_CACHES=1); for Dovecot that includes" \
         "building its index of the copied Maildir,"
    echo "       for Tern the cache was filled at delivery. Dovecot" \
         "verifies the yescrypt hash at every login."
    echo "       load average at the start: $LOAD_BEFORE"
    echo "       before Tern's runs: ${R[tern_load]:--}"
    echo "       before Dovecot's runs: ${R[dovecot_load]:--}"

    [ -n "$BUSY_RUNS" ] &&
        echo "note: more than 10% of the server CPUs went outside the" \
             "server in:${BUSY_RUNS%,}; other programs running make those" \
             "figures low"

    for k in "${NOTES[@]}"; do
        echo "note: $k"
    done
}


# the SEARCH results must be what the generator put in

check_results() {
    local k tag want

    for k in tern dovecot; do
        for tag in sfrom ssubj; do
            [ -n "${R[${k}_${tag}_c1_n]:-}" ] || continue
            [ "$tag" = sfrom ] && want=$EXP_FROM || want=$EXP_SUBJ
            [ "${R[${k}_${tag}_c1_n]}" = "$want" ] ||
                note "$k $tag: ${R[${k}_${tag}_c1_n]} results, $want expected"
        done
        [ -n "${R[${k}_fetch_c1_n]:-}" ] &&
            [ "${R[${k}_fetch_c1_n]}" != "$N" ] &&
            note "$k FETCH: ${R[${k}_fetch_c1_n]} responses for $N messages"
    done
}


###############################################################################

# main

missing=
for tool in cc python3 perl taskset; do
    command -v "$tool" > /dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    log "missing:$missing (apt-get install gcc python3 perl util-linux)"
    exit 1
fi

if [ "$DO_DOVECOT" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        note "not root: Dovecot skipped"
        DO_DOVECOT=0
    elif ! command -v dovecot > /dev/null \
         || [ ! -x /usr/lib/dovecot/imap ]
    then
        note "dovecot-imapd not installed (apt-get install dovecot-imapd):" \
             "Dovecot skipped"
        DO_DOVECOT=0
    fi
fi

if [ "$DO_TERN" = 1 ] && [ ! -x "$TERN" ]; then
    note "no tern binary at $TERN: Tern skipped"
    DO_TERN=0
fi

if ! ulimit -n 65536 2>/dev/null; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
if [ "$(ulimit -n)" -lt $((IDLE + 500)) ]; then
    note "ulimit -n is $(ulimit -n): BENCH_IDLE lowered from $IDLE to" \
         "$(($(ulimit -n) - 500))"
    IDLE=$(($(ulimit -n) - 500))
    [ "$IDLE_BIG" -gt "$IDLE" ] && IDLE_BIG=$IDLE
fi

if [ "${BENCH_PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ]; then
    SERVER_CPUS=${BENCH_SERVER_CPUS:-0-$((NCPU / 2 - 1))}
    CLIENT_CPUS=${BENCH_CLIENT_CPUS:-$((NCPU / 2))-$((NCPU - 1))}
    SERVER_N=$(cpu_count "$SERVER_CPUS")
    CLIENT_N=$(cpu_count "$CLIENT_CPUS")
    SRV=(taskset -c "$SERVER_CPUS")
    CLI=(taskset -c "$CLIENT_CPUS")
    WORKERS=$SERVER_N
    STAT_CPUS=$SERVER_CPUS
    PIN_TEXT="servers on CPU $SERVER_CPUS, client on CPU $CLIENT_CPUS"
else
    SERVER_N=$NCPU
    CLIENT_N=$NCPU
    SRV=()
    CLI=()
    WORKERS=auto
    STAT_CPUS=all
    PIN_TEXT="no pinning: servers and client share the CPUs"
fi

IDLE_MAX=$((IDLE > IDLE_BIG ? IDLE : IDLE_BIG))
LOAD_BEFORE=$(machine_load)

W=$(mktemp -d /tmp/tern-bench-imap.XXXXXX) || exit 1
chmod 755 "$W"
log "work directory $W; $PIN_TEXT; load average $LOAD_BEFORE"

LOAD="$W/imap_load"
if ! cc -O2 -o "$LOAD" "$ROOT/t/bench/imap_load.c" -lpthread \
        > "$W/cc.log" 2>&1
then
    log "the load client does not build: $(head -3 "$W/cc.log")"
    exit 1
fi

read -r EXP_FROM EXP_SUBJ < <("$LOAD" -m expect -n "$N" -F "$FROM_TERM" \
    -s "$SUBJECT_TERM" | sed 's/[a-z]*=//g')

MAIL_SRC=
[ "$DO_TERN" = 1 ] && tern_bench
[ "$DO_DOVECOT" = 1 ] && dovecot_bench

check_results
report
