#!/usr/bin/perl

# SPF in SMTP sessions from 127.0.0.1: the result of each zone lands in the
# Authentication-Results field of the delivered message (spf_action mark),
# the null reverse path is checked as postmaster@HELO, "spf_action reject"
# answers a fail with 550 5.7.23 and the exp= text, a permerror with
# 550 5.7.24 and a temperror (timeout, SERVFAIL) with 451 4.7.24 and
# stores nothing, "spf off" checks nothing, and the admin command prints
# results and explanations.

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('net_dns')->plan(42);

my $u = 'u@example.test';

my $dns = $t->dns({
    'pass.test' => { TXT => [ 'v=spf1 ip4:127.0.0.0/8 -all' ] },
    'fail.test' => { TXT => [ 'v=spf1 a:other.test -all exp=why.fail.test' ] },
    'other.test' => { A => '192.0.2.1' },
    'why.fail.test' => { TXT => [ '%{i} may not send for %{d}' ] },
    # an explanation with a control byte is no explanation (RFC 7208 6.2)
    'ctl.test' => { TXT => [ 'v=spf1 -all exp=why.ctl.test' ] },
    'why.ctl.test' => { TXT => [ "see\r\n250 forged" ] },
    'soft.test' => { TXT => [ 'v=spf1 ~all' ] },
    'neutral.test' => { TXT => [ 'v=spf1 ?all' ] },
    'none.test' => { A => '192.0.2.2', TXT => [ 'not spf' ] },
    'timeout.test' => { TXT => 'TIMEOUT' },
    'servfail.test' => 'SERVFAIL',
    'perm.test' => { TXT => [ 'v=spf1 ip4:127.0.0.1 bogus:x -all' ] },
    'helo.test' => { TXT => [ 'v=spf1 ip4:127.0.0.1 -all' ] },
    'badhelo.test' => { TXT => [ 'v=spf1 -all' ] },
    'out.test' => { TXT => [ 'v=spf1 -all' ] },
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 1s;

mail {
    server_name mail.example.test;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8026%%;
        protocol smtp;
        spf_action reject;
    }

    server {
        listen 127.0.0.1:%%PORT_8027%%;
        protocol smtp;
        spf off;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user($u, 'secret');

# one message; returns the reply to the data (or to MAIL/RCPT if refused
# there) and the stored message with this tag, if any

sub send_one {
    my ($port, $from, $tag, $helo) = @_;

    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port($port),
                                  ReadTimeout => 10);
    $s->read();
    $s->send('EHLO ' . ($helo // 'client.test'));
    $s->read();
    $s->send("MAIL FROM:<$from>");
    my $r = $s->read() // '';
    return ($r, '') unless $r =~ /^250/;
    $s->send("RCPT TO:<$u>");
    $r = $s->read() // '';
    return ($r, '') unless $r =~ /^250/;
    $s->send('DATA');
    $s->read();
    my $hfrom = $from eq '' ? 'someone@' . ($helo // 'client.test') : $from;
    $s->print("From: <$hfrom>\r\nSubject: $tag\r\n\r\n$tag\r\n.\r\n");
    $r = $s->read() // '';
    $s->send('QUIT');
    $s->read();

    my ($file) = grep { $t->read_file($_) =~ /^Subject: $tag$/m }
                 $t->maildir_files($u);

    return ($r, $file ? $t->read_file($file) : '');
}

# the spf part of the Authentication-Results field, unfolded

sub spf_ar {
    my ($m) = @_;

    my ($ar) = $m =~ /^(Authentication-Results:.*(?:\n[ \t].*)*)/m
        or return '';
    $ar =~ s/\r?\n[ \t]+/ /g;

    my ($spf) = $ar =~ /(spf=[^;]*)/;

    return $spf // '';
}

###############################################################################

# spf_action mark: every result delivered, with its A-R

my %want = (
    'a@pass.test' => 'spf=pass reason="mechanism ip4 matched" '
                     . 'smtp.mailfrom=a@pass.test',
    'a@fail.test' => 'spf=fail reason="mechanism all matched" '
                     . 'smtp.mailfrom=a@fail.test',
    'a@soft.test' => qr/^spf=softfail\b.*smtp\.mailfrom=a\@soft\.test/,
    'a@neutral.test' => qr/^spf=neutral\b/,
    'a@none.test' => 'spf=none reason="no SPF record" '
                     . 'smtp.mailfrom=a@none.test',
    'a@timeout.test' => qr/^spf=temperror\b/,
    'a@servfail.test' => qr/^spf=temperror\b/,
    'a@perm.test' => qr/^spf=permerror\b/,
);

for my $from (sort keys %want) {
    (my $tag = "mark-$from") =~ s/\W/-/g;
    my ($r, $m) = send_one(8025, $from, $tag);

    like($r, qr/^250 /, "$from accepted");
    if (ref $want{$from}) {
        like(spf_ar($m), $want{$from}, "$from: Authentication-Results");
    } else {
        is(spf_ar($m), $want{$from}, "$from: Authentication-Results");
    }
}

# the null reverse path: postmaster@HELO

my ($r, $m) = send_one(8025, '', 'mark-null', 'helo.test');
like(spf_ar($m), qr/^spf=pass\b.*smtp\.helo=helo\.test/,
     'null sender: the HELO is checked');

# a sender that is no safe A-R value is not copied into the field

($r, $m) = send_one(8025, '"a;b(c"@fail.test', 'mark-odd');
like($r, qr/^250 /, 'odd local part accepted');
unlike(spf_ar($m), qr/a;b|\(c/, 'odd local part not in A-R');

# a check cancelled while its lookup waits: RSET, then a closed session

my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8025));
$s->read();
$s->send('EHLO client.test');
$s->read();
$s->send('MAIL FROM:<a@timeout.test>');
$s->read();
$s->send('RSET');
like($s->read() // '', qr/^250 /, 'RSET while the SPF lookup waits');
$s->close();

$s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8025));
$s->read();
$s->send('EHLO client.test');
$s->read();
$s->send('MAIL FROM:<a@timeout.test>');
$s->read();
$s->close();

($r, $m) = send_one(8025, 'a@pass.test', 'after-cancel');
like(spf_ar($m), qr/^spf=pass\b/, 'the worker goes on after cancelled checks');

# spf_action reject

($r, $m) = send_one(8026, 'a@fail.test', 'reject-fail');
is($r, "550 5.7.23 SPF validation failed: 127.0.0.1 may not send for "
   . "fail.test\r\n", 'fail: 550 5.7.23 with the explanation');
is($m, '', 'fail: nothing stored');

($r, $m) = send_one(8026, 'a@ctl.test', 'reject-ctl');
is($r, "550 5.7.23 SPF validation failed\r\n",
   'fail: an explanation with control bytes is left out');

($r, $m) = send_one(8026, 'a@perm.test', 'reject-perm');
like($r, qr/^550 5\.7\.24 /, 'permerror: 550 5.7.24');
is($m, '', 'permerror: nothing stored');

($r, $m) = send_one(8026, 'a@timeout.test', 'reject-timeout');
like($r, qr/^451 4\.7\.24 /, 'temperror (timeout): 451 4.7.24');
is($m, '', 'temperror (timeout): nothing stored');

($r, $m) = send_one(8026, 'a@servfail.test', 'reject-servfail');
like($r, qr/^451 4\.7\.24 /, 'temperror (SERVFAIL): 451 4.7.24');

($r, $m) = send_one(8026, '', 'reject-null', 'badhelo.test');
like($r, qr/^550 5\.7\.23 /, 'null sender, failing HELO: 550 5.7.23');

($r, $m) = send_one(8026, 'a@soft.test', 'reject-soft');
like(spf_ar($m), qr/^spf=softfail\b/, 'softfail is only marked');

($r, $m) = send_one(8026, 'a@pass.test', 'reject-pass');
like(spf_ar($m), qr/^spf=pass\b/, 'pass delivered');

# spf off: no check, no lookup

($r, $m) = send_one(8027, 'a@out.test', 'off');
like($r, qr/^250 /, 'spf off: accepted');
is(spf_ar($m), '', 'spf off: no spf result');
ok(!grep({ $_->[0] =~ /^out\.test$/i } $t->dns_queries()),
   'spf off: no lookup');

# the log line

ok($t->wait_for_log(qr/SPF fail for mailfrom "fail\.test"/, 5),
   'result logged');

# the admin command against the same zones

my ($rc, $out, $err) = $t->tern('spf', '127.0.0.1', 'a@fail.test', 'x.test');
is($rc, 0, 'tern spf: exit 0');
is($out, "fail\n127.0.0.1 may not send for fail.test\n",
   'tern spf: result and explanation');

($rc, $out) = $t->tern('spf', '127.0.0.1', '', 'helo.test');
is($out, "pass\n", 'tern spf: null sender uses the HELO');

($rc, $out) = $t->tern('spf', '-', { stdin => "127.0.0.1\ta\@soft.test\th\n"
                                      . "::1\ta\@neutral.test\th\n"
                                      . "bad line\n" });
is($out, "softfail\t\nneutral\t\nerror\tnot IP<TAB>SENDER<TAB>HELO\n",
   'tern spf -: one line per case');

($rc, $out, $err) = $t->tern('spf', 'not-an-ip', 'a@pass.test', 'h');
is($rc, 1, 'tern spf: a bad address exits 1');

($rc, $out, $err) = $t->tern('spf', '127.0.0.1');
is($rc, 1, 'tern spf: usage exits 1');
