package Tern::Test;

# Harness for Tern's integration tests, in the shape of nginx-tests'
# Test::Nginx: every test gets its own prefix directory, its own free
# ports, its own tern master started with "daemon off;", and two extra
# checks at the end (no alerts in the error log, no sanitizer reports).
#
#     use Test::More;
#     use Tern::Test;
#     use Tern::Test::SMTP;
#
#     my $t = Tern::Test->new()->has(qw/smtp/)->plan(3);
#     $t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
#     mail {
#         server_name mail.example.test;
#         server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
#     }
#     EOF
#     $t->run();
#     $t->add_domain('example.test');
#     $t->add_user('u@example.test', 'secret');
#
#     my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
#     $s->ok('greeting');
#     ...
#
# Methods:
#     new([binary => PATH])  temp dir (removed at exit) with logs/
#     has(FEATURE...)     skip_all unless `tern -V` lists each on its
#                         "features:" line (also socket_ssl, net_dns)
#     has_daemon(NAME)    skip_all unless NAME is in PATH or /usr/sbin
#     plan(N)             Test::More plan N + 2: the two final checks
#                         ("no alerts", "no sanitizer errors") come at
#                         stop(), done_testing() or exit; they are
#                         skipped when no server was started
#     done_testing([N])   stop, final checks, Test::More::done_testing
#     allow_log(QR...)    error log lines that are not alerts
#     todo_alerts()       the "no alerts" check becomes TODO
#     port(N)             free port for index N (8025...), also a function
#     write_file(NAME, DATA), read_file(NAME), testdir()
#     write_file_expand(NAME, DATA)  %%PORT_N%%, %%PORT_N_UDP%%,
#                         %%TESTDIR%%, %%DNS_PORT%%, %%CONF_BASE%%
#     conf_base()         the common top of a test tern.conf
#     listen_ports([N...])  port indexes run() waits for; default: the
#                         %%PORT_N%% of tern.conf
#     run(), try_run(MSG) start tern -p DIR -c DIR/tern.conf; wait for the
#                         pid file and the ports (BAIL_OUT / skip_all)
#     stop()              QUIT (TERM, KILL after 10 s), stop the helpers,
#                         final checks; stop_server() and restart() stop
#                         without the checks
#     reload()            HUP, wait for "start worker process" in the log
#     wait_for_log(QR[, SECS])  the first matching error log line
#     workers(), kill_worker()  worker pids; SIGKILL one, return its pid
#     master_pid(), alerts(), sanitizer_reports()
#     tern(ARGS...[, {stdin => S, timeout => SECS}])  the CLI: (exit
#                         code, stdout, stderr)
#     add_domain(D), add_user(ADDR, PASSWORD)  die on failure
#     maildir(ADDR)       DIR/mail/<domain>/<local>
#     maildir_files(ADDR) files in new/ and cur/, in name order
#     dns(\%zone)         DNS server on a free port, see Tern::Test::DNS;
#                         returns the port; dns_queries() what it got
#     run_daemon(CODE|PROG, ARGS)  a fake peer, killed at stop()
#     gen_cert(DIR, NAME) self-signed ECDSA P-256: (crt, key)
#
# Environment:
#     TERN_BINARY        path to the binary (default objs/tern in the repo)
#     TERN_TEST_LEAVE=1  keep the test directory (its path is printed)
#     TERN_TEST_VERBOSE=1  print client traffic and harness steps
#     ASAN_OPTIONS, UBSAN_OPTIONS  used as given; unset, reports go to
#                        DIR/asan.* and DIR/ubsan.*

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ port log_in log_out /;

use Cwd qw/ abs_path /;
use File::Basename qw/ dirname basename /;
use File::Path qw/ make_path /;
use File::Spec;
use File::Temp qw/ tempdir /;
use IO::Socket::INET;
use POSIX qw/ WNOHANG /;
use Scalar::Util qw/ weaken /;
use Socket qw/ SOCK_STREAM SOCK_DGRAM /;
use Test::More qw//;
use Time::HiRes qw/ sleep time /;


###############################################################################

# t/lib/Tern/Test.pm -> repository root

our $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../../..');

