#!/usr/bin/perl

# SMTP limits: commands without a transaction, the session time limit,
# recipients per message, the message size at MAIL and in DATA, and the
# command line length; each answered with its enhanced status code.

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->plan(26);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;

    smtp_max_commands_before_mail 5;
    smtp_max_recipients 2;
    smtp_max_message_size 2k;
    smtp_client_buffer 1k;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8026%%;
        protocol smtp;
        smtp_session_timeout 1500ms;
        smtp_max_commands_before_mail 0;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');
$t->add_user('v@example.test', 'secret');
$t->add_user('w@example.test', 'secret');

my $u = 'u@example.test';

sub session {
    my ($port) = @_;
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:'
                                  . $t->port($port // 8025));
    $s->read();
    return $s;
}

###############################################################################

# commands without a transaction: EHLO counts, MAIL starts again

my $s = session();
$s->send('EHLO client.test');
$s->ok('ehlo');
$s->send('NOOP') for 1 .. 3;
$s->ok("noop $_") for 1 .. 3;
$s->send("MAIL FROM:<a\@b.test>");
$s->ok('mail resets the count');
$s->send('RSET') for 1 .. 5;
$s->ok("rset $_") for 1 .. 5;
$s->send('NOOP');
like($s->read(), qr/^421 4\.7\.0 Too many commands/, 'sixth command refused');
ok($s->eof(3), 'closed');

# recipients per message

$s = session();
$s->send('EHLO client.test');
$s->read();
$s->send("MAIL FROM:<a\@b.test>");
$s->read();
$s->send("RCPT TO:<$_\@example.test>") for qw/ u v w /;
$s->ok('rcpt 1');
$s->ok('rcpt 2');
like($s->read(), qr/^452 4\.5\.3 Too many recipients/, 'third recipient');

# size at MAIL and in DATA

$s->send('RSET');
$s->read();
$s->send("MAIL FROM:<a\@b.test> SIZE=4096");
like($s->read(), qr/^552 5\.3\.4 /, 'SIZE over the limit at MAIL');
$s->send("MAIL FROM:<a\@b.test> SIZE=100");
$s->ok('SIZE under the limit');
$s->send("RCPT TO:<$u>");
$s->ok('rcpt');
$s->send('DATA');
$s->read();
$s->print(("x" x 78 . "\r\n") x 40 . ".\r\n");
like($s->read(), qr/^552 5\.3\.4 Message too big/, 'DATA over the limit');

# command line length (smtp_client_buffer)

$s->send('NOOP ' . ('a' x 1100));
like($s->read(), qr/^500 5\.5\.2 Line too long/, 'long command line');
$s->send('QUIT');
like($s->read(), qr/^221 /, 'session goes on after a long line');

# session time limit: an idle session is told and closed

$s = session(8026);
$s->send('EHLO client.test');
$s->read();
like($s->read(5), qr/^421 4\.4\.2 mail\.example\.test Error: session time limit/,
     'session time limit');
ok($s->eof(3), 'closed at the limit');

# a message in DATA when the time is up is finished first

$s = session(8026);
$s->send('EHLO client.test');
$s->read();
$s->send("MAIL FROM:<a\@b.test>");
$s->read();
$s->send("RCPT TO:<$u>");
$s->read();
$s->send('DATA');
$s->read();
$s->print("Subject: slow\r\n\r\n");
sleep(2);
$s->print("body\r\n.\r\n");
like($s->read(), qr/^250 2\.0\.0 Ok: queued/, 'message finished after the limit');
like($s->read(), qr/^421 4\.4\.2 /, 'then the session ends');
ok($s->eof(3), 'closed');

$t->stop();

###############################################################################
