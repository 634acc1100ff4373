#!/usr/bin/perl

# SMTP and the client's DNS name: the PTR name goes into the Received
# header only when its A record leads back to the client; a DNS server
# that does not answer delays the greeting by resolver_timeout at most.

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('net_dns')->plan(8);

my $u = 'u@example.test';

sub conf {
    my ($dns) = @_;

    $t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 1s;

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF
}

sub send_one {
    my ($tag) = @_;

    my $start = time();
    my $s = Tern::Test::SMTP->new();
    my $greeting = $s->read(5) // '';
    my $took = time() - $start;

    $s->print("EHLO helo.test\r\nMAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\n"
              . "DATA\r\n");
    $s->read() for 1 .. 4;
    $s->print("Subject: $tag\r\n\r\n$tag\r\n.\r\n");
    my $r = $s->read() // '';
    $s->send('QUIT');
    $s->read();

    my ($file) = grep { $t->read_file($_) =~ /^Subject: $tag$/m }
                 $t->maildir_files($u);

    return ($greeting, $took, $r, $file ? $t->read_file($file) : '');
}

###############################################################################

# a PTR name confirmed by its A record

conf($t->dns({
    '1.0.0.127.in-addr.arpa' => { PTR => 'client.example.test.' },
    'client.example.test' => { A => '127.0.0.1' },
}));

$t->run();
$t->add_domain('example.test');
$t->add_user($u, 'secret');

my ($greeting, $took, $r, $m) = send_one('confirmed');

like($greeting, qr/^220 /, 'greeting');
like($r, qr/^250 2\.0\.0 /, 'queued');
like($m, qr/^Received: from helo\.test \(client\.example\.test \[127\.0\.0\.1\]\)$/m,
     'Received has the confirmed name');

$t->stop_server();
$t->stop_daemons();

# a PTR name whose A record is somebody else's

conf($t->dns({
    '1.0.0.127.in-addr.arpa' => { PTR => 'liar.example.test.' },
    'liar.example.test' => { A => '192.0.2.1' },
}));

$t->run();

($greeting, $took, $r, $m) = send_one('liar');

like($m, qr/^Received: from helo\.test \(unknown \[127\.0\.0\.1\]\)$/m,
     'unconfirmed name not used');

$t->stop_server();
$t->stop_daemons();

# a DNS server that never answers

conf($t->dns({ '1.0.0.127.in-addr.arpa' => 'TIMEOUT' }));

$t->run();

($greeting, $took, $r, $m) = send_one('timeout');

like($greeting, qr/^220 /, 'greeting despite the DNS timeout');
ok($took < 2.5, sprintf('greeting within resolver_timeout (%.2f s)', $took));
like($r, qr/^250 2\.0\.0 /, 'queued after a DNS timeout');
like($m, qr/^Received: from helo\.test \(unknown \[127\.0\.0\.1\]\)$/m,
     'Received says unknown');

$t->stop();

###############################################################################
