#!/usr/bin/perl

# SMTP relay rules and local delivery rules: relaying refused, relay
# networks, authenticated relay, the sender check, DSN parameters kept
# in the queue, aliases (fan-out to local users and a remote address),
# plus-addressing, catch-all, forwarding with and without a copy, a
# forwarding loop, the hop limit and quotas.  Replies and disk.

use warnings;
use strict;

use Test::More;
use MIME::Base64;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->plan(60);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;
    auth_failure_delay 0;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp;
             smtp_relay_networks 127.0.0.2/32 10.0.0.0/8 ::1/128;
             smtp_max_hops 5; }
    server { listen 127.0.0.1:%%PORT_8587%%; protocol smtp;
             smtp_auth required; smtp_auth_plaintext on; }
    server { listen 127.0.0.1:%%PORT_8588%%; protocol smtp;
             smtp_auth optional; smtp_auth_plaintext on;
             smtp_sender_check off; smtp_quota_permanent on; }
}
EOF

$t->run();
$t->add_domain('example.test');

my $PW = 'Relay-pw-0c7e91';
$t->add_user("$_\@example.test", $PW) for qw/ u v w k f1 f2 q /;

my ($mx, $sub, $opt) = map { $t->port($_) } 8025, 8587, 8588;

sub smtp {
    my ($port, @args) = @_;
    my $s = Tern::Test::SMTP->new(PeerAddr => "127.0.0.1:$port", @args);
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    return $s;
}

sub n { my @f = $t->maildir_files("$_[0]\@example.test"); return scalar @f; }

sub queue {
    my ($rc, $out) = $t->tern('queue', 'list');
    return $out // '';
}

sub qfiles { my @f = glob($t->testdir() . '/queue/*/*.env'); return @f; }

