#!/usr/bin/perl

# SPF processing limits against hostile zones (SECURITY-CHECKLIST A5):
# 10 includes that each lead to 10 MX hosts stay within 10 DNS-querying
# terms and a bounded number of queries; include and redirect loops end
# in permerror; %{l} with 1000 labels and a 255-byte %{H} expand to names
# of at most 253 bytes in labels of at most 63; a timeout ends the check
# at once with temperror.  Driven through "tern spf -" and the test DNS
# server's query log.

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use Tern::Test;

my $t = Tern::Test->new()->has('net_dns')->plan(15);

my %zone = (
    'amp.test' => { TXT => [ 'v=spf1 '
                             . join(' ', map { "include:i$_.amp.test" }
                                    1 .. 10)
                             . ' -all' ] },
    'loop.test' => { TXT => [ 'v=spf1 include:loop.test -all' ] },
    'r1.test' => { TXT => [ 'v=spf1 redirect=r2.test' ] },
    'r2.test' => { TXT => [ 'v=spf1 redirect=r1.test' ] },
    'ex.test' => { TXT => [ 'v=spf1 exists:%{l}.x.test -all' ] },
    'hh.test' => { TXT => [ 'v=spf1 exists:%{H}.h.test -all' ] },
    'slow.test' => { TXT => [ 'v=spf1 a:t1.slow.test a:t2.slow.test '
                              . 'a:t3.slow.test -all' ] },
    't1.slow.test' => 'TIMEOUT',
    't2.slow.test' => 'TIMEOUT',
    't3.slow.test' => 'TIMEOUT',
);

for my $i (1 .. 10) {
    $zone{"i$i.amp.test"} = { TXT => [ "v=spf1 mx:m$i.amp.test -all" ] };
    $zone{"m$i.amp.test"} = { MX => [ map { "$_ h$i-$_.amp.test" } 1 .. 10 ] };
    $zone{"h$i-$_.amp.test"} = { A => "192.0.2.$_" } for 1 .. 10;
}

my $dns = $t->dns(\%zone);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 1s;
EOF

sub spf {
    my (@lines) = @_;

    my ($rc, $out) = $t->tern('spf', '-',
                              { stdin => join('', map { "$_\n" } @lines) });

    return map { (split /\t/)[0] } split /\n/, $out;
}

sub queries {
    my ($re) = @_;
    return grep { $_->[0] =~ $re } $t->dns_queries();
}

###############################################################################

my ($r) = spf("198.51.100.1\ta\@amp.test\th.test");
is($r, 'permerror', '10 includes of 10 MX hosts: permerror at the 11th term');

my @q = queries(qr/amp\.test$/i);
cmp_ok(scalar @q, '<=', 1 + 10 * 11,
       'queries within 10 terms of 1 + 10 lookups (' . @q . ')');
ok(!grep({ $_->[0] =~ /^i(7|8|9|10)\.amp/i } @q),
   'no include beyond the limit was looked up');

($r) = spf("198.51.100.1\ta\@loop.test\th.test");
is($r, 'permerror', 'include loop: permerror');
cmp_ok(scalar queries(qr/^loop\.test$/i), '<=', 11,
       'include loop: bounded queries');

($r) = spf("198.51.100.1\ta\@r1.test\th.test");
is($r, 'permerror', 'redirect loop: permerror');

my $labels = join('.', ('a') x 1000);
($r) = spf("198.51.100.1\t$labels\@ex.test\th.test");
is($r, 'fail', '%{l} of 1000 labels: fail, no crash');

my @names = map { $_->[0] } queries(qr/\.x\.test$/i);
ok(@names == 1 && length($names[0]) <= 253,
   '%{l} of 1000 labels: one name of at most 253 bytes');

# 255 bytes that escape to 672: labels are dropped on the left
my $helo = join('.', (('%' x 13) . 'bb') x 16);
($r) = spf("198.51.100.1\ta\@hh.test\t$helo");
is($r, 'fail', '%{H} of 255 bytes: fail, no crash');

@names = map { $_->[0] } queries(qr/\.h\.test$/i);
ok(@names == 1 && length($names[0]) <= 253
   && !grep({ length > 63 } split /\./, $names[0]),
   '%{H} of 255 bytes: a name of at most 253 bytes in short labels');

# a label that escapes to over 63 bytes names nothing: no lookup

$helo = join('.', ('%' x 60) x 4) . '.xyz';
($r) = spf("198.51.100.1\ta\@hh.test\t$helo");
is($r, 'fail', '%{H} with a label over 63 bytes: fail');
is(scalar queries(qr/\.h\.test$/i), 1, 'and no lookup');

($r) = spf("198.51.100.1\ta\@slow.test\th.test");
is($r, 'temperror', 'a timeout: temperror');
is(scalar queries(qr/^t[23]\.slow\.test$/i), 0,
   'the check ends at the first timeout');

($r) = spf("198.51.100.1\ta\@unknown-domain.test\th.test");
is($r, 'none', 'no record: none');
