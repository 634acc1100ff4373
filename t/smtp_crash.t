#!/usr/bin/perl

# SMTP and process faults (checklist 4.1, 4.8): kill -9 of the worker
# while clients stream messages loses no message whose 250 was seen; the
# master starts a new worker.  A reload in the middle of a transaction
# lets the old worker finish it.

use warnings;
use strict;

use Test::More;
use POSIX qw/ _exit /;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $CLIENTS = 5;

my $t = Tern::Test->new()->plan(11);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $u = 'u@example.test';
my $dir = $t->testdir();

sub nfiles { my @f = $t->maildir_files($u); return scalar @f; }

sub stored_ids {
    my %ids;
    for my $f ($t->maildir_files($u)) {
        my $m = $t->read_file($f);
        $ids{$1} = 1 if $m =~ /^\tby \S+ \(Tern\) with \w+ id (\S+)/m;
    }
    return \%ids;
}

###############################################################################

# kill -9 while 5 clients send as fast as they can

my @pids;

for my $n (1 .. $CLIENTS) {
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        eval { client($n) };
        _exit(0);
    }

    push @pids, $pid;
}

# let some messages through, then kill the worker mid-stream

my $deadline = time() + 10;
sleep(0.05) while nfiles() < 20 && time() < $deadline;

my $killed = $t->kill_worker();
ok($killed, "worker $killed killed");

waitpid($_, 0) for @pids;

my @seen;

for my $n (1 .. $CLIENTS) {
    open my $fh, '<', "$dir/client.$n" or next;
    push @seen, map { chomp; $_ } <$fh>;
}

# 20 files were in new/, but the last batch's replies may not have reached
# the clients when the kill came: some 250s are enough for the check below

ok(scalar @seen >= 10, 'clients saw 250s before the kill (' . @seen . ')');

my $ids = stored_ids();
my @lost = grep { !$ids->{$_} } @seen;

is("@lost", '', 'every message with a 250 is in new/');

# a new worker serves

my $s;
$deadline = time() + 10;

while (time() < $deadline) {
    $s = eval { Tern::Test::SMTP->new() };
    last if $s && ($s->read(1) // '') =~ /^220 /;
    undef $s;
    sleep(0.1);
}

ok($s, 'a new worker greets');

# the databases came through the crash intact

my $check = sub {
    my ($db) = @_;
    my $out = `sqlite3 '$db' 'PRAGMA integrity_check' 2>&1`;
    chomp $out;
    return $out;
};

is($check->($t->maildir($u) . '/index.db'), 'ok', 'index.db integrity');
is($check->($t->testdir() . '/tern.db'), 'ok', 'tern.db integrity');

if ($s) {
    $s->print("EHLO x.test\r\nMAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\n"
              . "DATA\r\n");
    $s->read() for 1 .. 4;
    $s->print("Subject: after\r\n\r\nafter the crash\r\n.\r\n");
    like($s->read(), qr/^250 2\.0\.0 /, 'delivery after the crash');
    $s->send('QUIT');
    $s->read();
} else {
    fail('delivery after the crash');
}

###############################################################################

# reload in the middle of a transaction

$s = Tern::Test::SMTP->new();
$s->read();
$s->print("EHLO x.test\r\nMAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\n");
$s->read() for 1 .. 3;

$t->reload();

$s->send('DATA');
like($s->read(), qr/^354 /, 'DATA on the old worker');
$s->print("Subject: reload\r\n\r\nacross a reload\r\n.\r\n");
my $r = $s->read() // '';
like($r, qr/^250 2\.0\.0 Ok: queued as (\S+)/, 'queued by the old worker');
my ($id) = $r =~ /queued as (\S+)/;
$s->send('QUIT');
$s->read();

ok($id && stored_ids()->{$id}, 'the file is there');

my $s2 = Tern::Test::SMTP->new();
like($s2->read(), qr/^220 /, 'new session after the reload');
$s2->send('QUIT');
$s2->read();

$t->stop();

###############################################################################

sub client {
    my ($n) = @_;

    open my $out, '>', "$dir/client.$n" or die "$!\n";
    $out->autoflush(1);

    my $s = Tern::Test::SMTP->new(ReadTimeout => 10);
    ($s->read() // '') =~ /^220 / or die "no greeting\n";
    $s->send("EHLO c$n.test");
    $s->read();

    for my $m (1 .. 100000) {
        $s->print("MAIL FROM:<c$n\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n")
            or return;
        for (1 .. 3) {
            ($s->read() // '') =~ /^(250|354) / or return;
        }
        $s->print("Subject: $n/$m\r\n\r\n" . ("text $n/$m\r\n" x 100)
                  . ".\r\n") or return;
        my $r = $s->read() // '';
        $r =~ /^250 2\.0\.0 Ok: queued as (\S+)/ or return;
        print $out "$1\n";
    }
}

###############################################################################
