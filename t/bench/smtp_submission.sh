#!/usr/bin/env bash
#
# Submission over TLS with AUTH, TLS handshakes on an implicit-TLS port
# against the machine's limit from `openssl speed`, and pipelined
# multi-recipient delivery: Tern side by side with Postfix (AUTH through
# a private Dovecot), on loopback.  Not a test: run it by hand, as root:
#
#     t/bench/smtp_submission.sh [objs/tern]
#
# Everything runs in a fresh temp dir with its own ports and its own
# Postfix and Dovecot configuration; the system's instances are never
# started or touched.  The load client (t/bench/smtp_load.c) is built
# into the temp dir.  See t/bench/README.
#
# Environment (defaults in parentheses):
#     BENCH_HS_SECONDS (8)     seconds per handshake run
#     BENCH_HS_CLIENTS (100)   parallel handshake clients
#     BENCH_HS_MAX (500000)    handshakes at most per run
#     BENCH_HS_CERTS ("ecdsa rsa")  certificates for the handshake runs
#     BENCH_TLS_GROUP (P-256)  the client's key share: P-256 or X25519
#     BENCH_SUB_MESSAGES (2000)  messages per submission run
#     BENCH_SUB_CLIENTS (20)   parallel submission sessions
#     BENCH_SUB_RUNS ("starttls:10 implicit:10 starttls:1")
#                              TLS mode : messages per session, one run each
#     BENCH_PIPE_MESSAGES (400)  messages in the pipelined run
#     BENCH_PIPE_RCPTS (50)    recipients per message (and local users)
#     BENCH_PIPE_CLIENTS (10)  parallel pipelined sessions
#     BENCH_SIZE (4096)        body bytes of each message
#     BENCH_PW_COST (0)        yescrypt cost (0: libxcrypt's default)
#     BENCH_DOVECOT_PLAIN (0)  1: Dovecot (Postfix's AUTH) gets {PLAIN}
#                              instead of Tern's yescrypt hash
#     BENCH_PIN (1)            pin servers and client to separate CPUs
#     BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  the CPU lists (taskset -c)
#     BENCH_SPEED_SECONDS (3)  openssl speed -seconds
#     BENCH_CLIENT_SSL (auto)  the load client's TLS library: boringssl
#                              (android-libboringssl-dev, Tern's), openssl
#                              (libssl-dev); auto: BoringSSL when there
#     BENCH_RUN_SECONDS (15)   a submission or pipelined run stops
#                              starting sessions after this time
#     BENCH_TIMEOUT (120)      seconds more allowed for a client run
#     BENCH_DRAIN_TIMEOUT (300)  seconds to wait for Postfix's queue
#     BENCH_TERN=1 BENCH_POSTFIX=1 BENCH_SPEED=1   0 skips that part
#     BENCH_HS=1 BENCH_SUB=1 BENCH_PIPE=1          0 skips that test
#     BENCH_TERN_LOG (info)    Tern's error_log level
#     BENCH_TERN_USER=NAME     add "user NAME;" to Tern's configuration
#     BENCH_KEEP=1             keep the temp dir (logs, configs, mail)

