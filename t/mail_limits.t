#!/usr/bin/perl

# Connection limits of the mail core: max_connections_per_ip counted over
# every worker, across a worker killed with -9 and across a reload (the
# sessions of old workers still count), per protocol, with SMTP's
# "421 4.7.0" and POP3's "-ERR [SYS/TEMP]" refusals sent before anything
# is read; an "ssl" listener closes without a reply; max_sessions per
# worker and server{}.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw/ sleep time /;

use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::POP3;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->plan(48);

my $SSL = $t->has_feature('socket_ssl');

my $LIMIT_CONF = <<'EOF';
daemon off;
worker_processes 2;
error_log logs/error.log info;
pid logs/tern.pid;
events { worker_connections 1024; }
thread_pool_threads 2;

mail {
    server_name mail.example.test;
    max_connections_per_ip %%LIMIT%%;

    ssl_certificate      certs/tern.crt;
    ssl_certificate_key  certs/tern.key;
    ssl_certificate_auto on;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server {
        listen 127.0.0.1:%%PORT_8026%%;
        protocol smtp;
        max_connections_per_ip 0;
    }
    server { listen 127.0.0.1:%%PORT_8465%% ssl; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
}
EOF

write_conf(3);
$t->run();

my $SMTP = $t->port(8025);
my $SMTP_FREE = $t->port(8026);
my $SMTPS = $t->port(8465);
my $POP3 = $t->port(8110);

my $TOO_MANY = qr/^421 4\.7\.0 mail\.example\.test Error: too many connections from your address\r\n\z/;

###############################################################################

# SMTP: three sessions, on both workers; the fourth is refused

ok(settle(), 'the start probes are gone');

my @s = map { smtp($SMTP) } 1 .. 3;
is(scalar(grep { $_->{greeting} =~ /^220 / } @s), 3, 'three SMTP greetings');

# the kernel spreads connections by their ports: move the last one until
# the three are not all on one worker

for (1 .. 40) {
    last if keys %{{ map { $_->{pid} => 1 } @s }} > 1;
    quit(pop @s);
    push @s, smtp($SMTP);
}

ok(keys %{{ map { $_->{pid} => 1 } @s }} > 1, 'sessions on both workers');

my $r = smtp($SMTP);
like($r->{greeting}, $TOO_MANY, 'fourth SMTP connection refused');
ok($r->{c}->eof(), 'and closed');
ok($t->wait_for_log(qr/connection from 127\.0\.0\.1 refused: 3 connections from the address, max_connections_per_ip is 3/),
   'refusal logged with the address and the count');

ok(quit(shift @s), 'one session quits');
$r = smtp($SMTP);
like($r->{greeting}, qr/^220 /, 'its place is free again');
push @s, $r;

# a server without a limit lets in, and counts for the others

$r = smtp($SMTP_FREE);
like($r->{greeting}, qr/^220 /, 'server with max_connections_per_ip 0');

ok(quit(shift @s), 'an SMTP session quits');
like(smtp($SMTP)->{greeting}, $TOO_MANY,
     'sessions of the other SMTP server count');

ok(quit($r), 'the unlimited session quits');
$r = smtp($SMTP);
like($r->{greeting}, qr/^220 /, 'and the place is free');
push @s, $r;

# POP3 is counted apart: three SMTP sessions are open

my @p = map { pop3($POP3) } 1 .. 3;
is(scalar(grep { $_->{greeting} =~ /^\+OK/ } @p), 3, 'three POP3 greetings');

$r = pop3($POP3);
like($r->{greeting}, qr/^-ERR \[SYS\/TEMP\] Too many connections\r\n\z/,
     'fourth POP3 connection refused');
ok($r->{c}->eof(), 'and closed');

ok(quit(shift @p), 'one POP3 session quits');
$r = pop3($POP3);
like($r->{greeting}, qr/^\+OK/, 'its place is free again');
push @p, $r;

quit($_) for @s, @p;
@s = @p = ();

# an "ssl" listener: the refused client gets no handshake and no reply

SKIP: {
    skip 'no IO::Socket::SSL', 3 unless $SSL;

    my @tls = map { smtp($SMTPS, 1) } 1 .. 3;
    is(scalar(grep { $_->{greeting} =~ /^220 / } @tls), 3,
       'three SMTP sessions over TLS');

    $r = smtp($SMTPS);
    is($r->{greeting}, undef, 'fourth TLS connection: nothing sent');
    ok($r->{c}->eof(), 'and closed');

    quit($_) for @tls;
}

###############################################################################

# a worker killed with -9 leaves no counts behind

ok(settle(), 'no session left');

@s = map { smtp($SMTP) } 1 .. 3;

my %on;
push @{$on{$_->{pid}}}, $_ for @s;

my ($victim) = sort { @{$on{$b}} <=> @{$on{$a}} } keys %on;
my @survivors = grep { $_->{pid} != $victim } @s;
my %known = map { $_ => 1 } start_pids();

kill 'KILL', $victim;

ok($t->wait_for_log(qr/worker process $victim exited on signal 9/),
   'worker killed');

my $known = join '|', keys %known;
ok($t->wait_for_log(qr/start worker process (?!(?:$known)\b)\d+/),
   'worker respawned');

ok(!grep({ !$_->{c}->eof() } @{$on{$victim}}),
   'the killed worker\'s sessions are gone');

my @n = map { smtp($SMTP) } 1 .. 3 - @survivors;
is(scalar(grep { $_->{greeting} =~ /^220 / } @n), 3 - @survivors,
   'its places are free');
like(smtp($SMTP)->{greeting}, $TOO_MANY, 'the survivor\'s still count');

quit($_) for @survivors, @n;

@s = map { smtp($SMTP) } 1 .. 3;
is(scalar(grep { $_->{greeting} =~ /^220 / } @s), 3,
   'three new sessions after the kill');
like(smtp($SMTP)->{greeting}, $TOO_MANY, 'and the fourth is refused');

###############################################################################

# a reload: the sessions of the old workers count for the new ones

my @old = $t->workers();

write_conf(4);
$t->reload();

for my $pid (@old) {
    ok($t->wait_for_log(qr/\] $pid#\d+: gracefully shutting down/),
       "old worker $pid stops accepting");
}

$r = smtp($SMTP);
like($r->{greeting}, qr/^220 /, 'the new limit (4) lets one more in');
ok(!grep({ $_ == $r->{pid} } @old), 'to a new worker');
push @n, $r;

like(smtp($SMTP)->{greeting}, $TOO_MANY,
     'the fifth is refused: old workers\' sessions count');

ok(quit(shift @s), 'a session of an old worker quits');
$r = smtp($SMTP);
like($r->{greeting}, qr/^220 /, 'its place is free in the new workers');
push @n, $r;

like(smtp($SMTP)->{greeting}, $TOO_MANY, 'and the next is refused');

quit($_) for @s, @n;
@s = @n = ();

for my $pid (@old) {
    ok($t->wait_for_log(qr/\] $pid#\d+: exit(?!ing)/), "old worker $pid exits");
}

###############################################################################

# max_sessions, per worker and per server{}

$t->write_file_expand('tern.conf', <<'EOF');
daemon off;
worker_processes 1;
error_log logs/error.log info;
pid logs/tern.pid;
events { worker_connections 1024; }
thread_pool_threads 2;

mail {
    server_name mail.example.test;
    max_sessions 2;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
}
EOF

$t->restart();

ok(settle(), 'restarted with max_sessions 2');

@s = map { smtp($SMTP) } 1 .. 2;
is(scalar(grep { $_->{greeting} =~ /^220 / } @s), 2, 'two SMTP sessions');

$r = smtp($SMTP);
like($r->{greeting},
     qr/^421 4\.7\.0 mail\.example\.test Error: too many sessions, try again later\r\n\z/,
     'third SMTP session refused');
ok($r->{c}->eof(), 'and closed');
ok($t->wait_for_log(qr/connection from 127\.0\.0\.1 refused: 2 sessions of the server in this worker, max_sessions is 2/),
   'sessions refusal logged');

@p = map { pop3($POP3) } 1 .. 2;
is(scalar(grep { $_->{greeting} =~ /^\+OK/ } @p), 2,
   'two POP3 sessions: counted per server');

like(pop3($POP3)->{greeting},
     qr/^-ERR \[SYS\/TEMP\] Too many sessions, try again later\r\n\z/,
     'third POP3 session refused');

ok(quit(shift @s), 'an SMTP session quits');
like(smtp($SMTP)->{greeting}, qr/^220 /, 'a new one is let in');

quit($_) for @s, @p;

$t->stop();

###############################################################################

sub write_conf {
    my ($limit) = @_;

    (my $conf = $LIMIT_CONF) =~ s/%%LIMIT%%/$limit/;
    $t->write_file_expand('tern.conf', $conf);
}


# A client: { c => client, greeting => first line, pid => the worker
# that logged its connection (connections are made one at a time) }

sub smtp {
    my ($port, $ssl) = @_;

    my $c = Tern::Test::SMTP->new(PeerAddr => "127.0.0.1:$port",
                                  $ssl ? (SSL => 1) : ());

    return client($c, $port, $c->read());
}


sub pop3 {
    my ($port) = @_;

    my $c = Tern::Test::POP3->new(PeerAddr => "127.0.0.1:$port");

    return client($c, $port, $c->read());
}


sub client {
    my ($c, $port, $greeting) = @_;

    my $log = $t->read_file('logs/error.log');
    my @pids = $log =~ /\] (\d+)#\d+: \*\d+ client \S+ connected to \S+:$port$/mg;

    return { c => $c, greeting => $greeting, pid => $pids[-1] // 0 };
}


# QUIT, the reply, then the server's close (the place is given back
# before the socket is closed)

sub quit {
    my ($s) = @_;

    $s->{c}->send('QUIT');
    $s->{c}->read();

    return $s->{c}->eof();
}


# Waits until every connection the live workers logged has ended (the
# probes of run() too): a session closed, a refusal, a failed handshake.

sub settle {
    my $deadline = time() + 10;

    while (time() < $deadline) {
        my $log = $t->read_file('logs/error.log');
        my %open;

        for my $l (split /\n/, $log) {
            my ($pid, $n, $msg) = $l =~ /\] (\d+)#\d+: \*(\d+) (.*)$/
                or next;

            next unless kill 0, $pid;

            if ($msg =~ /^client \S+ connected to/) {
                $open{"$pid/$n"} = 1;

            } elsif ($msg =~ /session closed|refused: |peer closed connection in SSL handshake/) {
                delete $open{"$pid/$n"};
            }
        }

        return 1 unless %open;

        sleep(0.05);
    }

    return 0;
}


sub start_pids {
    my $log = $t->read_file('logs/error.log');
    return $log =~ /start worker process (\d+)/g;
}

###############################################################################
