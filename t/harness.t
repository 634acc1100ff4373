#!/usr/bin/perl

# Self-test of the test harness (t/lib/Tern/Test.pm and its clients),
# without Tern: port allocation, file expansion, the DNS server, the
# SMTP and POP3 clients against fake servers, and the process handling
# (run, reload, kill_worker, stop, the CLI wrapper) against a fake
# binary written below. The main harness object starts no server, so
# its two final checks are reported as skipped.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use Socket qw/ CRLF /;
use Test::More;
use Time::HiRes qw/ sleep time /;

use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::POP3;

my $t = Tern::Test->new();

my $have_dns = $t->has_feature('net_dns');
my $have_ssl = $t->has_feature('socket_ssl');
my $have_openssl = `openssl version 2>/dev/null` =~ /SSL/;

$t->plan(82);


###############################################################################

# ports

my $p1 = $t->port(8025);
my $p2 = $t->port(8110);

like($p1, qr/^\d+$/, 'port is a number');
isnt($p1, $p2, 'different indexes, different ports');
is($t->port(8025), $p1, 'same index, same port');
is(port(8025), $p1, 'port() as a function');

my %seen;
my @many = map { Tern::Test::free_port() } 1 .. 50;
$seen{$_}++ for @many, $p1, $p2;
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'no port handed out twice');

my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$p1", Listen => 1,
                              ReuseAddr => 1);
ok($l, 'allocated port can be bound');
undef $l;


###############################################################################

# files

my $dir = $t->testdir();

ok(-d $dir && -d "$dir/logs", 'test directory with logs/');

like(Tern::Test::conf_base(), qr/^daemon off;$/m, 'conf_base: daemon off');
like(Tern::Test::conf_base(), qr/worker_connections 1024;/,
     'conf_base: events');

$t->write_file_expand('tern.conf', <<'EOF');
%%CONF_BASE%%
mail {
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
    server { listen 127.0.0.1:%%PORT_8587%%; protocol smtp; }
    ssl_certificate %%TESTDIR%%/certs/tern.crt;
    resolver 127.0.0.1:%%PORT_8053_UDP%%;
}
EOF

my $conf = $t->read_file('tern.conf');

like($conf, qr/listen 127\.0\.0\.1:$p1; protocol smtp/, 'PORT_8025 expanded');
like($conf, qr/listen 127\.0\.0\.1:$p2; protocol pop3/, 'PORT_8110 expanded');
like($conf, qr/ssl_certificate \Q$dir\E\/certs\/tern\.crt;/,
     'TESTDIR expanded');
like($conf, qr/resolver 127\.0\.0\.1:${\ $t->port(8053)};/,
     'PORT_N_UDP expanded');
like($conf, qr/^daemon off;$/m, 'CONF_BASE expanded');
unlike($conf, qr/%%/, 'nothing left unexpanded');
is_deeply([ $t->listen_ports() ], [ 8025, 8110, 8587 ],
          'listen ports: the conf ports in order, not UDP ones');

$t->listen_ports(8025);
is_deeply([ $t->listen_ports() ], [ 8025 ], 'listen ports set');

$t->write_file('sub/dir/file', "a\0b");
is($t->read_file('sub/dir/file'), "a\0b", 'write_file, read_file');

is($t->maildir('John@Example.TEST'), "$dir/mail/example.test/John",
   'maildir path');

for my $f ('new/1700000002.M1P1.h', 'cur/1700000001.M2P2.h:2,S',
           'new/1700000003.M3P3.h', 'tmp/1700000000.M0P0.h')
{
    $t->write_file("mail/example.test/u/$f", "x");
}

is_deeply([ map { s{^\Q$dir\E/mail/example.test/u/}{}r }
            $t->maildir_files('u@example.test') ],
          [ 'cur/1700000001.M2P2.h:2,S', 'new/1700000002.M1P1.h',
            'new/1700000003.M3P3.h' ],
          'maildir_files: new and cur, in name order');

is_deeply([ $t->maildir_files('nobody@example.test') ], [],
          'maildir_files: no maildir');


###############################################################################

# DNS

