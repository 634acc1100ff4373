#!/usr/bin/env bash
#
# SMTP acceptance, POP3 RETR throughput and idle-connection memory of
# Tern, side by side with Postfix (SMTP) and Dovecot (POP3), on loopback.
# Not a test: run it by hand, as root (Postfix and Dovecot need it):
#
#     t/bench/smtp_pop3.sh [objs/tern]
#
# Everything runs in a fresh temp dir with its own ports; the system's
# Postfix and Dovecot are never started or touched. See t/bench/README.
#
# Environment:
#     BENCH_MESSAGES=20000   messages per smtp-source run
#     BENCH_POP3=2000        messages in the POP3 mailbox
#     BENCH_POP3_PIPELINE=32 RETR commands sent at once (1: one at a time)
#     BENCH_IDLE=5000        idle connections per protocol (Tern, Dovecot)
#     BENCH_IDLE_POSTFIX=90  idle connections for Postfix (process per
#                            connection, default_process_limit is 100)
#     BENCH_SIZE=4096        message payload bytes (smtp-source -l)
#     BENCH_SESSIONS="1 20"  parallel SMTP sessions, one run each
#     BENCH_REUSE=0          1: send every message of a session over one
#                            connection (smtp-source -d)
#     BENCH_TIMEOUT=900      seconds allowed for one client run
#     BENCH_TERN=1 BENCH_POSTFIX=1 BENCH_DOVECOT=1 BENCH_IDLE_TEST=1
#                            0 skips that part
#     BENCH_TERN_USER=NAME   add "user NAME;" to Tern's configuration
#     BENCH_KEEP=1           keep the temp dir (logs, configs, mail)