our $BINARY = do {
    my $b = $ENV{TERN_BINARY} // 'objs/tern';
    File::Spec->file_name_is_absolute($b) ? $b : "$ROOT/$b";
};

# index (8025, 'dns1', ...) -> port, and port -> 1; per process

our %PORTS;
our %USED_PORTS;

# live harness objects, so that END can finish those not yet destroyed

our @INSTANCES;

# set when a test is bailed out: the final checks are not printed then

our $BAILED;

my $START_TIMEOUT = 10;
my $STOP_TIMEOUT = 10;


###############################################################################

sub new {
    my ($class, %opts) = @_;

    my $self = bless {
        _binary => $opts{binary} // $BINARY,
        _pid => $$,
        _started => 0,
        _ever_started => 0,
        _want_checks => 0,
        _checked => 0,
        _allow => [],
        _problems => [],
        _daemons => [],
        _dns => [],
        _conf_ports => [],
        _listen_ports => undef,
    }, $class;

    my $leave = $ENV{TERN_TEST_LEAVE};

    $self->{_testdir} = tempdir('tern-test-XXXXXXXXXX',
                                TMPDIR => 1, CLEANUP => !$leave)
        or die "Can't create temp directory: $!\n";

    # a worker that dropped privileges must still reach the prefix

    chmod 0755, $self->{_testdir};

    make_path("$self->{_testdir}/logs");

    Test::More::diag("test directory: $self->{_testdir}") if $leave;

    push @INSTANCES, $self;
    weaken($INSTANCES[-1]);

    return $self;
}


sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);

    return if !defined $self->{_pid} || $self->{_pid} != $$;

    $self->_finish();
}


END {
    local $?;

    for my $t (@INSTANCES) {
        next unless defined $t && $t->{_pid} == $$;
        $t->_finish();
    }
}


sub _finish {
    my ($self) = @_;

    return if $self->{_finished}++;

    $self->stop();
    $self->stop_daemons();
}


###############################################################################

# Features

sub has {
    my ($self, @features) = @_;

    for my $f (@features) {
        Test::More::plan(skip_all => "no $f available")
            unless $self->has_feature($f);
    }

    return $self;
}


sub has_feature {
    my ($self, $f) = @_;

    if ($f eq 'socket_ssl') {
        return eval { require IO::Socket::SSL; 1 } ? 1 : 0;
    }

    if ($f eq 'net_dns') {
        return eval { require Net::DNS::Nameserver; 1 } ? 1 : 0;
    }

    return grep { $_ eq $f } $self->features();
}