SKIP: {
    skip 'Net::DNS not installed', 18 unless $have_dns;

    require Net::DNS::Resolver;

    my $long = 'v=DKIM1; k=rsa; p=' . ('A' x 600);

    my $port = $t->dns({
        'example.test' => {
            MX => [ '10 mx.example.test', '20 mx2.example.test' ],
            A => [ '127.0.0.1' ],
            TXT => [ 'v=spf1 -all' ],
        },
        'mx.example.test' => { A => '127.0.0.2' },
        'www.example.test' => { CNAME => 'example.test' },
        'sel._domainkey.example.test' => { TXT => $long },
        '*.wild.test' => { A => '127.0.0.3' },
        'slow.test' => { A => 'TIMEOUT', MX => '10 mx.example.test' },
        'timeout.test' => 'TIMEOUT',
        'fail.test' => 'SERVFAIL',
    });

    like($port, qr/^\d+$/, 'dns port');

    my $res = Net::DNS::Resolver->new(
        nameservers => [ '127.0.0.1' ],
        port => $port,
        recurse => 0,
        defnames => 0,
        dnsrch => 0,
        udp_timeout => 1,
        tcp_timeout => 2,
        retry => 1,
        retrans => 1,
    );

    my $q = $res->send('example.test', 'MX');
    is(join(',', sort map { $_->preference . ' ' . $_->exchange }
                 grep { $_->type eq 'MX' } $q ? $q->answer : ()),
       '10 mx.example.test,20 mx2.example.test', 'MX');

    $q = $res->send('EXAMPLE.test.', 'A');
    is(join(',', map { $_->address } $q ? $q->answer : ()), '127.0.0.1',
       'A, any case');

    $q = $res->send('example.test', 'TXT');
    is(join(',', map { $_->txtdata } $q ? $q->answer : ()), 'v=spf1 -all',
       'TXT');

    $q = $res->send('example.test', 'AAAA');
    is($q && $q->header->rcode . ' ' . scalar($q->answer), 'NOERROR 0',
       'no data');

    $q = $res->send('nonexistent.test', 'A');
    is($q && $q->header->rcode, 'NXDOMAIN', 'NXDOMAIN');

    $q = $res->send('fail.test', 'MX');
    is($q ? $q->header->rcode : $res->errorstring, 'SERVFAIL', 'SERVFAIL');

    my $start = time();
    $q = $res->send('timeout.test', 'MX');
    ok(!$q, 'TIMEOUT: no answer');
    like($res->errorstring, qr/timed? ?out/i, 'TIMEOUT: resolver timed out');
    cmp_ok(time() - $start, '<', 10, 'TIMEOUT: within resolver timeout');

    $q = $res->send('slow.test', 'MX');
    is($q && ($q->answer)[0]->exchange, 'mx.example.test',
       'per-type TIMEOUT: other types answered');

    $q = $res->send('slow.test', 'A');
    ok(!$q, 'per-type TIMEOUT');

    $q = $res->send('www.example.test', 'A');
    is(join(',', map { $_->type } $q ? $q->answer : ()), 'CNAME,A', 'CNAME');

    $q = $res->send('a.b.wild.test', 'A');
    is(join(',', map { $_->address } $q ? $q->answer : ()), '127.0.0.3',
       'wildcard');

    $q = $res->send('sel._domainkey.example.test', 'TXT');
    is(join("", map { $_->txtdata } $q ? $q->answer : ()), $long,
       'long TXT, over TCP after truncation');

    $res->usevc(1);
    $q = $res->send('mx.example.test', 'A');
    is(join(',', map { $_->address } $q ? $q->answer : ()), '127.0.0.2',
       'TCP query');
    $res->usevc(0);

    my @log = $t->dns_queries();
    ok((grep { $_->[0] eq 'example.test' && $_->[1] eq 'MX'
               && $_->[2] eq 'udp' } @log), 'query log, udp');
    ok((grep { $_->[0] eq 'mx.example.test' && $_->[2] eq 'tcp' } @log),
       'query log, tcp');
}


###############################################################################

# SMTP and POP3 clients against fake servers

my ($crt, $key);