set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TERN=${1:-${TERN_BINARY:-$ROOT/objs/tern}}
case $TERN in /*) ;; *) TERN=$PWD/$TERN ;; esac

HS_SECS=${BENCH_HS_SECONDS:-8}
HS_CLIENTS=${BENCH_HS_CLIENTS:-100}
HS_MAX=${BENCH_HS_MAX:-500000}
HS_CERTS=${BENCH_HS_CERTS:-ecdsa rsa}
GROUP=${BENCH_TLS_GROUP:-P-256}
SUB_N=${BENCH_SUB_MESSAGES:-2000}
SUB_CLIENTS=${BENCH_SUB_CLIENTS:-20}
SUB_RUNS=${BENCH_SUB_RUNS:-starttls:10 implicit:10 starttls:1}
PIPE_N=${BENCH_PIPE_MESSAGES:-400}
PIPE_RCPTS=${BENCH_PIPE_RCPTS:-50}
PIPE_CLIENTS=${BENCH_PIPE_CLIENTS:-10}
SIZE=${BENCH_SIZE:-4096}
PW_COST=${BENCH_PW_COST:-0}
SPEED_SECS=${BENCH_SPEED_SECONDS:-3}
RUN_SECS=${BENCH_RUN_SECONDS:-15}
TMO=${BENCH_TIMEOUT:-120}
DRAIN_TMO=${BENCH_DRAIN_TIMEOUT:-300}
DO_TERN=${BENCH_TERN:-1}
DO_POSTFIX=${BENCH_POSTFIX:-1}
DO_SPEED=${BENCH_SPEED:-1}
DO_HS=${BENCH_HS:-1}
DO_SUB=${BENCH_SUB:-1}
DO_PIPE=${BENCH_PIPE:-1}

PASSWORD=bench-secret
NOBODY_UID=$(id -u nobody 2>/dev/null || echo 65534)
NOBODY_GID=$(id -g nobody 2>/dev/null || echo 65534)
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

declare -A R         # results: key -> value
declare -a NOTES     # lines printed under the table
PIDS=()              # background processes to kill on exit
TERN_PID=
PF_DIR=
DC_CONF=
DC_PID=
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
        kill -TERM "$p" 2>/dev/null
    done

    [ -n "$TERN_PID" ] && tern_stop
    [ -n "$PF_DIR" ] && postfix_stop
    [ -n "$DC_CONF" ] && dovecot_stop

    sleep 0.2
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
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
# given pids: every live process's own time plus the time of the
# children it has reaped (Postfix's master reaps its smtpd processes)

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
# to anything but the server (and the client when nothing is pinned):
# other programs, kernel threads, kernel work charged to no process;
# noted above 10%

others_start() {
    read -r OB0 OI0 < <(cpus_stat)
}


others_end() {
    local tag=$1 ours=$2 client=${3:-0} b1 i1 pct

    # b1: busy seconds of the server CPUs during the run, i1: all seconds
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


###############################################################################

# the machine's limit: openssl speed on one server CPU

SPEED_ECDH=
SPEED_ECDSA=
SPEED_RSA=
LIB_ECDH=
LIB_ECDSA=
LIB_RSA=

speed_bench() {
    local cpu=${SERVER_CPUS%%[,-]*} ecdh_alg rsa='' out

    case $GROUP in
    X25519|x25519) ecdh_alg=ecdhx25519 ;;
    *) ecdh_alg=ecdhp256 ;;
    esac

    case " $HS_CERTS " in *" rsa "*) rsa=rsa2048 ;; esac

    log "openssl speed -seconds $SPEED_SECS $ecdh_alg ecdsap256 $rsa" \
        "(CPU $cpu)"

    # shellcheck disable=SC2086 # $rsa: nothing or one word
    if ! run timeout 300 taskset -c "$cpu" openssl speed \
            -seconds "$SPEED_SECS" "$ecdh_alg" ecdsap256 $rsa \
            > "$W/speed.out" 2> "$W/speed.err"
    then
        note "openssl speed failed: $(tail -1 "$W/speed.err")"
        return 1
    fi

    out=$(cat "$W/speed.out")
    SPEED_ECDH=$(awk '/bits ecdh \(/ { print $NF; exit }' <<< "$out")
    SPEED_ECDSA=$(awk '/bits ecdsa \(nistp256\)/ { print $(NF-1); exit }' \
                  <<< "$out")
    SPEED_RSA=$(awk '/^rsa 2048 bits/ { print $(NF-1); exit }' <<< "$out")

    log "openssl speed: ecdh $SPEED_ECDH/s, ecdsa P-256 sign" \
        "$SPEED_ECDSA/s, rsa2048 sign ${SPEED_RSA:--}/s"

    # Tern's own library, when it is BoringSSL and so is the client's
    # (P-256 only: the client measures no X25519)

    [ "$TERN_LIB" = BoringSSL ] && [ "$CLIENT_LIB" = BoringSSL ] \
        && [ "$ecdh_alg" = ecdhp256 ] || return 0

    log "smtp_load -m speed: BoringSSL (Tern's library) on CPU $cpu"
    if ! OUT=$(run timeout 120 taskset -c "$cpu" "$LOAD" -m speed \
               -t "$SPEED_SECS" 2> "$W/lib-speed.err")
    then
        note "smtp_load -m speed failed: $(tail -1 "$W/lib-speed.err")"
        return 0
    fi

    LIB_ECDH=$(value ecdh)
    LIB_ECDSA=$(value ecdsa_sign)
    LIB_RSA=$(value rsa_sign)
    log "BoringSSL: ecdh P-256 $LIB_ECDH/s, ecdsa P-256 sign" \
        "$LIB_ECDSA/s, rsa2048 sign $LIB_RSA/s (CPU time)"
}


# limit_per_core ecdsa|rsa [lib]: full handshakes per second of one
# core, one ECDHE and one signature each; from openssl speed, or with
# "lib" from Tern's own library (BoringSSL)

limit_per_core() {
    local ecdh sign

    if [ "${2:-}" = lib ]; then
        ecdh=$LIB_ECDH
        [ "$1" = rsa ] && sign=$LIB_RSA || sign=$LIB_ECDSA
    else
        ecdh=$SPEED_ECDH
        [ "$1" = rsa ] && sign=$SPEED_RSA || sign=$SPEED_ECDSA
    fi

    [ -n "$ecdh" ] && [ -n "$sign" ] || return 0
    calc "1 / (1 / $ecdh + 1 / $sign)"
}


###############################################################################

# the load runs; ROOTS are the server's pids (for its CPU time)

# hs_run WHO CERT PORT ROOTS...

hs_run() {
    local who=$1 cert=$2 port=$3 c0 c1 k sessions failed elapsed
    shift 3
    k=${who}_hs_$cert

    log "$who: TLS handshakes, $cert, $HS_CLIENTS clients, $HS_SECS s"

    c0=$(tree_cpu "$@")
    others_start
    run timeout -k 5 $((HS_SECS + 60)) "${CLI[@]}" "$LOAD" -m hs \
        -c "$HS_CLIENTS" -n "$HS_MAX" -t "$HS_SECS" -g "$GROUP" \
        "127.0.0.1:$port" > "$W/$k.out" 2>&1
    c1=$(tree_cpu "$@")
    OUT=$(tail -1 "$W/$k.out")
    others_end "$k" "$(calc "$c1 - $c0")" "$(value cpu)"

    sessions=$(value sessions)
    failed=$(value failed)
    elapsed=$(value elapsed)

    if [ -z "$sessions" ] || [ "$sessions" = 0 ]; then
        note "$who: handshake run failed: $OUT"
        return 1
    fi

    [ "$failed" != 0 ] &&
        note "$who $cert: $failed of $((sessions + failed)) handshakes" \
             "failed: $(sed -n 's/.*error="\(.*\)"$/\1/p' <<< "$OUT")"

    R[$k]=$(calc "$sessions / $elapsed")
    R[${k}_scpu]=$(calc "$c1 - $c0")
    R[${k}_ccpu]=$(value cpu)
    R[${k}_n]=$sessions
    R[${k}_t]=$elapsed
    R[${k}_tls]=$(value tls)
    [ "$(calc "$c1 - $c0 > 0")" = 1 ] &&
        R[${k}_percpu]=$(calc "$sessions / ($c1 - $c0)")

    log "$who $cert: ${R[$k]} handshakes/s ($sessions in $elapsed s)," \
        "server CPU ${R[${k}_scpu]} s, client CPU ${R[${k}_ccpu]} s," \
        "${R[${k}_tls]}"
}


# sub_run WHO TLS M PORT MAILDIR ROOTS...: submission, sets R[...]

sub_run() {
    local who=$1 mode=$2 m=$3 port=$4 dir=$5 k c0 c1 a0 before after msgs t
    shift 5
    k=${who}_sub_${mode}_$m

    before=$(count_mail "$dir")

    log "$who: submission $mode, $m per session, $SUB_N messages," \
        "$SUB_CLIENTS sessions in parallel"

    c0=$(tree_cpu "$@")
    a0=$(tree_cpu "$DC_PID")
    others_start
    run timeout -k 5 $((RUN_SECS + TMO)) "${CLI[@]}" "$LOAD" -m sub \
        -T "$mode" -M "$m" -n "$SUB_N" -c "$SUB_CLIENTS" -t "$RUN_SECS" \
        -s "$SIZE" \
        -g "$GROUP" -u u@bench.test -p "$PASSWORD" -f u@bench.test \
        -R r@bench.test "127.0.0.1:$port" > "$W/$k.out" 2>&1
    OUT=$(tail -1 "$W/$k.out")
    others_end "$k" "$(calc "$(tree_cpu "$@") - $c0")" "$(value cpu)"

    msgs=$(value messages)
    if [ -z "$msgs" ] || [ "$msgs" = 0 ]; then
        note "$who: submission run $mode/$m failed: $OUT"
        return 1
    fi

    [ "$(value failed)" != 0 ] &&
        note "$who submission $mode/$m: $(value failed) sessions failed:" \
             "$(sed -n 's/.*error="\(.*\)"$/\1/p' <<< "$OUT")"
    [ "$msgs" -lt "$SUB_N" ] &&
        note "$who submission $mode/$m: stopped after $RUN_SECS s" \
             "(BENCH_RUN_SECONDS), $msgs of $SUB_N messages sent"

    R[$k]=$(calc "$msgs / $(value elapsed)")

    if [ "$who" = postfix ]; then
        t=$(now)
        postfix_drain
        R[${k}_drain]=$(calc "$(now) - $t")
    fi

    c1=$(tree_cpu "$@")
    after=$(count_mail "$dir")
    R[${k}_check]="$((after - before))/$msgs"
    R[${k}_cpu]=$(calc "($c1 - $c0) * 1000 / $msgs")
    R[${k}_ccpu]=$(value cpu)
    [ "$who" = postfix ] &&
        R[${k}_auth]=$(calc "($(tree_cpu "$DC_PID") - $a0) * 1000 / $msgs")

    [ $((after - before)) -ne "$msgs" ] &&
        note "$who submission $mode/$m: $((after - before)) messages on" \
             "disk after $msgs acknowledged"

    log "$who submission $mode/$m: ${R[$k]} msgs/s, on disk" \
        "${R[${k}_check]}, server CPU ${R[${k}_cpu]} ms/msg"
}


# pipe_run WHO PORT MAILBASE ROOTS...: pipelined multi-recipient delivery

pipe_run() {
    local who=$1 port=$2 base=$3 k=${1}_pipe c0 c1 msgs rcpts t i n
    local min='' max=''
    shift 3

    log "$who: pipelined delivery, $PIPE_N messages to $PIPE_RCPTS" \
        "recipients, $PIPE_CLIENTS sessions in parallel"

    c0=$(tree_cpu "$@")
    others_start
    run timeout -k 5 $((RUN_SECS + TMO)) "${CLI[@]}" "$LOAD" -m pipe \
        -n "$PIPE_N" -c "$PIPE_CLIENTS" -r "$PIPE_RCPTS" -t "$RUN_SECS" \
        -s "$SIZE" -f sender@client.bench.test -R 'p%ld@bench.test' \
        "127.0.0.1:$port" > "$W/$k.out" 2>&1
    OUT=$(tail -1 "$W/$k.out")
    others_end "$k" "$(calc "$(tree_cpu "$@") - $c0")" "$(value cpu)"

    msgs=$(value messages)
    rcpts=$(value rcpts)
    if [ -z "$msgs" ] || [ "$msgs" = 0 ]; then
        note "$who: pipelined run failed: $OUT"
        return 1
    fi

    [ "$(value failed)" != 0 ] &&
        note "$who pipelined: $(value failed) sessions failed:" \
             "$(sed -n 's/.*error="\(.*\)"$/\1/p' <<< "$OUT")"
    [ "$rcpts" -ne $((msgs * PIPE_RCPTS)) ] &&
        note "$who pipelined: $rcpts recipients accepted in $msgs messages"
    [ "$msgs" -lt "$PIPE_N" ] &&
        note "$who pipelined: stopped after $RUN_SECS s" \
             "(BENCH_RUN_SECONDS), $msgs of $PIPE_N messages sent"

    R[$k]=$(calc "$msgs / $(value elapsed)")
    R[${k}_rcpt]=$(calc "$rcpts / $(value elapsed)")

    if [ "$who" = postfix ]; then
        t=$(now)
        postfix_drain
        R[${k}_drain]=$(calc "$(now) - $t")
    fi

    # until every copy is on disk: Tern's 250 comes after that
    R[${k}_disk]=$(calc "$msgs / ($(value elapsed) + ${R[${k}_drain]:-0})")

    c1=$(tree_cpu "$@")

    for i in $(seq 1 "$PIPE_RCPTS"); do
        n=$(count_mail "$base/p$i")
        [ -z "$min" ] || [ "$n" -lt "$min" ] && min=$n
        [ -z "$max" ] || [ "$n" -gt "$max" ] && max=$n
    done

    R[${k}_check]="$min..$max/$msgs"
    R[${k}_cpu]=$(calc "($c1 - $c0) * 1000 / $msgs")
    [ "$min" -ne "$msgs" ] || [ "$max" -ne "$msgs" ] &&
        note "$who pipelined: users hold $min..$max messages," \
             "$msgs acknowledged"

    log "$who pipelined: ${R[$k]} msgs/s, ${R[${k}_rcpt]} rcpts/s," \
        "every user holds $min..$max of $msgs"
}


###############################################################################

# certificates: one ECDSA P-256 and one RSA 2048 pair, for both servers

make_certs() {
    mkdir -p "$W/certs"

    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout "$W/certs/ecdsa.key" -out "$W/certs/ecdsa.crt" \
        -days 30 -subj /CN=mail.bench.test > "$W/certs/log" 2>&1 &&
    openssl req -x509 -new -newkey rsa:2048 \
        -nodes -keyout "$W/certs/rsa.key" -out "$W/certs/rsa.crt" \
        -days 30 -subj /CN=mail.bench.test >> "$W/certs/log" 2>&1
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
    worker_connections 10240;
}

store {
    password_scheme yescrypt;
    password_cost $PW_COST;
}

mail {
    server_name mail.bench.test;
    smtp_max_message_size 25m;
    $TERN_LIMITS

    ssl_certificate $W/certs/ecdsa.crt;
    ssl_certificate_key $W/certs/ecdsa.key;

    server {
        listen 127.0.0.1:$T_MX;
        protocol smtp;
    }

    server {
        listen 127.0.0.1:$T_SUB;
        protocol smtp;
        smtp_auth required;
    }

    server {
        listen 127.0.0.1:$T_SMTPS ssl;
        protocol smtp;
        smtp_auth required;
    }

    server {
        listen 127.0.0.1:$T_SMTPS_RSA ssl;
        protocol smtp;
        smtp_auth required;
        ssl_certificate $W/certs/rsa.crt;
        ssl_certificate_key $W/certs/rsa.key;
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

    if ! wait_port "$T_MX" 10 || ! wait_port "$T_SMTPS_RSA" 10; then
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


tern_bench() {
    local i c

    log "=== Tern ($TERN)"

    TP="$W/tern"
    T_MX=$(free_port)
    T_SUB=$(free_port)
    T_SMTPS=$(free_port)
    T_SMTPS_RSA=$(free_port)

    # every client connection comes from 127.0.0.1: no per-address limit
    # (Postfix exempts mynetworks from its own); a build without the
    # directive has no such limit

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
        for i in u r $(seq -f 'p%g' 1 "$PIPE_RCPTS"); do
            echo "$PASSWORD" | tern_cli user add "$i@bench.test" || exit 1
        done
    ) > "$W/tern-cli.log" 2>&1
    then
        note "tern: domain/user setup failed:" \
             "$(tail -2 "$W/tern-cli.log" | tr '\n' ' ')"
        tern_stop
        return 1
    fi

    # the same hash for Dovecot's passwd-file

    PW_HASH=$(python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT password_hash FROM users WHERE address = ?",
                (sys.argv[2],)).fetchone()[0])' "$TP/tern.db" u@bench.test \
        2>> "$W/tern-cli.log")
    log "tern: users added, password hash ${PW_HASH:0:7}..."

    if [ "$DO_HS" = 1 ]; then
        for c in $HS_CERTS; do
            [ "$c" = rsa ] && i=$T_SMTPS_RSA || i=$T_SMTPS
            hs_run tern "$c" "$i" "$TERN_PID"
        done
    fi

    if [ "$DO_SUB" = 1 ]; then
        for c in $SUB_RUNS; do
            [ "${c%%:*}" = implicit ] && i=$T_SMTPS || i=$T_SUB
            sub_run tern "${c%%:*}" "${c#*:}" "$i" \
                "$TP/mail/bench.test/r" "$TERN_PID"
        done
    fi

    [ "$DO_PIPE" = 1 ] &&
        pipe_run tern "$T_MX" "$TP/mail/bench.test" "$TERN_PID"

    grep -E '\[(alert|emerg|crit)\]' "$TP/logs/error.log" 2>/dev/null \
        | head -3 | while read -r i; do note "tern log: $i"; done

    tern_stop
}


###############################################################################

# Dovecot: only the auth service, Postfix's SASL

DC=

dovecot_start() {
    local pw

    DC="$W/dovecot"
    mkdir -p "$DC/run" "$DC/state"
    chmod 755 "$DC"

    if [ -z "${PW_HASH:-}" ]; then
        # no Tern run: a yescrypt hash like Tern's default (cost 5); 16
        # salt characters are 12 whole bytes
        PW_HASH=$(perl -e 'my @c = ("a".."z", "A".."Z", 0..9, ".", "/");
            print crypt($ARGV[0],
                        q($y$j9T$) . join "", map { $c[rand @c] } 1 .. 16)' \
            "$PASSWORD")
        case $PW_HASH in
        '$y$'*) ;;
        *) note "crypt(3) made no yescrypt hash: $PW_HASH"; return 1 ;;
        esac
    fi

    # {CRYPT} is libxcrypt's crypt(3), which knows yescrypt; with
    # BENCH_DOVECOT_PLAIN=1 the password is stored in the clear instead,
    # to see what the hashing costs Postfix (see the README)

    if [ "${BENCH_DOVECOT_PLAIN:-0}" = 1 ]; then
        pw="{PLAIN}$PASSWORD"
    else
        pw="{CRYPT}$PW_HASH"
    fi

    printf 'u@bench.test:%s:%s:%s::%s::\n' \
        "$pw" "$NOBODY_UID" "$NOBODY_GID" "$DC/state" > "$DC/passwd"

    cat > "$DC/dovecot.conf" <<EOF
instance_name = tern-bench-sasl
base_dir = $DC/run
state_dir = $DC/state
log_path = $DC/dovecot.log
protocols = none
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1

passdb {
    driver = passwd-file
    args = username_format=%u $DC/passwd
}

userdb {
    driver = static
    args = uid=$NOBODY_UID gid=$NOBODY_GID home=$DC/state
}

service auth {
    unix_listener $DC/auth-client {
        mode = 0660
        user = postfix
        group = postfix
    }
}
EOF

    if ! run timeout 30 "${SRV[@]}" dovecot -c "$DC/dovecot.conf" \
            > "$DC/start.log" 2>&1
    then
        note "dovecot did not start: $(tail -2 "$DC/start.log" | tr '\n' ' ')"
        return 1
    fi
    DC_CONF="$DC/dovecot.conf"

    for _ in $(seq 1 100); do
        [ -S "$DC/auth-client" ] && return 0
        sleep 0.1
    done

    note "dovecot: no auth socket: $(tail -2 "$DC/dovecot.log")"
    return 1
}


dovecot_stop() {
    local conf=$DC_CONF pid

    DC_CONF=
    pid=$(cat "$DC/run/master.pid" 2>/dev/null)

    timeout 30 doveadm -c "$conf" stop > /dev/null 2>&1

    for _ in $(seq 1 100); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done

    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # shellcheck disable=SC2046 # one word per pid
        kill -KILL $(tree_pids "$pid") 2>/dev/null
    fi
}


###############################################################################

# Postfix

PD=

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


# wait until nothing is left in the queue (Postfix delivers after its
# 250); a deferred message is noted

postfix_drain() {
    local start n q="$PD/queue"

    start=$(now)

    while :; do
        n=$(find "$q/maildrop" "$q/incoming" "$q/active" -type f \
                 2>/dev/null | wc -l)
        [ "$n" -eq 0 ] && break
        if [ "$(calc "$(now) - $start > $DRAIN_TMO")" = 1 ]; then
            note "postfix: $n messages still queued after $DRAIN_TMO s"
            break
        fi
        sleep 0.1
    done

    n=$(find "$q/deferred" "$q/hold" -type f 2>/dev/null | wc -l)
    [ "$n" -gt 0 ] && note "postfix: $n messages deferred or held" \
                           "(see $PD/maillog with BENCH_KEEP=1)"

    case $(timeout 30 postqueue -c "$PD/etc" -p 2>&1) in
    *"Mail queue is empty"*) ;;
    *) note "postfix: postqueue -p does not say the queue is empty" ;;
    esac
}


postfix_bench() {
    local i c maxproc sasl master

    log "=== Postfix $(postconf -d -h mail_version 2>/dev/null)"

    PD="$W/postfix"
    P_MX=$(free_port)
    P_SUB=$(free_port)
    P_SMTPS=$(free_port)
    P_SMTPS_RSA=$(free_port)
    maxproc=$(( (HS_CLIENTS > SUB_CLIENTS ? HS_CLIENTS : SUB_CLIENTS) + 50 ))
    [ "$maxproc" -lt 100 ] && maxproc=100

    dovecot_start || return 1

    mkdir -p "$PD/etc" "$PD/queue" "$PD/data" "$PD/vmail"
    chown postfix "$PD/data"
    chown "$NOBODY_UID:$NOBODY_GID" "$PD/vmail"

    cat > "$PD/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PD/queue
data_directory = $PD/data
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
default_process_limit = $maxproc
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $PD/vmail
virtual_mailbox_maps = texthash:$PD/etc/vmailbox
virtual_uid_maps = static:$NOBODY_UID
virtual_gid_maps = static:$NOBODY_GID
maillog_file_prefixes = $PD
maillog_file = $PD/maillog
syslog_name = postfix-bench
smtpd_tls_cert_file = $W/certs/ecdsa.crt
smtpd_tls_key_file = $W/certs/ecdsa.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC/auth-client
smtpd_sender_login_maps = texthash:$PD/etc/senders
EOF

    {
        echo "u@bench.test bench.test/u/"
        echo "r@bench.test bench.test/r/"
        for i in $(seq 1 "$PIPE_RCPTS"); do
            echo "p$i@bench.test bench.test/p$i/"
        done
    } > "$PD/etc/vmailbox"

    echo "u@bench.test u@bench.test" > "$PD/etc/senders"

    # the submission services as in Debian's master.cf, and AUTH only
    # under TLS like Tern

    sasl="-o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"

    cat > "$PD/etc/master.cf" <<EOF
127.0.0.1:$P_MX inet n - n - - smtpd
127.0.0.1:$P_SUB inet n - n - - smtpd
  -o syslog_name=postfix-bench/submission
  -o smtpd_tls_security_level=encrypt
  $sasl
127.0.0.1:$P_SMTPS inet n - n - - smtpd
  -o syslog_name=postfix-bench/smtps
  -o smtpd_tls_wrappermode=yes
  $sasl
127.0.0.1:$P_SMTPS_RSA inet n - n - - smtpd
  -o syslog_name=postfix-bench/smtps-rsa
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_cert_file=$W/certs/rsa.crt
  -o smtpd_tls_key_file=$W/certs/rsa.key
  $sasl
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
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
local     unix  - n n -  - local
virtual   unix  - n n -  - virtual
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF

    # postfix prints its errors only to a terminal or syslog: script(1)
    # gives it a terminal

    if ! run timeout 60 script -qec "postfix -c $PD/etc check" /dev/null \
            > "$PD/check.log" 2>&1 \
       || ! run timeout 60 "${SRV[@]}" script -qec \
            "postfix -c $PD/etc start" /dev/null > "$PD/start.log" 2>&1
    then
        note "postfix did not start:" \
             "$(cat "$PD/check.log" "$PD/start.log" | tr -d '\r' | tail -2)"
        return 1
    fi
    PF_DIR=$PD

    if ! wait_port "$P_SMTPS_RSA" 10; then
        note "postfix smtpd not listening on $P_SMTPS_RSA"
        return 1
    fi

    master=$(tr -d ' ' < "$PD/queue/pid/master.pid")
    DC_PID=$(cat "$DC/run/master.pid" 2>/dev/null)
    log "postfix master $master, dovecot $DC_PID;" \
        "$(taskset -pc "$master" 2>/dev/null | sed 's/.*: /CPUs /')"

    if [ "$DO_HS" = 1 ]; then
        for c in $HS_CERTS; do
            [ "$c" = rsa ] && i=$P_SMTPS_RSA || i=$P_SMTPS
            hs_run postfix "$c" "$i" "$master"
        done
    fi

    if [ "$DO_SUB" = 1 ]; then
        for c in $SUB_RUNS; do
            [ "${c%%:*}" = implicit ] && i=$P_SMTPS || i=$P_SUB
            sub_run postfix "${c%%:*}" "${c#*:}" "$i" \
                "$PD/vmail/bench.test/r" "$master" "$DC_PID"
        done
    fi

    [ "$DO_PIPE" = 1 ] &&
        pipe_run postfix "$P_MX" "$PD/vmail/bench.test" "$master"

    grep -E 'warning|fatal|panic' "$PD/maillog" 2>/dev/null | sort \
        | awk '{ $1 = $2 = $3 = ""; print }' | sort | uniq -c \
        | sort -rn | head -3 | while read -r i; do
            note "postfix log: $i"
        done

    postfix_stop
    dovecot_stop
}


###############################################################################

# the report

fmt() {
    [ -n "${1:-}" ] && printf "${2:-%.1f}" "$1" || printf -- '-'
}


row() {
    # row LABEL TERN POSTFIX [FORMAT]: ratio is Tern/Postfix

    local label=$1 t=${2:-} p=${3:-} f=${4:-%.1f} ratio='-'

    if [ -n "$t" ] && [ -n "$p" ] && [ "$(calc "$p > 0")" = 1 ]; then
        ratio=$(printf '%.2fx' "$(calc "$t / $p")")
    fi

    printf '%-50s | %9s | %9s | %7s\n' \
        "$label" "$(fmt "$t" "$f")" "$(fmt "$p" "$f")" "$ratio"
}


# divide A B: A / B, or nothing when either is missing

divide() {
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && calc "$1 / $2"
}


hs_rows() {
    local c=$1 name lim llim tk=tern_hs_$1 pk=postfix_hs_$1

    [ "$c" = rsa ] && name="RSA 2048" || name="ECDSA P-256"
    lim=$(limit_per_core "$c")
    llim=$(limit_per_core "$c" lib)

    row "TLS handshakes/s, $name, $HS_CLIENTS clients" "${R[$tk]:-}" \
        "${R[$pk]:-}"
    row "  handshakes per server CPU-second" "${R[${tk}_percpu]:-}" \
        "${R[${pk}_percpu]:-}"

    [ -n "$lim" ] || return 0

    row "  handshakes/s / openssl-speed limit, $SERVER_N core(s)" \
        "$(divide "${R[$tk]:-}" "$(calc "$lim * $SERVER_N")")" \
        "$(divide "${R[$pk]:-}" "$(calc "$lim * $SERVER_N")")" '%.2f'
    row "  per server CPU-second / openssl-speed limit" \
        "$(divide "${R[${tk}_percpu]:-}" "$lim")" \
        "$(divide "${R[${pk}_percpu]:-}" "$lim")" '%.2f'

    # Postfix's library is the system OpenSSL: its own limit is the one
    # above

    [ -n "$llim" ] &&
        row "  per server CPU-second / own TLS library's limit" \
            "$(divide "${R[${tk}_percpu]:-}" "$llim")" \
            "$(divide "${R[${pk}_percpu]:-}" "$lim")" '%.2f'
}


hs_detail() {
    local who=$1 c=$2 k=${1}_hs_$2 n t

    [ -n "${R[$k]:-}" ] || return 0

    n=${R[${k}_n]}
    t=${R[${k}_t]}

    printf 'handshakes %-7s %-5s: %s in %.1f s; server %.0f us CPU each' \
        "$who" "$c" "$n" "$t" "$(calc "${R[${k}_scpu]} * 1e6 / $n")"
    printf ' (%.0f%% of %s core busy), client %.0f us (%.0f%% of %s);' \
        "$(calc "${R[${k}_scpu]} / ($t * $SERVER_N) * 100")" "$SERVER_N" \
        "$(calc "${R[${k}_ccpu]} * 1e6 / $n")" \
        "$(calc "${R[${k}_ccpu]} / ($t * $CLIENT_N) * 100")" "$CLIENT_N"
    printf ' server CPUs %.0f%% busy, %.0f%% outside the server\n' \
        "${R[${k}_busy]:-0}" "${R[${k}_others]:-0}"
    printf '       %s\n' "${R[${k}_tls]}"
}


report() {
    local c mode m k lim name

    echo
    echo "Tern submission benchmark: $NCPU cores; $PIN_TEXT;" \
         "load client: $CLIENT_LIB"
    echo
    printf '%-50s | %9s | %9s | %7s\n' metric Tern Postfix ratio
    printf '%s\n' "$(printf '%.0s-' $(seq 1 84))"

    if [ "$DO_HS" = 1 ]; then
        for c in $HS_CERTS; do
            hs_rows "$c"
        done
    fi

    if [ "$DO_SUB" = 1 ]; then
        for c in $SUB_RUNS; do
            mode=${c%%:*}
            m=${c#*:}
            [ "$mode" = implicit ] && name="465 TLS" || name="587 STARTTLS"
            row "submission msgs/s, $name, $m msg/session" \
                "${R[tern_sub_${mode}_$m]:-}" "${R[postfix_sub_${mode}_$m]:-}"
        done
    fi

    if [ "$DO_PIPE" = 1 ]; then
        row "pipelined msgs/s, $PIPE_RCPTS rcpts/msg" "${R[tern_pipe]:-}" \
            "${R[postfix_pipe]:-}"
        row "pipelined recipients/s" "${R[tern_pipe_rcpt]:-}" \
            "${R[postfix_pipe_rcpt]:-}"
        row "  pipelined msgs/s until all copies on disk" \
            "${R[tern_pipe_disk]:-}" "${R[postfix_pipe_disk]:-}"
    fi

    echo

    if [ -n "$SPEED_ECDH" ]; then
        echo "limit: openssl speed ($(openssl version | cut -d' ' -f1-2)," \
             "one core): ecdh $GROUP $SPEED_ECDH/s, ecdsa P-256 sign" \
             "$SPEED_ECDSA/s, rsa2048 sign ${SPEED_RSA:--}/s"
        for c in $HS_CERTS; do
            lim=$(limit_per_core "$c")
            [ -n "$lim" ] &&
                echo "       1/(1/ecdh + 1/sign) = $(fmt "$lim" %.0f)" \
                     "full $c handshakes/s per core, x $SERVER_N server" \
                     "core(s) = $(fmt "$(calc "$lim * $SERVER_N")" %.0f)/s"
        done
    fi

    if [ -n "$LIB_ECDH" ]; then
        echo "Tern's library (BoringSSL, smtp_load -m speed, one core):" \
             "ecdh P-256 $LIB_ECDH/s, ecdsa P-256 sign $LIB_ECDSA/s," \
             "rsa2048 sign $LIB_RSA/s"
        for c in $HS_CERTS; do
            lim=$(limit_per_core "$c" lib)
            [ -n "$lim" ] &&
                echo "       1/(1/ecdh + 1/sign) = $(fmt "$lim" %.0f)" \
                     "full $c handshakes/s per core"
        done
    fi

    if [ "$DO_HS" = 1 ]; then
        for c in $HS_CERTS; do
            hs_detail tern "$c"
            hs_detail postfix "$c"
        done
    fi

    for k in tern postfix; do
        for c in $SUB_RUNS; do
            mode=${c%%:*}
            m=${c#*:}
            c=${k}_sub_${mode}_$m
            [ -n "${R[${c}_check]:-}" ] || continue
            printf 'check: %-7s submission %-8s %2s/session: on disk/250s' \
                "$k" "$mode" "$m"
            printf ' %s, server CPU %s ms/msg%s, others %s%%%s\n' \
                "${R[${c}_check]}" "$(fmt "${R[${c}_cpu]}" %.2f)" \
                "${R[${c}_auth]:+ (Dovecot $(fmt "${R[${c}_auth]}" %.2f))}" \
                "$(fmt "${R[${c}_others]:-}" %.0f)" \
                "${R[${c}_drain]:+, queue drained ${R[${c}_drain]} s later}"
        done
        c=${k}_pipe
        [ -n "${R[${c}_check]:-}" ] &&
            printf 'check: %-7s pipelined: each of %s users holds %s msgs,' \
                   "$k" "$PIPE_RCPTS" "${R[${c}_check]}" &&
            printf ' server CPU %s ms/msg, others %s%%%s\n' \
                "$(fmt "${R[${c}_cpu]}" %.2f)" \
                "$(fmt "${R[${c}_others]:-}" %.0f)" \
                "${R[${c}_drain]:+, queue drained ${R[${c}_drain]} s later}"
    done

    echo "notes: rates are wall clock from the first connection to the last" \
         "250 (handshakes: to the last 220)."
    echo "       Tern answers 250 when every copy is fsynced in the Maildir;" \
         "Postfix when the queue file is"
    echo "       fsynced, delivering after; its mail was counted on disk" \
         "once the queue was empty."
    echo "       others/outside the server: share of the server CPUs that" \
         "went to no process of the server's"
    echo "       (other programs, kernel threads, kernel work charged to no" \
         "process); should be near 0."
    echo "       load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 \
         /proc/loadavg)"

    [ -n "$BUSY_RUNS" ] &&
        echo "note: more than 10% of the server CPUs went outside the" \
             "server in:${BUSY_RUNS%,}; other programs running make those" \
             "figures low"

    for c in "${NOTES[@]}"; do
        echo "note: $c"
    done
}


###############################################################################

# main

missing=
for tool in cc python3 perl openssl taskset script; do
    command -v "$tool" > /dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    log "missing:$missing (apt-get install gcc python3 perl openssl" \
        "util-linux bsdutils)"
    exit 1
fi

if [ ! -f /usr/include/openssl/ssl.h ] \
   && [ ! -f /usr/include/android/openssl/ssl.h ]
then
    log "missing: TLS headers for the load client" \
        "(apt-get install libssl-dev, or android-libboringssl-dev)"
    exit 1
fi

if [ "$(id -u)" != 0 ] && [ "$DO_POSTFIX" = 1 ]; then
    note "not root: Postfix skipped"
    DO_POSTFIX=0
fi

if [ "$DO_POSTFIX" = 1 ]; then
    if ! command -v postfix > /dev/null; then
        note "postfix not installed (apt-get install postfix): skipped"
        DO_POSTFIX=0
    elif ! command -v dovecot > /dev/null; then
        note "dovecot not installed (apt-get install dovecot-core):" \
             "Postfix skipped (it needs Dovecot's SASL)"
        DO_POSTFIX=0
    fi
fi

if [ "$DO_TERN" = 1 ] && [ ! -x "$TERN" ]; then
    note "no tern binary at $TERN: Tern skipped"
    DO_TERN=0
fi

if ! ulimit -n 65536 2>/dev/null; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi

# the servers on the first half of the CPUs, the client on the rest, so
# that neither can starve the other; one worker per server CPU

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
    SERVER_CPUS=0
    SERVER_N=$NCPU
    CLIENT_N=$NCPU
    SRV=()
    CLI=()
    WORKERS=auto
    STAT_CPUS=all
    PIN_TEXT="no pinning: servers and client share the CPUs"
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

W=$(mktemp -d /tmp/tern-bench-sub.XXXXXX) || exit 1
chmod 755 "$W"
log "work directory $W; $PIN_TEXT; load average $LOAD_BEFORE"

# the load client: with BoringSSL when there is one (its client side of
# a handshake costs less CPU than OpenSSL 3.0's), else with OpenSSL

LOAD="$W/smtp_load"
BSSL=/usr/lib/x86_64-linux-gnu/android
CLIENT_LIB=${BENCH_CLIENT_SSL:-auto}

if [ "$CLIENT_LIB" != openssl ] \
   && [ -f /usr/include/android/openssl/ssl.h ] && [ -e "$BSSL/libssl.so" ] \
   && cc -O2 -isystem /usr/include/android -o "$LOAD" \
          "$ROOT/t/bench/smtp_load.c" -L"$BSSL" -Wl,-rpath,"$BSSL" \
          -lssl -lcrypto -lpthread > "$W/cc.log" 2>&1
then
    CLIENT_LIB=BoringSSL
elif [ "$CLIENT_LIB" = boringssl ]; then
    log "no BoringSSL for the load client" \
        "(apt-get install android-libboringssl-dev): $(head -3 "$W/cc.log")"
    exit 1
elif [ -f /usr/include/openssl/ssl.h ] \
     && cc -O2 -o "$LOAD" "$ROOT/t/bench/smtp_load.c" -lssl -lcrypto \
           -lpthread > "$W/cc.log" 2>&1
then
    CLIENT_LIB=OpenSSL
else
    log "the load client does not build (apt-get install libssl-dev):" \
        "$(head -3 "$W/cc.log")"
    exit 1
fi

case $("$TERN" -V 2>&1) in
*BoringSSL*) TERN_LIB=BoringSSL ;;
*) TERN_LIB=OpenSSL ;;
esac
log "load client built with $CLIENT_LIB; tern uses $TERN_LIB"

if ! make_certs; then
    log "openssl req failed: $(tail -2 "$W/certs/log")"
    exit 1
fi

[ "$DO_SPEED" = 1 ] && [ "$DO_HS" = 1 ] && speed_bench

[ "$DO_TERN" = 1 ] && tern_bench
[ "$DO_POSTFIX" = 1 ] && postfix_bench

report