sub features {
    my ($self) = @_;

    if (!defined $self->{_features}) {
        $self->_need_binary();

        my $v = `"$self->{_binary}" -V 2>&1`;
        $self->{_version} = $v;

        my ($line) = $v =~ /^features:[ \t]*(.*?)\s*$/m;
        $self->{_features} = [ split ' ', $line // '' ];
    }

    return @{$self->{_features}};
}


sub has_daemon {
    my ($self, $daemon) = @_;

    my $found = grep { -x "$_/$daemon" }
                split(/:/, $ENV{PATH} // ''), qw{ /usr/sbin /sbin };

    Test::More::plan(skip_all => "$daemon not found") unless $found;

    return $self;
}


###############################################################################

# Plan and the final checks

sub plan {
    my ($self, $n) = @_;

    $self->{_want_checks} = 1;
    Test::More::plan(tests => $n + 2);

    return $self;
}


sub done_testing {
    my ($self, $n) = @_;

    $self->{_want_checks} = 1;
    $self->stop();
    $self->stop_daemons();

    Test::More::done_testing(defined $n ? $n + 2 : ());

    return $self;
}


# Lines matching one of these are not counted as alerts, for tests that
# provoke an [emerg] on purpose (a reload with a broken configuration).

sub allow_log {
    my ($self, @re) = @_;

    push @{$self->{_allow}}, @re;

    return $self;
}


sub todo_alerts {
    my ($self) = @_;

    $self->{_todo_alerts} = 1;

    return $self;
}


sub _final_checks {
    my ($self) = @_;

    return if $self->{_checked} || !$self->{_want_checks} || $BAILED;
    return if Test::More->builder->{Skip_All};

    $self->{_checked} = 1;

    if (!$self->{_ever_started}) {
        SKIP: {
            Test::More::skip('no server was started', 2);
        }
        return;
    }

    my @alerts = $self->alerts();
    my $tb = Test::More->builder;

    $tb->todo_start('alerts') if $self->{_todo_alerts};
    Test::More::is(join("\n", @alerts), '', 'no alerts');
    $tb->todo_end() if $self->{_todo_alerts};

    my @reports = $self->sanitizer_reports();

    Test::More::ok(!@reports, 'no sanitizer errors')
        or Test::More::diag(join "\n", @reports);
}


# [alert], [emerg] and [crit] lines of the error log not excused by
# allow_log(), and shutdown problems.

sub alerts {
    my ($self) = @_;

    my $log = $self->_read_if_exists($self->error_log_path()) // '';
    my @alerts = grep { my $l = $_; !grep { $l =~ $_ } @{$self->{_allow}} }
                 $log =~ /^.*\[(?:alert|emerg|crit)\].*$/mg;

    return (@alerts, @{$self->{_problems}});
}


# Sanitizer reports: each asan.* / ubsan.* file of the test directory
# with its content, and sanitizer lines of stderr.log.

sub sanitizer_reports {
    my ($self) = @_;

    my $dir = $self->{_testdir};
    my @reports;

    for my $f (sort grep { -f $_ } glob("$dir/asan.*"), glob("$dir/ubsan.*")) {
        push @reports, "$f:\n" . ($self->_read_if_exists($f) // '');
    }

    my $stderr = $self->_read_if_exists("$dir/stderr.log") // '';
    my @lines = $stderr =~ /^.*(?:Sanitizer|runtime error:).*$/mg;

    push @reports, "stderr.log:\n" . join("\n", @lines) if @lines;

    return @reports;
}


###############################################################################

# Ports

sub _bindable {
    my ($port) = @_;

    for my $type (SOCK_STREAM, SOCK_DGRAM) {
        my $s = IO::Socket::INET->new(
            LocalAddr => "127.0.0.1:$port",
            Type => $type,
            Proto => $type == SOCK_STREAM ? 'tcp' : 'udp',
            ($type == SOCK_STREAM ? (ReuseAddr => 1) : ()),
        );
        return 0 unless $s;
        close $s;
    }

    return 1;
}


# A port that is free for both TCP and UDP on 127.0.0.1 and not handed
# out before in this process.

sub free_port {
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1:0',
            Proto => 'tcp',
            Listen => 1,
        ) or die "Can't bind a TCP socket: $!\n";

        my $port = $s->sockport();
        close $s;

        next if $USED_PORTS{$port};
        next unless _bindable($port);

        $USED_PORTS{$port} = 1;
        return $port;
    }

    die "Can't find a free port\n";
}


# port(8025) or $t->port(8025): the port for that index, the same one for
# the whole process.

sub port {
    my $n = pop @_;

    die "port: no index\n" unless defined $n;

    $PORTS{$n} //= free_port();

    return $PORTS{$n};
}


sub listen_ports {
    my ($self, @n) = @_;

    if (@n) {
        $self->{_listen_ports} = [ @n ];
        return $self;
    }

    return @{$self->{_listen_ports} // $self->{_conf_ports}};
}


###############################################################################

# Files

sub testdir {
    my ($self) = @_;
    return $self->{_testdir};
}


sub _path {
    my ($self, $name) = @_;
    return $name if File::Spec->file_name_is_absolute($name);
    return "$self->{_testdir}/$name";
}


sub write_file {
    my ($self, $name, $content) = @_;

    my $path = $self->_path($name);
    make_path(dirname($path));

    open my $fh, '>', $path or die "Can't create $path: $!\n";
    binmode $fh;
    print $fh $content;
    close $fh or die "Can't write $path: $!\n";

    return $self;
}


sub write_file_expand {
    my ($self, $name, $content) = @_;

    my (@seen, %seen);

    $content =~ s/%%CONF_BASE%%/conf_base()/ge;
    $content =~ s/%%TESTDIR%%/$self->{_testdir}/g;

    $content =~ s/%%DNS_PORT%%/$self->_dns_port()/ge;

    $content =~ s/%%PORT_(\d+)_UDP%%/port($1)/ge;

    $content =~ s{%%PORT_(\d+)%%}{
        push @seen, $1 unless $seen{$1}++;
        port($1)
    }ge;

    $self->{_conf_ports} = [ @seen ] if basename($name) eq 'tern.conf';

    return $self->write_file($name, $content);
}


sub read_file {
    my ($self, $name) = @_;

    my $path = $self->_path($name);

    open my $fh, '<', $path or die "Can't open $path: $!\n";
    binmode $fh;
    local $/;
    my $content = <$fh>;
    close $fh;

    return $content;
}


sub _read_if_exists {
    my ($self, $path) = @_;

    return undef unless -f $path;
    return eval { $self->read_file($path) };
}


sub conf_base {
    return <<'EOF';
daemon off;
worker_processes 1;
error_log logs/error.log info;
pid logs/tern.pid;

events {
    worker_connections 1024;
}

thread_pool_threads 2;

EOF
}


# Paths the configuration chose for the pid file and the error log.

sub _conf_value {
    my ($self, $directive, $default) = @_;

    my $conf = $self->_read_if_exists("$self->{_testdir}/tern.conf") // '';
    my ($v) = $conf =~ /^\s*\Q$directive\E\s+([^\s;]+)/m;

    return $self->_path($v // $default);
}


sub pid_path {
    my ($self) = @_;
    return $self->_conf_value('pid', 'logs/tern.pid');
}


sub error_log_path {
    my ($self) = @_;
    return $self->_conf_value('error_log', 'logs/error.log');
}


sub maildir {
    my ($self, $addr) = @_;

    my ($local, $domain) = $addr =~ /^(.*)@([^@]+)$/
        or die "maildir: bad address $addr\n";

    return "$self->{_testdir}/mail/" . lc($domain) . "/$local";
}


# Message files in new/ and cur/, full paths, in file name order (Maildir
# names begin with the delivery time, so this is delivery order).

sub maildir_files {
    my ($self, $addr) = @_;

    my $dir = $self->maildir($addr);
    my @files;

    for my $sub (qw/ new cur /) {
        opendir(my $dh, "$dir/$sub") or next;
        push @files, map { "$dir/$sub/$_" } grep { !/^\./ } readdir $dh;
        closedir $dh;
    }

    return sort { basename($a) cmp basename($b) } grep { -f $_ } @files;
}


###############################################################################

# Sanitizer reports go to files in the test directory unless the user
# chose otherwise.

sub _child_env {
    my ($self) = @_;

    my $dir = $self->{_testdir};

    $ENV{ASAN_OPTIONS} //= "detect_leaks=1:log_path=$dir/asan";
    $ENV{UBSAN_OPTIONS} //= "print_stacktrace=1:log_path=$dir/ubsan";
}


# Best effort: the master gets SIGTERM when the test process dies, so
# that a test killed hard leaves no server behind (prctl PR_SET_PDEATHSIG;
# x86_64 only, where the syscall number is known).

sub _die_with_parent {
    require Config;
    return unless $Config::Config{archname} =~ /^x86_64-linux/;
    syscall(157, 1, 15);
}


sub binary {
    my ($self) = @_;
    return $self->{_binary};
}


sub _need_binary {
    my ($self) = @_;

    _bail("no tern binary at $self->{_binary} (build it, or set"
          . " TERN_BINARY)")
        unless -x $self->{_binary};
}


sub _command {
    my ($self) = @_;
    my $dir = $self->{_testdir};
    return ($self->{_binary}, '-p', $dir, '-c', "$dir/tern.conf");
}


###############################################################################

# Running the server

sub run {
    my ($self) = @_;

    my $dir = $self->{_testdir};

    $self->_need_binary();

    die "run: server already running\n" if $self->{_started};

    make_path("$dir/logs");
    unlink $self->pid_path();

    my $pid = fork();
    die "Can't fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/stderr.log";
        open STDERR, '>&', \*STDOUT;
        $self->_child_env();
        _die_with_parent();
        exec($self->_command())
            or print STDERR "Can't exec $self->{_binary}: $!\n";
        POSIX::_exit(127);
    }

    $self->{_master} = $pid;
    $self->{_started} = 1;
    $self->{_ever_started} = 1;

    my @ports = map { port($_) } $self->listen_ports();
    my $deadline = time() + $START_TIMEOUT;
    my $why;

    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $why = 'tern exited with status ' . ($? >> 8)
                   . ($? & 127 ? ' (signal ' . ($? & 127) . ')' : '');
            $self->{_started} = 0;
            last;
        }

        if (-s $self->pid_path()
            && !grep { !_accepts($_) } @ports)
        {
            log_core('', "tern started, pid $pid");
            return $self;
        }

        if (time() > $deadline) {
            $why = "tern did not start in $START_TIMEOUT s (pid file "
                   . $self->pid_path() . ", ports @ports)";
            last;
        }

        sleep(0.05);
    }

    if ($self->{_started}) {
        $self->_kill_hard();
    }

    $self->{_start_failed} = $why;

    _bail($why . "\n" . $self->_logs_for_diag());
}