SKIP: {
    skip 'no openssl', 1 unless $have_openssl;

    ($crt, $key) = Tern::Test::gen_cert("$dir/certs", 'localhost');
    like(`openssl x509 -in $crt -noout -text`,
         qr/prime256v1|P-256/, 'gen_cert: ECDSA P-256');
}

my $tls = $have_ssl && $crt;

$t->run_daemon(\&fake_smtp, $t->port(8025), $crt, $key);
$t->run_daemon(\&fake_pop3, $t->port(8110), $crt, $key);
wait_port($t->port(8025));
wait_port($t->port(8110));

my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
$s->ok('smtp greeting');

$s->send('EHLO client.test');
my $ehlo = $s->read();
is($ehlo, "250-fake\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
   'multi-line reply split over packets');

$s->print('NOOP' . CRLF . 'NOOP' . CRLF);
is($s->code(), 250, 'pipelined 1');
is($s->code(), 250, 'pipelined 2');

$s->send('SLOW');
is($s->read(0.3), undef, 'read timeout');
$s->check(qr/^250 late/, 'late reply read afterwards');

ok(!$s->can_read(0.2), 'can_read: nothing');

SKIP: {
    skip 'no TLS', 3 unless $tls;

    $s->send('STARTTLS');
    $s->check(qr/^220 /, 'starttls reply');
    ok($s->starttls(), 'starttls');
    $s->send('AUTH PLAIN AGFAYg==');
    $s->authok('command over tls');
}

$s->send('QUIT');
$s->check(qr/^221 /, 'quit');
ok($s->eof(), 'eof after quit');

SKIP: {
    skip 'no TLS', 2 unless $tls;

    my $s = Tern::Test::SMTP->new(
        PeerAddr => '127.0.0.1:' . $t->port(8025), SSL => 1);
    ok($s->socket()->isa('IO::Socket::SSL'), 'implicit tls');
    $s->ok('greeting over implicit tls');
}

my $p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . $t->port(8110));
$p->ok('pop3 greeting');

SKIP: {
    skip 'no TLS', 2 unless $tls;

    $p->send('STLS');
    $p->ok('stls reply');
    ok($p->stls(), 'stls');
}

$p->send('RETR 1');
my ($status, $body) = $p->read_multi();
is($status, "+OK 4 lines\r\n", 'read_multi status');
is($body, "Subject: x\r\n\r\n.dot line\r\nbody\r\n", 'read_multi body');

$p->send('RETR 1');
like(scalar $p->read_multi(), qr/\r\n\.\.dot line\r\nbody\r\n\.\r\n\z/,
     'read_multi raw');

$p->send('RETR 9');
is(scalar $p->read_multi(), "-ERR no such message\r\n",
   'read_multi after -ERR');

$p->send('QUIT');
$p->ok('pop3 quit');
ok($p->eof(), 'pop3 eof');


###############################################################################

# process handling against a fake binary

my $fake = "$dir/fake-tern";
$t->write_file('fake-tern', fake_tern());
chmod 0755, $fake;

my $f = Tern::Test->new(binary => $fake);

ok($f->has_feature('pop3') && !$f->has_feature('imap'), 'features from -V');

$f->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp; }
}
EOF

$f->run();
my $master = $f->master_pid();
ok(kill(0, $master), 'run: master running');

my $c = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8026));
$c->check(qr/^220 fake worker/, 'run: port accepts');

my @w = $f->workers();
is(scalar @w, 1, 'one worker');

$f->reload();
ok($f->wait_for_log(qr/reconfiguring/, 1), 'reload: HUP received');

my $old = $w[0];
sleep(0.1) for grep { kill 0, $old } 1 .. 50;
@w = $f->workers();
ok(@w == 1 && $w[0] != $old, 'reload: new worker');

my $killed = $f->kill_worker();
is($killed, $w[0], 'kill_worker: returns the worker pid');

ok($f->wait_for_log(qr/exited on signal 9/, 5), 'worker killed');
my @alerts = $f->alerts();
ok((grep { /exited on signal 9/ } @alerts), 'alerts found');
$f->allow_log(qr/exited on signal 9/);
is(join("\n", $f->alerts()), '', 'allow_log');

