#!/usr/bin/env bash
#
# Outbound queue drain: a queue of N messages delivered to Postfix's
# smtp-sink over loopback, by Tern and by Postfix, one after the other
# in one run (issue 5, "Benchmark"). Not a test: run it by hand, as root
# (Postfix needs it):
#
#     t/bench/outbound_drain.sh [objs/tern]
#
# Everything runs in a fresh temp dir with its own ports; the system's
# Postfix is never started or touched. See t/bench/README.
#
# Environment:
#     BENCH_N=20000           messages in the queue
#     BENCH_SIZE=4096         message payload bytes (smtp-source -l)
#     BENCH_SESSIONS=20       parallel smtp-source sessions for the fill
#     BENCH_CONCURRENCY=5     Tern's destination_concurrency (per worker)
#     BENCH_PER_CONN=100      messages_per_connection (Tern) and
#                             smtp_connection_reuse_count_limit (Postfix)
#     BENCH_WORKERS=auto      Tern's worker_processes
#     BENCH_TERN_THREADS=     thread_pool_threads (empty: Tern's default)
#     BENCH_TERN_LOG=info     Tern's error_log level
#     BENCH_FILL_TIMEOUT=300  seconds allowed to fill one queue
#     BENCH_DRAIN_TIMEOUT=120 seconds allowed to drain one queue
#     BENCH_TERN=1 BENCH_POSTFIX=1   0 skips that side
#     BENCH_TERN_START=1      0 skips Tern's second run (queue flushed
#                             while stopped, drained from its start)
#     BENCH_STRACE=1          count the servers' system calls during the
#                             drains (strace -f -c into the temp dir; slow)
#     BENCH_KEEP=1            keep the temp dir (logs, configs)

