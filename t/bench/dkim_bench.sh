#!/usr/bin/env bash
#
# DKIM: verification cost per message and signing rate (RSA-2048 and
# Ed25519) of Tern's engine, beside the raw signature-check rate of the
# same library (BoringSSL, in-process) and of `openssl speed` (Debian's
# OpenSSL, with assembly) on the same machine as the limits.  Not a test:
# run it by hand from the source root after ./configure && make:
#
#     t/bench/dkim_bench.sh
#
# Environment (defaults in parentheses):
#     BENCH_BODY ("4096 102400")  body sizes in bytes, one run each
#     BENCH_SECONDS (3)           seconds per measurement
#     BENCH_PIN (1)               run on one CPU (taskset -c 0)
#
# The engine objects come from objs/ (the module must be built: not
# ./configure --without-dkim).  The program is built into a temp dir.

set -euo pipefail

objs=${TN_OBJS:-objs}
bodies=${BENCH_BODY:-"4096 102400"}
secs=${BENCH_SECONDS:-3}
pin=${BENCH_PIN:-1}

if [ ! -f $objs/Makefile ] || [ ! -f $objs/modules/dkim/tn_mail_dkim.o ]
then
    echo "dkim_bench: build first (./configure && make), with dkim" >&2
    exit 1
fi

tmp=`mktemp -d /tmp/tern-dkim-bench.XXXXXX`
trap 'rm -rf "$tmp"' EXIT

# the compiler settings and library objects of the build
var() {
    awk -v v="$1" '
        $0 ~ "^" v " = " { on = 1; sub("^" v " = ", "") }
        on { c = sub(/\\$/, ""); printf "%s ", $0; if (!c) exit }
    ' $objs/Makefile
}

eval "cflags=\"`var CFLAGS`\"; incs=\"`var ALL_INCS`\"; libs=\"`var LIBS`\""
lib_objs=`var LIB_OBJS`

cc $cflags $incs -o $tmp/dkim_speed t/bench/dkim_speed.c $lib_objs $libs

run=
if [ "$pin" = 1 ] && command -v taskset > /dev/null; then
    run="taskset -c 0"
fi

echo "# `date -u '+%Y-%m-%d %H:%M UTC'`, `nproc` CPUs," \
     "`sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1`"

for body in $bodies; do
    echo "# Tern engine, body $body bytes (relaxed/relaxed, 9 header fields)"
    $run $tmp/dkim_speed $body $secs
done

echo "# openssl speed (`openssl version | cut -d' ' -f1-2`), $secs s each"
$run openssl speed -seconds $secs rsa2048 ed25519 2> /dev/null \
    | sed -n -e '/sign *verify/,$p'