# Like run(), but a server that does not start skips the test instead.

sub try_run {
    my ($self, $message) = @_;

    no warnings 'redefine';
    local *Test::More::BAIL_OUT = sub { die "@_\n" };
    local $BAILED;

    eval { $self->run() };
    return $self unless $@;

    Test::More::diag($@) if $ENV{TERN_TEST_VERBOSE};
    Test::More::plan(skip_all => $message);
}


sub _bail {
    my ($why) = @_;

    $BAILED = 1;
    Test::More::BAIL_OUT($why);
}


sub _accepts {
    my ($port) = @_;

    my $s = IO::Socket::INET->new(
        PeerAddr => "127.0.0.1:$port",
        Proto => 'tcp',
        Timeout => 1,
    );

    return 0 unless $s;
    close $s;
    return 1;
}


sub _logs_for_diag {
    my ($self) = @_;

    my $out = '';

    for my $f ("$self->{_testdir}/stderr.log", $self->error_log_path()) {
        my $c = $self->_read_if_exists($f) // next;
        my @l = split /\n/, $c;
        @l = @l[-50 .. -1] if @l > 50;
        $out .= "--- $f\n" . join("\n", @l) . "\n";
    }

    return $out;
}


sub master_pid {
    my ($self) = @_;
    return $self->{_started} ? $self->{_master} : undef;
}