set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TERN=${1:-${TERN_BINARY:-$ROOT/objs/tern}}
case $TERN in /*) ;; *) TERN=$PWD/$TERN ;; esac

N=${BENCH_MESSAGES:-20000}
M=${BENCH_POP3:-2000}
IDLE=${BENCH_IDLE:-5000}
IDLE_PF=${BENCH_IDLE_POSTFIX:-90}
SIZE=${BENCH_SIZE:-4096}
SESSIONS=${BENCH_SESSIONS:-1 20}
TMO=${BENCH_TIMEOUT:-900}
DO_TERN=${BENCH_TERN:-1}
DO_POSTFIX=${BENCH_POSTFIX:-1}
DO_DOVECOT=${BENCH_DOVECOT:-1}
DO_IDLE=${BENCH_IDLE_TEST:-1}

SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
REUSE=
[ "${BENCH_REUSE:-0}" = 1 ] && REUSE=-d

PASSWORD=bench-secret
NOBODY_UID=$(id -u nobody 2>/dev/null || echo 65534)
NOBODY_GID=$(id -g nobody 2>/dev/null || echo 65534)

W=$(mktemp -d /tmp/tern-bench.XXXXXX) || exit 1
chmod 755 "$W"

declare -A R         # results: key -> value
declare -a NOTES     # lines printed under the table
PIDS=()              # helper processes to kill on exit
TERN_PID=
PF_DIR=
DC_CONF=


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
    local rc=$?

    trap - EXIT INT TERM

    [ -n "$TERN_PID" ] && tern_stop
    [ -n "$PF_DIR" ] && postfix_stop
    [ -n "$DC_CONF" ] && dovecot_stop

    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    sleep 0.2
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
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
    local dir=$1

    find "$dir/new" "$dir/cur" -maxdepth 1 -type f 2>/dev/null | wc -l
}


vmrss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
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


pss_tree_kb() {
    local total=0 p v

    for p in $(tree_pids "$1"); do
        v=$(awk '/^Pss:/ { print $2; exit }' "/proc/$p/smaps_rollup" \
            2>/dev/null)
        total=$((total + ${v:-0}))
    done

    echo "$total"
}


# one smtp-source run: sets RATE (msgs/s); its output goes to
# $W/<tag>.log

smtp_run() {
    local tag=$1 port=$2 sessions=$3 count=$4 rcpt=$5 t0 t1

    RATE=
    log "$tag: smtp-source -s $sessions -m $count -l $SIZE $REUSE to $rcpt"

    t0=$(now)
    if ! timeout "$TMO" "$SMTP_SOURCE" $REUSE -s "$sessions" -l "$SIZE" \
            -m "$count" -f sender@bench.test -t "$rcpt" \
            -M client.bench.test "127.0.0.1:$port" \
            > "$W/$tag.log" 2>&1
    then
        note "$tag: smtp-source failed: $(tail -1 "$W/$tag.log")"
        return 1
    fi
    t1=$(now)

    RATE=$(calc "$count / ($t1 - $t0)")
}


# wait until a Maildir holds $2 messages (Postfix delivers after the 250)

wait_count() {
    local dir=$1 want=$2 secs=$3 start n

    start=$(now)

    while :; do
        n=$(count_mail "$dir")
        [ "$n" -ge "$want" ] && break
        if [ "$(calc "$(now) - $start > $secs")" = 1 ]; then
            break
        fi
        sleep 0.2
    done

    echo "$n"
}


###############################################################################

# clients

cat > "$W/pop3_retr.pl" <<'EOF'
# pop3_retr.pl PORT USER PASS PASSES: log in, RETR every message (no
# DELE) PASSES times in one session; prints "messages bytes seconds" of
# the fastest pass.

use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw/ time /;

my ($port, $user, $pass, $passes) = @ARGV;
$passes ||= 1;

my $batch = $ENV{BENCH_POP3_PIPELINE} || 32;

my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10)
    or die "connect: $!\n";
$s->autoflush(1);

my $buf = '';

sub line {
    while ($buf !~ /\n/) {
        my $n = sysread($s, $buf, 65536, length $buf);
        die "connection closed\n" unless $n;
    }
    $buf =~ s/^(.*?\r?\n)//s;
    return $1;
}

sub cmd {
    my ($c) = @_;
    syswrite($s, "$c\r\n");
    my $r = line();
    die "$c: $r" unless $r =~ /^\+OK/;
    return $r;
}

line() =~ /^\+OK/ or die "no greeting\n";
cmd("USER $user");
cmd("PASS $pass");
my ($count) = cmd('STAT') =~ /^\+OK (\d+)/;

my ($best, $bytes);

for (1 .. $passes) {
    my $total = 0;
    my $t0 = time();

    # RETR commands are pipelined (RFC 2449 PIPELINING, offered by both
    # servers) in batches, so that the client's round trips do not hide
    # the server's speed; each reply ends with CRLF.CRLF, which
    # dot-stuffing keeps out of the message text

    for (my $i = 1; $i <= $count; $i += $batch) {
        my $last = $i + $batch - 1;
        $last = $count if $last > $count;

        syswrite($s, join('', map { "RETR $_\r\n" } $i .. $last));

        my $want = $last - $i + 1;
        my ($done, $from) = (0, 0);

        while ($done < $want) {
            my $n = sysread($s, $buf, 262144, length $buf);
            die "connection closed\n" unless $n;

            while ((my $e = index($buf, "\r\n.\r\n", $from)) >= 0) {
                $done++;
                $from = $e + 5;
            }

            $from = length($buf) - 4 if length($buf) - 4 > $from;
        }

        die "RETR $i: " . substr($buf, 0, 200) unless $buf =~ /^\+OK/;
        $total += length $buf;
        $buf = '';
    }

    my $t = time() - $t0;
    ($best, $bytes) = ($t, $total) if !defined $best || $t < $best;
}

cmd('QUIT');
printf "%d %d %.6f\n", $count, $bytes, $best;
EOF

cat > "$W/idle.py" <<'EOF'
# idle.py PORT COUNT READY_FILE HOLD: open COUNT connections, read each
# greeting, write "ok N" to READY_FILE, hold them HOLD seconds.

import os, resource, socket, sys, time

port, count, ready, hold = (int(sys.argv[1]), int(sys.argv[2]),
                            sys.argv[3], float(sys.argv[4]))

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def done(msg):
    with open(ready + '.tmp', 'w') as f:
        f.write(msg + '\n')
    os.rename(ready + '.tmp', ready)

socks = []
deadline = time.time() + 120

try:
    for i in range(count):
        while True:
            try:
                socks.append(socket.create_connection(('127.0.0.1', port),
                                                      timeout=10))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    greeted = 0
    for s in socks:
        if s.recv(512):
            greeted += 1
except OSError as e:
    done('fail %d %s' % (len(socks), e))
    sys.exit(1)

done('ok %d %d' % (len(socks), greeted))
time.sleep(hold)
EOF


# idle_open PORT COUNT TAG: starts idle.py, waits for its connections
# and greetings; sets IDLE_N to the number greeted (0 on failure)

idle_open() {
    local port=$1 count=$2 tag=$3 ready="$W/$3.ready" st n greeted rest

    IDLE_N=0
    rm -f "$ready"
    timeout 600 python3 "$W/idle.py" "$port" "$count" "$ready" 300 \
        > /dev/null 2> "$W/$tag.err" &
    PIDS+=($!)
    IDLE_PIDS+=($!)

    for _ in $(seq 1 1200); do
        [ -f "$ready" ] && break
        sleep 0.1
    done

    read -r st n greeted rest < "$ready" 2>/dev/null || st=none
    if [ "$st" != ok ]; then
        note "$tag: idle connections failed: $(cat "$ready" "$W/$tag.err" \
              2>/dev/null | tail -2 | tr '\n' ' ')"
        return 1
    fi

    [ "$greeted" -lt "$n" ] && note "$tag: only $greeted of $n greeted"
    IDLE_N=$greeted
}


idle_close() {
    local p

    for p in "${IDLE_PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    IDLE_PIDS=()
}

IDLE_PIDS=()


###############################################################################

# a DNS server for Tern's resolver (t/lib/Tern/Test/DNS.pm)

DNS_PORT=

dns_start() {
    DNS_PORT=$(free_port)

    perl -I"$ROOT/t/lib" -MTern::Test::DNS -e '
        my $d = Tern::Test::DNS->start(port => $ARGV[0], zone => {
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

tern_conf() {
    local workers=$1 conns=$2

    mkdir -p "$TP/logs"

    cat > "$TP/tern.conf" <<EOF
daemon off;
${BENCH_TERN_USER:+user $BENCH_TERN_USER;}
worker_processes $workers;
error_log logs/error.log ${BENCH_TERN_LOG:-info};
pid logs/tern.pid;
thread_pool_threads 4;

events {
    worker_connections $conns;
}

resolver 127.0.0.1:$DNS_PORT;
resolver_timeout 5s;

mail {
    server_name mail.bench.test;
    smtp_max_message_size 25m;

    server {
        listen 127.0.0.1:$TERN_SMTP;
        protocol smtp;
    }

    server {
        listen 127.0.0.1:$TERN_POP3;
        protocol pop3;
        pop3_auth_plaintext on;
    }
}
EOF
}


tern_cli() {
    timeout 60 "$TERN" -p "$TP" -c "$TP/tern.conf" "$@"
}


tern_start() {
    "$TERN" -p "$TP" -c "$TP/tern.conf" >> "$TP/stderr.log" 2>&1 &
    TERN_PID=$!

    if ! wait_port "$TERN_SMTP" 10 || ! wait_port "$TERN_POP3" 10; then
        note "tern did not start: $(tail -3 "$TP/stderr.log" \
              "$TP/logs/error.log" 2>/dev/null | tr '\n' ' ')"
        tern_stop
        return 1
    fi

    log "tern started, pid $TERN_PID"
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
        kill -KILL $kids 2>/dev/null
    fi

    wait "$pid" 2>/dev/null
}


tern_worker() {
    local p

    for p in $(pgrep -P "$TERN_PID"); do
        if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q worker; then
            echo "$p"
            return
        fi
    done

    pgrep -P "$TERN_PID" | head -1
}


tern_bench() {
    local s rate total=0 n

    log "=== Tern ($TERN)"

    tern_conf auto 10240
    tern_start || return 1

    if ! tern_cli domain add bench.test > "$W/cli.log" 2>&1 \
       || ! echo "$PASSWORD" | tern_cli user add u@bench.test \
            >> "$W/cli.log" 2>&1 \
       || ! echo "$PASSWORD" | tern_cli user add p@bench.test \
            >> "$W/cli.log" 2>&1
    then
        note "tern: domain/user setup failed:" \
             "$(tail -2 "$W/cli.log" | tr '\n' ' ')"
        tern_stop
        return 1
    fi

    for s in $SESSIONS; do
        smtp_run "tern-smtp-s$s" "$TERN_SMTP" "$s" "$N" u@bench.test \
            || continue
        rate=$RATE
        total=$((total + N))
        n=$(count_mail "$TP/mail/bench.test/u")
        R[tern_smtp_$s]=$rate
        R[tern_smtp_${s}_check]="$n/$total"
        [ "$n" -ne "$total" ] &&
            note "tern: $n files in the Maildir after $total messages" \
                 "acknowledged (-s $s)"
        log "tern -s $s: $rate msgs/s, Maildir $n/$total"
    done

    # POP3: fill p@bench.test over SMTP, then RETR everything

    if smtp_run tern-pop3-fill "$TERN_SMTP" 20 "$M" p@bench.test; then
        n=$(count_mail "$TP/mail/bench.test/p")
        [ "$n" -ne "$M" ] && note "tern: p@bench.test has $n of $M messages"
        MAILDIR_SRC="$TP/mail/bench.test/p"
        pop3_bench tern "$TERN_POP3" p@bench.test
    fi

    tern_stop
}


tern_idle() {
    local before after_smtp after_pop3 w n1 n2

    log "=== Tern idle connections"

    tern_conf 1 20000
    tern_start || return 1

    w=$(tern_worker)
    if [ -z "$w" ]; then
        note "tern: no worker process found"
        tern_stop
        return 1
    fi

    sleep 1
    before=$(vmrss_kb "$w")

    idle_open "$TERN_SMTP" "$IDLE" tern-idle-smtp
    n1=$IDLE_N
    sleep 2
    after_smtp=$(vmrss_kb "$w")

    idle_open "$TERN_POP3" "$IDLE" tern-idle-pop3
    n2=$IDLE_N
    sleep 2
    after_pop3=$(vmrss_kb "$w")

    log "tern worker $w VmRSS: $before -> $after_smtp kB ($n1 SMTP)" \
        "-> $after_pop3 kB ($n2 POP3)"

    [ "$n1" -gt 0 ] &&
        R[tern_idle_smtp]=$(calc "($after_smtp - $before) * 1024 / $n1")
    [ "$n2" -gt 0 ] &&
        R[tern_idle_pop3]=$(calc "($after_pop3 - $after_smtp) * 1024 / $n2")

    idle_close
    tern_stop
}


###############################################################################

# POP3 RETR (Tern and Dovecot)

pop3_bench() {
    local who=$1 port=$2 user=$3 out count bytes secs

    log "$who: POP3 warm-up"
    timeout "$TMO" perl "$W/pop3_retr.pl" "$port" "$user" "$PASSWORD" 1 \
        > "$W/$who-pop3-warm.out" 2>&1

    log "$who: POP3 RETR, best of 3 passes"
    if ! out=$(timeout "$TMO" perl "$W/pop3_retr.pl" "$port" "$user" \
               "$PASSWORD" 3 2> "$W/$who-pop3.err"); then
        note "$who: POP3 client failed: $(tail -1 "$W/$who-pop3.err")"
        return 1
    fi

    read -r count bytes secs <<< "$out"
    R[${who}_pop3]=$(calc "$bytes / $secs / 1048576")
    R[${who}_pop3_check]="$count/$M"
    [ "$count" -ne "$M" ] && note "$who: POP3 STAT says $count, expected $M"
    log "$who: $count messages, $bytes bytes in $secs s"
}


# Maildir files like those smtp-source sends, for Dovecot when there is
# no Tern mailbox to copy

gen_maildir() {
    local dir=$1

    mkdir -p "$dir/new" "$dir/cur" "$dir/tmp"

    python3 - "$dir" "$M" "$SIZE" <<'EOF'
import sys, time

d, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time())

for i in range(count):
    hdr = ("Return-Path: <sender@bench.test>\n"
           "Delivered-To: p@bench.test\n"
           "Received: from client.bench.test ([127.0.0.1])\n"
           "\tby mail.bench.test with SMTP id %08d; %s\n"
           "From: <sender@bench.test>\n"
           "To: <p@bench.test>\n"
           "Date: %s\n"
           "Message-Id: <%d.bench@client.bench.test>\n\n"
           % (i, time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime()),
              time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime()), i))
    body, n = [], 0
    while n < size:
        line = (str(len(body) + 1) + 'X' * 78)[:min(79, size - n - 1) or 1]
        body.append(line)
        n += len(line) + 1
    name = '%d.M%dP1.bench' % (now, i)
    with open('%s/new/%s' % (d, name), 'w') as f:
        f.write(hdr + '\n'.join(body) + '\n')
EOF
}


###############################################################################

# Postfix

postfix_stop() {
    local dir=$PF_DIR pid

    PF_DIR=
    pid=$(cat "$dir/queue/pid/master.pid" 2>/dev/null | tr -d ' ')

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


postfix_bench() {
    local d="$W/postfix" port s rate total=0 n master before after k

    log "=== Postfix $(postconf -d -h mail_version 2>/dev/null)"

    port=$(free_port)
    mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/vmail"
    chown postfix "$d/data"
    chown "$NOBODY_UID:$NOBODY_GID" "$d/vmail"

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
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $d/vmail
virtual_mailbox_maps = texthash:$d/etc/vmailbox
virtual_uid_maps = static:$NOBODY_UID
virtual_gid_maps = static:$NOBODY_GID
maillog_file_prefixes = $d
maillog_file = $d/maillog
syslog_name = postfix-bench
EOF

    printf 'u@bench.test bench.test/u/\n' > "$d/etc/vmailbox"

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

    if ! timeout 60 script -qec "postfix -c $d/etc check" /dev/null \
            > "$d/check.log" 2>&1 \
       || ! timeout 60 script -qec "postfix -c $d/etc start" /dev/null \
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

    # idle first, while no smtpd process is left over from a run

    if [ "$DO_IDLE" = 1 ]; then
        sleep 1
        before=$(pss_tree_kb "$master")
        idle_open "$port" "$IDLE_PF" postfix-idle
        n=$IDLE_N
        sleep 2
        after=$(pss_tree_kb "$master")
        log "postfix tree Pss: $before -> $after kB ($n connections)"
        [ "$n" -gt 0 ] &&
            R[postfix_idle_smtp]=$(calc "($after - $before) * 1024 / $n")
        idle_close
        sleep 1
    fi

    for s in $SESSIONS; do
        smtp_run "postfix-smtp-s$s" "$port" "$s" "$N" u@bench.test \
            || continue
        rate=$RATE
        total=$((total + N))
        k=$(now)
        n=$(wait_count "$d/vmail/bench.test/u" "$total" "$TMO")
        R[postfix_smtp_$s]=$rate
        R[postfix_smtp_${s}_check]="$n/$total"
        R[postfix_smtp_${s}_drain]=$(calc "$(now) - $k")
        [ "$n" -ne "$total" ] && note "postfix: $n of $total delivered (-s $s)"
        log "postfix -s $s: $rate msgs/s accepted; delivered $n/$total," \
            "queue drained ${R[postfix_smtp_${s}_drain]} s after the run"
    done

    postfix_stop
}


###############################################################################

# Dovecot

dovecot_stop() {
    local conf=$DC_CONF pid

    DC_CONF=
    pid=$(cat "$W/dovecot/run/master.pid" 2>/dev/null)

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


dovecot_bench() {
    local d="$W/dovecot" port mbox login before after n

    log "=== Dovecot $(dovecot --version 2>/dev/null)"

    port=$(free_port)
    mbox="$d/mail/bench.test/p"
    mkdir -p "$d/run" "$d/state" "$d/home" "$mbox/tmp" "$mbox/new" "$mbox/cur"

    if [ -n "${MAILDIR_SRC:-}" ]; then
        cp -p "$MAILDIR_SRC"/new/* "$mbox/new/" 2>/dev/null
        cp -p "$MAILDIR_SRC"/cur/* "$mbox/cur/" 2>/dev/null
        log "dovecot: copied $(count_mail "$mbox") files from Tern's Maildir"
    else
        gen_maildir "$mbox"
        log "dovecot: generated $(count_mail "$mbox") files"
    fi

    chown -R "$NOBODY_UID:$NOBODY_GID" "$d/mail" "$d/home"

    printf 'p@bench.test:{PLAIN}%s:%s:%s::%s::\n' \
        "$PASSWORD" "$NOBODY_UID" "$NOBODY_GID" "$d/home" > "$d/passwd"

    cat > "$d/dovecot.conf" <<EOF
instance_name = tern-bench
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:$d/mail/%d/%n

passdb {
    driver = passwd-file
    args = scheme=PLAIN username_format=%u $d/passwd
}

userdb {
    driver = passwd-file
    args = username_format=%u $d/passwd
}

# one login process holds every pre-login connection ("high-performance
# mode"), so that idle connections can be counted at all

service pop3-login {
    inet_listener pop3 {
        address = 127.0.0.1
        port = $port
    }
    service_count = 0
    process_min_avail = 1
    process_limit = 1
    client_limit = $((IDLE + 100))
}
EOF

    if ! timeout 30 dovecot -c "$d/dovecot.conf" > "$d/start.log" 2>&1; then
        note "dovecot did not start: $(tail -2 "$d/start.log" | tr '\n' ' ')"
        return 1
    fi
    DC_CONF="$d/dovecot.conf"

    if ! wait_port "$port" 10; then
        note "dovecot not listening on $port: $(tail -2 "$d/dovecot.log")"
        dovecot_stop
        return 1
    fi

    if [ "$DO_IDLE" = 1 ]; then
        sleep 1
        login=$(pgrep -f "dovecot-tern-bench/pop3-login" | head -1)
        if [ -n "$login" ]; then
            before=$(vmrss_kb "$login")
            idle_open "$port" "$IDLE" dovecot-idle
            n=$IDLE_N
            sleep 2
            after=$(vmrss_kb "$login")
            log "dovecot pop3-login $login VmRSS: $before -> $after kB ($n)"
            [ "$n" -gt 0 ] &&
                R[dovecot_idle_pop3]=$(calc "($after - $before) * 1024 / $n")
            idle_close
            sleep 1
        else
            note "dovecot: no pop3-login process found"
        fi
    fi

    pop3_bench dovecot "$port" p@bench.test

    dovecot_stop
}


###############################################################################

# the report

fmt() {
    [ -n "${1:-}" ] && printf '%.1f' "$1" || printf -- '-'
}


row() {
    # row LABEL TERN PEER PEERNAME KIND TARGET
    # KIND "up": higher is better, ratio tern/peer, target is a ratio;
    # KIND "down": lower is better, ratio peer/tern, target is a bound
    # on Tern's value

    local label=$1 t=${2:-} p=${3:-} peer=$4 kind=$5 target=$6
    local ratio='-' verdict='-'

    if [ -n "$t" ] && [ -n "$p" ]; then
        if [ "$kind" = up ]; then
            ratio=$(calc "$t / $p")
        else
            ratio=$(calc "$t > 0 ? $p / $t : 0")
        fi
        ratio=$(printf '%.2fx' "$ratio")
    fi

    if [ "$kind" = up ] && [ "$ratio" != - ]; then
        verdict=$(awk -v r="${ratio%x}" -v g="$target" \
                  'BEGIN { print (r >= g) ? "ok" : "MISSED" }')
        target=">= ${target}x"
    elif [ "$kind" = down ] && [ -n "$t" ]; then
        verdict=$(awk -v v="$t" -v g="$target" \
                  'BEGIN { print (v < g) ? "ok" : "MISSED" }')
        target="< $target"
    elif [ "$kind" = up ]; then
        target=">= ${target}x"
    else
        target="< $target"
    fi

    printf '%-34s | %12s | %12s %-8s | %7s | %-10s %s\n' \
        "$label" "$(fmt "$t")" "$(fmt "$p")" "$peer" "$ratio" "$target" \
        "$verdict"
}


report() {
    local s

    echo
    echo "Tern benchmark: $N messages of $SIZE bytes per SMTP run," \
         "$M messages for POP3, $IDLE idle connections; $(nproc) cores"
    echo
    printf '%-34s | %12s | %21s | %7s | %s\n' \
        metric Tern peer ratio target
    printf '%s\n' "$(printf '%.0s-' $(seq 1 100))"

    for s in $SESSIONS; do
        row "SMTP msgs/s, $s session(s)" "${R[tern_smtp_$s]:-}" \
            "${R[postfix_smtp_$s]:-}" postfix up 2
    done

    row "POP3 RETR MB/s" "${R[tern_pop3]:-}" "${R[dovecot_pop3]:-}" \
        dovecot up 1.5
    row "idle SMTP conn, bytes" "${R[tern_idle_smtp]:-}" \
        "${R[postfix_idle_smtp]:-}" postfix down 16384
    row "idle POP3 conn, bytes" "${R[tern_idle_pop3]:-}" \
        "${R[dovecot_idle_pop3]:-}" dovecot down 16384

    echo
    for s in $SESSIONS; do
        [ -n "${R[tern_smtp_${s}_check]:-}" ] &&
            echo "check: Tern -s $s: Maildir files/messages acknowledged" \
                 "${R[tern_smtp_${s}_check]}"
        [ -n "${R[postfix_smtp_${s}_check]:-}" ] &&
            echo "check: Postfix -s $s: delivered/acknowledged" \
                 "${R[postfix_smtp_${s}_check]}, queue drained" \
                 "$(fmt "${R[postfix_smtp_${s}_drain]}") s after the run"
    done
    [ -n "${R[tern_pop3_check]:-}" ] &&
        echo "check: Tern POP3 messages retrieved ${R[tern_pop3_check]}"
    [ -n "${R[dovecot_pop3_check]:-}" ] &&
        echo "check: Dovecot POP3 messages retrieved ${R[dovecot_pop3_check]}"

    echo "notes: SMTP rate is acceptance (250 after DATA), one connection" \
         "per message unless BENCH_REUSE=1;"
    echo "       idle bytes: Tern worker and Dovecot pop3-login VmRSS" \
         "growth, Postfix sum of Pss growth (process per connection)."

    for s in "${NOTES[@]}"; do
        echo "note: $s"
    done
}


###############################################################################

# main

if ! ulimit -n 65536 2>/dev/null; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
log "open files limit: $(ulimit -n)"

if [ $((IDLE + 200)) -gt "$(ulimit -n)" ]; then
    IDLE=$(( $(ulimit -n) - 200 ))
    note "BENCH_IDLE lowered to $IDLE by the open files limit"
fi

for tool in python3 perl; do
    command -v "$tool" > /dev/null || { log "$tool is required"; exit 1; }
done

if [ ! -x "$SMTP_SOURCE" ]; then
    log "smtp-source not found (apt-get install postfix)"
    exit 1
fi

if [ "$(id -u)" != 0 ]; then
    [ "$DO_POSTFIX" = 1 ] && note "not root: Postfix skipped"
    [ "$DO_DOVECOT" = 1 ] && note "not root: Dovecot skipped"
    DO_POSTFIX=0
    DO_DOVECOT=0
fi

if [ "$DO_POSTFIX" = 1 ] && ! command -v postfix > /dev/null; then
    note "postfix not installed: skipped"
    DO_POSTFIX=0
fi

if [ "$DO_DOVECOT" = 1 ] && ! command -v dovecot > /dev/null; then
    note "dovecot not installed (apt-get install dovecot-pop3d): skipped"
    DO_DOVECOT=0
fi

if [ "$DO_TERN" = 1 ] && [ ! -x "$TERN" ]; then
    note "no tern binary at $TERN: Tern skipped"
    DO_TERN=0
fi

log "work directory $W"

if [ "$DO_TERN" = 1 ]; then
    TERN_SMTP=$(free_port)
    TERN_POP3=$(free_port)

    if dns_start; then
        tern_bench
        [ "$DO_IDLE" = 1 ] && tern_idle
    fi
fi

[ "$DO_POSTFIX" = 1 ] && postfix_bench
[ "$DO_DOVECOT" = 1 ] && dovecot_bench

report
