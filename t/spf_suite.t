#!/usr/bin/perl

# SPF: every case of the RFC 7208 test suite (openspf.org, release 2014.04,
# ../shared/testdata/spf/rfc7208-tests.yml) against "tern spf -".  Each
# section's zone data is served by a test DNS server on loopback; TIMEOUT
# entries are real timeouts (resolver_timeout 1s).  A case passes when the
# result is one of those listed and, where the suite gives an explanation
# other than DEFAULT, the explanation is that text.

use warnings;
use strict;

use Test::More;
use File::Basename qw/ dirname /;

use lib dirname(__FILE__) . '/lib';
use Tern::Test;
use Tern::Test::DNS;

my $suite = dirname(__FILE__)
    . '/../../shared/testdata/spf/rfc7208-tests.yml';

plan(skip_all => "no $suite (../shared is absent)") unless -f $suite;

eval { require YAML::XS; require Net::DNS; 1 }
    or plan(skip_all => 'YAML::XS and Net::DNS are needed');

my @sections = YAML::XS::LoadFile($suite);

my $cases = 0;
$cases += keys %{$_->{tests}} for @sections;

my $t = Tern::Test->new()->plan($cases + 1);

cmp_ok($cases, '>=', 200, "the suite has $cases cases");

my $n = 0;

for my $section (@sections) {
    my $zone = zone($section->{zonedata} // {});
    my $dns = Tern::Test::DNS->start(zone => $zone,
                                     port => Tern::Test::free_port());

    $t->write_file('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:${\ $dns->port()};
resolver_timeout 1s;
EOF

    my @names = sort keys %{$section->{tests}};
    my $in = '';

    for my $name (@names) {
        my $c = $section->{tests}{$name};
        my $from = $c->{mailfrom} // '';
        $in .= join("\t", $c->{host}, $from eq '' ? '<>' : $from,
                    $c->{helo} // '') . "\n";
    }

    utf8::encode($in);

    my ($rc, $out, $err) = $t->tern('spf', '-',
                                    { stdin => $in, timeout => 120 });

    diag("tern spf - exited $rc: $err") if $rc != 0;

    my @lines = split /\n/, $out, -1;

    for my $i (0 .. $#names) {
        my $c = $section->{tests}{$names[$i]};
        my $id = ($section->{description} // 'section') . "/$names[$i]";

        my ($result, $exp) = split /\t/, $lines[$i] // 'missing', 2;
        $exp //= '';

        my @want = ref $c->{result} ? @{$c->{result}} : ($c->{result});
        my $ok = grep { $_ eq $result } @want;

        my $want_exp = $c->{explanation};

        if ($ok && defined $want_exp && $want_exp ne 'DEFAULT'
            && $result eq 'fail')
        {
            # the case of %{i} nibbles is not specified (RFC 7208 7.3
            # shows lower case, the suite upper case)
            $ok = lc $exp eq lc $want_exp;
        }

        ok($ok, $id) or diag("$id: got \"$result\" \"$exp\", expected "
                             . join('|', @want)
                             . (defined $want_exp ? " \"$want_exp\"" : ''));
        $n++;
    }

    $dns->stop();
}


# The suite's zone data as a Tern::Test::DNS zone.  As the suite's own
# driver does: an SPF-type record is served as TXT when the name has no
# TXT entry ("TXT: NONE" is one that adds nothing), type SPF itself is not
# served (RFC 7208 dropped it); TIMEOUT makes every type without records
# time out.

sub zone {
    my ($data) = @_;

    my %zone;

    for my $name (keys %$data) {
        my (%rr, @spf, $has_txt, $timeout);

        for my $entry (@{$data->{$name}}) {
            if (!ref $entry) {
                $timeout = 1 if $entry eq 'TIMEOUT';
                next;
            }

            my ($type, $v) = %$entry;

            if ($type eq 'SPF') {
                push @spf, txt($v);
                next;
            }

            if ($type eq 'TXT') {
                $has_txt = 1;
                push @{$rr{TXT}}, txt($v) unless !ref $v && $v eq 'NONE';
                next;
            }

            # MX [PREF, HOST]; an empty HOST is the root, "."
            push @{$rr{$type}},
                ref $v ? join(' ', map { $_ eq '' ? '.' : $_ } @$v) : $v;
        }

        push @{$rr{TXT}}, @spf if !$has_txt && @spf;

        my $key = dns_name($name);

        if ($timeout && !%rr) {
            $zone{$key} = 'TIMEOUT';
            next;
        }

        if ($timeout) {
            $rr{$_} //= 'TIMEOUT' for qw/ A AAAA MX TXT PTR /;
        }

        $zone{$key} = \%rr;
    }

    return \%zone;
}


# a TXT record: a list of strings (bytes; the suite's "\x80" is a byte);
# an empty list is a record without strings (rdata of length 0)

sub txt {
    my ($v) = @_;

    my @s = ref $v ? @$v : ($v);

    for (@s) {
        $_ = "$_";
        utf8::encode($_) if utf8::is_utf8($_) || /[^\x00-\x7f]/;
    }

    return [ @s ];
}


# names as Net::DNS presents the query name: bytes outside the printable
# range escaped as \DDD

sub dns_name {
    my ($name) = @_;

    $name =~ s/([^\x21-\x7e])/sprintf('\\%03d', ord $1)/ge;

    return $name;
}
