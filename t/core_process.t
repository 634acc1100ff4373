#!/usr/bin/perl

# The master and its workers: "tern -t" with good and bad
# configurations, "-s reload|reopen", a reload with a broken
# configuration (the old one is kept), a reload while a session is open
# (the session goes on), a worker killed with SIGKILL (the master starts
# another), and connections spread over the workers' sockets.

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

###############################################################################

my $t = Tern::Test->new()->has(qw/smtp/)->plan(23);

my $conf = Tern::Test::conf_base() . <<'EOF';
mail {
    server_name mx.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$conf =~ s/worker_processes\s+1;/worker_processes 2;/;
$t->write_file_expand('tern.conf', $conf);

# -t on a good configuration

my ($rc, $out, $err) = $t->tern('-t');
is($rc, 0, 'tern -t: good configuration');
like($err, qr/test is successful/, 'tern -t says so');

# -h lists every admin command

(undef, undef, my $help) = $t->tern('-h');
like($help // '', qr/queue flush \[ID\]\|hold ID\|release ID\|delete ID.*mx list\|clear/s,
     'tern -h lists the queue and mx commands');

# -t on a broken one names the file and the line

$t->write_file('bad.conf', "events {}\nworker_processes 1;\nbogus on;\n");
($rc, $out, $err) = $t->tern('-c', $t->testdir() . '/bad.conf', '-t');
is($rc, 1, 'tern -t: bad configuration');
like($err, qr/unknown directive "bogus" in \S*bad\.conf:3/,
    'error names the directive, file and line');

$t->write_file('bad2.conf', "events {}\nworker_processes 1 2;\n");
($rc, $out, $err) = $t->tern('-c', $t->testdir() . '/bad2.conf', '-t');
like($err, qr/invalid number of arguments in "worker_processes" directive/,
    'argument count checked');

$t->write_file('bad3.conf', "events {}\nmail {\n    server {\n"
    . "        listen 127.0.0.1:1 ssl;\n        protocol smtp;\n    }\n}\n");
($rc, $out, $err) = $t->tern('-c', $t->testdir() . '/bad3.conf', '-t');
like($err, qr/no "ssl_certificate" is defined for the ssl listener/,
    'ssl listener without a certificate refused');

# the shipped configuration passes -t on a fresh prefix (its certificate
# is made at the first start, not by -t)

($rc, $out, $err) = $t->tern('-c', "$Tern::Test::ROOT/conf/tern.conf", '-t');
is($rc, 0, 'conf/tern.conf passes -t');

$t->run();

# the ports answer as soon as the master listens: wait for the workers

my @w;
for (1 .. 50) {
    @w = $t->workers();
    last if @w == 2;
    select undef, undef, undef, 0.1;
}
is(scalar @w, 2, 'two workers');

# a session works

my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
like($s->read(), qr/^220 mx\.example\.test/, 'greeting');
$s->send('QUIT');
like($s->read(), qr/^221/, 'quit');

# a worker killed with SIGKILL is replaced

my $killed = $t->kill_worker();
ok($t->wait_for_log(qr/worker process $killed exited on signal 9/, 5),
    'death logged');

my @after;
for (1 .. 50) {
    @after = $t->workers();
    last if @after == 2 && !grep { $_ == $killed } @after;
    select undef, undef, undef, 0.1;
}
is(scalar @after, 2, 'worker respawned');
ok(!grep({ $_ == $killed } @after), 'a new pid');

# many connections all get served on the per-worker sockets

my $served = 0;
for (1 .. 20) {
    my $c = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $served++ if ($c->read() // '') =~ /^220 /;
}
is($served, 20, 'every connection greeted');

# a broken configuration on reload: the old one stays

my $good = $t->read_file('tern.conf');
$t->write_file('tern.conf', $good . "\nbogus on;\n");
$t->allow_log(qr/unknown directive "bogus"/);

# "tern -s" reads the configuration too, so send the signal by hand
ok(kill('HUP', $t->master_pid()), 'SIGHUP');
ok($t->wait_for_log(qr/old one is kept/, 5), 'bad configuration refused');

$s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
like($s->read(), qr/^220 mx\.example\.test/, 'still serving');

# a good reload changes the greeting of new sessions

my $new = $good;
$new =~ s/mx\.example\.test/mx2.example.test/;
$t->write_file('tern.conf', $new);
$t->reload();

my $greeting = '';
for (1 .. 50) {
    my $c = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $greeting = $c->read() // '';
    last if $greeting =~ /mx2/;
    select undef, undef, undef, 0.1;
}
like($greeting, qr/^220 mx2\.example\.test/, 'new configuration in use');

# the old session, opened before the reload, still works

$s->send('NOOP');
like($s->read(), qr/^250/, 'session from before the reload still served');
$s->send('QUIT');
like($s->read(), qr/^221/, 'and it ends normally');

# reopen the logs

rename($t->testdir() . '/logs/error.log', $t->testdir() . '/logs/old.log');
($rc) = $t->tern('-s', 'reopen');
is($rc, 0, 'tern -s reopen');
my $reopened = 0;
for (1 .. 50) {
    if (-s $t->testdir() . '/logs/error.log') {
        $reopened = 1;
        last;
    }
    select undef, undef, undef, 0.1;
}
ok($reopened, 'error.log written again after reopen');

$t->stop();

###############################################################################