sub _wait_exit {
    my ($pid, $timeout) = @_;

    my $deadline = time() + $timeout;

    while (time() < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return 1 if $r == $pid || $r == -1;
        sleep(0.05);
    }

    return 0;
}


sub _kill_hard {
    my ($self) = @_;

    my $pid = $self->{_master};
    my @children = _children($pid);

    kill 'KILL', $pid, @children;
    waitpid($pid, 0);

    $self->{_started} = 0;
}


# Graceful stop: QUIT, then TERM, then KILL. Having to go past QUIT is
# reported in the "no alerts" check.

sub stop_server {
    my ($self) = @_;

    return $self unless $self->{_started};

    my $pid = $self->{_master};

    kill 'QUIT', $pid;

    if (!_wait_exit($pid, $STOP_TIMEOUT)) {
        push @{$self->{_problems}},
             "tern did not exit on SIGQUIT within $STOP_TIMEOUT s";
        my @children = _children($pid);

        kill 'TERM', $pid;

        if (!_wait_exit($pid, 5)) {
            push @{$self->{_problems}}, 'tern did not exit on SIGTERM';
            @children = (@children, _children($pid));
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }

        kill 'KILL', grep { kill 0, $_ } @children;

    } elsif ($? != 0 && $? != -1) {
        push @{$self->{_problems}},
             'tern exited with status ' . ($? >> 8)
             . ($? & 127 ? ', signal ' . ($? & 127) : '');
    }

    $self->{_started} = 0;
    log_core('', "tern stopped, pid $pid");

    return $self;
}


# Stop the server and the helper daemons (DNS, fake peers), then run the
# two final checks (once per test). To stop and start again inside a
# test, use stop_server() and run(), or restart().

sub stop {
    my ($self) = @_;

    $self->stop_server();

    if ($self->{_pid} == $$) {
        $self->stop_daemons();
        $self->_final_checks();
    }

    return $self;
}


