#!/usr/bin/perl

# SMTP over TLS: STARTTLS (swaks, openssl s_client, our client), implicit
# TLS, the STARTTLS command injection of CVE-2011-0411 (checklist T1),
# the state reset after STARTTLS (T2) and the Received header.

use warnings;
use strict;

use Test::More;
use IPC::Open3;
use Symbol qw/ gensym /;
use Time::HiRes qw/ sleep /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('socket_ssl')->has_daemon('swaks')
    ->has_daemon('openssl')->plan(26);

Tern::Test::gen_cert($t, 'mail');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;

    ssl_certificate     mail.crt;
    ssl_certificate_key mail.key;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8465%% ssl; protocol smtp; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $u = 'u@example.test';
my $port = $t->port(8025);
my $sport = $t->port(8465);

sub files { my @f = $t->maildir_files($u); return @f; }

###############################################################################

# STARTTLS by hand

my $s = Tern::Test::SMTP->new();
$s->read();
$s->send('EHLO client.test');
like($s->read(), qr/^250-STARTTLS\r$/m, 'STARTTLS offered');

$s->send('STARTTLS');
like($s->read(), qr/^220 2\.0\.0 Ready to start TLS/, 'STARTTLS 220');
ok($s->starttls(), 'TLS handshake');

$s->send('MAIL FROM:<a@b.test>');
like($s->read(), qr/^503 /, 'EHLO needed again after STARTTLS');

$s->send('EHLO client.test');
my $ehlo = $s->read();
like($ehlo, qr/^250 /m, 'EHLO under TLS');
unlike($ehlo, qr/STARTTLS/, 'no STARTTLS under TLS');

$s->send('STARTTLS');
like($s->read(), qr/^554 5\.5\.1 /, 'second STARTTLS refused');

$s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
$s->read() for 1 .. 3;
$s->print("Subject: tls\r\n\r\nover tls\r\n.\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued/, 'queued under STARTTLS');
$s->send('QUIT');
$s->read();

my @f = files();
is(scalar @f, 1, 'stored');
like($t->read_file($f[-1]), qr/^\tby mail\.example\.test \(Tern\) with ESMTPS id /m,
     'Received says ESMTPS');

# CVE-2011-0411: a command pipelined after STARTTLS in the clear

$s = Tern::Test::SMTP->new();
$s->read();
$s->send('EHLO client.test');
$s->read();
$s->print("STARTTLS\r\nRSET\r\n");
like($s->read(), qr/^220 /, 'STARTTLS with RSET behind it');
ok($s->starttls(), 'handshake after the injection');
ok(!$s->can_read(1), 'no reply to the injected RSET');
$s->send('NOOP');
like($s->read(), qr/^250 2\.0\.0 Ok\r\n\z/, 'our NOOP gets the first reply');
$s->send('QUIT');
$s->read();

# swaks --tls

my $out = `swaks --server 127.0.0.1:$port --tls --to $u --from a\@b.test \\
    --helo swaks.test --body 'swaks tls' 2>&1`;
like($out, qr/^<~  250 2\.0\.0 Ok: queued as/m, 'swaks --tls');
like($out, qr/^=== TLS started/m, 'swaks started TLS');

# openssl s_client -starttls smtp

my $err = gensym;
my $pid = open3(my $in, my $o, $err, 'openssl', 's_client', '-quiet',
                '-connect', "127.0.0.1:$port", '-starttls', 'smtp',
                '-crlf');
print $in "EHLO openssl.test\nMAIL FROM:<a\@b.test>\nRCPT TO:<$u>\nDATA\n";
sleep(0.5);
print $in "Subject: openssl\n\nvia s_client\n.\nQUIT\n";
close $in;
my $sout = join '', <$o>;
waitpid($pid, 0);
like($sout, qr/^250 2\.0\.0 Ok: queued as/m, 'openssl s_client -starttls');
like($sout, qr/^221 /m, 'openssl QUIT');

# implicit TLS: our client, then swaks --tlsc

$s = Tern::Test::SMTP->new(SSL => 1);
like($s->read(), qr/^220 mail\.example\.test ESMTP/, 'implicit TLS greeting');
$s->send('EHLO client.test');
unlike($s->read(), qr/STARTTLS/, 'no STARTTLS on implicit TLS');
$s->send('QUIT');
$s->read();

$out = `swaks --server 127.0.0.1:$sport --tlsc --to $u --from a\@b.test \\
    --helo swaks.test --body 'swaks tlsc' 2>&1`;
like($out, qr/^<~  250 2\.0\.0 Ok: queued as/m, 'swaks --tlsc');

@f = files();
is(scalar @f, 4, 'four messages');
like($t->read_file($f[-1]), qr/ESMTPS id .*swaks tlsc/s,
     'implicit TLS Received ESMTPS');

# a handshake that fails leaves the server working

$s = Tern::Test::SMTP->new();
$s->read();
$s->send('EHLO client.test');
$s->read();
$s->send('STARTTLS');
$s->read();
$s->print("this is not TLS\r\n");
my $closed;
for (1 .. 5) {
    # a TLS alert may come first
    last if $closed = $s->eof(2);
    $s->{_buf} = '';
}
ok($closed, 'garbage instead of a handshake: closed');

$s = Tern::Test::SMTP->new();
like($s->read(), qr/^220 /, 'still serving');
$s->close();

my $log = $t->read_file('logs/error.log');
like($log, qr/queued as \S+ from=<a\@b\.test> size=\d+ nrcpt=1 tls=TLSv1\.[23]\//,
     'tls in the queued log line');

$t->stop();

###############################################################################
