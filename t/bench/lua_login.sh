#!/usr/bin/env bash
#
# The cost of the Lua login phase: POP3 logins per second (USER, PASS,
# QUIT, a new connection each; one user per client) with no script,
# with a trivial script (returns nil) and with conf/lua/login.lua (which
# lower-cases the name and looks it up), one worker, on loopback.
# Good logins are cached by tn_mail_auth() after the first, so the
# password hash is out of the picture and what differs is the phase
# (a coroutine, the call, the hook; the JIT is off in the VM).
# Not a test: run it by hand:
#
#     t/bench/lua_login.sh [objs/tern]
#
# Environment:
#     BENCH_LOGINS=5000     logins per client
#     BENCH_CLIENTS=8       clients at once
#     BENCH_KEEP=1          keep the temp dir

set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TERN=${1:-${TERN_BINARY:-$ROOT/objs/tern}}
case $TERN in /*) ;; *) TERN=$PWD/$TERN ;; esac

N=${BENCH_LOGINS:-5000}
C=${BENCH_CLIENTS:-8}
PORT=$((20000 + RANDOM % 20000))
PASSWORD=bench-secret

W=$(mktemp -d /tmp/tern-bench-lua.XXXXXX) || exit 1

cleanup() {
    [ -f "$W/logs/tern.pid" ] && kill -QUIT "$(cat "$W/logs/tern.pid")" \
        2>/dev/null
    sleep 0.5
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/logs"

cat > "$W/trivial.lua" << 'EOF'
return function(login)
    return nil
end
EOF

# conf FILE [SCRIPT]: a configuration with the login phase when given

conf() {
    {
        cat << EOF
daemon off;
worker_processes 1;
error_log logs/error.log notice;
pid logs/tern.pid;
events { worker_connections 4096; }
thread_pool_threads 2;
mail {
    server_name bench.example.test;
    pop3_auth_plaintext on;
    auth_failure_delay 0;
    max_connections_per_ip 0;
EOF
        [ -n "${2:-}" ] && echo "    lua_script login $2;"
        cat << EOF
    server { listen 127.0.0.1:$PORT; protocol pop3; }
}
EOF
    } > "$1"
}

conf "$W/tern.conf"
"$TERN" -p "$W" -c "$W/tern.conf" domain add example.com || exit 1
# one user per client: POP3 locks the maildrop of a session
for i in $(seq 0 $((C - 1))); do
    echo "$PASSWORD" | "$TERN" -p "$W" -c "$W/tern.conf" \
        user add user$i@example.com || exit 1
done

# run NAME CONF: start, C clients x N logins, stop; prints logins/s

run() {
    local name=$1 cf=$2

    "$TERN" -p "$W" -c "$cf" > "$W/logs/$name.out" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
        sleep 0.1
    done

    python3 - "$PORT" "$N" "$C" "$PASSWORD" << 'EOF'
import socket, sys, time
from multiprocessing import Pool

port, n, c, pw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4].encode()

def client(i, count=n):
    ok = 0
    user = b"User%d@example.com" % i
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        f = s.makefile("rwb")
        f.readline()
        f.write(b"USER " + user + b"\r\nPASS " + pw + b"\r\n")
        f.flush()
        f.readline()
        if f.readline().startswith(b"+OK"):
            ok += 1
        f.write(b"QUIT\r\n")
        f.flush()
        f.readline()
        s.close()
    return ok

# warm the cache of good logins first
for i in range(c):
    client(i, 1)
t0 = time.time()
with Pool(c) as p:
    ok = sum(p.map(client, range(c)))
dt = time.time() - t0
print("%d %.0f" % (ok, ok / dt))
EOF

    kill -QUIT $pid
    wait $pid
}

conf "$W/none.conf"
conf "$W/trivial.conf" "$W/trivial.lua"
conf "$W/example.conf" "$ROOT/conf/lua/login.lua"

printf '%-28s %10s %12s\n' "login phase" "logins" "logins/s"

for v in none trivial example; do
    out=$(run $v "$W/$v.conf" | tail -1)
    set -- $out
    printf '%-28s %10s %12s\n' "$v" "${1:-?}" "${2:-?}"
    eval "R_$v=${2:-0}"
done

python3 -c "
n, t, e = float('$R_none'), float('$R_trivial'), float('$R_example')
if n > 0:
    print('trivial script / none: %.2f; example / none: %.2f' % (t / n, e / n))
"
