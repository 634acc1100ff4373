#!/usr/bin/perl

# Outbound delivery over IPv6: an MX host with AAAA and A records is
# tried on its AAAA address first (ipv6 on); with ipv6 off only A is used.

use warnings;
use strict;

use Test::More;
use IO::Socket::IP;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::Peer;

my $t = Tern::Test->new()->has('net_dns');

IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1)
    or plan(skip_all => 'no IPv6 loopback');

$t->plan(4);

my $dns = $t->dns({
    'six.test' => { MX => [ '10 mx.six.test' ] },
    'mx.six.test' => { AAAA => '::1', A => '127.0.0.1' },
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;

outbound {
    mx_port %%PORT_8030%%;
    ipv6 on;
    retry 1h 1h;
    tls none;
}

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF

$t->listen_ports(8025)->run();

# the peer listens on [::1] only: delivered means AAAA was used

my $peer = Tern::Test::Peer::start($t, port => $t->port(8030), name => 'v6',
                                   addr => '::1');

my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
$s->read();
$s->print("EHLO c.test\r\nMAIL FROM:<a\@b.test>\r\nRCPT TO:<x\@six.test>\r\n"
          . "DATA\r\n");
$s->read() for 1 .. 4;
$s->print("Subject: v6\r\n\r\nover IPv6\r\n.\r\n");
like($s->read(), qr/^250 /, 'queued');
$s->send('QUIT');

my @m = Tern::Test::Peer::wait_messages($peer, 1);
is(scalar @m, 1, 'delivered to the AAAA address');
is_deeply($m[0]{rcpts}, ['x@six.test'], 'to x@six.test');
ok($t->wait_for_log(qr/\[::1\]/), 'the IPv6 address in the log');

$t->stop();
