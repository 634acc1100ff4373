#!/usr/bin/perl

# Outbound connections and routes in the configuration: "tern -t" and a
# reload refuse a dangling backup (a connection removed or renamed while
# another still names it), a cycle of backups, a route to no connection
# and duplicates, with the file and line and never the password; the
# server keeps its old configuration.  "tern mx list" and "tern mx clear"
# with the server running and stopped.  (The MX cache is filled by
# deliveries: the outbound delivery tests check its contents.)

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('net_dns')->plan(27);

my $dns = $t->dns({
    'remote.test' => { MX => [ '10 mx.remote.test' ] },
    'mx.remote.test' => { A => '127.0.0.1' },
});

my $PW = 'Route-Secret-5d21';

sub conf {
    my ($outbound) = @_;

    return Tern::Test::conf_base() . <<"EOF";
resolver 127.0.0.1:$dns;
resolver_timeout 2s;

outbound {
$outbound}

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF
}

sub check {
    my ($outbound) = @_;

    $t->write_file_expand('tern.conf', conf($outbound));

    return $t->tern('-t');
}

# the number of the first line of tern.conf matching $re

sub line_of {
    my ($re) = @_;

    my @lines = split /\n/, $t->read_file('tern.conf');

    for my $i (0 .. $#lines) {
        return $i + 1 if $lines[$i] =~ $re;
    }

    return 0;
}

my $good = <<"EOF";
    connection primary {
        host 127.0.0.1;
        port 2525;
        tls require;
        auth relayuser $PW;
        backup second;
    }
    connection second { host b\xc3\xbccher.example.test; tls implicit; }
    route sender_domain example.test primary;
    route recipient_domain partner.test direct;
    route default direct;
EOF

# the second connection renamed: "primary" still names "second"
(my $renamed = $good) =~ s/connection second/connection other/;

my ($rc, $out, $err);

###############################################################################

# tern -t

($rc, $out, $err) = check($good);
is($rc, 0, 'a good configuration');
like($err, qr/test is successful/, 'test is successful');

($rc, $out, $err) = check($renamed);
is($rc, 1, 'a renamed backup is refused');

my $line = line_of(qr/connection primary/);

my $re = qr/connection "second" named as backup of "primary" does not exist/;

like($err, qr/$re in \S+\/tern\.conf:$line\n/,
     'the dangling backup named, with file:line');
unlike($err, qr/\Q$PW\E/, 'no password in the error');

($rc, $out, $err) = check(<<'EOF');
    connection a { host a.test; backup b; }
    connection b { host b.test; backup c; }
    connection c { host c.test; backup a; }
EOF
is($rc, 1, 'a cycle of backups is refused');

$line = line_of(qr/connection a/);

$re = qr/backup connections form a cycle: a -> b -> c -> a/;

like($err, qr/$re in \S+:$line\n/, 'the cycle shown');

($rc, $out, $err) = check("    connection a { host a.test; backup a; }\n");
like($err, qr/backup connections form a cycle: a -> a in /,
     'its own backup is refused');

($rc, $out, $err) = check(<<'EOF');
    connection a { host a.test; }
    route recipient_domain x.test a;
    route default gone;
EOF
is($rc, 1, 'a route to no connection is refused');

$line = line_of(qr/route default gone/);

$re = qr/connection "gone" named in "route default" does not exist/;

like($err, qr/$re in \S+:$line\n/, 'the route named');

($rc, $out, $err) = check(<<"EOF");
    connection a { host a.test; auth u $PW; }
    connection a { host b.test; auth u $PW; }
EOF
$line = line_of(qr/connection a/);

my $next = $line + 1;

$re = qr/duplicate connection "a" in \S+:$next/;

like($err, qr/$re \(the first is in \S+:$line\)/,
     'a duplicate connection is refused');
unlike($err, qr/\Q$PW\E/, 'no password in that error either');

($rc, $out, $err) = check(<<'EOF');
    route recipient_domain x.test direct;
    route recipient_domain X.TEST. direct;
EOF
like($err, qr/duplicate "route recipient_domain x.test"/,
     'a duplicate route is refused');

($rc, $out, $err) = check("    connection a { host a.test; tls maybe; }\n");
like($err, qr/invalid "tls" in connection "a"/, 'a bad tls value');

###############################################################################

# the server, a reload that removes a backup

$t->write_file_expand('tern.conf', conf($good));
$t->allow_log(qr/named as backup of "primary" does not exist/);
$t->run();

($rc, $out, $err) = $t->tern('mx', 'list');
is($rc, 0, 'mx list: running');
is($out, '', 'mx list: nothing cached yet');

($rc, $out, $err) = $t->tern('mx', 'clear', 'remote.test');
is($rc, 0, 'mx clear DOMAIN');
like($out, qr/^(?:0 cleared\n)?$/, 'mx clear DOMAIN: nothing to clear');

($rc, $out, $err) = $t->tern('mx', 'list', 'bad..test');
is($rc, 1, 'mx list: an invalid domain');

($rc, $out, $err) = $t->tern('mx', 'flush');
is($rc, 1, 'mx: an unknown verb');
like($err, qr/usage: .* mx list\|clear/, 'mx: usage');

my $master = $t->master_pid();
my @workers = $t->workers();

$t->write_file_expand('tern.conf', conf($renamed));
kill 'HUP', $master;

ok($t->wait_for_log(qr/named as backup of "primary" does not exist/),
   'reload: the dangling backup refused');

sleep(0.5);

is(join(' ', $t->workers()), join(' ', @workers),
   'reload: the old workers go on');

my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
like($s->read(), qr/^220 /, 'reload: the old configuration serves');
$s->close();

unlike($t->read_file('logs/error.log'), qr/\Q$PW\E/,
       'no password in the error log');

###############################################################################

# stopped

$t->write_file_expand('tern.conf', conf($good));
$t->stop_server();

($rc, $out, $err) = $t->tern('mx', 'list');
is($rc, 0, 'mx list: stopped');

($rc, $out, $err) = $t->tern('mx', 'clear');
is($rc, 0, 'mx clear: stopped');

$t->stop();