sub restart {
    my ($self) = @_;

    $self->stop_server();
    return $self->run();
}


sub _count_worker_starts {
    my ($self) = @_;

    my $log = $self->_read_if_exists($self->error_log_path()) // '';
    my @m = $log =~ /start worker process/g;

    return scalar @m;
}


sub reload {
    my ($self) = @_;

    die "reload: server not running\n" unless $self->{_started};

    my $before = $self->_count_worker_starts();

    kill 'HUP', $self->{_master};

    my $deadline = time() + $START_TIMEOUT;

    while (time() < $deadline) {
        return $self if $self->_count_worker_starts() > $before;
        sleep(0.05);
    }

    die "reload: no new worker within $START_TIMEOUT s\n"
        . $self->_logs_for_diag();
}


# Wait until the error log has a line matching $re; returns the line.

sub wait_for_log {
    my ($self, $re, $timeout) = @_;

    my $deadline = time() + ($timeout // 10);

    while (1) {
        my $log = $self->_read_if_exists($self->error_log_path()) // '';
        my ($line) = $log =~ /^(.*(?:$re).*)$/m;
        return $line if defined $line;
        return undef if time() > $deadline;
        sleep(0.05);
    }
}


sub _children {
    my ($pid) = @_;

    my @pids;

    my @files = grep { -e $_ } glob("/proc/$pid/task/*/children");

    for my $f (@files) {
        open my $fh, '<', $f or next;
        local $/;
        push @pids, split ' ', (<$fh> // '');
    }

    if (!@files) {
        @pids = split ' ', `pgrep -P $pid 2>/dev/null`;
    }

    return @pids;
}


sub _cmdline {
    my ($pid) = @_;

    open my $fh, '<', "/proc/$pid/cmdline" or return '';
    local $/;
    my $c = <$fh> // '';
    $c =~ tr/\0/ /;

    return $c;
}


sub _alive {
    my ($pid) = @_;

    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh> // '';

    return $stat !~ /^\d+ \(.*\) [ZX] /;
}


# Worker processes of the running master; when the process titles say
# which is a worker, only those.

sub workers {
    my ($self) = @_;

    return () unless $self->{_started};

    my @all = grep { _alive($_) } _children($self->{_master});
    my @workers = grep { _cmdline($_) =~ /worker/ } @all;

    return @workers ? @workers : @all;
}


sub kill_worker {
    my ($self) = @_;

    my ($pid) = $self->workers() or die "kill_worker: no worker found\n";

    kill 'KILL', $pid;

    my $deadline = time() + 5;
    sleep(0.02) while _alive($pid) && time() < $deadline;

    return $pid;
}


###############################################################################

# The command line interface

sub tern {
    my ($self, @args) = @_;

    my $opts = ref $args[-1] eq 'HASH' ? pop @args : {};
    my $dir = $self->{_testdir};
    my $tag = "cli-$$-" . ++$self->{_cli};

    my %f = map { $_ => "$dir/.$tag.$_" } qw/ in out err /;

    $self->write_file($f{in}, $opts->{stdin} // '');

    my $pid = fork();
    die "Can't fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', $f{in};
        open STDOUT, '>', $f{out};
        open STDERR, '>', $f{err};
        $self->_child_env();
        exec($self->_command(), @args) or print STDERR "exec: $!\n";
        POSIX::_exit(127);
    }

    my $timeout = $opts->{timeout} // 60;

    if (!_wait_exit($pid, $timeout)) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        die "tern @args: no exit in $timeout s\n";
    }

    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my ($out, $err) = map { $self->read_file($_) } @f{qw/ out err /};

    unlink values %f;
    log_core('cli', "tern @args -> $rc\n$out$err");

    return ($rc, $out, $err);
}


sub add_domain {
    my ($self, $domain) = @_;

    my ($rc, $out, $err) = $self->tern('domain', 'add', $domain);
    die "tern domain add $domain: exit $rc: $err$out\n" if $rc != 0;

    return $self;
}


sub add_user {
    my ($self, $addr, $password) = @_;

    my ($rc, $out, $err) = $self->tern('user', 'add', $addr,
                                       { stdin => "$password\n" });
    die "tern user add $addr: exit $rc: $err$out\n" if $rc != 0;

    return $self;
}


###############################################################################

# Helper processes: a DNS server, fake peers

sub run_daemon {
    my ($self, $code, @args) = @_;

    my $pid = fork();
    die "Can't fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        $self->{_pid} = 0;
        @INSTANCES = ();
        $SIG{TERM} = 'DEFAULT';

        if (ref $code eq 'CODE') {
            eval { $code->(@args) };
            print STDERR $@ if $@;
            POSIX::_exit(0);
        }

        exec($code, @args) or print STDERR "exec $code: $!\n";
        POSIX::_exit(127);
    }

    push @{$self->{_daemons}}, $pid;

    return $pid;
}


