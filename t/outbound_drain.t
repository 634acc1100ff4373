#!/usr/bin/perl

# A large queue drained to one destination: TERN_DRAIN_N messages (10,000
# by default) submitted by parallel clients while the MX is down, then
# delivered once it is up and the queue is flushed, with a bounded number of connections
# (destination_concurrency per worker, many messages per connection),
# every message delivered and the queue empty.

use warnings;
use strict;

use Test::More;
use POSIX qw/ _exit /;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::Peer;

my $N = $ENV{TERN_DRAIN_N} // 10000;
my $CLIENTS = 10;

my $t = Tern::Test->new()->has('net_dns')->plan(7);

my $dns = $t->dns({
    'far.test' => { MX => [ '10 mx.far.test' ] },
    'mx.far.test' => { A => '127.0.0.1' },
});

(my $base = Tern::Test::conf_base()) =~ s/worker_processes\s+1;/worker_processes 2;/;

$t->write_file_expand('tern.conf', $base . <<"EOF");
resolver 127.0.0.1:$dns;

outbound {
    mx_port %%PORT_8030%%;
    ipv6 off;
    retry 1h 1h;
    destination_concurrency 3;
    messages_per_connection 200;
    tls none;
}

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF

$t->listen_ports(8025)->run();

# the MX is down while the messages come in

my $start = time();
my @kids;

for my $k (1 .. $CLIENTS) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $ok = 0;
        my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:'
                                      . $t->port(8025), ReadTimeout => 30);
        $s->read();
        $s->send('EHLO c.test');
        $s->read();
        for my $i (1 .. $N / $CLIENTS) {
            $s->print("MAIL FROM:<s\@example.test>\r\nRCPT TO:<x\@far.test>\r\n"
                      . "DATA\r\n");
            $s->read() for 1 .. 3;
            $s->print("Subject: c$k-$i\r\n\r\nbody\r\n.\r\n");
            $ok++ if ($s->read() // '') =~ /^250 /;
        }
        $s->send('QUIT');
        _exit($ok == $N / $CLIENTS ? 0 : 1);
    }

    push @kids, $pid;
}

my $bad = 0;
for my $pid (@kids) { waitpid($pid, 0); $bad++ if $?; }
is($bad, 0, "$N messages queued by $CLIENTS clients");
diag(sprintf('queued in %.1f s', time() - $start));

# the MX comes up; the operator flushes the queue

my $peer = Tern::Test::Peer::start($t, port => $t->port(8030), name => 'mx');
$start = time();

my ($rc, $out) = $t->tern('queue', 'flush');
like($out // '', qr/^\d+ messages flushed/m, 'queue flushed');

my @m = Tern::Test::Peer::wait_messages($peer, $N, 300);
diag(sprintf('drained in %.1f s', time() - $start));
is(scalar @m, $N, 'every message delivered');

my %subj = map { ($_->{data} =~ /^Subject: (\S+)/m)[0] => 1 } @m;
is(scalar(keys %subj), $N, 'each one once');

my ($conns, $max) = Tern::Test::Peer::connections($peer);
diag("$conns connections, at most $max at once");
# 2 workers x destination_concurrency 3; a worker may open its next one
# while the peer still handles the QUIT of the last: one more each
ok($max <= 2 * 3 + 2, "at most 6 (+2) connections at once ($max)");
ok($conns < $N / 10, "messages shared connections ($conns for $N)");

my $deadline = time() + 30;
my $left;
while (1) {
    my (undef, $out) = $t->tern('queue', 'list');
    $left = () = ($out // '') =~ /^\S/mg;
    last if !$left || time() > $deadline;
    sleep(0.5);
}
is($left, 0, 'queue empty');

$t->stop();