sub send_msg {
    my ($s, $from, $rcpts, $body) = @_;
    $s->send("MAIL FROM:<$from>");
    my $r = $s->read();
    return $r unless $r =~ /^250/;
    for my $rc (@$rcpts) {
        $s->send("RCPT TO:<$rc>");
        $r = $s->read();
        return $r unless $r =~ /^250/;
    }
    $s->send('DATA');
    $r = $s->read();
    return $r unless $r =~ /^354/;
    $s->print(($body // "Subject: test\r\n\r\nbody\r\n") . ".\r\n");
    return $s->read();
}

sub auth { encode_base64("\0$_[0]\0$PW", '') }

###############################################################################

# unauthenticated, outside the relay networks: local domains only

my $s = smtp($mx);
$s->send('MAIL FROM:<a@b.test>');
$s->read();
$s->send('RCPT TO:<x@remote.test>');
like($s->read(), qr/^550 5\.7\.1 Relaying denied/, 'relaying denied');
$s->send('RSET');
$s->read();
is(scalar(qfiles()), 0, 'nothing queued');

# DSN parameters: bad values are refused with 555

$s->send('MAIL FROM:<a@b.test> RET=BOGUS');
like($s->read(), qr/^555 5\.5\.4 /, 'RET=BOGUS 555');
$s->send('MAIL FROM:<a@b.test> ENVID=a+zz');
like($s->read(), qr/^555 5\.5\.4 /, 'ENVID with bad xtext 555');
$s->send('MAIL FROM:<a@b.test> RET=HDRS ENVID=env+2B1');
like($s->read(), qr/^250 /, 'MAIL with RET and ENVID');
$s->send('RCPT TO:<u@example.test> NOTIFY=NEVER,SUCCESS');
like($s->read(), qr/^555 5\.5\.4 /, 'NOTIFY=NEVER,SUCCESS 555');
$s->send('RCPT TO:<u@example.test> NOTIFY=SOMETIMES');
like($s->read(), qr/^555 5\.5\.4 /, 'NOTIFY=SOMETIMES 555');
$s->send('RCPT TO:<u@example.test> ORCPT=rfc822');
like($s->read(), qr/^555 5\.5\.4 /, 'ORCPT without ; 555');
$s->send('RCPT TO:<u@example.test> NOTIFY=SUCCESS,FAILURE '
         . 'ORCPT=rfc822;u@example.test');
like($s->read(), qr/^250 2\.1\.5 /, 'local RCPT with DSN parameters');
$s->send('QUIT');
$s->read();

# a relay network: a remote recipient is accepted and queued

$s = smtp($mx, LocalAddr => '127.0.0.2');
like(send_msg($s, 'a@b.test', ['x@remote.test'],
              "Subject: relayed\r\n\r\nrelayed\r\n"),
     qr/^250 2\.0\.0 Ok: queued/, 'relay network: queued');
$s->send('QUIT');
$s->read();

like(queue(), qr/x\@remote\.test/, 'tern queue list shows it');
my @q = qfiles();
is(scalar @q, 1, 'one envelope under queue/');
(my $msg = $q[0]) =~ s/\.env$/.msg/;
like($t->read_file($msg), qr/^Received: .*\n\nrelayed\n\z/s,
     'the queued message');

# DSN parameters of RCPT and MAIL are kept in the envelope

$s = smtp($mx, LocalAddr => '127.0.0.2');
$s->send('MAIL FROM:<a@b.test> RET=HDRS ENVID=env+2B1');
$s->read();
$s->send('RCPT TO:<dsn@remote.test> NOTIFY=SUCCESS,DELAY '
         . 'ORCPT=rfc822;orig@remote.test');
like($s->read(), qr/^250 /, 'relayed RCPT with DSN');
$s->send('DATA');
$s->read();
$s->print("Subject: dsn\r\n\r\ndsn\r\n.\r\n");
like($s->read(), qr/^250 /, 'DSN message queued');
$s->send('QUIT');
$s->read();
my ($dsn) = grep { $t->read_file($_) =~ /dsn\@remote/ } qfiles();
my $env = $dsn ? $t->read_file($dsn) : '';
like($env, qr/env\+1/, 'ENVID kept, decoded');
like($env, qr/rfc822;orig\@remote\.test/, 'ORCPT kept');

# authenticated users may relay, as their own addresses

$s = smtp($sub);
$s->send('MAIL FROM:<u@example.test>');
like($s->read(), qr/^530 /, 'submission: MAIL before AUTH 530');
$s->send('AUTH PLAIN ' . auth('u@example.test'));
like($s->read(), qr/^235 /, 'AUTH');
$s->send('MAIL FROM:<v@example.test>');
like($s->read(), qr/^553 5\.7\.1 Sender address rejected: not owned by user/,
     'sender check 553');
$s->send('MAIL FROM:<someone@elsewhere.test>');
like($s->read(), qr/^553 5\.7\.1 /, 'foreign sender 553');
like(send_msg($s, 'u+list@example.test', ['y@remote.test']),
     qr/^250 2\.0\.0 Ok: queued/, 'authenticated relay, +tag sender');
$s->send('QUIT');
$s->read();
like(queue(), qr/y\@remote\.test/, 'authenticated relay queued');
is(scalar(qfiles()), 3, 'three envelopes');

$s = smtp($opt);
$s->send('AUTH PLAIN ' . auth('u@example.test'));
$s->read();
like(send_msg($s, 'someone@elsewhere.test', ['z@remote.test']),
     qr/^250 /, 'smtp_sender_check off: any sender');
$s->send('QUIT');
$s->read();

my $env_z = join '', map { $t->read_file($_) } qfiles();
like($env_z, qr/u\@example\.test/, 'the login is in the envelope');

# an alias to two local users and a remote address; a duplicate merged

$t->tern('alias', 'add', 'team@example.test', 'u@example.test',
         'v@example.test', 'ext@remote.test');

$s = smtp($mx);
like(send_msg($s, 'a@b.test', ['team@example.test', 'u@example.test'],
              "Subject: team\r\n\r\nto the team\r\n"),
     qr/^250 2\.0\.0 Ok: queued/, 'alias fan-out from outside');
is(n('u'), 1, 'u got one copy (named twice)');
is(n('v'), 1, 'v got it');
like(queue(), qr/ext\@remote\.test/, 'the remote alias target is queued');
my @f = $t->maildir_files('v@example.test');
unlike($t->read_file($f[0]), qr/\tfor </, 'two RCPTs: no "for" clause');

# plus-addressing and the catch-all

like(send_msg($s, 'a@b.test', ['v+news@example.test']), qr/^250 /,
     'plus-addressing');
is(n('v'), 2, 'v+news delivered to v');
@f = $t->maildir_files('v@example.test');
like(join('', map { $t->read_file($_) } @f),
     qr/\tfor <v\+news\@example\.test>;/, 'Received for the address as sent');
$s->send('RCPT TO:<nobody@example.test>');
$s->read();
$s->send('MAIL FROM:<a@b.test>');
$s->read();
$s->send('RCPT TO:<nobody@example.test>');
like($s->read(), qr/^550 5\.1\.1 /, 'unknown user without a catch-all');
$s->send('RSET');
$s->read();
$t->tern('alias', 'add', '@example.test', 'w@example.test');
like(send_msg($s, 'a@b.test', ['nobody@example.test']), qr/^250 /,
     'catch-all');
is(n('w'), 1, 'catch-all delivered to w');

# forwarding: without a copy, with a copy, a loop

$t->tern('user', 'forward', 'w@example.test', 'fw@remote.test');
$t->tern('user', 'forward', 'k@example.test', '--keep', 'fk@remote.test');
$t->tern('user', 'forward', 'f1@example.test', 'f2@example.test');
$t->tern('user', 'forward', 'f2@example.test', 'f1@example.test');

like(send_msg($s, 'a@b.test', ['w@example.test']), qr/^250 /, 'forward');
is(n('w'), 1, 'forward without keep: no new copy');
like(queue(), qr/fw\@remote\.test/, 'forward target queued');
like(send_msg($s, 'a@b.test', ['k@example.test']), qr/^250 /,
     'forward with keep');
is(n('k'), 1, 'forward with keep: a copy');
like(queue(), qr/fk\@remote\.test/, 'kept forward queued');
my $nq = scalar(qfiles());
like(send_msg($s, 'a@b.test', ['f1@example.test']), qr/^250 /,
     'a forwarding loop ends');
is(n('f1') + n('f2'), 1, 'the loop stores one copy');
is(scalar(qfiles()), $nq, 'the loop queues nothing');

# the marker: the queued copy of a forward records where it came from, and
# a message that comes back with it is refused (a loop through another
# server), while one that merely mentions it elsewhere passes

my ($qid) = queue() =~ /^(\S+).*fw\@remote\.test/m;
my (undef, $show) = $t->tern('queue', 'show', $qid // 'none');
like($show, qr/^  delivered to: w\@example\.test$/m,
     'queued forward carries its Delivered-To marker');
like(send_msg($s, 'a@b.test', ['w@example.test'],
              "Delivered-To: someone\@else.test\r\n"
              . "Delivered-To: <W\@Example.test> \r\n"
              . "Subject: back again\r\n\r\nloop\r\n"),
     qr/^554 5\.4\.6 Mail forwarding loop for <w\@example\.test>/,
     'forwarded message that came back: 554 5.4.6');
like(send_msg($s, 'a@b.test', ['w@example.test'],
              "Subject: x\r\n\r\nDelivered-To: w\@example.test\r\n"),
     qr/^250 /, 'Delivered-To in the body does not count');
like(send_msg($s, 'a@b.test', ['u@example.test'],
              "Delivered-To: u\@example.test\r\nSubject: x\r\n\r\nx\r\n"),
     qr/^250 /, 'Delivered-To of a user without a forward passes');

# the hop limit: 5 Received headers are too many (smtp_max_hops 5)

my $hdrs = join '', map { "Received: from h$_ by h$_; Thu, 1 Jan 2026\r\n" }
    1 .. 4;
like(send_msg($s, 'a@b.test', ['u@example.test'],
              "${hdrs}Subject: hops\r\n\r\nfour hops\r\n"),
     qr/^250 /, '4 Received headers pass');
like(send_msg($s, 'a@b.test', ['u@example.test'],
              "${hdrs}received: from h5 by h5; Thu, 1 Jan 2026\r\n"
              . "Subject: hops\r\n\r\nfive\r\n"),
     qr/^554 5\.4\.6 Too many hops/, '5 Received headers: 554 5.4.6');
like(send_msg($s, 'a@b.test', ['u@example.test'],
              "Subject: hops\r\n\r\n${hdrs}${hdrs}body\r\n"),
     qr/^250 /, 'Received lines in the body do not count');
is(n('u'), 4, 'two of the three stored (one came before)');

# quota: over at RCPT (SIZE=), over at DATA; nothing half-written

$t->tern('user', 'quota', 'q@example.test', '1000');
like(send_msg($s, 'a@b.test', ['q@example.test'],
              "Subject: q\r\n\r\n" . ('x' x 600) . "\r\n"),
     qr/^250 /, 'under quota');
like(send_msg($s, 'a@b.test', ['q@example.test', 'v@example.test'],
              "Subject: q\r\n\r\n" . ('y' x 600) . "\r\n"),
     qr/^452 4\.2\.2 Mailbox full/, 'over quota at DATA: 452 4.2.2');
$s->send('RSET');
$s->read();
$s->send('MAIL FROM:<a@b.test> SIZE=600');
$s->read();
$s->send('RCPT TO:<q@example.test>');
like($s->read(), qr/^452 4\.2\.2 Mailbox full/, 'over quota at RCPT: 452');
$s->send('QUIT');
$s->read();
is(n('q'), 1, 'one message in the full mailbox');
is(n('v'), 2, 'no copy of the refused message for v either');

$s = smtp($opt);
$s->send('MAIL FROM:<a@b.test> SIZE=600');
$s->read();
$s->send('RCPT TO:<q@example.test>');
like($s->read(), qr/^552 5\.2\.2 Mailbox full/,
     'smtp_quota_permanent: 552 5.2.2');
$s->send('QUIT');
$s->read();

###############################################################################
