#!/usr/bin/perl

# The message checks in an SMTP transaction (src/mail/tn_mail_check.c and
# the SMTP glue): forged Authentication-Results fields naming our
# server_name are cut from the delivered file, ours is put on top, a
# foreign one and the body stay; an outgoing (relayed) message is left
# alone; BDAT takes the same path; pipelined commands wait while a check
# waits; the DMARC verdicts quarantine (Junk) and reject; a session closed
# by the shutdown while a check waits frees everything.  It needs a
# module that registers a check: SPF (modules/spf); DMARC is used when
# built.  Replies and disk.

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ time sleep /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('net_dns');

my $u = 'u@example.test';

$t->dns({
    'b.test'        => { TXT => [ 'v=spf1 ip4:127.0.0.1 -all' ] },
    'q.test'        => { TXT => [ 'v=spf1 -all' ] },
    '_dmarc.q.test' => { TXT => [ 'v=DMARC1; p=quarantine' ] },
    'r.test'        => { TXT => [ 'v=spf1 -all' ] },
    '_dmarc.r.test' => { TXT => [ 'v=DMARC1; p=reject' ] },
    'slow.test'     => 'TIMEOUT',
});

sub conf {
    my ($extra) = @_;

    $t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:%%DNS_PORT%%;
resolver_timeout 2s;
worker_shutdown_timeout 1s;

mail {
    server_name mail.example.test;
    spf on;
    $extra

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF
}

# a build without the module has no "spf" directive: nothing registers a
# check, and the path without checks is what every other test covers

conf('');
my ($rc) = $t->tern('-t');

plan(skip_all => 'no spf module in this build: no message check is '
     . 'registered (modules/spf)') if $rc != 0;

conf('dmarc on; dmarc_policy honour;');
($rc) = $t->tern('-t');
my $dmarc = ($rc == 0);
conf('') unless $dmarc;

$t->plan(22);
$t->run();
$t->add_domain('example.test');
$t->add_user($u, 'Check-pw-5e1d');

my $dir = $t->testdir();

sub smtp {
    my ($port) = @_;
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:'
                                  . $t->port($port // 8025));
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    return $s;
}

sub send_msg {
    my ($s, $from, $text) = @_;
    $s->send("MAIL FROM:<$from>");
    my $r = $s->read();
    return $r unless $r =~ /^250/;
    $s->send("RCPT TO:<$u>");
    $r = $s->read();
    return $r unless $r =~ /^250/;
    $s->send('DATA');
    $r = $s->read();
    return $r unless $r =~ /^354/;
    $s->print($text . ".\r\n");
    return $s->read(10);
}

sub stored {
    my ($tag, $sub) = @_;
    my $glob = $t->maildir($u) . '/' . ($sub // '') . '{new,cur}/*';
    for my $f (glob($glob)) {
        my $text = do { local (@ARGV, $/) = ($f); <> };
        return ($text, $f) if $text =~ /^Subject: $tag$/m;
    }
    return ('', '');
}

sub spool_empty {
    my @f = glob("$dir/spool/*");
    return !@f;
}

my $forged = join("\r\n",
    'Authentication-Results: mail.example.test; spf=pass smtp.mailfrom=x',
    'From: a@b.test',
    'authentication-results: (c) MAIL.EXAMPLE.TEST;',
    ' dkim=pass header.d=b.test',
    'Authentication-Results: other.test; spf=fail',
    'Authentication-Results:',
    "\tmail.example.test; dmarc=pass",
    'Subject: TAG',
    '',
    'Authentication-Results: mail.example.test; in the body',
    '');

###############################################################################

# an incoming message: the forged fields go, ours comes

my $s = smtp();
my $r = send_msg($s, 'a@b.test', $forged =~ s/TAG/in1/r);
like($r, qr/^250 .*queued/, 'incoming message queued');

my ($text, $file) = stored('in1');

like($text, qr/\AReceived:\ [^\n]*\n(?:\t[^\n]*\n)*
                Authentication-Results:\ mail\.example\.test;\n
                \tspf=pass\ [^\n]*smtp\.mailfrom=/x,
     'our Authentication-Results right after the Received header');
my @ours = ($text =~ /^Authentication-Results: mail\.example\.test;$/mgi);
is(scalar @ours, 1, 'the forged fields with our id are gone');
unlike($text, qr/smtp\.mailfrom=x$|^authentication-results:\ \(c\)
                  |dkim=pass\ header\.d=b|\tmail\.example\.test;\ dmarc=pass/mx,
       'folded and commented forged fields are gone whole');
like($text, qr/^Authentication-Results: other\.test; spf=fail$/m,
     'a foreign authserv-id stays');
like($text,
     qr/\n\nAuthentication-Results: mail\.example\.test; in the body\n\z/,
     'the body is untouched');

my ($S, $W) = $file =~ /,S=(\d+),W=(\d+)/;
my $lfs = () = $text =~ /\n/g;
ok($S == length($text) && $W == length($text) + $lfs,
   'S= and W= are those of the edited file');

ok($t->wait_for_log(qr/forged\ Authentication-Results\ field\ for
                        \ "mail\.example\.test"\ is\ removed/x, 5),
   'the removal is logged');
ok(spool_empty(), 'spool empty');

# an outgoing message (smtp_relay_networks): nothing is changed

$s = smtp(8026);
$r = send_msg($s, 'a@b.test', $forged =~ s/TAG/out1/r);
like($r, qr/^250 /, 'outgoing message queued');
($text) = stored('out1');
$text =~ s/\AReceived: [^\n]*\n(?:\t[^\n]*\n)*//;
is($text, ($forged =~ s/TAG/out1/r) =~ s/\r\n/\n/gr,
   'outgoing: the text as sent, no field of ours');

# BDAT, in two chunks split inside a forged field

my $bdat = ($forged =~ s/TAG/bdat1/r) =~ s/\r\n/\n/gr =~ s/\n/\r\n/gr;
my $cut = 30;
$s = smtp();
$s->send("MAIL FROM:<a\@b.test>");
$s->read();
$s->send("RCPT TO:<$u>");
$s->read();
$s->print('BDAT ' . $cut . "\r\n" . substr($bdat, 0, $cut));
$s->read();
$s->print('BDAT ' . (length($bdat) - $cut) . " LAST\r\n"
          . substr($bdat, $cut));
like($s->read(10), qr/^250 .*queued/, 'BDAT message queued');
($text) = stored('bdat1');
@ours = ($text =~ /^Authentication-Results: mail\.example\.test;$/mgi);
ok(@ours == 1 && $text =~ /^Authentication-Results: other\.test;/m,
   'BDAT: forged fields cut, ours added');

# pipelining: what follows the message waits while the SPF lookup runs

$s = smtp();
$s->print("MAIL FROM:<a\@slow.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
$s->read() for 1 .. 3;
$s->print("From: a\@slow.test\r\nSubject: slow1\r\n\r\nx\r\n.\r\n"
          . "RSET\r\nNOOP\r\n");
my @r = map { $s->read(10) // '' } 1 .. 3;
ok($r[0] =~ /^250 .*queued/ && $r[1] =~ /^250 / && $r[2] =~ /^250 /,
   'pipelined commands after the message answered in order');
($text) = stored('slow1');
like($text, qr/^\tspf=temperror/m, 'the lookup timed out: temperror');

# DMARC verdicts

SKIP: {
    skip 'no dmarc module in this build', 5 unless $dmarc;

    $s = smtp();
    $r = send_msg($s, 'x@q.test',
                  "From: x\@q.test\r\nSubject: junk1\r\n\r\nspam\r\n");
    like($r, qr/^250 .*queued/, 'quarantined message accepted');
    ($text) = stored('junk1', '.Junk/');
    like($text, qr/^\tdmarc=fail/m, 'quarantined: in the Junk folder');
    ok(!(stored('junk1'))[0], 'quarantined: not in INBOX');

    $r = send_msg($s, 'x@r.test',
                  "From: x\@r.test\r\nSubject: rej1\r\n\r\nspam\r\n");
    like($r, qr/^5\d\d /, 'rejected by DMARC');
    ok(!(stored('rej1'))[0] && spool_empty(), 'rejected: nothing stored');
}

# the shutdown closes a session whose check waits

$s = smtp();
$s->print("MAIL FROM:<a\@slow.test>\r\nRCPT TO:<$u>\r\nDATA\r\n");
$s->read() for 1 .. 3;
$s->print("From: a\@slow.test\r\nSubject: gone1\r\n\r\nx\r\n.\r\n");
sleep(0.3);

kill 'QUIT', $t->master_pid();

like($s->read(5) // '', qr/^421 /, 'shutdown while a check waits: 421');
$t->stop_server();
ok(!(stored('gone1'))[0] && spool_empty(),
   'shutdown while a check waits: nothing stored, spool empty');

###############################################################################
