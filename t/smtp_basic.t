#!/usr/bin/perl

# SMTP: delivery with real clients (swaks, Net::SMTP), the commands,
# their order, limits, pipelining, split packets, timeouts, and what
# lands on disk.

use warnings;
use strict;

use Test::More;
use File::Basename qw/ basename /;
use IO::Socket::INET;
use Net::SMTP;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has_daemon('swaks')->plan(70);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;

    smtp_max_message_size 100k;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8026%%;
        protocol smtp;
        smtp_timeout 1s;
        smtp_max_recipients 2;
        smtp_max_errors 3;
        smtp_vrfy on;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');
$t->add_user('v@example.test', 'secret');

my $port = $t->port(8025);
my $u = 'u@example.test';

sub files { my @f = $t->maildir_files($_[0] // $u); return @f; }

sub spool_files {
    opendir(my $dh, $t->testdir() . '/spool') or return ();
    my @f = grep { !/^\./ } readdir $dh;
    return @f;
}

sub wait_files {
    my ($n, $addr) = @_;
    my $deadline = time() + 5;
    sleep(0.05) while files($addr) < $n && time() < $deadline;
    return files($addr);
}

sub new_session {
    my $s = Tern::Test::SMTP->new(@_);
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    return $s;
}

###############################################################################

# swaks

my $out = `swaks --server 127.0.0.1:$port --to $u --from a\@b.test \\
    --helo client.test --header 'Subject: swaks test' \\
    --body 'swaks body line' 2>&1`;

like($out, qr/^<-  250 2\.0\.0 Ok: queued as [0-9A-Z]{16}/m, 'swaks queued');

my @f = files();
is(scalar @f, 1, 'swaks file in new/');
like($f[0], qr{/new/}, 'in new/');

my $m = $t->read_file($f[0]);
like($m, qr/\AReceived: from client\.test \(unknown \[127\.0\.0\.1\]\)\n\tby mail\.example\.test \(Tern\) with ESMTP id [0-9A-Z]{16}\n\tfor <u\@example\.test>; \w{3}, \d+ \w{3} \d{4} /,
     'Received header');
like($m, qr/^Subject: swaks test\n/m, 'subject');
like($m, qr/^swaks body line\n/m, 'body');
unlike($m, qr/\r/, 'LF line ends');

# Net::SMTP, two recipients, dot-stuffing

my $smtp = Net::SMTP->new("127.0.0.1:$port", Hello => 'netsmtp.test',
                          Timeout => 5);
ok($smtp, 'Net::SMTP connected');
ok($smtp->mail('sender@b.test'), 'Net::SMTP MAIL');
ok($smtp->to($u, 'v@example.test'), 'Net::SMTP RCPT x2');
ok($smtp->data("Subject: two\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"),
   'Net::SMTP DATA');
like($smtp->message(), qr/queued as/, 'Net::SMTP queued');
$smtp->quit();

@f = files();
is(scalar @f, 2, 'second message for u');
$m = $t->read_file($f[-1]);
like($m, qr/^\.leading dot\n\.\.two dots\nend\n\z/m, 'dot-unstuffed');
unlike($m, qr/\tfor </, 'no "for" with two recipients');
is(scalar files('v@example.test'), 1, 'copy for v');

###############################################################################

# commands one by one

my $s = Tern::Test::SMTP->new();
like($s->read(), qr/^220 mail\.example\.test ESMTP Tern\r\n\z/, 'greeting');

$s->send('MAIL FROM:<a@b.test>');
like($s->read(), qr/^503 5\.5\.1 /, 'MAIL before EHLO 503');

$s->send('EHLO client.test');
my $ehlo = $s->read();
like($ehlo, qr/^250-mail\.example\.test\r\n/, 'EHLO');
like($ehlo, qr/^250-PIPELINING\r$/m, 'PIPELINING');
like($ehlo, qr/^250-SIZE 102400\r$/m, 'SIZE');
like($ehlo, qr/^250[- ]8BITMIME\r$/m, '8BITMIME');
like($ehlo, qr/^250 ENHANCEDSTATUSCODES\r\n\z/m, 'ENHANCEDSTATUSCODES last');
unlike($ehlo, qr/STARTTLS|AUTH/, 'no STARTTLS or AUTH without TLS');

$s->send('NOOP');
like($s->read(), qr/^250 2\.0\.0 /, 'NOOP');
$s->send('HELP');
like($s->read(), qr/^214 2\.0\.0 /, 'HELP');
$s->send('VRFY u@example.test');
like($s->read(), qr/^252 2\.1\.5 /, 'VRFY 252');

$s->send('RCPT TO:<u@example.test>');
like($s->read(), qr/^503 5\.5\.1 Bad sequence of commands/, 'RCPT before MAIL');
$s->send('DATA');
like($s->read(), qr/^503 5\.5\.1 /, 'DATA before MAIL');

$s->send('MAIL FROM:<a@b.test> SIZE=999999999');
like($s->read(), qr/^552 5\.3\.4 /, 'SIZE too big');
$s->send('MAIL FROM:<a@b.test> FOO=BAR');
like($s->read(), qr/^555 5\.5\.4 /, 'unknown parameter');

$s->send('MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME');
like($s->read(), qr/^250 2\.1\.0 /, 'MAIL with SIZE and BODY');
$s->send('RCPT TO:<nobody@example.test>');
like($s->read(), qr/^550 5\.1\.1 /, 'unknown user');
$s->send('RCPT TO:<u@elsewhere.test>');
like($s->read(), qr/^550 5\.7\.1 /, 'relaying denied');
$s->send('DATA');
like($s->read(), qr/^554 5\.5\.1 /, 'DATA without valid recipients');
$s->send('RSET');
like($s->read(), qr/^250 /, 'RSET');
$s->send('RCPT TO:<u@example.test>');
like($s->read(), qr/^503 /, 'RSET ended the transaction');
$s->send('QUIT');
like($s->read(), qr/^221 2\.0\.0 /, 'QUIT');
ok($s->eof(3), 'closed after QUIT');

# unknown commands, bad lines

$s = new_session();
$s->send('XYZZY');
like($s->read(), qr/^500 5\.5\.1 /, 'unknown command');
$s->send('AUTH PLAIN AGFAYgBj');
like($s->read(), qr/^500 5\.5\.1 /, 'AUTH is not offered here');
$s->print("EHLO x\n");
$s->print("NOOP\r\n");
like($s->read(), qr/^500 5\.5\.2 /, 'bare LF in a command line');
like($s->read(), qr/^250 /, 'the next line is a command again');
$s->close();

# too many errors (smtp_max_errors 3 on the second server)

$s = new_session(PeerAddr => '127.0.0.1:' . $t->port(8026));
$s->send('XYZZY');
$s->read();
$s->send('RCPT TO:<u@example.test>');
$s->read();
$s->send('XYZZY');
like($s->read(), qr/^500 5\.5\.1 /, 'the third error is answered');
like($s->read(), qr/^421 4\.7\.0 Too many errors/, 'too many errors');
ok($s->eof(3), 'closed after too many errors');

# pipelining: everything in one write, then the body

$s = Tern::Test::SMTP->new();
$s->read();
$s->print("EHLO p.test\r\nMAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\n"
          . "RCPT TO:<v\@example.test>\r\nDATA\r\n");
my $r = '';
for (1 .. 5) { $r .= $s->read() // ''; }
like($r, qr/\A250-.*250 ENHANCEDSTATUSCODES\r\n250 2\.1\.0 Ok\r\n250 2\.1\.5 Ok\r\n250 2\.1\.5 Ok\r\n354 /s,
     'pipelined replies in order');
$s->print("Subject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued as/, 'pipelined message queued');
like($s->read(), qr/^250 2\.0\.0 Ok/, 'NOOP after the dot');
is(scalar files(), 3, 'pipelined message stored');

# pipelining with errors in the middle: each gets its own reply, in order,
# and the good commands around them still count

$s->print("MAIL FROM:<bad\r\nMAIL FROM:<a\@b.test>\r\n"
          . "RCPT TO:<nobody\@example.test>\r\nXYZZY\r\nRCPT TO:<$u>\r\n"
          . "MAIL FROM:<c\@d.test>\r\nDATA\r\n");
$r = '';
for (1 .. 7) { $r .= $s->read() // ''; }
like($r, qr/\A501 5\.1\.7 .*\r\n250 2\.1\.0 .*\r\n550 5\.1\.1 .*\r\n500 5\.5\.1 .*\r\n250 2\.1\.5 .*\r\n503 5\.5\.1 .*\r\n354 /s,
     'pipelined errors answered in order');
$s->print("Subject: pipelined errors\r\n\r\nbody\r\n.\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued as/,
     'message after pipelined errors queued');

# split packets: a whole transaction byte by byte

$s->print($_) for split //,
    "MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n";
$r = '';
for (1 .. 3) { $r .= $s->read() // ''; }
like($r, qr/\A250 .*\r\n250 .*\r\n354 /, 'split commands');
$s->print($_) for split //, "Subject: split\r\n\r\nx\r\n.\r\n";
like($s->read(), qr/^250 2\.0\.0 /, 'split data');
is(scalar files(), 5, 'split message stored');

# a line longer than the buffer; the session goes on

$s->send('NOOP ' . ('x' x 5120));
like($s->read(), qr/^500 5\.5\.2 Line too long/, 'too long line');
$s->send('NOOP');
like($s->read(), qr/^250 /, 'goes on after a long line');

# a message over smtp_max_message_size

$s->send('MAIL FROM:<a@b.test>');
$s->read();
$s->send("RCPT TO:<$u>");
$s->read();
$s->send('DATA');
$s->read();
$s->print(('y' x 1000 . "\r\n") x 150 . ".\r\n");
like($s->read(), qr/^552 5\.3\.4 /, 'message too big');
is(scalar files(), 5, 'nothing stored');
$s->send('QUIT');
$s->read();

# smtp_max_recipients 2 on the second server; its idle timeout

$s = new_session(PeerAddr => '127.0.0.1:' . $t->port(8026));
$s->send('VRFY <u@example.test>');
like($s->read(), qr/^250 2\.1\.5 <u\@example\.test>/, 'smtp_vrfy on: known');
$s->send('VRFY nobody@example.test');
like($s->read(), qr/^550 5\.1\.1 /, 'smtp_vrfy on: unknown');
$s->send("VRFY j\xc3\xb6s\xc3\xa9\@example.test");
like($s->read(), qr/^553 5\.6\.7 /, 'VRFY of a UTF-8 address: 553 5.6.7');
$s->send('MAIL FROM:<>');
$s->read();
$s->print("RCPT TO:<$u>\r\nRCPT TO:<v\@example.test>\r\n"
          . "RCPT TO:<u\@example.test>\r\n");
$s->read();
$s->read();
like($s->read(), qr/^452 4\.5\.3 /, 'too many recipients');
like($s->read(3), qr/^421 4\.4\.2 .*timeout/, 'idle timeout');
ok($s->eof(3), 'closed after the timeout');

# a client that vanishes in DATA: nothing stored, nothing spooled

$s = new_session();
$s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
$s->read() for 1 .. 3;
$s->print("Subject: half\r\n\r\nhalf a message\r\n");
sleep(0.3);
$s->close();
$t->wait_for_log(qr/closed the connection in DATA/, 5);
is(scalar files(), 5, 'vanished client: nothing in new/');
is(scalar(spool_files()), 0, 'vanished client: spool empty');

###############################################################################

my $log = $t->read_file('logs/error.log');
like($log, qr/queued as [0-9A-Z]{16} from=<a\@b\.test> size=\d+ nrcpt=1 tls=none client=127\.0\.0\.1/,
     'queued log line');
like($log, qr/smtp session closed: helo=client\.test, messages=1, tls=none/,
     'session log line');
unlike($log, qr/half a message|leading dot/, 'no message text in the log');

$t->stop();

###############################################################################