sub stop_daemons {
    my ($self) = @_;

    for my $d (@{$self->{_dns}}) {
        $d->stop();
    }
    $self->{_dns} = [];

    while (my $pid = shift @{$self->{_daemons}}) {
        kill 'TERM', $pid;
        next if _wait_exit($pid, 5);
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }

    return $self;
}


sub dns {
    my ($self, $zone, %opts) = @_;

    require Tern::Test::DNS;

    my $dns = Tern::Test::DNS->start(
        zone => $zone,
        port => $opts{port} // free_port(),
        log => "$self->{_testdir}/dns.log",
    );

    push @{$self->{_dns}}, $dns;

    return $dns->port();
}


sub _dns_port {
    my ($self) = @_;

    die "%%DNS_PORT%% used before ->dns()\n" unless @{$self->{_dns}};

    return $self->{_dns}[-1]->port();
}


# Queries the DNS servers of this test received: [ name, type, proto ].

sub dns_queries {
    my ($self) = @_;

    my $log = $self->_read_if_exists("$self->{_testdir}/dns.log") // '';

    return map { [ split ' ' ] } split /\n/, $log;
}


###############################################################################

# A self-signed ECDSA P-256 certificate: $dir/$name.crt, $dir/$name.key.

sub gen_cert {
    my ($dir, $name) = @_;

    if (ref $dir) {
        ($dir, $name) = @_ == 2 ? ($dir->testdir(), $name) : @_[1, 2];
    }

    make_path($dir);

    my $crt = "$dir/$name.crt";
    my $key = "$dir/$name.key";

    my $out = `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \\
        -nodes -days 365 -subj "/CN=$name" -keyout "$key" -out "$crt" 2>&1`;

    die "openssl req failed: $out\n" if $? != 0;

    return ($crt, $key);
}


###############################################################################

# Traffic log, printed with TERN_TEST_VERBOSE=1

sub log_core {
    return unless $ENV{TERN_TEST_VERBOSE};

    my ($prefix, $msg) = @_;
    ($prefix, $msg) = ('', $prefix) unless defined $msg;
    $prefix .= ' ' if length $prefix;

    if (length($msg) > 2048) {
        $msg = substr($msg, 0, 2048) . "(... " . length($msg) . " bytes)";
    }

    $msg =~ s/([^\x20-\x7e\n])/sprintf('\\x%02x', ord($1))/ge;
    $msg =~ s/^/# $prefix/gm;
    $msg .= "\n" unless $msg =~ /\n\z/;

    print STDERR $msg;
}


sub log_out {
    log_core('>>', @_);
}


sub log_in {
    log_core('<<', @_);
}


###############################################################################

# Line-oriented protocol client; Tern::Test::SMTP and Tern::Test::POP3
# derive from it.

package Tern::Test::Client;

use warnings;
use strict;

use IO::Select;
use IO::Socket::INET;
use Socket qw/ CRLF /;
use Time::HiRes qw/ time /;


sub new {
    my ($class, %args) = @_;

    my $ssl = delete $args{SSL};
    my $timeout = delete $args{ReadTimeout} // 5;
    my %ssl_opts = map { $_ => delete $args{$_} } grep { /^SSL_/ } keys %args;

    $args{PeerAddr} //=
        '127.0.0.1:' . Tern::Test::port($class->default_port($ssl));

    my $s = IO::Socket::INET->new(
        Proto => 'tcp',
        Timeout => 5,
        %args,
    ) or die "Can't connect to $args{PeerAddr}: $!\n";

    $s->autoflush(1);

    my $self = bless {
        _socket => $s,
        _buf => '',
        _timeout => $timeout,
    }, $class;

    if ($ssl) {
        $self->start_tls(%ssl_opts)
            or die "TLS handshake with $args{PeerAddr} failed: "
                   . $IO::Socket::SSL::SSL_ERROR . "\n";
    }

    return $self;
}


