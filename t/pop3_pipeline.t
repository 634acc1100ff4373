#!/usr/bin/perl

# Pipelined POP3 commands that fill the input buffer exactly: the server
# must go on reading the socket after the buffered commands are answered
# (the loop is edge-triggered: no new event comes for bytes that arrived
# while the buffer was full).  64 RETRs of 8 octets each, a 256-octet
# buffer: the first read ends exactly at a command boundary.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Select;

use Tern::Test;
use Tern::Test::POP3;

###############################################################################

my $t = Tern::Test->new()->plan(4);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    pop3_auth_plaintext on;
    pop3_client_buffer 256;

    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $md = $t->maildir('u@example.test');
open my $fh, '>', "$md/new/1700000000.M1P1Q1.test" or die;
print $fh "Subject: pipelined\n\n" . ("line of text\n" x 300);
close $fh;

my $s = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . $t->port(8110));
$s->read();
$s->send('USER u@example.test');
$s->read();
$s->send('PASS secret');
like($s->read(), qr/^\+OK/, 'logged in');

$s->print("RETR 1\r\n" x 64);

# read the 64 replies, each ending with CRLF.CRLF

my $sock = $s->{_socket} // $s->socket();
my $sel = IO::Select->new($sock);
my ($buf, $n, $done) = ('', 0, 0);

while ($done < 64 && $sel->can_read(5)) {
    $n = sysread($sock, $buf, 65536, length $buf);
    last unless $n;
    $done = () = $buf =~ /\r\n\.\r\n/g;
}

is($done, 64, 'every pipelined RETR answered');
is(() = $buf =~ /^\+OK \d+ octets\r\n/mg, 64, 'each with +OK');

$s->print("QUIT\r\n");
$sel->can_read(5);
sysread($sock, $buf = '', 4096);
like($buf, qr/^\+OK/, 'quit');

$t->stop();

###############################################################################
