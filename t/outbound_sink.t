#!/usr/bin/perl

# Outbound delivery against Postfix's smtp-sink (checklist 4.11): accepted;
# a 5xx to DATA (bounce to the sender); a 4xx to RCPT, a disconnect at
# RCPT, a 421 at DATA and a stalled DATA reply (deferred, never bounced,
# never lost).

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('net_dns')->has_daemon('smtp-sink')->plan(8);

my $dns = $t->dns({
    'sink.test' => { MX => [ '10 mx.sink.test' ] },
    'mx.sink.test' => { A => '127.0.0.1' },
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;

outbound {
    mx_port %%PORT_8030%%;
    ipv6 off;
    retry 1h 1h;
    command_timeout 2s;
    data_timeout 2s;
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

my $sink = (-x '/usr/sbin/smtp-sink') ? '/usr/sbin/smtp-sink' : 'smtp-sink';

# a sink with these options, for one message to RCPT; the delivery log
sub try_sink {
    my ($rcpt, @opts) = @_;

    my $pid = $t->run_daemon($sink, ($> == 0 ? ('-u', 'nobody') : ()),
                             @opts, '127.0.0.1:' . $t->port(8030), '16');
    sleep(0.3);

    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $s->read();
    $s->print("EHLO c.test\r\nMAIL FROM:<u\@example.test>\r\n"
              . "RCPT TO:<$rcpt>\r\nDATA\r\n");
    $s->read() for 1 .. 4;
    $s->print("Subject: $rcpt\r\n\r\nbody\r\n.\r\n");
    $s->read();
    $s->send('QUIT');

    my $line = $t->wait_for_log(
        qr/queue: message \S+ to <\Q$rcpt\E>: (delivered|deferred|bounced)/,
        10);

    kill 'TERM', $pid;
    waitpid($pid, 0);

    return $line // '';
}

###############################################################################

like(try_sink('a@sink.test'), qr/: delivered/, 'smtp-sink accepts');
like(try_sink('b@sink.test', '-f', 'DATA'), qr/: bounced, .* 5\d\d /,
     '5xx to DATA: bounced');
like(try_sink('c@sink.test', '-r', 'RCPT'), qr/: deferred, .* 4\d\d /,
     '4xx to RCPT: deferred');
like(try_sink('d@sink.test', '-q', 'RCPT'), qr/: deferred/,
     'disconnect at RCPT: deferred');
like(try_sink('e@sink.test', '-Q', 'DATA'), qr/: deferred, .*421/,
     '421 at DATA: deferred');
like(try_sink('f@sink.test', '-W', 'DATA:4'), qr/: deferred/,
     'a stalled reply times out: deferred');

# the bounce went to the sender, the deferred ones are still queued

my @n = $t->maildir_files('u@example.test');
is(scalar @n, 1, 'one notice, for the 5xx');

my (undef, $list) = $t->tern('queue', 'list');
my $left = () = ($list // '') =~ /^\S/mg;
is($left, 4, 'the four deferred messages wait in the queue');

$t->stop();
