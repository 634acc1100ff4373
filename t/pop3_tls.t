#!/usr/bin/perl

# POP3 over TLS: STLS (RFC 2595) and implicit TLS (port 995 style), the
# state reset after STLS (USER is forgotten), CAPA without STLS under
# TLS, STLS command injection (CVE-2011-0411: commands pipelined after
# STLS are never run) and openssl s_client -starttls pop3.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IPC::Open3;
use MIME::Base64 qw/ encode_base64 /;
use Symbol qw/ gensym /;
use Test::More;

use Tern::Test;
use Tern::Test::POP3;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->has('socket_ssl');

$t->has_daemon('openssl');
$t->plan(35);

Tern::Test::gen_cert($t, 'tern');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    ssl_certificate      tern.crt;
    ssl_certificate_key  tern.key;
    auth_failure_delay   100ms;

    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
    server { listen 127.0.0.1:%%PORT_8995%% ssl; protocol pop3; }
    server {
        listen 127.0.0.1:%%PORT_8111%%;
        protocol pop3;
        pop3_auth_plaintext on;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $U = 'u@example.test';
my $msg = "Subject: tls\n\nover tls\n.\n";
drop($U, '1700000001.M1P1Q1.tls', $msg);
(my $msg_crlf = $msg) =~ s/\n/\r\n/g;

###############################################################################

# STLS, and the plaintext login refused before it

my $s = pop3(8110);
$s->ok('greeting');
$s->send('CAPA');
my $capa = $s->read_multi();
like($capa, qr/\r\nSTLS\r\n/, 'capa has stls');
unlike($capa, qr/\r\n(USER|SASL PLAIN)\r\n/, 'capa no plaintext before tls');
$s->send('USER ' . $U);
like($s->read(), qr/^-ERR \[AUTH\]/, 'user refused before tls');
$s->send('AUTH PLAIN ' . encode_base64("\0$U\0secret", ''));
like($s->read(), qr/^-ERR \[AUTH\]/, 'auth plain refused before tls');

$s->send('STLS');
like($s->read(), qr/^\+OK Begin TLS/, 'stls');
ok($s->stls(), 'tls handshake');

$s->send('CAPA');
$capa = $s->read_multi();
unlike($capa, qr/STLS/, 'no stls after tls');
like($capa, qr/\r\nUSER\r\n/, 'user after tls');
like($capa, qr/\r\nSASL PLAIN\r\n/, 'sasl plain after tls');
$s->send('STLS');
$s->err('stls twice');

$s->send('USER ' . $U);
$s->ok('user under tls');
$s->send('PASS secret');
$s->ok('pass under tls');
$s->send('RETR 1');
my ($st, $body) = $s->read_multi();
is($body, $msg_crlf, 'retr under tls');
$s->send('QUIT');
$s->ok('quit');
ok($s->eof(), 'closed');

# USER given before STLS is forgotten after it

$s = pop3(8111);
$s->read();
$s->send('USER ' . $U);
$s->ok('user before stls');
$s->send('STLS');
$s->ok('stls after user');
ok($s->stls(), 'handshake after user');
$s->send('PASS secret');
$s->err('pass after stls: user forgotten');
$s->send('USER ' . $U);
$s->ok('user again');
$s->send('PASS secret');
$s->ok('pass after new user');
$s->send('QUIT');
$s->read();

# CVE-2011-0411: commands pipelined after STLS must not run

$s = pop3(8110);
$s->read();
$s->print("STLS\r\nCAPA\r\n");
like($s->read(), qr/^\+OK/, 'stls pipelined');
ok($s->stls(), 'handshake after pipelined stls');
ok(!$s->can_read(1), 'no reply to the injected command');
$s->send('NOOP');
is($s->read(), "+OK\r\n", 'next reply is the one to noop');
$s->send('QUIT');
$s->read();

$s = pop3(8110);
$s->read();
$s->print("STLS\r\nUSER $U\r\nPASS secret\r\n");
$s->read();
ok($s->stls(), 'handshake after injected login');
$s->send('STAT');
$s->err('injected login did not happen');
$s->close();

# implicit TLS

$s = Tern::Test::POP3->new(SSL => 1,
                           PeerAddr => '127.0.0.1:' . port(8995));
$s->ok('implicit tls greeting');
$s->send('CAPA');
$capa = $s->read_multi();
unlike($capa, qr/STLS/, 'implicit tls: no stls');
$s->send('AUTH PLAIN ' . encode_base64("\0$U\0secret", ''));
$s->ok('implicit tls: auth plain');
$s->send('QUIT');
$s->read();

# openssl s_client -starttls pop3

my $out = s_client(8110, "CAPA\nUSER $U\nPASS secret\nSTAT\nQUIT\n");
like($out, qr/IMPLEMENTATION Tern/, 's_client: capa under tls');
unlike($out, qr/^STLS/m, 's_client: no stls under tls');
like($out, qr/^\+OK 1 \d+\r?$/m, 's_client: stat');

like($t->wait_for_log(qr/pop3 session closed: .*tls=stls/) // '',
     qr/user=u\@example\.test/, 'session log says stls');

###############################################################################

sub pop3 {
    my ($port) = @_;
    return Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port($port));
}

sub s_client {
    my ($port, $input) = @_;

    my $err = gensym;
    my $pid = open3(my $in, my $outfh, $err, 'openssl', 's_client',
                    '-connect', '127.0.0.1:' . port($port),
                    '-starttls', 'pop3', '-crlf', '-quiet', '-ign_eof');

    # s_client reads its input only after the handshake; feed it slowly

    select(undef, undef, undef, 0.5);
    print $in $input;
    close $in;

    local $SIG{ALRM} = sub { kill 'TERM', $pid };
    alarm 10;
    my $output = join '', <$outfh>;
    waitpid($pid, 0);
    alarm 0;

    Tern::Test::log_in($output);

    return $output;
}

sub drop {
    my ($addr, $name, $content) = @_;
    my $dir = $t->maildir($addr);
    my ($uid, $gid) = (stat $dir)[4, 5];
    $t->write_file("$dir/tmp/$name", $content);
    chown $uid, $gid, "$dir/tmp/$name";
    rename "$dir/tmp/$name", "$dir/new/$name" or die "rename: $!\n";
}

###############################################################################
