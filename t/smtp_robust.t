#!/usr/bin/perl

# SMTP against hostile and broken clients: pipelined bad lines up to
# smtp_max_errors, a slowloris command (smtp_timeout is a deadline per
# command), a client that pipelines 100,000 commands and never reads
# (memory stays bounded, the timeout closes it), TLS close_notify and a
# plaintext byte in the middle of DATA (checklist T4), the limits at
# their boundaries, command order, the TLS cipher in the logs, and a
# stopping worker's 421 when worker_shutdown_timeout passes.

use warnings;
use strict;

use Test::More;
use IO::Select;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('socket_ssl')->plan(42);

Tern::Test::gen_cert($t, 'mail');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
worker_shutdown_timeout 1s;

mail {
    server_name mail.example.test;

    ssl_certificate     mail.crt;
    ssl_certificate_key mail.key;

    smtp_timeout 1s;
    smtp_max_errors 3;
    smtp_max_recipients 3;
    smtp_max_message_size 1k;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8026%%;
        protocol smtp;
        smtp_timeout 30s;
        smtp_max_errors 10;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');
$t->add_user('v@example.test', 'secret');
$t->add_user('w@example.test', 'secret');
$t->add_user('x@example.test', 'secret');

my $u = 'u@example.test';
my $p2 = '127.0.0.1:' . $t->port(8026);

$SIG{PIPE} = 'IGNORE';

sub files { my @f = $t->maildir_files($_[0] // $u); return @f; }

sub spool_files {
    opendir(my $dh, $t->testdir() . '/spool') or return ();
    return grep { !/^\./ } readdir $dh;
}

sub session {
    my $s = Tern::Test::SMTP->new(@_);
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    return $s;
}

sub replies {
    my ($s, $n) = @_;
    my $r = '';
    for (1 .. $n) { $r .= $s->read() // ''; }
    return $r;
}

sub worker_rss {
    my ($pid) = $t->workers();
    open(my $fh, '<', "/proc/$pid/status") or return 0;
    my ($kb) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$fh>;
    return $kb // 0;
}

###############################################################################

# bad lines pipelined up to smtp_max_errors: every one is answered, in
# order, before the 421 (the core's own 421 used to replace the queued
# replies)

my $s = session();
$s->print("NOOP\r\n" . "\x01bad\r\n" x 3);
is(replies($s, 5),
   "250 2.0.0 Ok\r\n" . "500 5.5.2 Bad command line\r\n" x 3
   . "421 4.7.0 Too many errors\r\n",
   'pipelined bad lines: every reply, then 421');
ok($s->eof(3), 'closed after too many bad lines');

# smtp_max_errors at the boundary: two errors, the session goes on

$s = session();
$s->print("\x01bad\r\nXYZZY\r\nNOOP\r\n");
like(replies($s, 3), qr/^500 .*\r\n500 .*\r\n250 /s, 'two errors of three');
$s->send('QUIT');
like($s->read(), qr/^221 /, 'still served after two errors');

# slowloris: a command line trickling in never completes; the deadline of
# the command (smtp_timeout 1s) closes the session although a byte comes
# every half second

$s = session();
my ($start, $r) = (time(), undef);
for my $ch (split //, 'NOOP ' . ('x' x 20)) {
    $s->print($ch);
    $r = $s->read(0.5) and last;
}
like($r // '', qr/^421 4\.4\.2 .*timeout/, 'slowloris: 421 timeout');
cmp_ok(time() - $start, '<', 3, 'slowloris: within the command deadline');
ok($s->eof(3), 'slowloris: closed');

# an idle session still gets smtp_timeout after a command

$s = session();
sleep(0.6);
$s->send('NOOP');
like($s->read(), qr/^250 /, 'a command after 0.6 s');
sleep(0.6);
$s->send('NOOP');
like($s->read(), qr/^250 /, 'the deadline starts again after a command');
like($s->read(2), qr/^421 4\.4\.2 /, 'idle timeout');
$s->close();

# a client that pipelines 100,000 commands and reads nothing: the worker
# stops reading while replies wait, memory stays flat, and the timeout
# closes the session

my $rss = worker_rss();
$s = session();
$s->socket()->blocking(0);
my $flood = "NOOP\r\n" x 50000 . "RCPT TO:<$u>\r\n" x 50000;
my $sent = 0;
my $deadline = time() + 10;
my $closed = 0;
{
    local $SIG{PIPE} = 'IGNORE';
    while (time() < $deadline) {
        my $n = syswrite($s->socket(), $flood, 65536, $sent);
        if (!defined $n && !$!{EAGAIN}) {
            $closed = 1;
            last;
        }
        $sent += $n // 0;
        last if $sent >= length $flood;
        sleep(0.01);
    }
}
my $peak = worker_rss();
cmp_ok($peak - $rss, '<', 8192, "pipelined flood: worker RSS +"
       . ($peak - $rss) . " kB");
ok($t->wait_for_log(qr/client timed out/, 10), 'pipelined flood: timed out');
$s->close();

my $c = session();
$c->send('NOOP');
like($c->read(), qr/^250 /, 'others still served after the flood');
$c->close();

###############################################################################

# command order and arguments

$s = session(PeerAddr => $p2);
$s->send('EHLO');
like($s->read(), qr/^501 5\.5\.4 /, 'EHLO without a name');
$s->send('EHLO ');
like($s->read(), qr/^501 5\.5\.4 /, 'EHLO with an empty name');
$s->send('EHLO client.test');
$s->read();
$s->send('MAIL FROM:<a@b.test>');
$s->read();
$s->send('MAIL FROM:<a@b.test>');
like($s->read(), qr/^503 5\.5\.1 /, 'duplicate MAIL');
$s->send("RCPT TO:<$u>");
like($s->read(), qr/^250 /, 'RCPT');
$s->send('EHLO client.test');
like($s->read(), qr/^250-/, 'EHLO in a transaction');
$s->send('DATA');
like($s->read(), qr/^503 5\.5\.1 /, 'EHLO ended the transaction');
$s->send("RCPT TO:<$u>");
like($s->read(), qr/^503 5\.5\.1 /, 'no RCPT without MAIL');
$s->send("NOOP \x00x");
like($s->read(), qr/^500 5\.5\.2 /, 'NUL in a command line');
$s->send('QUIT');
$s->read();

# limits at their boundaries: 3 recipients, 1k

$s = session(PeerAddr => $p2);
$s->print("MAIL FROM:<a\@b.test>\r\n"
          . join('', map { "RCPT TO:<$_\@example.test>\r\n" } qw/u v w x/));
like(replies($s, 5), qr/\A250 .*\r\n(250 2\.1\.5 Ok\r\n){3}452 4\.5\.3 /s,
     'recipients: 3 taken, the 4th refused');
$s->send('RSET');
$s->read();
$s->send('MAIL FROM:<a@b.test> SIZE=1024');
like($s->read(), qr/^250 /, 'SIZE= at the limit');
$s->send('RSET');
$s->read();
$s->send('MAIL FROM:<a@b.test> SIZE=1025');
like($s->read(), qr/^552 5\.3\.4 /, 'SIZE= one above the limit');

# the size as sent counts (RFC 1870: CRLF line ends, without the dot
# stuffing): 1022 x and a CRLF

$s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
replies($s, 3);
$s->print('x' x 1022 . "\r\n.\r\n");
like($s->read(), qr/^250 2\.0\.0 /, 'a message of 1024 bytes');
$s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
replies($s, 3);
$s->print('x' x 1023 . "\r\n.\r\n");
like($s->read(), qr/^552 5\.3\.4 /, 'a message of 1025 bytes');
is(scalar files(), 1, 'only the first one stored');
$s->send('QUIT');
$s->read();

###############################################################################

# STARTTLS, DATA, 10 bytes, then TLS close_notify and one plaintext byte
# (Exim CVE-2026-45185): a clean close, nothing stored, nothing spooled

$s = session();
$s->send('STARTTLS');
$s->read();
ok($s->starttls(), 'T4: TLS');
$s->send('EHLO client.test');
$s->read();
$s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
like(replies($s, 3), qr/^354 /m, 'T4: in DATA');
$s->print('0123456789');
sleep(0.2);
my $sock = $s->socket();
ok($sock->stop_SSL(SSL_fast_shutdown => 1), 'T4: close_notify sent');
syswrite($sock, 'X');
my $sel = IO::Select->new($sock);
my $eof = 0;
for (1 .. 30) {
    last unless $sel->can_read(0.1);
    my $n = sysread($sock, my $buf, 1024);
    if (!$n) {
        $eof = 1;
        last;
    }
}
ok($eof, 'T4: the server closed the connection');
ok($t->wait_for_log(qr/closed the connection in DATA/, 3),
   'T4: logged as a client close in DATA');
is(scalar files(), 1, 'T4: nothing stored');
is(scalar(spool_files()), 0, 'T4: spool empty');

# the session line names the TLS version and the cipher

$s = session();
$s->send('STARTTLS');
$s->read();
$s->starttls();
$s->send('QUIT');
$s->read();
$s->close();
like($t->wait_for_log(qr/smtp session closed: .*tls=TLS/, 3) // '',
     qr/tls=TLSv1\.[23]\/[A-Z0-9_-]{8,},/, 'session log: version/cipher');

# nothing the client sends reaches the log unescaped

$s = session();
$s->send("X\x1b[2JY");
$s->read();
$s->send('QUIT');
$s->read();
unlike($t->read_file('logs/error.log'), qr/\x1b/, 'no raw ESC in the log');

###############################################################################

# a stopping worker waits for its sessions, then (worker_shutdown_timeout
# 1s) ends them with a 421; a message in DATA is not stored

my $idle = session(PeerAddr => $p2);
my $data = session(PeerAddr => $p2);
$data->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
replies($data, 3);
$data->print("Subject: cut\r\n\r\nhalf\r\n");

ok(kill('QUIT', $t->master_pid()), 'SIGQUIT');
sleep(0.5);
$idle->send('NOOP');
like($idle->read(), qr/^250 /, 'a session goes on while stopping');

like($idle->read(3) // '', qr/^421 4\.3\.2 mail\.example\.test Service /,
     'idle session: 421 when worker_shutdown_timeout passed');
like($data->read(3) // '', qr/^421 4\.3\.2 /, 'session in DATA: 421');
ok($data->eof(3), 'closed');
is(scalar files(), 1, 'the cut message is not stored');

$t->stop();

###############################################################################
