#!/usr/bin/perl

# POP3: RFC 1939 commands, RFC 2449 CAPA, AUTH PLAIN (RFC 5034), the
# UPDATE state (deletions only at QUIT), the maildrop lock, the auth
# failure delay, limits, split input, pipelining and the idle timeout.
# Messages are put in place as Maildir files and checked on disk.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Basename qw/ basename /;
use MIME::Base64 qw/ encode_base64 /;
use Socket qw/ CRLF /;
use Test::More;
use Time::HiRes qw/ sleep time /;

use Tern::Test;
use Tern::Test::POP3;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->plan(106);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    auth_failure_delay  2s;
    pop3_auth_plaintext on;

    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
    server {
        listen 127.0.0.1:%%PORT_8111%%;
        protocol pop3;
        pop3_timeout 1s;
    }
    server {
        listen 127.0.0.1:%%PORT_8112%%;
        protocol pop3;
        max_errors 3;
    }
    server {
        listen 127.0.0.1:%%PORT_8113%%;
        protocol pop3;
        pop3_auth_plaintext off;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret pass');
$t->add_user('w@example.test', 'other');

my $U = 'u@example.test';
my $PASS = 'secret pass';

# Message files as the store writes them: LF line ends. One has lines
# "." and ".x" (dot-stuffing), one a longer body (TOP), one is big
# (several output chunks), and one has CRLF line ends already.

my %msgs = (
    '1700000001.M1P1Q1.test' =>
        "From: a\@example.test\nSubject: dots\n\nline1\n.\n.x\n..\nend\n",
    '1700000002.M1P1Q2.test' =>
        "From: b\@example.test\nSubject: top\n\nb1\nb2\nb3\nb4\n",
    '1700000003.M1P1Q3.test' =>
        "Subject: big\n\n" . join('', map { ($_ % 7 ? '' : '.')
            . sprintf("%06d %s\n", $_, 'x' x 70) } 1 .. 6000),
    '1700000004.M1P1Q4.test' =>
        "Subject: crlf\r\n\r\nalready\r\n.dot\r\n",
);

drop($U, $_, $msgs{$_}) for sort keys %msgs;

sub crlf {
    my ($s) = @_;
    $s =~ s/\r?\n/\r\n/g;
    return $s;
}

my $total = 0;
$total += length crlf($_) for values %msgs;

###############################################################################

# AUTHORIZATION state

my $s = pop3();
like($s->read(), qr/^\+OK Tern POP3 ready\r\n\z/, 'greeting');

$s->send('CAPA');
my $capa = $s->read_multi();
like($capa, qr/^\+OK.*\r\n(.*\r\n)*\.\r\n\z/, 'capa multi-line');
like($capa, qr/\r\nUSER\r\n/, 'capa user');
like($capa, qr/\r\nSASL PLAIN\r\n/, 'capa sasl plain');
like($capa, qr/\r\nUIDL\r\n.*PIPELINING\r\n/s, 'capa uidl pipelining');
like($capa, qr/\r\nRESP-CODES\r\n/, 'capa resp-codes');
unlike($capa, qr/STLS/, 'capa no stls without certificate');

$s->send('STAT');
$s->err('stat before login');
$s->send('FOOBAR');
$s->err('unknown command');
$s->send('APOP u@example.test 0123456789abcdef0123456789abcdef');
$s->err('apop not offered');
$s->send('PASS ' . $PASS);
$s->err('pass before user');
$s->send('STLS');
$s->err('stls without certificate');

$s->send('USER ' . $U);
$s->ok('user');
$s->send('PASS ' . $PASS);
$s->check(qr/^\+OK/, 'pass with a space');

###############################################################################

# TRANSACTION state

$s->send('STAT');
is($s->read(), "+OK 4 $total\r\n", 'stat');

$s->send('UIDL');
my ($st, $body) = $s->read_multi();
my %num = map { (split ' ')[1] => (split ' ')[0] } split /\r\n/, $body;
is(join(',', sort keys %num), join(',', sort keys %msgs), 'uidl names');

my @byname = sort { $num{$a} <=> $num{$b} } keys %num;

$s->send('LIST');
($st, $body) = $s->read_multi();
is($body, join('', map { "$num{$_} " . length(crlf($msgs{$_})) . "\r\n" }
                   @byname), 'list');

my $dots = $num{'1700000001.M1P1Q1.test'};
my $top = $num{'1700000002.M1P1Q2.test'};
my $big = $num{'1700000003.M1P1Q3.test'};
my $crlf = $num{'1700000004.M1P1Q4.test'};

$s->send("LIST $top");
is($s->read(), "+OK $top " . length(crlf($msgs{'1700000002.M1P1Q2.test'}))
               . "\r\n", 'list one');
$s->send('LIST 5');
$s->err('list past the end');
$s->send('LIST 0');
$s->err('list 0');
$s->send('LIST 1x');
$s->err('list not a number');
$s->send('LIST 99999999999999999999999');
$s->err('list overflow');
$s->send("UIDL $dots");
is($s->read(), "+OK $dots 1700000001.M1P1Q1.test\r\n", 'uidl one');

$s->send("RETR $dots");
my $raw = $s->read_multi();
like($raw, qr/^\+OK \d+ octets\r\n/, 'retr status');
like($raw, qr/\r\nline1\r\n\.\.\r\n\.\.x\r\n\.\.\.\r\nend\r\n\.\r\n\z/,
     'retr dot-stuffed on the wire');

$s->send("RETR $dots");
($st, $body) = $s->read_multi();
is($body, crlf($msgs{'1700000001.M1P1Q1.test'}), 'retr content');

$s->send("RETR $crlf");
($st, $body) = $s->read_multi();
is($body, $msgs{'1700000004.M1P1Q4.test'}, 'retr crlf file');

$s->send("RETR $big");
($st, $body) = $s->read_multi(20);
ok(defined $body && $body eq crlf($msgs{'1700000003.M1P1Q3.test'}),
   'retr big message');

$s->send("TOP $top 0");
($st, $body) = $s->read_multi();
is($body, "From: b\@example.test\r\nSubject: top\r\n\r\n", 'top 0');
$s->send("TOP $top 2");
($st, $body) = $s->read_multi();
is($body, "From: b\@example.test\r\nSubject: top\r\n\r\nb1\r\nb2\r\n",
   'top 2');
$s->send("TOP $top 100");
($st, $body) = $s->read_multi();
is($body, crlf($msgs{'1700000002.M1P1Q2.test'}), 'top past the end');
$s->send("TOP $top 4294967296");
$s->err('top 4294967296');
$s->send("TOP $top");
$s->err('top without lines');
$s->send("TOP 9 1");
$s->err('top no such message');

$s->send('NOOP');
$s->ok('noop');
$s->send('USER x');
$s->err('user in transaction');
$s->send('STLS');
$s->err('stls in transaction');
$s->send('CAPA');
$capa = $s->read_multi();
unlike($capa, qr/\r\n(USER|SASL PLAIN|STLS)\r\n/, 'capa after login');
$s->send('QUIT');
$s->ok('quit');
ok($s->eof(), 'closed after quit');

# UIDL is stable across sessions

$s = login();
$s->send('UIDL');
($st, $body) = $s->read_multi();
my %num2 = map { (split ' ')[1] => (split ' ')[0] } split /\r\n/, $body;
is_deeply(\%num2, \%num, 'uidl stable');
$s->send('QUIT');
$s->ok('quit 2');

###############################################################################

# DELE, RSET and the UPDATE state

$s = login();
$s->send("DELE $top");
like($s->read(), qr/^\+OK/, 'dele');
$s->send("DELE $top");
like($s->read(), qr/^-ERR .*already deleted/, 'dele twice');
$s->send("RETR $top");
$s->err('retr deleted');
$s->send("LIST $top");
$s->err('list deleted');
$s->send('STAT');
my $left = $total - length crlf($msgs{'1700000002.M1P1Q2.test'});
is($s->read(), "+OK 3 $left\r\n", 'stat without deleted');
$s->send('LIST');
($st, $body) = $s->read_multi();
unlike($body, qr/^$top /m, 'list without deleted');
$s->send('RSET');
$s->ok('rset');
$s->send('STAT');
is($s->read(), "+OK 4 $total\r\n", 'stat after rset');
$s->send('QUIT');
$s->ok('quit after rset');
$s->eof();
is(scalar(my @f = $t->maildir_files($U)), 4, 'rset keeps the files');

# disconnect without QUIT: nothing is removed

$s = login();
$s->send("DELE $top");
$s->ok('dele before disconnect');
$s->close();
wait_closed(4);

$s = login();
$s->send('STAT');
is($s->read(), "+OK 4 $total\r\n", 'disconnect keeps the message');

# a second session while the maildrop is locked

my $s2 = pop3();
$s2->read();
$s2->send('USER ' . $U);
$s2->read();
$s2->send('PASS ' . $PASS);
like($s2->read(), qr/^-ERR \[IN-USE\]/, 'second session in use');
ok($s2->eof(), 'second session closed');

# DELE and QUIT removes the file and the index row

$s->send("DELE $top");
$s->ok('dele before quit');
$s->send('QUIT');
like($s->read(), qr/^\+OK/, 'quit with deletions');
ok($s->eof(), 'closed after update');

my @files = map { basename($_) } $t->maildir_files($U);
is(scalar @files, 3, 'file removed');
ok(!grep({ /^1700000002\./ } @files), 'the deleted file is gone');

$s = login();
$s->send('UIDL');
($st, $body) = $s->read_multi();
unlike($body, qr/1700000002/, 'index row removed');
$s->send('STAT');
like($s->read(), qr/^\+OK 3 /, 'stat after expunge');

# a file dropped into new/ by hand appears in the next session

$s->send('QUIT');
$s->read();
$s->eof();
drop($U, '1700000005.M1P1Q5.hand', "Subject: by hand\n\nhello\n");

$s = login();
$s->send('STAT');
like($s->read(), qr/^\+OK 4 /, 'hand-dropped file counted');
$s->send('UIDL');
($st, $body) = $s->read_multi();
like($body, qr/^\d+ 1700000005\.M1P1Q5\.hand\r\n/m, 'hand-dropped uidl');

# pipelining: several commands in one write, answered in order

$s->print("STAT\r\nLIST 1\r\nUIDL 1\r\nNOOP\r\nFOO\r\nLIST\r\n");
like($s->read(), qr/^\+OK 4 /, 'pipelined stat');
like($s->read(), qr/^\+OK 1 \d+\r\n/, 'pipelined list');
like($s->read(), qr/^\+OK 1 \S+\r\n/, 'pipelined uidl');
$s->ok('pipelined noop');
$s->err('pipelined unknown');
($st, $body) = $s->read_multi();
is(scalar(() = $body =~ /\r\n/g), 4, 'pipelined list all');
$s->send('QUIT');
$s->ok('quit after pipelining');
$s->eof();

###############################################################################

# AUTH PLAIN

$s = pop3();
$s->read();
$s->send('AUTH PLAIN ' . b64("\0$U\0$PASS"));
$s->ok('auth plain initial response');
$s->send('QUIT');
$s->read();
$s->eof();

$s = pop3();
$s->read();
$s->send('AUTH');
like(scalar $s->read_multi(), qr/^\+OK\r\nPLAIN\r\n\.\r\n/, 'auth list');
$s->send('AUTH PLAIN');
is($s->read(), "+ \r\n", 'auth plain continuation');
$s->send(b64("$U\0$U\0$PASS"));
$s->ok('auth plain with authzid');
$s->send('QUIT');
$s->read();
$s->eof();

$s = pop3();
$s->read();
$s->send('AUTH PLAIN');
$s->read();
$s->send('*');
$s->err('auth plain cancelled');
$s->send('AUTH PLAIN ' . b64($U));
$s->err('auth plain one field');
$s->send('AUTH PLAIN ' . b64("a\0$U\0$PASS\0x"));
$s->err('auth plain four fields');
$s->send('AUTH PLAIN =');
$s->err('auth plain empty');
$s->send('AUTH PLAIN AGVAeA=!');
$s->err('auth plain bad base64');
$s->send('AUTH PLAIN');
$s->read();
$s->send('AHVAZXhhbXBs ZS50ZXN0');
$s->err('auth plain whitespace');
$s->send('AUTH LOGIN');
$s->err('auth login');
$s->send('STAT');
$s->err('still in auth state');

# a wrong password is answered after the failure delay

$s->send('USER ' . $U);
$s->read();
my $t0 = time();
$s->send('PASS wrong');
like($s->read(20), qr/^-ERR \[AUTH\]/, 'bad password');
cmp_ok(time() - $t0, '>=', 1.5, 'bad password delayed');
$s->send('USER ' . $U);
$s->read();
$s->send('PASS ' . $PASS);
$s->ok('good password after a bad one');
$s->send('QUIT');
$s->read();
$s->eof();

like($t->wait_for_log(qr/login failed: user="u\@example\.test"/) // '',
     qr/\[info\]/, 'failed login logged');
unlike($t->read_file('logs/error.log'), qr/secret pass|wrong/,
       'no password in the log');

###############################################################################

# limits, split and bad input

$s = pop3();
$s->read();
$s->send('NOOP ' . ('x' x 300));
$s->err('line over 255 octets');
$s->send('CAPA');
like(scalar $s->read_multi(), qr/^\+OK/, 'session goes on after a long line');

# byte by byte

for my $c (split //, "USER $U\r\n") {
    $s->print($c);
    sleep(0.01);
}
$s->ok('user byte by byte');
for my $c (split //, "PASS $PASS\r\n") {
    $s->print($c);
    sleep(0.01);
}
$s->ok('pass byte by byte');

# a bare CR split over two packets is invalid

$s->print("NO\rOP");
sleep(0.1);
$s->print("\r\n");
$s->err('bare cr');
$s->print("NOOP\n");
$s->err('bare lf');
$s->send('NOOP');
$s->ok('session goes on after bad lines');
$s->send('QUIT');
$s->read();
$s->eof();

# idle timeout

$s = pop3(8111);
$s->read();
$t0 = time();
ok($s->eof(5), 'idle timeout closes');
cmp_ok(time() - $t0, '>=', 0.5, 'idle timeout not at once');

# too many errors

$s = pop3(8112);
$s->read();
$s->send('FOO');
$s->err('error 1');
$s->send('BAR');
$s->err('error 2');
$s->send('BAZ');
like($s->read(), qr/^-ERR too many/, 'too many errors');
ok($s->eof(), 'closed after too many errors');

# plaintext logins are refused without TLS when not allowed

$s = pop3(8113);
$s->read();
$s->send('CAPA');
unlike(scalar $s->read_multi(), qr/\r\n(USER|SASL PLAIN)\r\n/,
       'capa without plaintext');
$s->send('USER ' . $U);
like($s->read(), qr/^-ERR \[AUTH\] Plaintext/, 'user refused in the clear');
$s->send('AUTH PLAIN ' . b64("\0$U\0$PASS"));
like($s->read(), qr/^-ERR \[AUTH\] Plaintext/, 'auth refused in the clear');
$s->send('QUIT');
$s->read();

like($t->wait_for_log(qr/pop3 session closed: user=u\@example\.test, retr=\d+/)
     // '', qr/tls=no/, 'session log line');

###############################################################################

sub pop3 {
    my ($port) = @_;
    return Tern::Test::POP3->new(
        PeerAddr => '127.0.0.1:' . port($port // 8110));
}

sub login {
    my $c = pop3();
    $c->read();
    $c->send('USER ' . $U);
    $c->read();
    $c->send('PASS ' . $PASS);
    my $r = $c->read() // '';
    die "login failed: $r" unless $r =~ /^\+OK/;
    return $c;
}

sub b64 {
    return encode_base64($_[0], '');
}

# The server closes a session a moment after the client went: wait for
# its log line, so that the lock is free again.

sub wait_closed {
    my ($n) = @_;
    my $deadline = time() + 5;
    while (time() < $deadline) {
        my @l = $t->read_file('logs/error.log')
                =~ /pop3 session closed/g;
        return if @l >= $n;
        sleep(0.05);
    }
}

# A message file put into new/ as a delivery agent would: tmp/, then
# rename, owned by the owner of the Maildir.

sub drop {
    my ($addr, $name, $content) = @_;
    my $dir = $t->maildir($addr);
    my ($uid, $gid) = (stat $dir)[4, 5];
    $t->write_file("$dir/tmp/$name", $content);
    chown $uid, $gid, "$dir/tmp/$name";
    chmod 0600, "$dir/tmp/$name";
    rename "$dir/tmp/$name", "$dir/new/$name" or die "rename: $!\n";
}

###############################################################################