my ($rc, $out, $err) = $f->tern('user', 'add', 'u@x.test',
                                { stdin => "secret\n" });
is($rc, 0, 'tern: exit code');
is($out, "-p $f->{_testdir} -c $f->{_testdir}/tern.conf\nargs: user add"
         . " u\@x.test\nstdin: secret\n", 'tern: args and stdin');
ok(eval { $f->add_user('u@x.test', 'pw'); 1 }, 'add_user');
ok(!eval { $f->add_domain('fail.test'); 1 }, 'add_domain dies on failure');
like($@, qr/exit 1: tern: failed/, 'add_domain error text');

$f->stop_server();
ok(!kill(0, $master), 'stop: master gone');
ok(!(grep { kill 0, $_ } @w), 'stop: workers gone');
is(join("\n", $f->alerts()), '', 'stop: graceful');

$f->write_file('asan.12345', "==12345==ERROR: LeakSanitizer: leaks\n");
like(join("\n", $f->sanitizer_reports()), qr/asan\.12345:\n.*LeakSanitizer/,
     'sanitizer reports found');


###############################################################################

sub wait_port {
    my ($port) = @_;

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        return 1 if $s;
        sleep(0.05);
    }

    return 0;
}


sub server_tls {
    my ($client, $crt, $key) = @_;

    require IO::Socket::SSL;

    return IO::Socket::SSL->start_SSL($client,
        SSL_server => 1,
        SSL_cert_file => $crt,
        SSL_key_file => $key,
    );
}


sub fake_smtp {
    my ($port, $crt, $key) = @_;

    my $server = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
                                       Listen => 5, ReuseAddr => 1)
        or die "listen: $!\n";

    my $tls = defined $crt && eval { require IO::Socket::SSL; 1 };

    while (my $client = $server->accept()) {
        $client->autoflush(1);

        if ($tls) {
            # implicit TLS when the client starts with a handshake

            my $peek = '';
            if (IO::Select->new($client)->can_read(0.2)) {
                $client->recv($peek, 1, Socket::MSG_PEEK());
            }
            if ($peek eq "\x16") {
                server_tls($client, $crt, $key) or next;
            }
        }

        print $client "220 fake esmtp" . CRLF;

        while (defined(my $line = <$client>)) {
            if ($line =~ /^EHLO/i) {
                for my $part ("250-fake\r\n250-PIPE", "LINING\r\n250-ST",
                              "ARTTLS\r\n250 8BITMIME\r\n")
                {
                    print $client $part;
                    sleep(0.05);
                }
            } elsif ($line =~ /^NOOP/i) {
                print $client '250 ok' . CRLF;
            } elsif ($line =~ /^SLOW/i) {
                sleep(0.6);
                print $client '250 late' . CRLF;
            } elsif ($line =~ /^STARTTLS/i) {
                print $client '220 ready' . CRLF;
                $client = server_tls($client, $crt, $key) or last;
            } elsif ($line =~ /^AUTH/i) {
                print $client '235 ok' . CRLF;
            } elsif ($line =~ /^QUIT/i) {
                print $client '221 bye' . CRLF;
                last;
            } else {
                print $client '500 unknown' . CRLF;
            }
        }

        close $client;
    }
}


sub fake_pop3 {
    my ($port, $crt, $key) = @_;

    my $server = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
                                       Listen => 5, ReuseAddr => 1)
        or die "listen: $!\n";

    while (my $client = $server->accept()) {
        $client->autoflush(1);
        print $client "+OK fake pop3" . CRLF;

        while (defined(my $line = <$client>)) {
            if ($line =~ /^STLS/i) {
                print $client '+OK begin tls' . CRLF;
                $client = server_tls($client, $crt, $key) or last;
            } elsif ($line =~ /^RETR 1/i) {
                print $client "+OK 4 lines\r\nSubject: x\r\n\r\n..dot";
                sleep(0.05);
                print $client " line\r\nbody\r\n.\r\n";
            } elsif ($line =~ /^RETR/i) {
                print $client '-ERR no such message' . CRLF;
            } elsif ($line =~ /^QUIT/i) {
                print $client '+OK bye' . CRLF;
                last;
            } else {
                print $client '-ERR unknown' . CRLF;
            }
        }

        close $client;
    }
}


