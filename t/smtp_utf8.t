#!/usr/bin/perl

# SMTPUTF8 (RFC 6531) and 8BITMIME: UTF-8 addresses with and without the
# SMTPUTF8 parameter, malformed UTF-8, a UTF-8 mailbox, an IDN domain in
# its U-label and A-label forms, and 8-bit and UTF-8 messages round-
# tripped to POP3 byte for byte.

use warnings;
use strict;
use utf8;

use Test::More;
use Encode qw/ encode_utf8 /;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::POP3;

my $t = Tern::Test->new()->plan(25);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;
    pop3_auth_plaintext on;
    auth_failure_delay 0;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_domain(encode_utf8('bücher.example'));
$t->add_user('u@example.test', 'secret');
$t->add_user(encode_utf8('jösé@bücher.example'), 'secret');

my $jose = encode_utf8('jösé@bücher.example');
my $jose_a = encode_utf8('jösé@xn--bcher-kva.example');

sub smtp {
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:'
                                  . $t->port($_[0] // 8025));
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    return $s;
}

# the stored text of a message, without our Received header
sub stored {
    my ($file) = @_;
    open(my $fh, '<:raw', $file) or return undef;
    local $/;
    my $text = <$fh>;
    return $text;
}

sub pop3_retr {
    my ($user) = @_;
    my $p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . $t->port(8110));
    $p->read();
    $p->send("USER $user");
    $p->read();
    $p->send('PASS secret');
    my $r = $p->read() // '';
    return "login: $r" unless $r =~ /^\+OK/;
    $p->send('RETR 1');
    my ($status, $body) = $p->read_multi();
    $p->send('QUIT');
    return $body;
}

###############################################################################

my $s = smtp();

# UTF-8 in an address needs SMTPUTF8

$s->send("MAIL FROM:<$jose>");
like($s->read(), qr/^553 5\.6\.7 /, 'UTF-8 sender without SMTPUTF8');
$s->send("MAIL FROM:<a\@b.test>");
$s->ok('ASCII sender');
$s->send("RCPT TO:<$jose>");
like($s->read(), qr/^553 5\.6\.7 /, 'UTF-8 recipient without SMTPUTF8');
$s->send('RSET');
$s->read();
$s->send("MAIL FROM:<a\@b.test> SMTPUTF8=yes");
like($s->read(), qr/^501 5\.5\.4 /, 'SMTPUTF8 takes no value');

# malformed UTF-8 is bad syntax, with or without SMTPUTF8

for my $bad ("\xc0\xafx\@example.test", "\xed\xa0\x80\@example.test",
             "a\xc3\@example.test", "\xc2\x80\@example.test",
             "\xf4\x90\x80\x80\@example.test")
{
    $s->send("MAIL FROM:<$bad> SMTPUTF8");
    like($s->read(), qr/^501 5\.1\.7 /,
         'malformed UTF-8 ' . unpack('H*', $bad));
}

# a UTF-8 message to a UTF-8 mailbox, domain as U-label, then as A-label

my $msg = encode_utf8("From: Jörg <jösé\@bücher.example>\r\n"
    . "To: <jösé\@bücher.example>\r\n"
    . "Subject: Grüße aus Köln ✓\r\n\r\n"
    . "Ünïcödé body: 日本語 and ..dots\r\n.leading dot\r\n");

$s->send("MAIL FROM:<$jose> SMTPUTF8 BODY=8BITMIME");
$s->ok('UTF-8 sender with SMTPUTF8');
$s->send("RCPT TO:<$jose>");
$s->ok('UTF-8 recipient (U-label)');
$s->send('DATA');
$s->read();
(my $wire = $msg) =~ s/^\./../mg;
$s->print($wire . ".\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued/, 'UTF-8 message queued');

my @f = $t->maildir_files($jose_a);
is(scalar @f, 1, 'stored in the UTF-8 mailbox');
my $text = stored($f[0]) // '';
like($text, qr/^Received: from client\.test .*\n\tby mail\.example\.test \(Tern\) with UTF8SMTP id /s,
     'Received says UTF8SMTP');
(my $lf = $msg) =~ s/\r\n/\n/g;
$text =~ s/\AReceived: .*?\n(?!\t)//s;
is($text, $lf, 'stored byte for byte (LF line ends)');

$s->send("MAIL FROM:<a\@b.test> SMTPUTF8");
$s->read();
$s->send("RCPT TO:<$jose_a>");
$s->ok('the same mailbox by its A-label');
$s->send('RCPT TO:<' . encode_utf8('jösé@BÜCHER.example') . '>');
like($s->read(), qr/^550 /,
     'no case folding of non-ASCII domain letters: another domain');
$s->send('RSET');
$s->read();

# an 8-bit message (no SMTPUTF8) and the UTF-8 one over POP3

my $eight = "Subject: =?ISO-8859-1?Q?caf=E9?=\r\n"
    . "Content-Type: text/plain; charset=ISO-8859-1\r\n"
    . "Content-Transfer-Encoding: 8bit\r\n\r\n"
    . "caf\xe9 cr\xe8me \xff\xfe\x80\r\n.\r\n..\r\n";

$s->send("MAIL FROM:<a\@b.test> BODY=8BITMIME");
$s->ok('8BITMIME');
$s->send("RCPT TO:<u\@example.test>");
$s->ok('rcpt u');
$s->send('DATA');
$s->read();
($wire = $eight) =~ s/^\./../mg;
$s->print($wire . ".\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued/, '8-bit message queued');

my $body = pop3_retr('u@example.test') // '';
$body =~ s/\AReceived: .*?\r\n(?!\t)//s;
is($body, $eight, '8-bit message through POP3 byte for byte');

$body = pop3_retr($jose) // '';
$body =~ s/\AReceived: .*?\r\n(?!\t)//s;
is($body, $msg, 'UTF-8 message through POP3 byte for byte');

# relayed to a UTF-8 remote address: queued with the SMTPUTF8 flag

$s->send('QUIT');
$s->read();
$s = smtp(8026);
$s->send("MAIL FROM:<a\@b.test> SMTPUTF8");
$s->read();
$s->send('RCPT TO:<' . encode_utf8('δοκιμή@παράδειγμα.test') . '>');
$s->ok('UTF-8 remote recipient');
$s->send('DATA');
$s->read();
$s->print("Subject: x\r\n\r\nx\r\n.\r\n");
like($s->read(), qr/^250 /, 'relayed');
my (undef, $list) = $t->tern('queue', 'list');
my ($qid) = ($list // '') =~ /^(\S+)/m;
my (undef, $show) = $t->tern('queue', 'show', $qid // 'none');
like($show, qr/^smtputf8: yes$/m, 'queued with SMTPUTF8');

$s->send('QUIT');
$s->read();

$t->stop();

###############################################################################
