#!/usr/bin/perl

# SMTP AUTH (RFC 4954): PLAIN and LOGIN over STARTTLS and implicit TLS
# with swaks, Net::SMTP and curl; every refusal (before TLS, a wrong
# password, cancel, twice, in a transaction, required, a blocked
# address), pipelining behind AUTH PLAIN, line limits, the log.

use warnings;
use strict;

use Test::More;
use MIME::Base64;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('socket_ssl')->has_daemon('swaks')
    ->has_daemon('curl')->plan(66);

Tern::Test::gen_cert($t, 'mail');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;

    ssl_certificate     mail.crt;
    ssl_certificate_key mail.key;
    auth_failure_delay  0;

    # submission with STARTTLS, the MX without AUTH, implicit TLS
    server { listen 127.0.0.1:%%PORT_8587%%; protocol smtp;
             smtp_auth required; }
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8465%% ssl; protocol smtp;
             smtp_auth required; }

    # AUTH in the clear (loopback only), optional
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp;
             smtp_auth optional; smtp_auth_plaintext on;
             auth_block_after 3; auth_block_time 2s; }
}
EOF

$t->run();
$t->add_domain('example.test');

my $PW = 'Secret-pw-4f9d2a';
my $u = 'u@example.test';
my $v = 'v@example.test';
$t->add_user($u, $PW);
$t->add_user($v, 'Other-pw-83bc1e');

my ($sub, $mx, $ssl, $clr) = map { $t->port($_) } 8587, 8025, 8465, 8026;

sub plain { encode_base64("\0$_[0]\0$_[1]", '') }
sub smtp { Tern::Test::SMTP->new(PeerAddr => "127.0.0.1:$_[0]", @_[1 .. $#_]) }
sub nfiles { my @f = $t->maildir_files($_[0]); return scalar @f; }

###############################################################################

# before TLS on a submission port: not offered, refused

my $s = smtp($sub);
$s->read();
$s->send('EHLO client.test');
my $ehlo = $s->read();
unlike($ehlo, qr/AUTH/, 'no AUTH before TLS');
like($ehlo, qr/STARTTLS/, 'STARTTLS offered');
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^538 5\.7\.11 Encryption required/, 'AUTH before TLS 538');
$s->send("MAIL FROM:<$u>");
like($s->read(), qr/^530 5\.7\.0 Authentication required/, 'MAIL 530');

# STARTTLS, then AUTH PLAIN; AUTH twice; a message

$s->send('STARTTLS');
$s->read();
ok($s->starttls(), 'STARTTLS');
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^503 /, 'AUTH before EHLO 503');
$s->send('EHLO client.test');
like($s->read(), qr/^250-AUTH PLAIN LOGIN\r$/m, 'AUTH offered under TLS');
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^235 2\.7\.0 Authentication successful/, 'AUTH PLAIN');
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^503 5\.5\.1 Already authenticated/, 'AUTH twice 503');
$s->print("MAIL FROM:<$u>\r\nRCPT TO:<$v>\r\nDATA\r\n");
$s->read() for 1 .. 3;
$s->print("Subject: auth\r\n\r\nsent after AUTH\r\n.\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued/, 'message after AUTH');
$s->send('QUIT');
$s->read();
is(nfiles($v), 1, 'stored');
my @f = $t->maildir_files($v);
my $m = $t->read_file($f[0]);
like($m, qr/^\tby mail\.example\.test \(Tern\) with ESMTPSA id /m,
     'Received: ESMTPSA');
like($m, qr/^\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)$/m,
     'Received: TLS version and cipher');
like($m, qr/^\t\(authenticated as u\@example\.test\)$/m,
     'Received: the login');

# the MX port: AUTH is not offered at all

$s = smtp($mx);
$s->read();
$s->send('EHLO client.test');
unlike($s->read(), qr/AUTH/, 'MX: no AUTH');
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^500 5\.5\.1 /, 'MX: AUTH unknown');
$s->send('QUIT');
$s->read();

# implicit TLS: AUTH LOGIN by hand, then a wrong password

$s = smtp($ssl, SSL => 1);
$s->read();
$s->send('EHLO client.test');
like($s->read(), qr/AUTH PLAIN LOGIN/, 'implicit TLS: AUTH offered');
$s->send('AUTH LOGIN');
like($s->read(), qr/^334 VXNlcm5hbWU6\r\n\z/, 'LOGIN: Username:');
$s->send(encode_base64($u, ''));
like($s->read(), qr/^334 UGFzc3dvcmQ6\r\n\z/, 'LOGIN: Password:');
$s->send(encode_base64('wrong-password', ''));
like($s->read(), qr/^535 5\.7\.8 Authentication credentials invalid/,
     'LOGIN: wrong password 535');
