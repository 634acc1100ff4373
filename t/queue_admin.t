#!/usr/bin/perl

# The queue admin commands against a running server: "queue list --json"
# (parsed, every field, a UTF-8 sender), hold (shown by "queue show"),
# flush of a held message and of the whole queue, release, delete (both
# files gone, no bounce), unknown and invalid ids, a delivery lock held
# by another process ("being delivered" after the wait), and the notices
# in the error log.
#
# Remote mail must stay queued: its MX is 127.0.0.1 on a port where
# nothing listens and "retry 1h", so a queue runner defers it once and
# leaves it for an hour; a build without outbound delivery (no
# "outbound" directive) just keeps it queued.

use warnings;
use strict;

use Test::More;
use Fcntl qw/ :flock /;
use JSON::PP;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('net_dns')->plan(41);

my $dns = $t->dns({
    'remote.test' => { MX => [ '10 mx.remote.test' ] },
    'mx.remote.test' => { A => '127.0.0.1' },
});

my $outbound = <<'EOF';
outbound {
    mx_port %%PORT_8031%%;
    ipv6 off;
    retry 1h 4h;
    delay_warning 0;
    connect_timeout 2s;
    tls none;
}
EOF

sub conf {
    my ($out) = @_;

    $t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 2s;

$out
mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF
}

# without outbound delivery in this build, nothing delivers anyway

conf($outbound);
my ($rc, undef, $terr) = $t->tern('-t');
my $runner = $rc == 0;

if (!$runner) {
    die "tern -t: $terr" unless $terr =~ /unknown directive "outbound"/;
    conf('');
}

note($runner ? 'with outbound delivery' : 'without outbound delivery');

$t->listen_ports(8025);
$t->run();
$t->add_domain('example.test');

my $json = JSON::PP->new->utf8;

sub send_msg {
    my ($from, $to, $utf8) = @_;

    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8025));
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    $s->send("MAIL FROM:<$from>" . ($utf8 ? ' SMTPUTF8' : ''));
    $s->read();
    $s->send("RCPT TO:<$to> NOTIFY=FAILURE,DELAY ORCPT=rfc822;$to");
    $s->read();
    $s->send('DATA');
    $s->read();
    $s->print("Subject: queued\r\n\r\nqueued\r\n.\r\n");
    my $r = $s->read();
    $s->send('QUIT');
    $s->read();

    return $r;
}

sub queue_json {
    my ($rc, $out, $err) = $t->tern('queue', 'list', '--json');
    my $q = eval { $json->decode($out) };
    return ($rc, $q, $@);
}

