#!/usr/bin/env bash
#
# The cost of the Lua mime phase per message: SMTP messages per second
# (smtp-source, local delivery to one Maildir, one worker, loopback)
# with no script (no message check at all), with a trivial mime script
# (returns at once: the spool file read and parsed in the thread pool,
# the coroutine, the call) and with conf/lua/exe_rename.lua (walks the
# parts, reads file names); then the login phase (t/bench/lua_login.sh).
# Not a test: run it by hand:
#
#     t/bench/lua_phase.sh [objs/tern]
#
# Environment:
#     BENCH_MESSAGES=4000   messages per run
#     BENCH_SESSIONS=8      parallel smtp-source sessions
#     BENCH_SIZE=4096       message size (smtp-source -l)
#     BENCH_ROUNDS=3        rounds of the three runs (the best counts)
#     BENCH_LOGIN=1         also run t/bench/lua_login.sh
#     BENCH_KEEP=1          keep the temp dir

set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TERN=${1:-${TERN_BINARY:-$ROOT/objs/tern}}
case $TERN in /*) ;; *) TERN=$PWD/$TERN ;; esac

N=${BENCH_MESSAGES:-4000}
S=${BENCH_SESSIONS:-8}
SIZE=${BENCH_SIZE:-4096}
ROUNDS=${BENCH_ROUNDS:-3}
PORT=$((20000 + RANDOM % 20000))
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)

[ -x "$SMTP_SOURCE" ] || { echo "no smtp-source (postfix)" >&2; exit 1; }

W=$(mktemp -d /tmp/tern-bench-mime.XXXXXX) || exit 1

cleanup() {
    [ -f "$W/logs/tern.pid" ] && kill -QUIT "$(cat "$W/logs/tern.pid")" \
        2>/dev/null
    sleep 0.5
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/logs"

cat > "$W/trivial.lua" << 'EOF2'
return function(msg)
end
EOF2

# conf FILE [SCRIPT]: a configuration with the mime phase when given

conf() {
    {
        cat << EOF2
daemon off;
worker_processes 1;
error_log logs/error.log notice;
pid logs/tern.pid;
events { worker_connections 4096; }
thread_pool_threads 2;
mail {
    server_name bench.example.test;
    max_connections_per_ip 0;
    smtp_max_recipients 10000;
EOF2
        [ -n "${2:-}" ] && echo "    lua_script mime $2;"
        [ -n "${2:-}" ] && echo "    lua_package_path $ROOT/conf/lua;"
        cat << EOF2
    server { listen 127.0.0.1:$PORT; protocol smtp; }
}
EOF2
    } > "$1"
}

conf "$W/tern.conf"
"$TERN" -p "$W" -c "$W/tern.conf" domain add example.test || exit 1
echo bench-secret | "$TERN" -p "$W" -c "$W/tern.conf" \
    user add u@example.test || exit 1

# run NAME CONF: start, N messages in S sessions, stop; prints msgs/s

run() {
    local name=$1 cf=$2 t0 t1

    "$TERN" -p "$W" -c "$cf" > "$W/logs/$name.out" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
        sleep 0.1
    done

    t0=$(date +%s.%N)
    "$SMTP_SOURCE" -s "$S" -m "$N" -l "$SIZE" -f a@b.test \
        -t u@example.test "127.0.0.1:$PORT" > "$W/logs/$name.src" 2>&1
    t1=$(date +%s.%N)

    kill -QUIT $pid
    wait $pid

    python3 -c "print('%.0f' % ($N / ($t1 - $t0)))"
}

conf "$W/none.conf"
conf "$W/trivial.conf" "$W/trivial.lua"
conf "$W/example.conf" "$ROOT/conf/lua/exe_rename.lua"

printf '%-28s %10s %12s\n' "mime phase" "messages" "messages/s"

# rounds, the variants interleaved; the best of each counts (the first
# runs warm the disk and the page cache)

R_none=0 R_trivial=0 R_example=0

for round in $(seq "$ROUNDS"); do
    for v in none trivial example; do
        r=$(run $v "$W/$v.conf" | tail -1)
        printf '%-28s %10s %12s\n' "$v (round $round)" "$N" "${r:-?}"
        eval "[ \"\${r:-0}\" -gt \"\$R_$v\" ] && R_$v=\${r:-0}"
    done
done

stored=$(find "$W/mail" -type f -path '*/new/*' | wc -l)
echo "stored: $stored of $((3 * ROUNDS * N))"
echo "best: none $R_none, trivial $R_trivial, example $R_example"

python3 -c "
n, t, e = float('$R_none'), float('$R_trivial'), float('$R_example')
if n > 0 and t > 0:
    print('trivial script / none: %.2f (%.0f us more per message); '
          'example / none: %.2f' % (t / n, (1 / t - 1 / n) * 1e6, e / n))
"

if [ "${BENCH_LOGIN:-1}" = 1 ]; then
    echo
    "$ROOT/t/bench/lua_login.sh" "$TERN"
fi