$s->send('AUTH LOGIN ' . encode_base64($u, ''));
like($s->read(), qr/^334 UGFzc3dvcmQ6/, 'LOGIN with an initial response');
$s->send(encode_base64($PW, ''));
like($s->read(), qr/^235 /, 'LOGIN: 235');
$s->send('QUIT');
$s->read();

# PLAIN with a continuation, cancel, bad responses (in the clear)

$s = smtp($clr);
$s->read();
$s->send('EHLO client.test');
like($s->read(), qr/AUTH PLAIN LOGIN/, 'plaintext allowed: AUTH offered');
$s->send('AUTH PLAIN');
like($s->read(), qr/^334 \r\n\z/, 'PLAIN: 334');
$s->send('*');
like($s->read(), qr/^501 5\.0\.0 Authentication cancelled/, 'cancel 501');
$s->send('AUTH LOGIN');
$s->read();
$s->send('*');
like($s->read(), qr/^501 5\.0\.0 /, 'LOGIN cancelled');
$s->send('AUTH PLAIN !!!notbase64');
like($s->read(), qr/^501 5\.5\.2 /, 'bad base64 501');
$s->send('AUTH PLAIN ' . encode_base64("other\0$u\0$PW", ''));
like($s->read(), qr/^501 5\.5\.2 /, 'authzid other than authcid 501');
$s->send('AUTH CRAM-MD5');
like($s->read(), qr/^504 5\.5\.4 /, 'unknown mechanism 504');
$s->send('AUTH PLAIN ' . ('A' x 12000));
like($s->read(), qr/^501 5\.5\.2 /, 'AUTH line of 12000 octets read whole');
$s->send('AUTH PLAIN');
$s->read();
$s->send('A' x 13000);
like($s->read(), qr/^500 5\.5\.6 /, 'SASL line over 12288: 500 5.5.6');
$s->send('NOOP ' . ('x' x 5000));
like($s->read(), qr/^500 5\.5\.2 Line too long/,
     'other commands keep smtp_client_buffer');

# AUTH in a transaction (optional: MAIL is allowed without it)

$s->send("MAIL FROM:<a\@b.test>");
like($s->read(), qr/^250 /, 'optional: MAIL without AUTH');
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^503 5\.5\.1 /, 'AUTH in a transaction 503');
$s->send('RSET');
$s->read();

# pipelined: AUTH PLAIN with its initial response, MAIL, RCPT, DATA

$s->print('AUTH PLAIN ' . plain($u, $PW) . "\r\nMAIL FROM:<$u>\r\n"
          . "RCPT TO:<$v>\r\nDATA\r\n");
