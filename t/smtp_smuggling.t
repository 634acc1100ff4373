#!/usr/bin/perl

# SMTP smuggling (SECURITY-CHECKLIST S1, S2): only CRLF.CRLF ends DATA.
# Each smtpsmug ending is followed, in the same write, by the commands
# and text of a second message and then the real end: the server must
# never store two messages, and refuses the message that had a bare CR,
# LF or NUL with 550 5.6.11.

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ sleep /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my %endings = (
    lflf       => "\n.\n",
    crcr       => "\r.\r",
    crlf       => "\r.\n",
    lfcr       => "\n.\r",
    lfcrlf     => "\n.\r\n",
    crlflf     => "\r\n.\n",
    crcrlf     => "\r.\r\n",
    crlfcr     => "\r\n.\r",
    nullbefore => "\r\n\x00.\r\n",
    nullafter  => "\r\n.\x00\r\n",
);

my $t = Tern::Test->new()->plan(4 * keys(%endings) + 6);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $u = 'u@example.test';
my $stored = 0;

for my $name (sort keys %endings) {
    my $s = Tern::Test::SMTP->new();
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    $s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
    $s->read() for 1 .. 3;

    $s->print("Subject: first $name\r\n\r\nfirst" . $endings{$name}
              . "MAIL FROM:<admin\@example.test>\r\nRCPT TO:<$u>\r\n"
              . "DATA\r\nSubject: smuggled $name\r\n\r\nsmuggled\r\n"
              . ".\r\n");

    like($s->read(), qr/^550 5\.6\.11 /, "$name: refused");

    # nothing of the second message runs as a command

    $s->send('NOOP');
    like($s->read(), qr/^250 2\.0\.0 Ok\r\n\z/, "$name: next reply is NOOP's");

    my @f = $t->maildir_files($u);
    is(scalar @f, $stored, "$name: nothing stored");

    # a clean message on the same session still works

    $s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
    $s->read() for 1 .. 3;
    $s->print("Subject: clean\r\n\r\nclean\r\n.\r\n");
    like($s->read(), qr/^250 2\.0\.0 Ok: queued/, "$name: clean one queued");
    $stored++;
    $s->send('QUIT');
    $s->read();
}

my @bodies = map { $t->read_file($_) } $t->maildir_files($u);
is(scalar(grep { /smuggled|first/ } @bodies), 0, 'no smuggled text stored');

# bare LF, bare CR and an embedded CR in command lines (S2)

my $s = Tern::Test::SMTP->new();
$s->read();
$s->print("EHLO x\n");
like($s->read(), qr/^500 5\.5\.2 Bad command line/, 'EHLO with bare LF');
$s->print("MAIL FROM:<a\@b.test>\r\r\n");
like($s->read(), qr/^500 5\.5\.2 /, 'CR CR LF');
$s->print("NO\rOP\r\n");
like($s->read(), qr/^500 5\.5\.2 /, 'embedded CR');
$s->send('NOOP');
like($s->read(), qr/^250 /, 'NOOP after the bad lines');
$s->send('QUIT');
$s->read();

my @all = $t->maildir_files($u);
is(scalar @all, $stored, 'only the clean messages');

$t->stop();

###############################################################################
