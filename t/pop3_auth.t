#!/usr/bin/perl

# Logins over POP3 (checklist 3.7 R1, 3.9 U4, 3.6 M8): the failure
# delay of a client address counts USER/PASS and AUTH PLAIN together;
# the cache of good logins never lets one name or password stand for
# another (case, trailing dot, 8-bit, a second user with the same
# password); no password reaches the log; after 100 failures in a row a
# login name is refused without a check, except for a login in the cache.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw/ encode_base64 /;
use Test::More;
use Time::HiRes qw/ sleep time /;

use Tern::Test;
use Tern::Test::POP3;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->plan(27);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    pop3_auth_plaintext on;
    auth_failure_delay  500ms;

    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
    server {
        listen 127.0.0.1:%%PORT_8111%%;
        protocol pop3;
        auth_failure_delay 0;
        # the per-name lock is tested from one address: no address block
        auth_block_after 0;
    }
}
EOF

$t->run();
$t->add_domain('example.test');

my $PU = 'Pw-of-u-7f3a9c';
my $PX = 'Pw-of-x-51be02';

$t->add_user('u@example.test', $PU);
$t->add_user('v@example.test', $PU);     # the same password as u
$t->add_user('x@example.test', $PX);
$t->add_user('y@example.test', $PX);
$t->add_user('z@example.test', $PX);

drop('u@example.test', '1700000001.M1P1Q1.u', "Subject: u\n\nu\n");

###############################################################################

# the delay of one address counts both mechanisms

my ($r, $d) = pass_login(8110, 'u@example.test', 'wrong-1');
like($r, qr/^-ERR \[AUTH\]/, 'user/pass failure');
cmp_ok($d, '>=', 0.45, 'user/pass failure delayed');

($r, $d) = plain_login(8110, 'u@example.test', 'wrong-2');
like($r, qr/^-ERR \[AUTH\]/, 'auth plain failure');
cmp_ok($d, '>=', 0.95, 'auth plain failure delay doubled');

($r, $d) = pass_login(8110, 'nobody@example.test', 'wrong-3');
like($r, qr/^-ERR \[AUTH\] Authentication failed/, 'unknown user');
cmp_ok($d, '>=', 1.9, 'unknown user delay doubled again');

($r, $d) = plain_login(8110, 'u@example.test', $PU);
like($r, qr/^\+OK/, 'good login');
cmp_ok($d, '<', 1, 'good login not delayed');

($r, $d) = pass_login(8110, 'u@example.test', 'wrong-4');
cmp_ok($d, '<', 0.9, 'a good login clears the delay');

# the cache: u is cached now; other spellings and users stay apart

($r) = pass_login(8110, 'U@Example.TEST', $PU);
like($r, qr/^\+OK/, 'address case does not matter');
is(stat_of(8110, 'U@EXAMPLE.TEST', $PU), 1, 'case: the same maildrop');
($r) = pass_login(8110, 'u@example.test.', $PU);
like($r, qr/^-ERR/, 'trailing dot is not the user');
($r) = pass_login(8110, "u\xc3\xa4\@example.test", $PU);
like($r, qr/^-ERR/, '8-bit name is not the user');
($r) = plain_login(8110, "u\x{e4}\@example.test", $PU);
like($r, qr/^-ERR/, 'latin-1 name is not the user');
is(stat_of(8110, 'v@example.test', $PU), 0, 'v: its own maildrop');
is(stat_of(8110, 'u@example.test', $PU), 1, 'u: its own maildrop');
($r) = pass_login(8110, 'u@example.test', $PU . 'x');
like($r, qr/^-ERR/, 'cached user, other password');
($r) = pass_login(8110, 'u@example.test', substr($PU, 0, -1));
like($r, qr/^-ERR/, 'cached user, shorter password');

###############################################################################

# 100 failures in a row lock a login name (from several addresses)

($r) = pass_login(8111, 'z@example.test', $PX, '127.0.0.3');
like($r, qr/^\+OK/, 'z logged in before (cached)');

my $bad = 0;
for my $i (1 .. 100) {
    my $src = '127.0.0.' . (4 + $i % 5);
    my $c = pop3(8111, $src);
    $c->read();
    for my $who ('x', 'z') {
        $c->send("USER $who\@example.test");
        $c->read();
        $c->send("PASS bad-$i");
        $bad++ if ($c->read(10) // '') =~ /^-ERR \[AUTH\]/;
    }
    $c->send('QUIT');
    $c->read();
}
is($bad, 200, '100 failures each for x and z');

($r) = pass_login(8111, 'x@example.test', $PX, '127.0.0.20');
like($r, qr/^-ERR \[AUTH\] Authentication failed/,
     'x locked: the right password is refused');
($r) = plain_login(8111, 'X@example.test', $PX, '127.0.0.21');
like($r, qr/^-ERR \[AUTH\]/, 'x locked: also by auth plain, other case');
($r) = pass_login(8111, 'y@example.test', $PX, '127.0.0.20');
like($r, qr/^\+OK/, 'y is not locked');
($r) = pass_login(8111, 'z@example.test', $PX, '127.0.0.22');
like($r, qr/^\+OK/, 'z: a login in the cache still passes');

like($t->wait_for_log(qr/too many failed logins/) // '', qr/\[info\]/,
     'lock logged');

###############################################################################

# no password in the log, in any form

my $log = $t->read_file('logs/error.log');
my @secrets = ($PU, $PX, 'wrong-1', 'wrong-2', 'bad-1',
               encode_base64("\0u\@example.test\0$PU", ''));
is(scalar(grep { index($log, $_) >= 0 } @secrets), 0,
   'no password in the log');
like($log, qr/login failed: user="u\@example\.test"/, 'failure logged');

###############################################################################

sub pop3 {
    my ($port, $src) = @_;
    return Tern::Test::POP3->new(
        PeerAddr => '127.0.0.1:' . port($port),
        LocalAddr => $src // '127.0.0.1');
}

# the reply to the login and the seconds it took

sub pass_login {
    my ($port, $user, $pass, $src) = @_;
    my $c = pop3($port, $src);
    $c->read();
    $c->send("USER $user");
    $c->read();
    my $t0 = time();
    $c->send("PASS $pass");
    my $r = $c->read(20) // '';
    my $d = time() - $t0;
    $c->send('QUIT');
    $c->read();
    $c->eof();
    return ($r, $d);
}

sub plain_login {
    my ($port, $user, $pass, $src) = @_;
    my $c = pop3($port, $src);
    $c->read();
    my $t0 = time();
    $c->send('AUTH PLAIN ' . encode_base64("\0$user\0$pass", ''));
    my $r = $c->read(20) // '';
    my $d = time() - $t0;
    $c->send('QUIT');
    $c->read();
    $c->eof();
    return ($r, $d);
}

# the message count after a login, or -1

sub stat_of {
    my ($port, $user, $pass) = @_;
    my $c = pop3($port);
    $c->read();
    $c->send("USER $user");
    $c->read();
    $c->send("PASS $pass");
    return -1 unless ($c->read(20) // '') =~ /^\+OK/;
    $c->send('STAT');
    my ($n) = ($c->read() // '') =~ /^\+OK (\d+)/;
    $c->send('QUIT');
    $c->read();
    $c->eof();
    return $n // -1;
}

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
