#!/usr/bin/perl

# Outbound delivery through MX: the best MX and the fallback to the next,
# a domain without MX (its A record), a NULL MX, deferral then success on
# a retry, a permanent refusal, expiry, DSN parameters passed on, notices
# (bounces) parsed and checked, several messages over one connection, and
# the queue empty afterwards.

use warnings;
use strict;

use Test::More;
use MIME::Base64 qw/ encode_base64 /;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::Peer;

my $t = Tern::Test->new()->has('net_dns')->plan(58);

my $peer_port = $t->port(8030);

my $dns = $t->dns({
    'remote.test' => { MX => [ '10 mx1.remote.test' ] },
    'mx1.remote.test' => { A => '127.0.0.1' },
    'two.test' => { MX => [ '10 dead.two.test', '20 live.two.test' ] },
    'dead.two.test' => { A => '127.0.0.2' },
    'live.two.test' => { A => '127.0.0.1' },
    'nomx.test' => { A => '127.0.0.1' },
    'null.test' => { MX => [ '0 .' ] },
    'later.test' => { MX => [ '10 mx.later.test' ] },
    'mx.later.test' => { A => '127.0.0.1' },
    'alias.test' => { MX => [ '10 mx.alias.test' ] },
    'mx.alias.test' => { CNAME => 'mx1.remote.test' },
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 2s;

outbound {
    helo_name out.example.test;
    mx_port %%PORT_8030%%;
    ipv6 off;
    retry 1s 2s;
    max_lifetime 8s;
    delay_warning 3s;
    destination_concurrency 1;
    connect_timeout 2s;
    tls none;

    # a server without DSN and SMTPUTF8
    connection old { host 127.0.0.1; port %%PORT_8031%%; tls none; }
    route recipient_domain old.test old;
}

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF

$t->listen_ports(8025)->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');
$t->add_user('f@example.test', 'secret');
$t->tern('user', 'forward', 'f@example.test', 'fwd@remote.test');

my $peer = Tern::Test::Peer::start($t, port => $peer_port, name => 'mx1');
my $old = Tern::Test::Peer::start($t, port => $t->port(8031), name => 'old',
                                  ext => [qw/ PIPELINING 8BITMIME SIZE /]);

sub send_msg {
    my ($from, $rcpts, $body, %o) = @_;
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    $s->send("MAIL FROM:<$from>" . ($o{mail} // ''));
    my $r = $s->read();
    for my $rc (@$rcpts) {
        $s->send("RCPT TO:<$rc>" . ($o{rcpt} // ''));
        $r = $s->read();
    }
    $s->send('DATA');
    $s->read();
    $s->print($body . ".\r\n");
    $r = $s->read();
    $s->send('QUIT');
    $s->read();
    return $r;
}

sub queue_ids {
    my (undef, $out) = $t->tern('queue', 'list');
    return map { /^(\S+)/ } grep { /\S/ } split /\n/, $out // '';
}

sub wait_queue_empty {
    my $deadline = time() + ($_[0] // 15);
    sleep(0.2) while queue_ids() && time() < $deadline;
    return scalar queue_ids();
}

# the notices u@example.test got, as text
sub notices {
    my @n;
    for my $f ($t->maildir_files('u@example.test')) {
        open(my $fh, '<:raw', $f) or next;
        local $/;
        push @n, scalar <$fh>;
    }
    return @n;
}

sub wait_notices {
    my ($n, $timeout) = @_;
    my $deadline = time() + ($timeout // 15);
    my @n;
    while (1) {
        @n = notices();
        last if @n >= $n || time() > $deadline;
        sleep(0.2);
    }
    return @n;
}

###############################################################################

# the best MX

like(send_msg('u@example.test', ['x@remote.test'],
              "Subject: first\r\n\r\nhello remote\r\n..dot line\r\n"),
     qr/^250 /, 'queued for remote.test');

my @m = Tern::Test::Peer::wait_messages($peer, 1);
is(scalar @m, 1, 'delivered to the MX');
is($m[0]{from}, 'u@example.test', 'envelope sender');
is_deeply($m[0]{rcpts}, ['x@remote.test'], 'envelope recipient');
like($m[0]{data}, qr/^Received: from client\.test .*\r\nSubject: first\r\n\r\nhello remote\r\n\.dot line\r\n\z/s,
     'message text with CRLF and the dot restored');
is(wait_queue_empty(), 0, 'queue empty after delivery');
ok($t->wait_for_log(qr/queue: message \S+ to <x\@remote\.test>: delivered/),
   'delivery logged');

# the first MX does not answer: the second one takes it

like(send_msg('u@example.test', ['y@two.test'], "Subject: two\r\n\r\nx\r\n"),
     qr/^250 /, 'queued for two.test');
@m = Tern::Test::Peer::wait_messages($peer, 2);
is(scalar @m, 2, 'delivered through the second MX');
is_deeply($m[1]{rcpts}, ['y@two.test'], 'to y@two.test');

# no MX record: the domain's own address

like(send_msg('u@example.test', ['z@nomx.test'], "Subject: a\r\n\r\nx\r\n"),
     qr/^250 /, 'queued for nomx.test');
@m = Tern::Test::Peer::wait_messages($peer, 3);
is_deeply($m[2]{rcpts}, ['z@nomx.test'], 'delivered to the A record');

# several recipients of one domain: one transaction, DSN parameters

like(send_msg('u@example.test', ['a1@remote.test', 'a2@remote.test'],
              "Subject: dsn\r\n\r\nx\r\n",
              mail => ' RET=HDRS ENVID=env+2Bid',
              rcpt => ' NOTIFY=FAILURE,DELAY ORCPT=rfc822;orig@x.test'),
     qr/^250 /, 'queued with DSN parameters');
@m = Tern::Test::Peer::wait_messages($peer, 4);
is_deeply([sort @{ $m[3]{rcpts} }], ['a1@remote.test', 'a2@remote.test'],
          'both recipients in one transaction');
like($m[3]{params}, qr/ RET=HDRS/, 'RET passed on');
like($m[3]{params}, qr/ ENVID=env\+2Bid/, 'ENVID passed on, xtext');
like($m[3]{rcpt_lines}[0], qr/ NOTIFY=FAILURE,DELAY/, 'NOTIFY passed on');
like($m[3]{rcpt_lines}[0], qr/ ORCPT=rfc822;orig\@x\.test/i,
     'ORCPT passed on');

# a NULL MX: an immediate bounce to the sender

like(send_msg('u@example.test', ['n@null.test'],
              "Subject: to null\r\n\r\nnobody\r\n"),
     qr/^250 /, 'queued for null.test');
my @n = wait_notices(1);
is(scalar @n, 1, 'a notice for the NULL MX');
like($n[0] // '', qr/^Subject: Undelivered Mail Returned to Sender$/m,
     'notice subject');
like($n[0] // '', qr/^Content-Type: multipart\/report; report-type=delivery-status;/m,
     'multipart/report');
like($n[0] // '', qr/^Final-Recipient: rfc822; ?n\@null\.test$/m,
     'Final-Recipient');
like($n[0] // '', qr/^Action: failed$/m, 'Action: failed');
like($n[0] // '', qr/^Status: 5\.1\.10$/m, 'Status 5.1.10');
like($n[0] // '', qr/^Subject: to null$/m, 'the original returned');
is(wait_queue_empty(), 0, 'bounced message left the queue');

# a permanent refusal of one recipient, the other delivered

like(send_msg('u@example.test', ['reject1@remote.test', 'ok2@remote.test'],
              "Subject: half\r\n\r\nx\r\n"),
     qr/^250 /, 'queued for a refused and an accepted recipient');
@n = wait_notices(2);
like($n[1] // '', qr/^Final-Recipient: rfc822; ?reject1\@remote\.test$/m,
     'the refused one is reported');
unlike($n[1] // '', qr/ok2\@remote\.test$/m, 'the delivered one is not');
like($n[1] // '', qr/^Status: 5\.1\.1$/m, 'with the remote status');
like($n[1] // '', qr/^Diagnostic-Code: smtp; ?.*550 5\.1\.1/m,
     'and the remote reply');

# deferred, then delivered on the next try

like(send_msg('u@example.test', ['once1@later.test'],
              "Subject: later\r\n\r\nx\r\n"),
     qr/^250 /, 'queued for a recipient deferred once');
ok($t->wait_for_log(qr/queue: message \S+ to <once1\@later\.test>: deferred/),
   'deferred first');
ok($t->wait_for_log(qr/queue: message \S+ to <once1\@later\.test>: delivered/,
                    10),
   'delivered on the retry');

# never accepted: expired and bounced after max_lifetime

like(send_msg('u@example.test', ['defer1@remote.test'],
              "Subject: never\r\n\r\nx\r\n"),
     qr/^250 /, 'queued for a recipient that is always deferred');
@n = wait_notices(4, 20);
my ($delayed) = grep { /^Action: delayed$/m } @n;
my ($expired) = grep { /^Status: 4\.4\.7$/m } @n;
like($delayed // '', qr/^Subject: Delayed Mail \(still being retried\)$/m,
     'a delay notice after delay_warning');
like($delayed // '', qr/^Final-Recipient: rfc822; ?defer1\@remote\.test$/m,
     'for the deferred recipient');
like($delayed // '', qr/^Will-Retry-Until: /m, 'with Will-Retry-Until');
like($expired // '', qr/^Final-Recipient: rfc822; ?defer1\@remote\.test$/m,
     'expired recipient reported');
like($expired // '', qr/^Action: failed$/m, 'expired: Action failed');

# a bounce is never bounced: a NULL MX recipient of a <> sender

like(send_msg('', ['n2@null.test'], "Subject: from null\r\n\r\nx\r\n"),
     qr/^250 /, 'queued from <>');
is(wait_queue_empty(), 0, 'gone without a notice');
is(scalar notices(), 4, 'no notice for a null sender');

# a forward: the copy that leaves carries its Delivered-To marker

like(send_msg('a@b.test', ['f@example.test'], "Subject: fwd\r\n\r\nx\r\n"),
     qr/^250 /, 'queued for a forwarding user');
my ($fwd);
my $wait = time() + 10;
while (!$fwd && time() < $wait) {
    ($fwd) = grep { grep { $_ eq 'fwd@remote.test' } @{ $_->{rcpts} } }
             Tern::Test::Peer::messages($peer);
    sleep(0.1) unless $fwd;
}
like($fwd->{data} // '', qr/\ADelivered-To: f\@example\.test\r\nReceived: /,
     'the forwarded copy starts with Delivered-To');

# an MX host that is a CNAME

like(send_msg('u@example.test', ['c@alias.test'], "Subject: cname\r\n\r\nx\r\n"),
     qr/^250 /, 'queued for alias.test');
my $got = 0;
my $until = time() + 10;
while (!$got && time() < $until) {
    $got = grep { grep { $_ eq 'c@alias.test' } @{ $_->{rcpts} } }
           Tern::Test::Peer::messages($peer);
    sleep(0.1) unless $got;
}
ok($got, 'delivered through the CNAME of the MX host');

# the MX cache: listed after use, cleared on request

my (undef, $mx) = $t->tern('mx', 'list');
like($mx // '', qr/remote\.test/, 'tern mx list shows remote.test');
my ($rc, $cl) = $t->tern('mx', 'clear', 'remote.test');
is($rc, 0, 'tern mx clear remote.test');
(undef, $mx) = $t->tern('mx', 'list');
unlike($mx // '', qr/^remote\.test/m, 'gone from the cache');

# a server without DSN: NOTIFY=SUCCESS gets a "relayed" notice; without
# SMTPUTF8: a UTF-8 local part bounces (5.6.7), an ASCII one goes

like(send_msg('u@example.test', ['s@old.test'], "Subject: success\r\n\r\nx\r\n",
              rcpt => ' NOTIFY=SUCCESS'),
     qr/^250 /, 'queued with NOTIFY=SUCCESS for a server without DSN');
my @o = Tern::Test::Peer::wait_messages($old, 1);
unlike($o[0]{rcpt_lines}[0] // '', qr/NOTIFY/, 'no DSN parameters sent');
@n = wait_notices(5);
my ($relayed) = grep { /^Action: relayed$/m } @n;
like($relayed // '', qr/^Subject: Successful Mail Delivery Report$/m,
     'a relayed notice');

like(send_msg('u@example.test', ["j\xc3\xb6s\xc3\xa9\@old.test", 'a@old.test'],
              "Subject: utf8\r\n\r\nx\r\n", mail => ' SMTPUTF8'),
     qr/^250 /, 'queued with SMTPUTF8 for a server without it');
@o = Tern::Test::Peer::wait_messages($old, 2);
is_deeply($o[1]{rcpts} // [], ['a@old.test'], 'the ASCII recipient went');
unlike($o[1]{params} // '', qr/SMTPUTF8/, 'downgraded: no SMTPUTF8');
@n = wait_notices(6);
my ($utf) = grep { /^Status: 5\.6\.7$/m } @n;
like($utf // '', qr/^Action: failed$/m, 'the UTF-8 one bounced with 5.6.7');

$t->stop();

###############################################################################
