#!/usr/bin/perl

# SEARCH on a message whose header is larger than the header cache holds
# (TN_STORE_CACHE_HEADER_MAX): HEADER keys read the file then, alone and
# combined with BODY/TEXT and cached keys.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->plan(7);
$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8143%%; protocol imap; imap_auth_plaintext on; }
}
EOF
$t->run();
$t->add_domain('example.test');
my $U = 'u@example.test';
$t->add_user($U, 'secret');
my $smtp = port(8025);

Tern::Test::SMTP::deliver($smtp, $U, "From: a\@example.test\r\nSubject: small\r\n\r\nsmall body\r\n");
my $pad = join('', map { sprintf("X-Pad: %04d padding padding padding padding padding\r\n", $_) } 1 .. 1500);
Tern::Test::SMTP::deliver($smtp, $U, "From: b\@example.test\r\nSubject: big\r\n${pad}X-Marker: Deep Inside\r\n\r\nbig body\r\n");
Tern::Test::SMTP::deliver($smtp, $U, "From: c\@example.test\r\nSubject: third\r\nX-Marker: shallow\r\n\r\nthird body\r\n");

my $s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
$s->read();
$s->login($U, 'secret');
like(scalar $s->run('SELECT INBOX'), qr/^\* 3 EXISTS/m, 'select');
like(scalar $s->run('SEARCH HEADER X-Marker deep'), qr/^\* SEARCH 2\r\n/m, 'HEADER in a big header');
like(scalar $s->run('SEARCH HEADER X-Marker ""'), qr/^\* SEARCH 2 3\r\n/m, 'HEADER exists');
like(scalar $s->run('SEARCH OR HEADER X-Marker deep BODY third'), qr/^\* SEARCH 2 3\r\n/m, 'HEADER then BODY');
like(scalar $s->run('SEARCH NOT TEXT "x-pad: 1499"'), qr/^\* SEARCH 1 3\r\n/m, 'TEXT raw header');
like(scalar $s->run('SEARCH SUBJECT big BODY "big body"'), qr/^\* SEARCH 2\r\n/m, 'SUBJECT BODY');
like(scalar $s->run('SEARCH 2:3 HEADER X-Pad 0007'), qr/^\* SEARCH 2\r\n/m, 'HEADER X-Pad');
