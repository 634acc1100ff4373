#!/usr/bin/perl

# SMTP CHUNKING (RFC 3030): BDAT chunks, LAST, pipelined chunks and
# commands, chunks refused by their state (read and dropped, never run as
# commands), bad sizes, the size limit, bare CR/LF across chunks, and
# what lands on disk byte for byte.

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('socket_ssl')->plan(56);

Tern::Test::gen_cert($t, 'mail');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;

    ssl_certificate     mail.crt;
    ssl_certificate_key mail.key;

    smtp_max_message_size 10k;
    smtp_max_errors 50;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $u = 'u@example.test';

sub files { my @f = $t->maildir_files($u); return @f; }

sub wait_files {
    my ($n) = @_;
    my $deadline = time() + 5;
    sleep(0.05) while files() < $n && time() < $deadline;
    return scalar files();
}

# the stored text of the message that arrived last, without our Received
my %seen;

sub last_body {
    my ($new) = grep { !$seen{$_}++ } files();
    return undef unless defined $new;
    open(my $fh, '<', $new) or return undef;
    local $/;
    my $text = <$fh>;
    $text =~ s/\AReceived: .*?\n(?!\t)//s;
    return $text;
}

sub session {
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $s->read();
    $s->send('EHLO client.test');
    return ($s, $s->read());
}

###############################################################################

my ($s, $ehlo) = session();
like($ehlo, qr/^250-CHUNKING\r$/m, 'CHUNKING advertised');
like($ehlo, qr/^250-DSN\r$/m, 'DSN advertised');
like($ehlo, qr/^250-SMTPUTF8\r$/m, 'SMTPUTF8 advertised');

# one chunk

$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt');

my $msg = "Subject: one\r\n\r\nline 1\r\n.line 2 keeps its dot\r\n";
$s->print('BDAT ' . length($msg) . " LAST\r\n" . $msg);
like($s->read(), qr/^250 2\.0\.0 Ok: queued as \w+/, 'BDAT LAST queued');
is(wait_files(1), 1, 'stored');
is(last_body(), "Subject: one\n\nline 1\n.line 2 keeps its dot\n",
   'chunk stored as sent, no dot-unstuffing');

# several chunks, a CRLF split across two of them, BDAT 0 LAST

$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail 2');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt 2');
$s->print("BDAT 13\r\nSubject: two\r");
like($s->read(), qr/^250 2\.0\.6 13 octets received/, 'first chunk');
$s->print("BDAT 8\r\n\n\r\nbody\r");
like($s->read(), qr/^250 2\.0\.6 21 octets received/, 'second chunk');
$s->print("BDAT 1\r\n\n");
like($s->read(), qr/^250 2\.0\.6 22 /, 'third chunk');
$s->send('NOOP');
$s->ok('NOOP between chunks');
$s->print("BDAT 0 LAST\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued/, 'BDAT 0 LAST');
is(wait_files(2), 2, 'second stored');
is(last_body(), "Subject: two\n\nbody\n", 'CRLF across chunks');

# everything pipelined in one write, with a command after it

$msg = "Subject: three\r\n\r\nQUIT\r\nRSET\r\n";
$s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\n"
          . 'BDAT ' . length($msg) . "\r\n" . $msg . "BDAT 0 LAST\r\nNOOP\r\n");
my $r = join '', map { $s->read() // '' } 1 .. 5;
like($r, qr/^250 2\.1\.0.*\n250 2\.1\.5.*\n250 2\.0\.6.*\n250 2\.0\.0 Ok: queued.*\n250 2\.0\.0 Ok\r\n\z/s,
     'pipelined: replies in order, chunk text not run as commands');
is(wait_files(3), 3, 'third stored');
is(last_body(), "Subject: three\n\nQUIT\nRSET\n", 'command words in chunk stored');

# DATA after BDAT, MAIL after BDAT: 503; RSET ends the transaction

$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail 4');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt 4');
$s->print("BDAT 5\r\nabcde");
$s->ok('chunk before DATA');
$s->send('DATA');
like($s->read(), qr/^503 5\.5\.1/, 'DATA after BDAT refused');
$s->send("MAIL FROM:<a\@b.test>");
like($s->read(), qr/^503 5\.5\.1/, 'MAIL after BDAT refused');
$s->send('RSET');
$s->ok('RSET after a chunk');
$s->print("BDAT 4 LAST\r\nQUIT");
like($s->read(), qr/^503 5\.5\.1/, 'BDAT after RSET: 503');
$s->send('NOOP');
$s->ok('chunk of a refused BDAT was not run as a command');
is(scalar files(), 3, 'nothing stored by the reset transaction');

# BDAT with no valid recipients: 554, the chunk is dropped

$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail 5');
$s->send("RCPT TO:<nobody\@example.test>");
like($s->read(), qr/^550 /, 'unknown recipient');
$s->print("BDAT 6\r\nQUIT\r\n");
like($s->read(), qr/^554 5\.5\.1 No valid recipients/, 'BDAT without recipients');
$s->send('RSET');
$s->ok('session goes on');

# bare LF inside a chunk: the whole message is refused

$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail 6');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt 6');
$s->print("BDAT 12 LAST\r\nSubject: x\n\n");
like($s->read(), qr/^550 5\.6\.11 /, 'bare LF in a chunk refused');

# a bare CR at the end of the LAST chunk

$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail 7');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt 7');
$s->print("BDAT 4 LAST\r\nab\r\r");
like($s->read(), qr/^550 5\.6\.11 /, 'bare CR at the end refused');
is(scalar files(), 3, 'nothing stored for refused messages');

# a chunk that would make the message too big: 552 and the end

$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail 8');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt 8');
$s->print("BDAT 6000\r\n" . ('x' x 5998) . "\r\n");
$s->ok('first big chunk');
$s->print("BDAT 6000 LAST\r\n");
like($s->read(), qr/^552 5\.3\.4 /, 'chunk over the size limit');
ok($s->eof(3), 'closed after 552');

# bad sizes end the session: the chunk cannot be told from commands

for my $bad ('BDAT', 'BDAT x', 'BDAT -1', 'BDAT 1 LAST extra',
             'BDAT 99999999999999999999999')
{
    ($s) = session();
    $s->send($bad);
    like($s->read(), qr/^501 5\.5\.4 /, "'$bad' refused");
}

ok($s->eof(3), 'closed after a bad size');

# Exim "Dead.Letter" (CVE-2026-45185): TLS close_notify in the middle of a
# chunk, then plaintext; the session must end cleanly, nothing stored

($s) = session();
$s->send('STARTTLS');
$s->read();
ok($s->starttls(SSL_verify_mode => 0), 'TLS');
$s->send('EHLO client.test');
$s->read();
$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail under TLS');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt under TLS');
$s->print("BDAT 1000\r\n0123456789");
$s->socket()->stop_SSL(SSL_fast_shutdown => 1);
$s->socket()->syswrite('X');
ok($s->eof(3), 'closed after close_notify in a chunk');
is(scalar files(), 3, 'nothing stored from the cut chunk');

$t->stop();

###############################################################################
