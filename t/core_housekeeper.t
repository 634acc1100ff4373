#!/usr/bin/perl

# The housekeeper process: the master starts one beside the workers with
# its own title, starts another when it dies (the workers go on), replaces
# it on reload, leaves it out with "housekeeper off", passes SIGUSR2 on to
# it ("run the jobs now") and stops it with the rest.  Its state file is
# written at the first start, keeps the lines of jobs this configuration
# does not have across restarts and drops lines that are not valid.
# Started as root with "user", it runs as that user.
#
# The core registers no job; when modules built in register some (the
# DMARC report run), the first of them is run by SIGUSR2, runs once at a
# start after its time passed, and not again at the next start.  The
# schedule itself is tested by t/unit/test_housekeeper.c.

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use Tern::Test;

###############################################################################

my $t = Tern::Test->new()->has(qw/smtp/)->plan(51);

my $conf = Tern::Test::conf_base() . <<'EOF';
housekeeper on;
housekeeper_time 03:30;

mail {
    server_name mx.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$conf =~ s/worker_processes\s+1;/worker_processes 2;/;
$t->write_file_expand('tern.conf', $conf);

# the directives are checked by -t

$t->write_file('bad.conf', "events {}\nhousekeeper_time 24:00;\n");
my ($rc, undef, $err) = $t->tern('-c', $t->testdir() . '/bad.conf', '-t');
like($err, qr/invalid time "24:00" in "housekeeper_time".*bad\.conf:2/,
    'housekeeper_time 24:00 refused');

$t->write_file('bad2.conf', "events {}\nhousekeeper_time 3:30;\n");
($rc, undef, $err) = $t->tern('-c', $t->testdir() . '/bad2.conf', '-t');
is($rc, 1, 'housekeeper_time 3:30 refused: HH:MM');

$t->write_file('bad3.conf', "events {}\nhousekeeper maybe;\n");
($rc, undef, $err) = $t->tern('-c', $t->testdir() . '/bad3.conf', '-t');
like($err, qr/"housekeeper".*"on" or "off"/, 'housekeeper takes on|off');

# a state file from before: a job this configuration does not have (its
# line is kept) and a line that is not valid (dropped, with a warning)

$t->write_file('housekeeper.state', "# from an older run\n"
    . "retired-job 1700000000\n" . "bad line here\n" . "x/y 1700000000\n");

my $started = time();

$t->run();

my $hk = wait_housekeepers(1);
ok($hk, 'a housekeeper process');

like(ps_args($hk), qr/^tern: housekeeper process\s*$/, 'its title (ps)');
like(ps_args($t->master_pid()),
    qr/^tern: master process \S*tern -p /, "the master's title (ps)");

my @workers = wait_workers(2);
is(scalar @workers, 2, 'two workers beside it');
ok(!grep({ $_ == $hk } @workers), 'the housekeeper is not a worker');
like(ps_args($workers[0]), qr/^tern: worker process/, "a worker's title");

ok($t->wait_for_log(qr/start housekeeper process $hk\b/, 5),
    'its start logged by the master');
my ($njobs) = ($t->wait_for_log(qr/\b$hk#\d+: housekeeper: \d+ jobs?\b/, 5)
    // '') =~ /: (\d+) jobs?\b/;
ok(defined $njobs, 'it says how many jobs it has');

# the jobs that modules registered, with their next run
my @jobs = map { /job "([^"]+)" runs next/ ? $1 : () }
    grep { /\b$hk#\d+: / } split /\n/, $t->read_file('logs/error.log');
is(scalar @jobs, $njobs, 'each job says when it runs next');
my $job = $jobs[0];

# the state file: written at start, the old job's line kept

my $state = wait_file('housekeeper.state', qr/^# Tern housekeeper/m);
like($state, qr/^# Tern housekeeper/, 'state file written');
like($state, qr/^retired-job 1700000000$/m, "another job's line kept");
unlike($state, qr/bad line|x\/y/, 'invalid lines dropped');
ok(!-e $t->testdir() . '/housekeeper.state.tmp', 'no temporary file left');
ok($t->wait_for_log(qr/\[warn\].*invalid line "bad line here"/, 5),
    'invalid line logged');

# SIGUSR2 to the master: the housekeeper runs its jobs now

kill 'USR2', $t->master_pid();
ok($t->wait_for_log(qr/running the housekeeper's jobs now/, 5),
    'SIGUSR2: the master passes it on');
ok($t->wait_for_log(qr/\b$hk#\d+: housekeeper: running $njobs jobs? now/, 5),
    'SIGUSR2: the housekeeper runs its jobs');

SKIP: {
    skip 'no job registered', 2 unless defined $job;

    ok($t->wait_for_log(qr/\b$hk#\d+: housekeeper: job "\Q$job\E" started/,
        5), "SIGUSR2: job $job started");
    ok($t->wait_for_log(qr/\b$hk#\d+: housekeeper: job "\Q$job\E" (done|failed)/,
        30), "SIGUSR2: job $job ended");
}

# kill -9: a new housekeeper, the workers go on

kill 'KILL', $hk;
ok($t->wait_for_log(qr/housekeeper process $hk exited on signal 9/, 5),
    'its death logged');

my $hk2 = wait_housekeepers(1, $hk);
ok($hk2 && $hk2 != $hk, 'a new housekeeper after kill -9');
ok(!Tern::Test::_alive($hk), 'the old one is gone');
is(join(' ', sort(wait_workers(2))), join(' ', sort @workers),
    'the workers are the same');
is(count_log(qr/housekeeper: $njobs jobs?\b/, 2), 2, 'the new one started');

# reload: a new housekeeper with the new configuration, the old one quits

$t->reload();

my $hk3 = wait_housekeepers(1, $hk2);
ok($hk3 && $hk3 != $hk2, 'reload: a new housekeeper');
ok(wait_gone($hk2), 'reload: the old one exited');
ok($t->wait_for_log(qr/\b$hk2#\d+: gracefully shutting down/, 5),
    'reload: the old one was told to quit');
ok(!grep({ my $w = $_; grep { $_ == $w } @workers } wait_workers(2)),
    'reload: new workers too');

# "housekeeper off" on reload: none; "on" again: one

my $off = $conf;
$off =~ s/housekeeper on;/housekeeper off;/;
$t->write_file_expand('tern.conf', $off);
$t->reload();

ok(wait_gone($hk3), 'housekeeper off: the old one exited');
select undef, undef, undef, 0.3;
is(scalar housekeepers(), 0, 'housekeeper off: none started');

kill 'USR2', $t->master_pid();
ok($t->wait_for_log(qr/SIGUSR2 ignored: no housekeeper process/, 5),
    'housekeeper off: SIGUSR2 is ignored');

$t->write_file_expand('tern.conf', $conf);
$t->reload();

my $hk4 = wait_housekeepers(1, $hk3);
ok($hk4, 'housekeeper on again: one');

# quit: it goes with the rest; the state file stays for the next start

$t->stop_server();

ok(!Tern::Test::_alive($hk4), 'stopped with the master');
$state = $t->read_file('housekeeper.state');
like($state, qr/^retired-job 1700000000$/m, 'the state file stays');

SKIP: {
    skip 'no job registered', 1 unless defined $job;

    my ($last) = $state =~ /^\Q$job\E (\d+)$/m;
    ok(defined $last && $last >= $started, "the run of $job recorded");
}

# the job's time passed while Tern was down: it runs once at the start

my $old = $t->read_file('housekeeper.state');
$old =~ s/^(\Q$job\E) \d+$/$1 1700000000/m if defined $job;
$t->write_file('housekeeper.state', $old);

$t->run();

my $hk5 = wait_housekeepers(1, $hk4);
ok($hk5, 'a housekeeper after a restart');
ok($t->wait_for_log(qr/\b$hk5#\d+: housekeeper: $njobs jobs?\b/, 5),
    'it read its state');

SKIP: {
    skip 'no job registered', 2 unless defined $job;

    ok($t->wait_for_log(qr/\b$hk5#\d+: housekeeper: job "\Q$job\E" (done|failed)/,
        30), "its time passed while down: $job ran at the start");

    my $s = wait_file('housekeeper.state', qr/^\Q$job\E (?!1700000000$)\d+$/m);
    my ($last) = $s =~ /^\Q$job\E (\d+)$/m;
    ok(defined $last && $last >= $started, 'and its run recorded');
}

like($t->read_file('housekeeper.state'), qr/^retired-job 1700000000$/m,
    'the line is still kept');

# a restart after that run does not run the job again

$t->stop_server();
$t->run();

my $hk6 = wait_housekeepers(1, $hk5);

SKIP: {
    skip 'no job registered', 2 unless defined $job;

    ok($t->wait_for_log(qr/\b$hk6#\d+: housekeeper: job "\Q$job\E" runs next/,
        5), 'restarted');

    # SIGUSR2 runs it once; a run at the start would make it twice
    kill 'USR2', $t->master_pid();
    $t->wait_for_log(qr/\b$hk6#\d+: housekeeper: running \d+ jobs? now/, 5);
    is(count_log(qr/\b$hk6#\d+: housekeeper: job "\Q$job\E" (started|is running)/,
        1), 1, 'no run at the start: only the one of SIGUSR2');
}
$hk5 = $hk6;

# run as root with "user": the housekeeper drops privileges as workers do

SKIP: {
    my ($uid, $gid) = (getpwnam('nobody'))[2, 3];

    skip 'needs root and a user nobody', 3 if $> != 0 || !defined $uid;

    $t->stop_server();

    my $group = getgrgid($gid);
    my $user = $conf;
    $user =~ s/^(housekeeper on;)/user nobody $group;\n$1/m;
    $t->write_file_expand('tern.conf', $user);

    # the operator gives the prefix to the workers' user
    system('chown', '-R', "$uid:$gid", $t->testdir()) == 0
        or die "chown: $?";

    $t->run();

    my $hk7 = wait_housekeepers(1, $hk5);
    ok($hk7, 'user nobody: a housekeeper');
    is(proc_uid($hk7), $uid, 'it runs as nobody');
    ok($t->wait_for_log(qr/\b$hk7#\d+: housekeeper: $njobs jobs?\b/, 5),
        'it has its state and lock files');

    $hk5 = $hk7 if $hk7;
}

# the master killed with SIGKILL (with its workers, a crash): the
# housekeeper does not stay behind holding the job lock; a new server gets
# a housekeeper that runs

my @crashed = ($t->master_pid(), $t->workers());
kill 'KILL', @crashed;
waitpid($crashed[0], 0);
ok(wait_gone($hk5), 'master killed: the housekeeper is gone too');

$t->restart();

my $hk8 = wait_housekeepers(1, $hk5);
ok($hk8 && $hk8 != $hk5, 'after the crash: a new housekeeper');
ok($t->wait_for_log(qr/\b$hk8#\d+: housekeeper: $njobs jobs?\b/, 5),
    'it takes the lock (the old one did not keep it)');
$hk5 = $hk8 if $hk8;

$t->stop();

ok(wait_gone($hk5), 'gone after stop');

###############################################################################

sub children {
    my @pids;

    for my $f (glob('/proc/' . $t->master_pid() . '/task/*/children')) {
        open my $fh, '<', $f or next;
        local $/;
        push @pids, split ' ', (<$fh> // '');
    }

    return grep { Tern::Test::_alive($_) } @pids;
}

sub housekeepers {
    return () unless $t->master_pid();
    return grep { Tern::Test::_cmdline($_) =~ /^tern: housekeeper process/ }
        children();
}

# the pid of the only housekeeper, once it is not $old
sub wait_housekeepers {
    my ($n, $old) = @_;

    for (1 .. 100) {
        my @h = housekeepers();
        return $h[0] if @h == $n && (!defined $old || $h[0] != $old);
        select undef, undef, undef, 0.05;
    }

    return undef;
}

sub wait_workers {
    my ($n) = @_;

    my @w;
    for (1 .. 100) {
        @w = grep { Tern::Test::_cmdline($_) =~ /^tern: worker process\s*$/ }
            children();
        last if @w == $n;
        select undef, undef, undef, 0.05;
    }

    return @w;
}

sub wait_gone {
    my ($pid) = @_;

    for (1 .. 100) {
        return 1 unless Tern::Test::_alive($pid);
        select undef, undef, undef, 0.05;
    }

    return 0;
}

sub wait_file {
    my ($name, $re) = @_;

    my $content = '';
    for (1 .. 100) {
        $content = eval { $t->read_file($name) } // '';
        last if $content =~ $re;
        select undef, undef, undef, 0.05;
    }

    return $content;
}

# how many lines match, once there are $want of them (or after 5 s)
sub count_log {
    my ($re, $want) = @_;

    my $log;
    for (1 .. 100) {
        $log = $t->read_file('logs/error.log');
        my $n = () = $log =~ /$re/g;
        return $n if $n >= $want;
        select undef, undef, undef, 0.05;
    }

    my $n = () = $log =~ /$re/g;
    return $n;
}

sub ps_args {
    my ($pid) = @_;

    my $args = `ps -o args= -p $pid 2>/dev/null` // '';
    chomp $args;

    return $args;
}

sub proc_uid {
    my ($pid) = @_;

    open my $fh, '<', "/proc/$pid/status" or return -1;
    while (<$fh>) {
        return $1 if /^Uid:\s+(\d+)/;
    }
    return -1;
}

###############################################################################
