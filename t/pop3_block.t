#!/usr/bin/perl

# A client address is blocked after auth_block_after failed logins, for
# auth_block_time: further logins from it get a temporary error without a
# password check, even with the right password; other addresses are not
# affected, and the block ends.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw/ sleep /;

use Tern::Test;
use Tern::Test::POP3;

###############################################################################

my $t = Tern::Test->new()->plan(7);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    pop3_auth_plaintext on;
    auth_failure_delay  0;
    auth_block_after    3;
    auth_block_time     2s;

    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'right-pw');

sub login {
    my ($pass, $from) = @_;

    my $s = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . $t->port(8110),
        $from ? (LocalAddr => $from) : ());
    $s->read();
    $s->send('USER u@example.test');
    $s->read();
    $s->send("PASS $pass");
    my $r = $s->read() // '';
    $s->send('QUIT');
    return $r;
}

like(login('wrong-1'), qr/^-ERR \[AUTH\]/, 'first failure');
like(login('wrong-2'), qr/^-ERR \[AUTH\]/, 'second failure');
like(login('wrong-3'), qr/^-ERR \[AUTH\]/, 'third failure');

like(login('right-pw'), qr/^-ERR \[SYS\/TEMP\] Too many failed logins/,
    'blocked: even the right password is refused');
like(login('right-pw', '127.0.0.2'), qr/^\+OK/,
    'another address is not blocked');

sleep(2.5);

like(login('right-pw'), qr/^\+OK/, 'the block ends');

ok($t->wait_for_log(
    qr/login refused without a check: too many failed logins/, 1),
    'the refusal is logged');

$t->stop();

###############################################################################