set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TERN=${1:-${TERN_BINARY:-$ROOT/objs/tern}}
case $TERN in /*) ;; *) TERN=$PWD/$TERN ;; esac

N=${BENCH_N:-20000}
SIZE=${BENCH_SIZE:-4096}
SESSIONS=${BENCH_SESSIONS:-20}
CONC=${BENCH_CONCURRENCY:-5}
PER_CONN=${BENCH_PER_CONN:-100}
WORKERS=${BENCH_WORKERS:-auto}
FILL_TMO=${BENCH_FILL_TIMEOUT:-300}
DRAIN_TMO=${BENCH_DRAIN_TIMEOUT:-120}
DO_TERN=${BENCH_TERN:-1}
DO_POSTFIX=${BENCH_POSTFIX:-1}

SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
SMTP_SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)

W=$(mktemp -d /tmp/tern-bench-drain.XXXXXX) || exit 1
chmod 755 "$W"

declare -A R         # results: key -> value
declare -a NOTES     # lines printed under the table
PIDS=()              # helper processes to kill on exit
BG_PID=              # the command bg_run waits for
TERN_PID=
PF_DIR=
SINK_PID=


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


# is PID a child of this shell (started by it and not reaped yet)?

ours() {
    [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]
}


cleanup() {
    local rc=$?

    trap - EXIT INT TERM

    [ -n "$BG_PID" ] && ours "$BG_PID" && kill -TERM "$BG_PID" 2>/dev/null
    sink_stop
    [ -n "$TERN_PID" ] && tern_stop
    [ -n "$PF_DIR" ] && postfix_stop

    # only what is still a child of this shell: a pid that was reaped
    # may belong to someone else by now

    for p in "${PIDS[@]}"; do
        ours "$p" && kill -TERM "$p" 2>/dev/null
    done
    sleep 0.2
    for p in "${PIDS[@]}"; do
        ours "$p" && kill -KILL "$p" 2>/dev/null
    done

    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "kept $W"
    else
        rm -rf "$W"
    fi

    exit $rc
}

trap cleanup EXIT
trap 'exit 130' INT TERM


###############################################################################

# helpers

# bg_run COMMAND...: runs it in the background and waits for it. Bash
# runs the INT trap only after a foreground command ends, and not at all
# when that command did not die of the SIGINT itself (timeout(1) runs in
# its own process group and never sees a Ctrl-C); wait returns at once.

bg_run() {
    local rc

    "$@" &
    BG_PID=$!
    wait "$BG_PID"
    rc=$?
    BG_PID=
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


listening() {
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
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


# CPU seconds of the shell's reaped children: bash's times, whose second
# line is "0m0.010s 0m0.020s"; it must run in this shell, not in a $()
# subshell, so the figure goes to CPU_CHILDREN

cpu_children() {
    times > "$W/times"
    CPU_CHILDREN=$(awk 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2]
    }' "$W/times")
}


# CPU seconds of a process tree: user + system of every live process
# (all its threads) plus what each has reaped of its dead children

cpu_tree() {
    local p total=0 t

    for p in $(tree_pids "$1"); do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' \
            "/proc/$p/stat" 2>/dev/null)
        total=$((total + ${t:-0}))
    done

    calc "$total / $(getconf CLK_TCK)"
}


# the established connections of the sink's port

sink_conns() {
    ss -Htn state established "( sport = :$SINK_PORT )" 2>/dev/null | wc -l
}


###############################################################################

# the sink: Postfix's smtp-sink, -c prints "sess=S quit=Q mesg=M" (CR
# separated) each time a session ends, a QUIT is read or a message is
# received; sess counts every connection that ended, with or without
# QUIT, so after the drain it is the number of connections used

SINK_PORT=

sink_start() {
    local tag=$1

    if listening "$SINK_PORT"; then
        note "$tag: port $SINK_PORT is taken by another program"
        return 1
    fi

    "$SMTP_SINK" -c -u nobody "127.0.0.1:$SINK_PORT" 256 \
        > "$W/sink-$tag.out" 2> "$W/sink-$tag.err" &
    SINK_PID=$!
    PIDS+=("$SINK_PID")

    if ! wait_port "$SINK_PORT" 10; then
        note "$tag: smtp-sink did not start: $(tail -1 "$W/sink-$tag.err")"
        sink_stop
        return 1
    fi

    # that probe connection counts as a session: sink_counts subtracts it
    for _ in $(seq 1 50); do
        [ "$(sink_counts "$tag" | awk '{ print $1 }')" -ge 1 ] && break
        sleep 0.02
    done
}


sink_stop() {
    local pid=$SINK_PID

    [ -n "$pid" ] || return 0
    SINK_PID=

    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}


# sink_counts TAG -> "sessions quits messages" (the last counter line)

sink_counts() {
    tr '\r' '\n' < "$W/sink-$1.out" 2>/dev/null | awk '
        /^sess=/ {
            split($1, a, "="); split($2, b, "="); split($3, c, "=")
            s = a[2]; q = b[2]; m = c[2]
        }
        END { printf "%d %d %d\n", s, q, m }'
}


# the most connections established to the sink at once: ss every 50 ms
# in the background (connections that live shorter than that can be
# missed); peak_stop prints the figure

PEAK_PID=

peak_start() {
    local tag=$1

    echo 0 > "$W/$tag-peak"
    (
        max=0
        while :; do
            c=$(sink_conns)
            if [ "$c" -gt "$max" ]; then
                max=$c
                echo "$max" > "$W/$tag-peak"
            fi
            sleep 0.05
        done
    ) &
    PEAK_PID=$!
    PIDS+=("$PEAK_PID")
}


peak_stop() {
    local tag=$1

    [ -n "$PEAK_PID" ] && kill "$PEAK_PID" 2>/dev/null
    wait "$PEAK_PID" 2>/dev/null
    PEAK_PID=
    cat "$W/$tag-peak"
}


# BENCH_STRACE=1: the servers' system calls during a drain, counted by
# strace -f -c into $W/TAG-strace (it slows them down: the rates of
# such a run are not comparable)

STRACE_PID=

trace_start() {
    local tag=$1 p args=()

    [ "${BENCH_STRACE:-0}" = 1 ] || return 0
    shift

    for p in "$@"; do
        args+=(-p "$p")
    done

    strace -f -c -o "$W/$tag-strace" "${args[@]}" 2> "$W/$tag-strace.err" &
    STRACE_PID=$!
    PIDS+=("$STRACE_PID")
    sleep 1
}


trace_stop() {
    [ -n "$STRACE_PID" ] || return 0
    kill -INT "$STRACE_PID" 2>/dev/null
    wait "$STRACE_PID" 2>/dev/null
    STRACE_PID=
}


# a Tern command (tern_cli ARGS), under strace -f -c with BENCH_STRACE=1

traced_cli() {
    local tag=$1

    shift

    if [ "${BENCH_STRACE:-0}" = 1 ]; then
        bg_run timeout "$FILL_TMO" strace -f -c -o "$W/$tag-strace" \
            "$TERN" -p "$TP" -c "$TP/tern.conf" "$@"
    else
        tern_cli "$@"
    fi
}


# drain_wait TAG COUNT-COMMAND T0: polls COUNT-COMMAND (messages still
# queued) and the sink every 0.2 s until the queue is empty; sets
# DRAIN_SECS, SINK_SECS (to the sink's N-th message); each poll goes to
# $W/TAG-trace ("seconds queued sink-messages sink-sessions")

drain_wait() {
    local tag=$1 count=$2 t0=$3 left m t s

    SINK_SECS=
    DRAIN_SECS=

    while :; do
        left=$($count)
        t=$(calc "$(now) - $t0")
        read -r s _ m <<< "$(sink_counts "$tag")"
        echo "$t $left $m $s" >> "$W/$tag-trace"

        if [ -z "$SINK_SECS" ] && [ "$m" -ge "$N" ]; then
            SINK_SECS=$t
        fi

        if [ "$left" -eq 0 ]; then
            DRAIN_SECS=$t
            return 0
        fi

        if [ "$(calc "$(now) - $t0 > $DRAIN_TMO")" = 1 ]; then
            note "$tag: $left messages still queued after $DRAIN_TMO s"
            return 1
        fi

        sleep 0.2
    done
}


# after a drain: wait for the sink's connections to end (Postfix keeps
# idle ones cached for smtp_connection_cache_time_limit, 2 s), then
# record the counters

drain_report() {
    local who=$1 cpu=$2 s q m

    for _ in $(seq 1 50); do
        [ "$(sink_conns)" -eq 0 ] && break
        sleep 0.1
    done
    sleep 0.3

    read -r s q m <<< "$(sink_counts "$who")"
    s=$((s - 1))                                # wait_port's probe

    R[${who}_conns]=$s
    R[${who}_quits]=$q
    R[${who}_mesg]=$m
    R[${who}_peak]=$(peak_stop "$who")
    R[${who}_cpu]=$cpu
    R[${who}_sink_secs]=${SINK_SECS:-}

    if [ -n "$DRAIN_SECS" ]; then
        R[${who}_secs]=$DRAIN_SECS
        R[${who}_rate]=$(calc "$N / $DRAIN_SECS")
    fi

    [ "$m" -ne "$N" ] && note "$who: the sink received $m of $N messages"
    [ "$s" -gt 0 ] && R[${who}_per_conn]=$(calc "$m / $s")

    log "$who: drained in ${DRAIN_SECS:-?} s, sink: $m messages," \
        "$s connections ($q QUIT), at most ${R[${who}_peak]} at once," \
        "server CPU ${R[${who}_cpu]} s"
}


# fill TAG PORT: N messages through smtp-source to x@sink.test

fill() {
    local tag=$1 port=$2 t0

    log "$tag: smtp-source -d -s $SESSIONS -m $N -l $SIZE to x@sink.test"

    t0=$(now)
    if ! bg_run timeout "$FILL_TMO" "$SMTP_SOURCE" -d -s "$SESSIONS" \
            -l "$SIZE" -m "$N" -f sender@bench.test -t x@sink.test \
            -M client.bench.test "127.0.0.1:$port" \
            > "$W/$tag-fill.log" 2>&1
    then
        note "$tag: smtp-source failed: $(tail -1 "$W/$tag-fill.log")"
        return 1
    fi

    R[${tag}_fill]=$(calc "$(now) - $t0")
}


###############################################################################

# a DNS server for Tern's resolver (t/lib/Tern/Test/DNS.pm): sink.test's
# MX is 127.0.0.1 (Tern's mx_port is the sink's port)

DNS_PORT=

dns_start() {
    DNS_PORT=$(free_port)

    perl -I"$ROOT/t/lib" -MTern::Test::DNS -e '
        my $d = Tern::Test::DNS->start(port => $ARGV[0], zone => {
            "sink.test" => { MX => [ "10 mx.sink.test" ] },
            "mx.sink.test" => { A => "127.0.0.1" },
            "bench.test" => {
                MX => [ "10 mail.bench.test" ],
                A => [ "127.0.0.1" ],
                TXT => [ "v=spf1 ip4:127.0.0.0/8 -all" ],
            },
            "mail.bench.test" => { A => "127.0.0.1" },
            "client.bench.test" => { A => "127.0.0.1" },
            "_dmarc.bench.test" => { TXT => "v=DMARC1; p=none" },
            "1.0.0.127.in-addr.arpa" => { PTR => "client.bench.test." },
        });
        $| = 1;
        print "ready\n";
        sleep 3600;
    ' "$DNS_PORT" > "$W/dns.out" 2>&1 &
    PIDS+=($!)

    for _ in $(seq 1 100); do
        grep -q ready "$W/dns.out" 2>/dev/null && return 0
        sleep 0.1
    done

    note "DNS server did not start: $(cat "$W/dns.out")"
    return 1
}


###############################################################################

# Tern

TP="$W/tern"
TERN_SMTP=
TERN_NWORKERS=

tern_conf() {
    mkdir -p "$TP/logs"

    cat > "$TP/tern.conf" <<EOF
daemon off;
worker_processes $WORKERS;
error_log logs/error.log ${BENCH_TERN_LOG:-info};
pid logs/tern.pid;
${BENCH_TERN_THREADS:+thread_pool_threads $BENCH_TERN_THREADS;}

events {
    worker_connections 10240;
}

resolver 127.0.0.1:$DNS_PORT;
resolver_timeout 5s;

outbound {
    mx_port $SINK_PORT;
    tls none;
    ipv6 off;
    retry 1h 1h;
    destination_concurrency $CONC;
    messages_per_connection $PER_CONN;
}

mail {
    server_name mail.bench.test;

    server {
        listen 127.0.0.1:$TERN_SMTP;
        protocol smtp;
        smtp_relay_networks 127.0.0.0/8;
    }
}
EOF
}


tern_cli() {
    bg_run timeout "$FILL_TMO" "$TERN" -p "$TP" -c "$TP/tern.conf" "$@"
}


tern_start() {
    "$TERN" -p "$TP" -c "$TP/tern.conf" >> "$TP/stderr.log" 2>&1 &
    TERN_PID=$!

    if ! wait_port "$TERN_SMTP" 10; then
        note "tern did not start: $(tail -3 "$TP/stderr.log" \
              "$TP/logs/error.log" 2>/dev/null | tr '\n' ' ')"
        tern_stop
        return 1
    fi

    TERN_NWORKERS=$(pgrep -c -P "$TERN_PID")
    log "tern started, pid $TERN_PID, $TERN_NWORKERS workers"
}


tern_stop() {
    local pid=$TERN_PID

    [ -n "$pid" ] || return 0
    TERN_PID=

    kill -QUIT "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done

    if kill -0 "$pid" 2>/dev/null; then
        note "tern did not stop on SIGQUIT in 10 s"
        local kids
        kids=$(tree_pids "$pid")
        kill -TERM "$pid" 2>/dev/null
        sleep 2
        # shellcheck disable=SC2086 # one word per pid
        kill -KILL $kids 2>/dev/null
    fi

    wait "$pid" 2>/dev/null
}


# queued messages: one <id>.env per message in queue/<shard>/

tern_queued() {
    find "$TP/queue" -mindepth 2 -maxdepth 2 -name '*.env' 2>/dev/null \
        | wc -l
}


# tern_fill TAG: N messages into the queue while the sink is down: every
# first attempt gets "Connection refused" and waits an hour (retry 1h
# 1h); returns when all are deferred

tern_fill() {
    local tag=$1 n pending start

    fill "$tag" "$TERN_SMTP" || return 1

    start=$(now)
    while :; do
        n=$(tern_queued)
        pending=$(tern_cli queue list 2>/dev/null | grep -c ':pending')
        [ "$n" -ge "$N" ] && [ "$pending" -eq 0 ] && break
        if [ "$(calc "$(now) - $start > $FILL_TMO")" = 1 ]; then
            note "$tag: $n queued, $pending pending after the fill"
            return 1
        fi
        sleep 1
    done

    n=$(tern_cli queue list | wc -l)
    log "$tag: filled in ${R[${tag}_fill]} s (+$(calc "$(now) - $start")" \
        "s until every message was deferred); queue list: $n messages"

    if [ "$n" -ne "$N" ]; then
        note "$tag: queue list shows $n messages, expected $N"
        return 1
    fi
}


# 1. the queue flushed while Tern runs (as an operator would)

tern_bench() {
    local t0 t1 n cpu0 cpu1 c0 c1

    log "=== Tern ($TERN)"

    tern_conf
    tern_start || return 1
    tern_fill tern || return 1
    sink_start tern || return 1

    # shellcheck disable=SC2046 # one word per pid
    trace_start tern $(pgrep -P "$TERN_PID")
    peak_start tern
    cpu0=$(cpu_tree "$TERN_PID")
    cpu_children
    c0=$CPU_CHILDREN
    t0=$(now)

    traced_cli tern-flush queue flush > "$W/tern-flush.out" 2>&1 \
        || note "tern: queue flush failed: $(tail -1 "$W/tern-flush.out")"
    t1=$(now)
    cpu_children
    c1=$CPU_CHILDREN
    R[tern_flush]=$(calc "$t1 - $t0")
    R[tern_flush_cpu]=$(calc "$c1 - $c0")
    log "tern: $(tail -1 "$W/tern-flush.out") in ${R[tern_flush]} s"

    drain_wait tern tern_queued "$t0"
    cpu1=$(cpu_tree "$TERN_PID")
    trace_stop

    drain_report tern "$(calc "$cpu1 - $cpu0 + $c1 - $c0")"

    n=$(tern_cli queue list | wc -l)
    [ "$n" -ne 0 ] && note "tern: queue list still shows $n messages"

    sink_stop
    return 0
}


# 2. the queue flushed while Tern is stopped, then Tern started: every
# message is due when the workers' first scan finds it; this is the
# queue runner alone, without the flush command beside it

tern_bench_start() {
    local t0 t1 n cpu1 c0 c1

    log "=== Tern, queue due at start"

    tern_fill ternstart || return 1
    tern_stop

    cpu_children
    c0=$CPU_CHILDREN
    t0=$(now)
    tern_cli queue flush > "$W/ternstart-flush.out" 2>&1 \
        || note "ternstart: queue flush failed:" \
                "$(tail -1 "$W/ternstart-flush.out")"
    t1=$(now)
    cpu_children
    c1=$CPU_CHILDREN
    R[ternstart_flush]=$(calc "$t1 - $t0")
    R[ternstart_flush_cpu]=$(calc "$c1 - $c0")
    log "ternstart: $(tail -1 "$W/ternstart-flush.out") in" \
        "${R[ternstart_flush]} s (Tern stopped, not timed)"

    sink_start ternstart || return 1

    peak_start ternstart
    t0=$(now)
    tern_start || return 1

    drain_wait ternstart tern_queued "$t0"
    cpu1=$(cpu_tree "$TERN_PID")

    drain_report ternstart "$cpu1"

    n=$(tern_cli queue list | wc -l)
    [ "$n" -ne 0 ] && note "ternstart: queue list still shows $n messages"

    sink_stop
    tern_stop
}


###############################################################################

# Postfix

PF="$W/postfix"

postfix_stop() {
    local dir=$PF_DIR pid

    PF_DIR=
    pid=$(tr -d ' ' < "$dir/queue/pid/master.pid" 2>/dev/null)

    timeout 30 postfix -c "$dir/etc" stop > /dev/null 2>&1

    for _ in $(seq 1 100); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done

    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # shellcheck disable=SC2046 # one word per pid
        kill -KILL $(tree_pids "$pid") 2>/dev/null
    fi
}


# queued messages: files in the queues a message passes through

postfix_queued() {
    find "$PF/queue/maildrop" "$PF/queue/incoming" "$PF/queue/active" \
         "$PF/queue/deferred" "$PF/queue/hold" -type f 2>/dev/null | wc -l
}


postfix_deferred() {
    find "$PF/queue/deferred" -type f 2>/dev/null | wc -l
}


postfix_bench() {
    local port n d start t0 t1 cpu0 cpu1 c0 c1 master pconc active_limit

    log "=== Postfix $(postconf -d -h mail_version 2>/dev/null)"

    d=$PF
    port=$(free_port)
    mkdir -p "$d/etc" "$d/queue" "$d/data"
    chown postfix "$d/data"

    # the same total concurrency as Tern: destination_concurrency is per
    # worker there, per destination (and machine) here

    pconc=$((CONC * ${TERN_NWORKERS:-$(nproc)}))
    active_limit=$((N > 20000 ? N : 20000))
    R[postfix_limit]=$pconc

    printf 'sink.test smtp:[127.0.0.1]:%s\n' "$SINK_PORT" \
        > "$d/etc/transport"

    cat > "$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.localhost
mydomain = bench.localhost
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtpd_peername_lookup = no
maillog_file_prefixes = $d
maillog_file = $d/maillog
syslog_name = postfix-bench

# to the sink without DNS (Postfix uses the system's resolver)
transport_maps = texthash:$d/etc/transport
smtp_tls_security_level = none

# as Tern's outbound {}: retry 1h 1h, destination_concurrency (times
# Tern's workers), messages_per_connection
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
queue_run_delay = 3600s
default_destination_concurrency_limit = $pconc
initial_destination_concurrency = $pconc
smtp_connection_cache_on_demand = yes
smtp_connection_reuse_count_limit = $PER_CONN
qmgr_message_active_limit = $active_limit
EOF

    cat > "$d/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF

    # postfix prints its errors only to a terminal or syslog: script(1)
    # gives it a terminal

    if ! bg_run timeout 60 script -qec "postfix -c $d/etc check" /dev/null \
            > "$d/check.log" 2>&1 \
       || ! bg_run timeout 60 script -qec "postfix -c $d/etc start" \
            /dev/null \
            > "$d/start.log" 2>&1
    then
        note "postfix did not start:" \
             "$(cat "$d/check.log" "$d/start.log" | tr -d '\r' | tail -2)"
        return 1
    fi
    PF_DIR=$d

    if ! wait_port "$port" 10; then
        note "postfix smtpd not listening on $port"
        postfix_stop
        return 1
    fi

    master=$(tr -d ' ' < "$d/queue/pid/master.pid")

    # the sink is down: the first attempts are refused, the destination
    # is marked dead and the rest deferred; they wait an hour

    fill postfix "$port" || return 1

    start=$(now)
    while :; do
        n=$(postfix_deferred)
        [ "$n" -ge "$N" ] && [ "$(postfix_queued)" -eq "$n" ] && break
        if [ "$(calc "$(now) - $start > $FILL_TMO")" = 1 ]; then
            note "postfix: $n deferred, $(postfix_queued) queued after" \
                 "the fill"
            return 1
        fi
        sleep 1
    done

    n=$(postqueue -c "$d/etc" -p | grep -c '^[0-9A-F]')
    log "postfix: filled in ${R[postfix_fill]} s" \
        "(+$(calc "$(now) - $start") s until every message was" \
        "deferred); postqueue -p: $n messages"

    if [ "$n" -ne "$N" ]; then
        note "postfix: postqueue -p shows $n messages, expected $N"
        return 1
    fi

    sink_start postfix || return 1

    # shellcheck disable=SC2046 # one word per pid
    trace_start postfix $(tree_pids "$master")
    peak_start postfix
    cpu0=$(cpu_tree "$master")
    cpu_children
    c0=$CPU_CHILDREN
    t0=$(now)

    postqueue -c "$d/etc" -f > "$W/postfix-flush.out" 2>&1 \
        || note "postfix: postqueue -f failed:" \
                "$(tail -1 "$W/postfix-flush.out")"
    t1=$(now)
    cpu_children
    c1=$CPU_CHILDREN
    R[postfix_flush]=$(calc "$t1 - $t0")
    R[postfix_flush_cpu]=$(calc "$c1 - $c0")

    drain_wait postfix postfix_queued "$t0"
    cpu1=$(cpu_tree "$master")
    trace_stop

    drain_report postfix "$(calc "$cpu1 - $cpu0 + $c1 - $c0")"

    if ! postqueue -c "$d/etc" -p 2>&1 | grep -q 'Mail queue is empty'; then
        note "postfix: postqueue -p does not say the queue is empty"
    fi

    sink_stop
    postfix_stop
}


###############################################################################

# the report

fmt() {
    local v=${1:-} prec=${2:-1}

    [ -n "$v" ] && printf "%.${prec}f" "$v" || printf -- '-'
}


row() {
    local label=$1 t=${2:-} p=${3:-} prec=${4:-1} ratio='-'

    if [ -n "$t" ] && [ -n "$p" ] && [ "$(calc "$p != 0")" = 1 ]; then
        ratio=$(printf '%.2fx' "$(calc "$t / $p")")
    fi

    printf '%-36s | %10s | %10s | %7s\n' \
        "$label" "$(fmt "$t" "$prec")" "$(fmt "$p" "$prec")" "$ratio"
}


rows() {
    local t=$1

    row "drain messages/s" "${R[${t}_rate]:-}" "${R[postfix_rate]:-}"
    row "connections used" "${R[${t}_conns]:-}" "${R[postfix_conns]:-}" 0
    row "messages per connection" "${R[${t}_per_conn]:-}" \
        "${R[postfix_per_conn]:-}"
    row "connections at once (peak)" "${R[${t}_peak]:-}" \
        "${R[postfix_peak]:-}" 0
    row "server CPU ms per message" "$(per_msg_ms "${R[${t}_cpu]:-}")" \
        "$(per_msg_ms "${R[postfix_cpu]:-}")" 3
}


per_msg_ms() {
    [ -n "${1:-}" ] && calc "$1 * 1000 / $N"
}


report() {
    local w

    echo
    echo "Outbound drain: $N messages of $SIZE bytes to smtp-sink on" \
         "loopback; $(nproc) cores; load average before the run" \
         "$LOAD_BEFORE"
    echo
    printf '%-36s | %10s | %10s | %7s\n' metric Tern Postfix ratio
    printf '%s\n' "$(printf '%.0s-' $(seq 1 72))"

    echo "Tern: tern queue flush while it runs; Postfix: postqueue -f"
    rows tern
    if [ -n "${R[ternstart_secs]:-}" ]; then
        echo "Tern: queue flushed while it was stopped, timed from its" \
             "start; Postfix: the same run"
        rows ternstart
    fi

    echo
    w=${TERN_NWORKERS:-?}
    echo "settings: Tern $w workers x destination_concurrency $CONC," \
         "messages_per_connection $PER_CONN; Postfix" \
         "default_destination_concurrency_limit ${R[postfix_limit]:-?}," \
         "smtp_connection_reuse_count_limit $PER_CONN"
    for w in tern ternstart postfix; do
        [ -n "${R[${w}_secs]:-}" ] || continue
        echo "detail: $w: drained in $(fmt "${R[${w}_secs]}" 2) s" \
             "(the sink had all $N at $(fmt "${R[${w}_sink_secs]:-}" 2)" \
             "s), sink saw ${R[${w}_mesg]} messages over" \
             "${R[${w}_conns]} connections (${R[${w}_quits]} QUIT)," \
             "server CPU $(fmt "${R[${w}_cpu]}" 2) s; flush command" \
             "$(fmt "${R[${w}_flush]}" 2) s, its CPU" \
             "$(fmt "${R[${w}_flush_cpu]}" 2) s; filled in" \
             "$(fmt "${R[${w}_fill]:-}" 1) s"
    done
    echo "notes: ratio is Tern/Postfix (rates: above 1 is better;" \
         "connections and CPU: below 1 is better)."
    echo "       The drain is timed from the flush command (or Tern's" \
         "start) to an empty queue (Tern: no <id>.env left; Postfix: no" \
         "file in maildrop, incoming, active, deferred, hold), polled" \
         "every 0.2 s. Connections: smtp-sink's session count (every" \
         "connection that ended); peak: the most established at once," \
         "sampled every 50 ms (ss). CPU: the server's process tree and" \
         "the flush command."
    echo "       Durability differs: Tern's flush rewrites each envelope" \
         "(2 fsyncs) and each delivered message is removed with an fsync" \
         "of its shard; Postfix's flush renames the deferred files and" \
         "removes delivered ones with no fsync at all (a crash can bring" \
         "delivered mail back, to be sent twice)."

    for w in "${NOTES[@]}"; do
        echo "note: $w"
    done
}


###############################################################################

# main

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

missing=
for tool in python3 perl ss; do
    command -v "$tool" > /dev/null || missing="$missing $tool"
done
[ -x "$SMTP_SOURCE" ] || missing="$missing smtp-source"
[ -x "$SMTP_SINK" ] || missing="$missing smtp-sink"

if [ -n "$missing" ]; then
    log "missing:$missing (apt-get install postfix iproute2 perl python3)"
    exit 1
fi

if [ "$(id -u)" != 0 ]; then
    log "run this as root (smtp-sink -u nobody and Postfix need it)"
    exit 1
fi

if [ "$DO_POSTFIX" = 1 ]; then
    missing=
    for tool in postfix postconf postqueue script; do
        command -v "$tool" > /dev/null || missing="$missing $tool"
    done
    if [ -n "$missing" ]; then
        note "missing:$missing (apt-get install postfix bsdutils): Postfix" \
             "skipped"
        DO_POSTFIX=0
    fi
fi

if [ "${BENCH_STRACE:-0}" = 1 ] && ! command -v strace > /dev/null; then
    log "BENCH_STRACE=1 needs strace (apt-get install strace)"
    exit 1
fi

if [ "$DO_TERN" = 1 ] && [ ! -x "$TERN" ]; then
    note "no tern binary at $TERN: Tern skipped"
    DO_TERN=0
fi

if [ "$DO_TERN" = 1 ] && ! perl -I"$ROOT/t/lib" -MNet::DNS -e 1 2>/dev/null
then
    note "perl Net::DNS missing (apt-get install libnet-dns-perl):" \
         "Tern skipped"
    DO_TERN=0
fi

log "work directory $W; load average $LOAD_BEFORE"

SINK_PORT=$(free_port)

if [ "$DO_TERN" = 1 ]; then
    TERN_SMTP=$(free_port)
    if dns_start; then
        if tern_bench && [ "${BENCH_TERN_START:-1}" = 1 ]; then
            tern_bench_start
        fi
        tern_stop
    fi
fi

[ "$DO_POSTFIX" = 1 ] && postfix_bench

report
