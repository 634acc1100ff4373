#!/usr/bin/perl

# Outbound faults: kill -9 of the whole server with mail in the queue,
# then a restart: every acknowledged message is delivered; a worker
# killed while it delivers: the respawned one finishes the queue; a
# remote side that drops the connection in the middle of the data or
# refuses after it.

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::Peer;

my $t = Tern::Test->new()->has('net_dns')->plan(11);

my $dns = $t->dns({
    'far.test' => { MX => [ '10 mx.far.test' ] },
    'mx.far.test' => { A => '127.0.0.1' },
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 2s;

outbound {
    mx_port %%PORT_8030%%;
    ipv6 off;
    retry 1s 1s;
    connect_timeout 2s;
    command_timeout 3s;
    data_timeout 3s;
    tls none;
}

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF

$t->listen_ports(8025)->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

sub send_msgs {
    my ($rcpt, @subjects) = @_;
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $s->read();
    $s->send('EHLO c.test');
    $s->read();
    my $ok = 0;
    for my $subj (@subjects) {
        $s->print("MAIL FROM:<u\@example.test>\r\nRCPT TO:<$rcpt>\r\nDATA\r\n");
        $s->read() for 1 .. 3;
        $s->print("Subject: $subj\r\n\r\nbody of $subj\r\n.\r\n");
        $ok++ if ($s->read() // '') =~ /^250 /;
    }
    $s->send('QUIT');
    return $ok;
}

sub queue_ids {
    my (undef, $out) = $t->tern('queue', 'list');
    return map { /^(\S+)/ } grep { /\S/ } split /\n/, $out // '';
}

sub subjects {
    return map { $_->{data} =~ /^Subject: (\S+)/m ? $1 : () } @_;
}

###############################################################################

# nobody listens at the MX yet: 20 messages wait in the queue

is(send_msgs('x@far.test', map { "m$_" } 1 .. 20), 20, '20 messages queued');
ok($t->wait_for_log(qr/queue: message \S+ to <x\@far\.test>: deferred/),
   'the first tries are deferred');

# kill -9 of the master and every worker, then a restart

my @pids = ($t->master_pid(), $t->workers());
kill 'KILL', @pids;
waitpid($pids[0], 0);
my $until = time() + 5;
sleep(0.05) while (grep { kill 0, $_ } @pids[1 .. $#pids]) && time() < $until;
ok(!(grep { kill 0, $_ } @pids), 'server killed');

$t->restart();

my $peer = Tern::Test::Peer::start($t, port => $t->port(8030), name => 'mx');

my @m = Tern::Test::Peer::wait_messages($peer, 20, 30);
my %seen = map { $_ => 1 } subjects(@m);
is(scalar(keys %seen), 20, 'every queued message delivered after the restart');
is(scalar @m, 20, 'each once');

my $deadline = time() + 10;
sleep(0.2) while queue_ids() && time() < $deadline;
is(scalar(queue_ids()), 0, 'queue empty');

# the remote side drops the connection in the data: deferred, then
# delivered once it behaves (the "once" peer accepts the second time)

is(send_msgs('dropdata9@far.test', 'cut'), 1, 'queued for a cut connection');
ok($t->wait_for_log(qr/queue: message \S+ to <dropdata9\@far\.test>: deferred/),
   'a cut connection defers');

# refused after the data: a bounce, not a retry

is(send_msgs('late5x@far.test', 'refused'), 1, 'queued for a late refusal');
ok($t->wait_for_log(qr/queue: message \S+ to <late5x\@far\.test>: bounced/),
   'a 554 after the data bounces');

# held messages wait; the cut one stays deferred: delete it

my (@left) = grep { $_ } queue_ids();
my ($rc) = $t->tern('queue', 'delete', $left[0] // 'none');
is($rc, 0, 'the deferred message deleted by the admin');

$t->stop();

###############################################################################
