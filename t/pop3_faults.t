#!/usr/bin/perl

# POP3 under hostile clients and a changing Maildir (checklist 3.6 M7,
# 3.11 F4, 4.6): a 20 MB message to a client that reads slowly keeps the
# worker's memory bounded; a client gone in the middle of RETR leaves no
# file open and frees the lock; message files removed, replaced by a
# symlink or by a FIFO after LIST give -ERR (never /etc/passwd, never a
# stuck worker); DELE of all and QUIT; nothing runs after QUIT; message
# numbers stay fixed after DELE; worker_shutdown_timeout ends POP3
# sessions, also one waiting for its deletions in UPDATE; DELE and then
# kill -9 removes nothing, and the indexes pass integrity_check.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::MD5 qw/ md5_hex /;
use File::Basename qw/ basename /;
use POSIX qw/ mkfifo /;
use Socket qw/ CRLF /;
use Test::More;
use Time::HiRes qw/ sleep time /;

use Tern::Test;
use Tern::Test::POP3;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->plan(43);

$t->write_file_expand('tern.conf', "worker_shutdown_timeout 1s;\n"
    . Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    pop3_auth_plaintext on;

    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');
$t->add_user('v@example.test', 'secret');

my $U = 'u@example.test';
my $V = 'v@example.test';

###############################################################################

# a 20 MB message and a client that reads slowly

my $line = ('x' x 70) . "\n";
my $big = "Subject: big\n\n" . ($line x (20 * 1024 * 1024 / 71));
my $big_crlf = $big;
$big_crlf =~ s/\n/\r\n/g;

drop($U, '1700000001.M1P1Q1.big', $big);

my $s = login($U);
my ($worker) = $t->workers();
my $rss0 = rss($worker);

$s->send('RETR 1');
my $status = $s->read(10);
like($status, qr/^\+OK \Q${\ length $big_crlf}\E octets/, 'big retr status');

# the client stops reading: the socket buffers fill up, the server waits

my $wire = '';
my $max = 0;

for my $step (1 .. 10) {
    $wire .= drain($s, 256 * 1024);
    sleep(0.2);
    my $r = rss($worker);
    $max = $r if $r > $max;
}

$wire .= drain($s, length($big_crlf) * 2, 60);

cmp_ok($max - $rss0, '<', 8 * 1024, 'worker memory bounded by a slow reader')
    or diag("rss before $rss0 kB, max $max kB");
ok($wire =~ s/\r\n\.\r\n\z/\r\n/, 'big retr terminated');
is(length $wire, length $big_crlf, 'big retr length');
is(md5_hex($wire), md5_hex($big_crlf), 'big retr content');

# gone in the middle of RETR: the file is closed, the lock freed

$s->send('RETR 1');
$s->read();
drain($s, 512 * 1024);
$s->close();
wait_closed();

is(msg_fds($worker), 0, 'no message file open after a drop mid-retr');

$s = login($U);
$s->send('STAT');
like($s->read(), qr/^\+OK 1 /, 'lock free after a drop mid-retr');

###############################################################################

# message numbers after DELE; TOP with huge counts

drop($U, "1700000002.M1P1Q$_.small", "Subject: $_\n\nbody $_\n") for 2 .. 4;

$s->send('QUIT');
$s->read();
$s->eof();
wait_closed();

$s = login($U);
$s->send('DELE 2');
$s->ok('dele 2');
$s->send('LIST');
my ($st, $body) = $s->read_multi();
like($body, qr/^1 \d+\r\n3 \d+\r\n4 \d+\r\n\z/, 'list keeps the numbers');
$s->send('UIDL');
($st, $body) = $s->read_multi();
like($body, qr/^1 \S+\r\n3 \S+\r\n4 \S+\r\n\z/, 'uidl keeps the numbers');
$s->send('TOP 3 4294967295');
($st, $body) = $s->read_multi();
like($body // '', qr/\r\nbody \d\r\n\z/, 'top with the largest count');
$s->send('TOP 3 18446744073709551616');
$s->err('top with a count past 64 bits');
$s->send('RSET');
$s->ok('rset');

# a file removed, replaced by a symlink or by a FIFO after the login

my $dir = $t->maildir($U);
my %path = map { basename($_) =~ /Q(\d)\./ ? ($1 => $_) : () }
           $t->maildir_files($U);

unlink $path{2};
$s->send('RETR 2');
like($s->read(), qr/^-ERR \[SYS\/TEMP\]/, 'retr of a removed file');

unlink $path{3};
symlink '/etc/passwd', $path{3};
$s->send('RETR 3');
like($s->read(), qr/^-ERR \[SYS\/TEMP\]/, 'retr of a file now a symlink');

unlink $path{4};
mkfifo($path{4}, 0600) or die "mkfifo: $!\n";
$s->send('TOP 4 0');
like($s->read(3) // 'timeout', qr/^-ERR \[SYS\/TEMP\]/,
     'retr of a file now a fifo');
$s->send('NOOP');
$s->ok('session goes on');
$s->send('QUIT');
$s->ok('quit');
$s->eof();
wait_closed();
unlink $path{3}, $path{4};

# a symlink to /etc/passwd put into cur/ is never a message

symlink '/etc/passwd', "$dir/cur/1700000005.M1P1Q5.evil:2,S";

$s = login($U);
$s->send('STAT');
like($s->read(), qr/^\+OK 1 /, 'symlink not counted');
$s->send('RETR 2');
$s->err('no second message');
$s->send('UIDL');
($st, $body) = $s->read_multi();
unlike($body, qr/evil/, 'symlink not listed');

# DELE of everything, then QUIT; nothing runs after QUIT

$s->send('DELE 1');
$s->ok('dele all');
$s->send('STAT');
is($s->read(), "+OK 0 0\r\n", 'stat after dele all');
$s->print("QUIT\r\nNOOP\r\nRSET\r\n");
like($s->read(), qr/^\+OK .*1 messages deleted/, 'quit after dele all');
is($s->read(2), undef, 'no reply after quit');
ok($s->eof(), 'closed after quit');
wait_closed();

ok(!-e $path{1}, 'big message removed');
is(scalar(my @f = grep { !/evil/ } $t->maildir_files($U)), 0,
   'maildrop empty');
unlink "$dir/cur/1700000005.M1P1Q5.evil:2,S";

$s = login($U);
$s->send('STAT');
is($s->read(), "+OK 0 0\r\n", 'stat of an empty maildrop');
$s->send('QUIT');
$s->ok('quit empty');
$s->eof();
wait_closed();

###############################################################################

# worker_shutdown_timeout ends an idle session and one in UPDATE

drop($V, '1700000007.M1P1Q7.v', "Subject: v\n\nv\n");

my $idle = login($U);
my $upd = login($V);
$upd->send('DELE 1');
$upd->ok('dele before shutdown');

# the expunge waits for the index while another program writes to it

open(my $sq, '|-', 'sqlite3', $t->maildir($V) . '/index.db')
    or die "sqlite3: $!\n";
select((select($sq), $| = 1)[0]);
print $sq "BEGIN IMMEDIATE;\nCREATE TABLE tn_test_lock (x);\n";
sleep(0.5);

$upd->send('QUIT');
sleep(0.5);

$t->reload();

ok($idle->eof(8), 'idle session closed at worker_shutdown_timeout');
ok($upd->eof(8), 'session in update closed at worker_shutdown_timeout');

print $sq "ROLLBACK;\n";
close $sq;

$t->wait_for_log(qr/exiting/, 15);
my $deadline = time() + 15;
sleep(0.1) while _alive($worker) && time() < $deadline;
ok(!_alive($worker), 'old worker exits');

$s = login($V);
$s->send('STAT');
like($s->read(), qr/^\+OK 0 /, 'the deletion of the closed session ran');
$s->send('QUIT');
$s->ok('quit after shutdown');
$s->eof();
wait_closed();

# DELE, then kill -9 of the worker: nothing is removed (M7), and the
# indexes pass integrity_check (R7)

drop($V, '1700000008.M1P1Q8.v', "Subject: v2\n\nv2\n");

$s = login($V);
$s->send('DELE 1');
$s->ok('dele before kill');
$t->kill_worker();
ok($s->eof(5), 'session gone with the worker');

$s = undef;
$deadline = time() + 10;
while (!$s && time() < $deadline) {
    $s = eval { login($V) };
    sleep(0.1) unless $s;
}
$s->send('STAT');
like($s->read(), qr/^\+OK 1 /, 'kill -9 after dele removes nothing');
$s->send('QUIT');
$s->ok('quit after kill');

for my $db ($t->maildir($V) . '/index.db', $t->maildir($U) . '/index.db',
            $t->testdir() . '/tern.db')
{
    is(`sqlite3 '$db' 'PRAGMA integrity_check'`, "ok\n",
       'integrity_check ' . basename($db, '.db'));
}

###############################################################################

sub pop3 {
    return Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
}

sub login {
    my ($user) = @_;
    my $c = pop3();
    $c->read();
    $c->send('USER ' . $user);
    $c->read();
    $c->send('PASS secret');
    my $r = $c->read(10) // '';
    die "login failed: $r" unless $r =~ /^\+OK/;
    return $c;
}

# up to $max bytes that arrive within $timeout seconds

sub drain {
    my ($c, $max, $timeout) = @_;
    my $got = $c->{_buf};
    $c->{_buf} = '';
    my $deadline = time() + ($timeout // 5);

    while (length $got < $max && time() < $deadline) {
        last unless $c->can_read(1);
        my $n = sysread($c->socket(), my $buf, 65536);
        last unless $n;
        $got .= $buf;
        last if $got =~ /\r\n\.\r\n\z/;
    }

    return $got;
}

sub rss {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    my ($kb) = join('', <$fh>) =~ /^VmRSS:\s+(\d+)/m;
    return $kb // 0;
}

# descriptors of the worker open on message files

sub msg_fds {
    my ($pid) = @_;
    opendir(my $dh, "/proc/$pid/fd") or return -1;
    return scalar grep { (readlink("/proc/$pid/fd/$_") // '')
                         =~ m{/(new|cur)/[^/]+$} } readdir $dh;
}

sub _alive {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    return (<$fh> // '') !~ /^\d+ \(.*\) [ZX] /;
}

# waits for the log line of the last session of the client that is gone

sub wait_closed {
    my $deadline = time() + 5;
    while (time() < $deadline) {
        my $log = $t->read_file('logs/error.log');
        my ($last) = $log =~ /\*(\d+) client \S+ connected[^\n]*\n(?!.*connected)/s;
        return if defined $last && $log =~ /\*$last pop3 session closed/;
        sleep(0.05);
    }
}

sub drop {
    my ($addr, $name, $content) = @_;
    my $dir = $t->maildir($addr);
    my ($uid, $gid) = (stat $dir)[4, 5];
    $t->write_file("$dir/tmp/$name", $content);
    chown $uid, $gid, "$dir/tmp/$name";
    chmod 0600, "$dir/tmp/$name";
    rename "$dir/tmp/$name", "$dir/new/$name" or die "rename: $!\n";
}

###############################################################################