sub default_port {
    die "no default port: give PeerAddr\n";
}


sub socket {
    my ($self) = @_;
    return $self->{_socket};
}


sub close {
    my ($self) = @_;
    $self->{_socket}->close() if $self->{_socket};
    delete $self->{_socket};
}


sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->close();
}


# Upgrade the connection to TLS (after STARTTLS/STLS and its positive
# reply). Bytes already buffered from before the upgrade are dropped.
# Returns true on success.

sub start_tls {
    my ($self, %opts) = @_;

    require IO::Socket::SSL;

    $self->{_buf} = '';

    my $ok = IO::Socket::SSL->start_SSL(
        $self->{_socket},
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        Timeout => 5,
        %opts,
    );

    if ($ok) {
        Tern::Test::log_in('tls: ' . $self->{_socket}->get_sslversion()
                           . ' ' . $self->{_socket}->get_cipher());
    } else {
        Tern::Test::log_in('tls failed: ' . $IO::Socket::SSL::SSL_ERROR);
    }

    return $ok ? 1 : 0;
}


sub print {
    my ($self, $data) = @_;

    Tern::Test::log_out($data);

    local $SIG{PIPE} = 'IGNORE';
    my $s = $self->{_socket} or return 0;

    return $s->print($data) ? 1 : 0;
}


sub send {
    my ($self, $line) = @_;
    return $self->print($line . CRLF);
}


# Read whatever the socket has into the buffer, waiting up to $timeout.
# Returns the number of bytes read, 0 on EOF, undef on timeout/error.

sub _fill {
    my ($self, $timeout) = @_;

    my $s = $self->{_socket} or return 0;

    my $pending = $s->can('pending') && $s->pending();

    if (!$pending) {
        return undef unless IO::Select->new($s)->can_read($timeout);
    }

    my $n = $s->sysread(my $buf, 65536);

    if (!defined $n) {
        return undef if $!{EAGAIN} || $!{EINTR};
        $self->{_eof} = 1;
        return 0;
    }

    if ($n == 0) {
        $self->{_eof} = 1;
        return 0;
    }

    $self->{_buf} .= $buf;

    return $n;
}


# One line including its "\n", or undef after $timeout seconds or at EOF
# (an incomplete last line is then returned as it is).

sub getline {
    my ($self, $timeout) = @_;

    my $deadline = time() + ($timeout // $self->{_timeout});

    while (1) {
        if ($self->{_buf} =~ s/^(.*?\x0a)//s) {
            return $1;
        }

        my $left = $deadline - time();
        my $n = $left > 0 ? $self->_fill($left) : undef;

        if (!$n) {
            if (defined $n || $left <= 0) {
                if (length $self->{_buf}) {
                    my $rest = $self->{_buf};
                    $self->{_buf} = '';
                    return $rest;
                }
                return undef;
            }
        }
    }
}


sub can_read {
    my ($self, $timeout) = @_;

    return 1 if length $self->{_buf};

    my $s = $self->{_socket} or return 0;
    return 1 if $s->can('pending') && $s->pending();

    return IO::Select->new($s)->can_read($timeout // 3) ? 1 : 0;
}


# True if the peer closed the connection (within $timeout seconds).
# Data that arrives instead stays buffered and makes this false.

sub eof {
    my ($self, $timeout) = @_;

    return 0 if length $self->{_buf};
    return 1 if $self->{_eof} || !$self->{_socket};

    my $deadline = time() + ($timeout // $self->{_timeout});

    while (time() < $deadline) {
        my $n = $self->_fill($deadline - time());
        return 1 if defined $n && $n == 0;
        return 0 if $n;
    }

    return 0;
}


sub check {
    my ($self, $re, $name) = @_;
    return Test::More->builder->like($self->read(), $re, $name);
}


1;
