#!/usr/bin/perl

# SMTP under concurrency: two workers, 20 clients in parallel, 10
# messages each, all to one mailbox.  Every 250 a client saw is a file in
# new/, and the index gave every message its own UID (the group commit
# of several workers and batches on one index.db).

use warnings;
use strict;

use Test::More;
use POSIX qw/ _exit /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $CLIENTS = 20;
my $MESSAGES = 10;

my $t = Tern::Test->new()->has_daemon('sqlite3')->plan(5);

$t->write_file_expand('tern.conf', <<'EOF');
daemon off;
worker_processes 2;
error_log logs/error.log info;
pid logs/tern.pid;
events { worker_connections 1024; }
thread_pool_threads 4;

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

# each client writes one line per 250 it saw: "queue-id"

my @pids;

for my $n (1 .. $CLIENTS) {
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        my $ok = eval { client($n); 1 };
        _exit($ok ? 0 : 1);
    }

    push @pids, $pid;
}

my $failed = 0;

for my $pid (@pids) {
    waitpid($pid, 0);
    $failed++ if $?;
}

is($failed, 0, 'every client finished');

my @ids;

for my $n (1 .. $CLIENTS) {
    open my $fh, '<', "$dir/client.$n" or next;
    push @ids, map { chomp; $_ } <$fh>;
}

is(scalar @ids, $CLIENTS * $MESSAGES, 'every message got its 250');

my %seen;
is(scalar(grep { !$seen{$_}++ } @ids), scalar @ids, 'queue ids unique');

my @f = $t->maildir_files($u);
is(scalar @f, $CLIENTS * $MESSAGES, 'every message in new/');

my $db = $t->maildir($u) . '/index.db';
my $uids = `sqlite3 '$db' 'select count(distinct uid) from messages'`;
chomp $uids;
is($uids, $CLIENTS * $MESSAGES, 'distinct UIDs in index.db');

$t->stop();

###############################################################################

sub client {
    my ($n) = @_;

    open my $out, '>', "$dir/client.$n" or die "$!\n";
    $out->autoflush(1);

    my $s = Tern::Test::SMTP->new(ReadTimeout => 30);
    $s->read() =~ /^220 / or die "no greeting\n";
    $s->send("EHLO c$n.test");
    $s->read() =~ /^250 /m or die "no EHLO\n";

    for my $m (1 .. $MESSAGES) {
        $s->print("MAIL FROM:<c$n\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
        for (1 .. 3) {
            $s->read() =~ /^(250|354) / or die "refused\n";
        }
        $s->print("Subject: client $n message $m\r\n\r\n"
                  . ("line of text for $n/$m\r\n" x 50) . ".\r\n");
        my $r = $s->read() // '';
        $r =~ /^250 2\.0\.0 Ok: queued as (\S+)/ or die "not queued: $r\n";
        print $out "$1\n";
    }

    $s->send('QUIT');
    $s->read();
}

###############################################################################