sub message {
    my ($id) = @_;
    my (undef, $q) = queue_json();
    my ($m) = grep { $_->{id} eq $id } @{$q // []};
    return $m;
}

sub files {
    my ($id) = @_;
    return grep { -e $_ } map { glob($t->testdir() . "/queue/*/$id.$_") }
        qw/ msg env /;
}

###############################################################################

like(send_msg('a@b.test', 'x@remote.test'), qr/^250 /, 'relayed, queued');

my $q;
($rc, $q) = queue_json();
is(ref $q, 'ARRAY', 'list --json: one JSON array');
is(scalar @{$q // []}, 1, 'list --json: one message');

my $m = $q->[0] // {};
my $id = $m->{id} // 'none';

# a queue runner tries once and defers: wait for that to settle

if ($runner) {
    my $end = time() + 15;
    my $r;

    while (time() < $end) {
        $r = message($id) // {};
        last if ($r->{recipients}[0]{status} // '') eq 'deferred';
        sleep 0.2;
    }

    $m = $r;
}

like($id, qr/^[0-9A-Za-z.]+$/, 'list --json: id');
is($m->{sender}, 'a@b.test', 'list --json: sender');
ok($m->{size} > 0 && $m->{received} > time() - 60, 'list --json: size, time');
is_deeply([ @$m{qw/ auth_user envid ret /} ], [ '', '', undef ],
          'list --json: auth_user, envid, ret');
ok(!$m->{hold} && !$m->{smtputf8} && JSON::PP::is_bool($m->{hold}),
   'list --json: flags are booleans');

my $r = $m->{recipients}[0] // {};
is($r->{address}, 'x@remote.test', 'list --json: recipient');
is_deeply($r->{notify}, [ 'failure', 'delay' ], 'list --json: notify');
is($r->{orcpt}, 'rfc822;x@remote.test', 'list --json: orcpt');
like($r->{status}, qr/^(pending|deferred)$/, 'list --json: status');
ok(exists $r->{$_}, "list --json: recipient $_")
    for qw/ tries next_try error delivered_to /;

my (undef, $list) = $t->tern('queue', 'list', '--json');
my ($rc2, $out2) = $t->tern('queue', 'json');
is("$rc2 $out2", "0 $list", 'queue json is queue list --json');

# hold, flush of a held message, flush of all, release

my ($out, $err);
($rc, $out) = $t->tern('queue', 'hold', $id);
is("$rc $out", "0 $id: held\n", 'hold');

(undef, $out) = $t->tern('queue', 'show', $id);
like($out, qr/^hold: yes$/m, 'show says hold: yes');
ok(message($id)->{hold}, 'list --json says hold');

my $deferred = $r->{status} eq 'deferred';

($rc, $out) = $t->tern('queue', 'flush', $id);
is("$rc $out", $deferred
   ? "0 $id: flushed, 1 deferred recipient due now "
     . "(held: sent after queue release)\n"
   : "0 $id: no deferred recipient to flush\n",
   'flush of the held message');

($rc, $out) = $t->tern('queue', 'flush');
is("$rc $out", "0 0 messages flushed\n", 'flush of all leaves it alone');

($rc, $out) = $t->tern('queue', 'release', $id);
is("$rc $out", "0 $id: released, 0 deferred recipients due now\n",
   'release');

(undef, $out) = $t->tern('queue', 'show', $id);
like($out, qr/^hold: no$/m, 'show says hold: no');

# another process holds the delivery lock

my $path = (grep { /\.msg$/ } files($id))[0];
open my $fh, '<', $path or die "open $path: $!\n";
flock($fh, LOCK_EX) or die "flock: $!\n";

{
    local $ENV{TERN_QUEUE_LOCK_WAIT} = 1;

    my $start = time();
    ($rc, $out, $err) = $t->tern('queue', 'flush', $id);
    my $took = time() - $start;

    is("$rc $err", "1 tern: message $id is being delivered, try again\n",
       'flush of a locked message: being delivered');
    ok($took >= 0.9, sprintf('after the wait (%.1f s)', $took));

    ($rc, $out, $err) = $t->tern('queue', 'delete', $id);
    is("$rc $err", "1 tern: message $id is being delivered, try again\n",
       'delete of a locked message: being delivered');
    is(scalar(files($id)), 2, 'nothing deleted');
}

close $fh;

# a UTF-8 sender comes out as UTF-8

like(send_msg("j\xc3\xb6rg\@b.test", 'y@remote.test', 1), qr/^250 /,
     'SMTPUTF8 message queued');

($rc, $q) = queue_json();
my ($u) = grep { $_->{id} ne $id } @{$q // []};
is($u->{sender}, "j\x{f6}rg\@b.test", 'list --json: UTF-8 sender');
ok($u->{smtputf8}, 'list --json: smtputf8');

# delete

($rc, $out) = $t->tern('queue', 'delete', $id);
is("$rc $out", "0 $id: deleted, no bounce sent (1 recipient undelivered)\n",
   'delete');
is(scalar(files($id)), 0, 'both files gone');

($rc, $out) = $t->tern('queue', 'delete', $u->{id} // 'none');
is($rc, 0, 'delete the other');

($rc, $q) = queue_json();
is_deeply($q, [], 'list --json: an empty queue is []');

($rc, $out, $err) = $t->tern('queue', 'hold', $id);
is("$rc $err", "1 tern: no queued message \"$id\"\n", 'unknown id: exit 1');

($rc, $out, $err) = $t->tern('queue', 'flush', '../../tern.db');
is($rc, 1, 'invalid id: exit 1');

($rc, $out, $err) = $t->tern('queue', 'frobnicate', $id);
like($err, qr/queue hold\|release\|delete ID/, 'usage lists the commands');

# the changes are in the error log

my $log = $t->read_file('logs/error.log');
like($log, qr/\[notice\] .*queue admin: \Q$id\E: held \(uid \d+\)$/m,
     'hold logged');
like($log, qr/queue admin: \Q$id\E: deleted, no bounce sent/,
     'delete logged');
unlike($log, qr/queue admin: \Q$id\E: (already|no deferred)/,
       'what changed nothing is not logged');

$t->stop();