like($s->read(), qr/^235 /, 'pipelined: 235');
like($s->read(), qr/^250 /, 'pipelined: MAIL');
like($s->read(), qr/^250 /, 'pipelined: RCPT');
like($s->read(), qr/^354 /, 'pipelined: DATA');
$s->print("Subject: pipelined\r\n\r\npipelined auth\r\n.\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued/, 'pipelined: queued');
$s->send('QUIT');
$s->read();
is(nfiles($v), 2, 'pipelined message stored');
my ($pm) = grep { /pipelined auth/ } map { $t->read_file($_) }
    $t->maildir_files($v);
like($pm // '', qr/ with ESMTPA id .*\n\t\(authenticated as u\@/,
     'Received: ESMTPA in the clear');
unlike($pm // '', qr/\(using /, 'no TLS comment in the clear');

# swaks: PLAIN over STARTTLS, LOGIN over implicit TLS

my $out = `swaks --server 127.0.0.1:$sub --tls --auth PLAIN \\
    --auth-user $u --auth-password '$PW' --from $u --to $v \\
    --helo swaks.test --body 'swaks plain' 2>&1`;
like($out, qr/^<~  235 /m, 'swaks --tls --auth PLAIN');
like($out, qr/^<~  250 2\.0\.0 Ok: queued/m, 'swaks PLAIN queued');

$out = `swaks --server 127.0.0.1:$ssl --tlsc --auth LOGIN \\
    --auth-user $u --auth-password '$PW' --from $u --to $v \\
    --helo swaks.test --body 'swaks login' 2>&1`;
like($out, qr/^<~  235 /m, 'swaks --tlsc --auth LOGIN');
like($out, qr/^<~  250 2\.0\.0 Ok: queued/m, 'swaks LOGIN queued');

$out = `swaks --server 127.0.0.1:$sub --tls --auth PLAIN \\
    --auth-user $u --auth-password wrong --from $u --to $v 2>&1`;
like($out, qr/^<~\* +535 5\.7\.8 /m, 'swaks: wrong password 535');

# Net::SMTP: STARTTLS and implicit TLS

SKIP: {
    eval { require Net::SMTP; require Authen::SASL; Net::SMTP->VERSION(3) }
        or skip 'no Net::SMTP 3 or Authen::SASL', 4;

    my $n = Net::SMTP->new("127.0.0.1:$sub", Hello => 'netsmtp.test',
                           Timeout => 10);
    ok($n && $n->starttls(SSL_verify_mode => 0), 'Net::SMTP starttls');
    ok($n->auth($u, $PW), 'Net::SMTP auth over STARTTLS');
    $n->mail($u); $n->to($v); $n->data("Subject: netsmtp\n\nvia Net::SMTP\n");
    $n->quit();

    $n = Net::SMTP->new("127.0.0.1:$ssl", SSL => 1, SSL_verify_mode => 0,
                        Hello => 'netsmtp.test', Timeout => 10);
    ok($n && $n->auth($u, $PW), 'Net::SMTP auth over implicit TLS');
    ok($n->mail($u) && $n->to($v)
       && $n->data("Subject: netsmtps\n\nvia Net::SMTP SSL\n"),
       'Net::SMTP SSL message');
    $n->quit();
}

# curl smtp:// with STARTTLS and smtps://

$t->write_file('curl.eml', "Subject: curl\r\n\r\nvia curl\r\n");
my $eml = $t->testdir() . '/curl.eml';

$out = `curl -sS --url smtp://127.0.0.1:$sub --ssl-reqd --insecure \\
    --user '$u:$PW' --mail-auth $u --mail-from $u --mail-rcpt $v \\
    --upload-file $eml 2>&1; echo rc=\$?`;
like($out, qr/rc=0$/, 'curl smtp:// STARTTLS with --user');

$out = `curl -sS --url smtps://127.0.0.1:$ssl --insecure \\
    --user '$u:$PW' --mail-from $u --mail-rcpt $v \\
    --upload-file $eml 2>&1; echo rc=\$?`;
like($out, qr/rc=0$/, 'curl smtps:// with --user');

$out = `curl -sS --url smtps://127.0.0.1:$ssl --insecure \\
    --user '$u:wrong' --mail-from $u --mail-rcpt $v \\
    --upload-file $eml 2>&1; echo rc=\$?`;
like($out, qr/rc=67$/, 'curl: wrong password refused');

is(nfiles($v), 8, 'all client messages stored');

# a blocked address: 3 failures, then 454 without a check, even for the
# right password; after auth_block_time it may try again

my $ok = 0;
for my $i (1 .. 3) {
    $s = smtp($clr, LocalAddr => '127.0.0.2');
    $s->read();
    $s->send('EHLO block.test');
    $s->read();
    $s->send('AUTH PLAIN ' . plain($u, "wrong-$i"));
    $ok++ if $s->read() =~ /^535 /;
}
is($ok, 3, 'three failures from 127.0.0.2');

$s = smtp($clr, LocalAddr => '127.0.0.2');
$s->read();
$s->send('EHLO block.test');
$s->read();
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^454 4\.7\.0 Too many failed attempts, try later/,
     'blocked: 454 for the right password');
$s->send('AUTH LOGIN');
$s->read();
$s->send(encode_base64($u, ''));
$s->read();
$s->send(encode_base64($PW, ''));
like($s->read(), qr/^454 4\.7\.0 Too many/, 'blocked: LOGIN 454 too');

$s = smtp($clr);
$s->read();
$s->send('EHLO other.test');
$s->read();
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^235 /, 'another address is not blocked');

sleep(3);

$s = smtp($clr, LocalAddr => '127.0.0.2');
$s->read();
$s->send('EHLO block.test');
$s->read();
$s->send('AUTH PLAIN ' . plain($u, $PW));
like($s->read(), qr/^235 /, 'after auth_block_time: 235');
$s->send('QUIT');
$s->read();

# the log: every attempt with its result, never a password or base64

$t->stop();

my $log = $t->read_file('logs/error.log');
like($log, qr/smtp auth: mechanism=PLAIN, user="u\@example\.test", result=ok/,
     'log: PLAIN ok');
like($log, qr/smtp auth: mechanism=LOGIN, user="u\@example\.test", result=failed/,
     'log: LOGIN failed');
like($log, qr/result=blocked/, 'log: blocked');
like($log, qr/result=cancelled/, 'log: cancelled');
unlike($log, qr/\Q$PW\E|wrong-password/, 'log: no password');
my $b64 = plain($u, $PW);
unlike($log, qr/\Q$b64\E|\Q${\ encode_base64($PW, '')}\E/, 'log: no base64');

###############################################################################
