#!/usr/bin/perl

# TLS as the core offers it to every protocol: TLS 1.2 and 1.3 only,
# the certificate chosen by SNI, session resumption, the automatic
# self-signed certificate, and a handshake timeout.  Clients: the
# openssl command line.

use warnings;
use strict;

use Test::More;
use IO::Socket::INET;

use lib 't/lib';
use Tern::Test;

###############################################################################

my $t = Tern::Test->new()->has(qw/smtp/)->plan(10);

my $d = $t->testdir();
Tern::Test::gen_cert($d, 'default.test');
Tern::Test::gen_cert($d, 'other.test');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mx.example.test;
    ssl_handshake_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT_8465%% ssl;
        protocol smtp;
        ssl_certificate %%TESTDIR%%/default.test.crt;
        ssl_certificate_key %%TESTDIR%%/default.test.key;
        ssl_sni other.test %%TESTDIR%%/other.test.crt %%TESTDIR%%/other.test.key;
    }

    server {
        listen 127.0.0.1:%%PORT_8466%% ssl;
        protocol smtp;
        ssl_certificate auto/tern.crt;
        ssl_certificate_key auto/tern.key;
        ssl_certificate_auto on;
    }
}
EOF

$t->run();

my $port = $t->port(8465);

sub s_client {
    my ($args, $input) = @_;
    $input //= "QUIT\r\n";
    my $in = "$d/s_client.in";
    open my $fh, '>', $in or die;
    print $fh $input;
    close $fh;
    return `timeout 10 openssl s_client -ign_eof -connect 127.0.0.1:$port \\
        $args < $in 2>&1`;
}

my $out = s_client('-servername default.test');
like($out, qr/subject=\/?CN ?= ?default\.test/, 'default certificate');
like($out, qr/^220 mx\.example\.test/m, 'SMTP over implicit TLS');

$out = s_client('-servername OTHER.test');
like($out, qr/subject=\/?CN ?= ?other\.test/, 'SNI picks the other one');

$out = s_client('-servername unknown.test');
like($out, qr/subject=\/?CN ?= ?default\.test/, 'unknown name: default');

$out = s_client('-tls1_1');
unlike($out, qr/^220 /m, 'TLS 1.1 refused');

$out = s_client('-tls1_2');
like($out, qr/Protocol\s*:\s*TLSv1\.2/, 'TLS 1.2 accepted');

# resumption: a TLS 1.2 session saved and offered again

s_client("-tls1_2 -sess_out $d/sess.pem");
$out = s_client("-tls1_2 -sess_in $d/sess.pem");
like($out, qr/^Reused, /m, 'session resumed');

# the automatic certificate was made at start for server_name

ok(-f "$d/auto/tern.crt" && -f "$d/auto/tern.key", 'automatic certificate');
is((stat("$d/auto/tern.key"))[2] & 07777, 0600, 'its key is private');

# a client that never starts the handshake is dropped after
# ssl_handshake_timeout

my $c = IO::Socket::INET->new("127.0.0.1:$port") or die;
$c->blocking(1);
my $n = sysread($c, my $buf, 1);
ok(defined $n && $n == 0, 'silent client closed by the handshake timeout');

$t->stop();

###############################################################################