# A stand-in for objs/tern: a master that writes its pid file, logs
# "start worker process", forks a worker that answers on the listen
# ports, reloads on HUP, respawns a killed worker with an [alert] as
# nginx does, and stops on QUIT/TERM. With arguments after -p/-c it
# acts as the CLI and echoes them.

sub fake_tern {
    return <<'EOF';
#!/usr/bin/perl
use strict;
use warnings;
use IO::Handle;
use IO::Select;
use IO::Socket::INET;
use POSIX qw/ WNOHANG /;

my ($prefix, $conf) = ('.', 'conf/tern.conf');
my @orig = @ARGV;

while (@ARGV && $ARGV[0] =~ /^-/) {
    my $o = shift @ARGV;
    if ($o eq '-p') { $prefix = shift @ARGV; next }
    if ($o eq '-c') { $conf = shift @ARGV; next }
    if ($o eq '-V') { print "tern version: tern/0.0 (fake)\n",
                            "features: smtp pop3 fake\n"; exit 0 }
}

if (@ARGV) {
    my $in = do { local $/; <STDIN> } // '';
    if (grep { $_ eq 'fail.test' } @ARGV) {
        print STDERR "tern: failed\n";
        exit 1;
    }
    print "-p $prefix -c $conf\nargs: @ARGV\nstdin: $in";
    exit 0;
}

open my $cf, '<', $conf or die "conf: $!\n";
my $c = do { local $/; <$cf> };
my ($pidf) = $c =~ /^\s*pid\s+([^\s;]+)/m;
my ($errl) = $c =~ /^\s*error_log\s+([^\s;]+)/m;
$_ = m{^/} ? $_ : "$prefix/$_" for $pidf, $errl;

my @ls = map {
    IO::Socket::INET->new(LocalAddr => "127.0.0.1:$_", Listen => 128,
                          ReuseAddr => 1) or die "listen $_: $!\n"
} $c =~ /listen\s+127\.0\.0\.1:(\d+)/g;

open my $log, '>>', $errl or die "log: $!\n";
$log->autoflush(1);

sub logit {
    my ($level, $msg) = @_;
    my @t = localtime;
    printf $log "%04d/%02d/%02d %02d:%02d:%02d [%s] %d#0: %s\n",
        $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0], $level, $$, $msg;
}

my (%workers, $hup, $quit);

sub spawn {
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        $0 = 'tern: worker process';
        $SIG{QUIT} = $SIG{TERM} = sub { POSIX::_exit(0) };
        $SIG{HUP} = 'IGNORE';
        my $sel = IO::Select->new(@ls);
        while (1) {
            for my $l ($sel->can_read(1)) {
                my $cl = $l->accept() or next;
                print $cl "220 fake worker $$\r\n";
                close $cl;
            }
        }
    }
    $workers{$pid} = 1;
    logit('notice', "start worker process $pid");
}

$0 = 'tern: master process';
$SIG{HUP} = sub { $hup = 1 };
$SIG{QUIT} = $SIG{TERM} = $SIG{INT} = sub { $quit = 1 };

open my $pf, '>', $pidf or die "pid: $!\n";
print $pf "$$\n";
close $pf;

spawn();

my %retired;

while (1) {
    select undef, undef, undef, 0.05;

    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        next unless delete $workers{$pid};
        next if delete $retired{$pid} or $quit;
        logit('alert', "worker process $pid exited on signal " . ($? & 127));
        spawn();
    }

    if ($hup) {
        $hup = 0;
        logit('notice', 'signal 1 (SIGHUP) received, reconfiguring');
        my @old = keys %workers;
        $retired{$_} = 1 for @old;
        spawn();
        kill 'QUIT', @old;
    }

    if ($quit) {
        kill 'QUIT', keys %workers;
        1 while waitpid(-1, 0) > 0;
        unlink $pidf;
        logit('notice', 'exit');
        exit 0;
    }
}
EOF
}
