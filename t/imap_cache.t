#!/usr/bin/perl

# The IMAP header cache: ENVELOPE, BODYSTRUCTURE, BODY, the cached header
# fields and header SEARCH keys are answered from index.db, filled at
# delivery, without opening the message files.  The test delivers by
# SMTP, then rewrites every message file behind Tern's back (same names,
# other text): what comes from the cache still shows the delivered
# message, while BODY[] and SEARCH BODY read the file and see the new
# text.  RFC 2047 words are decoded for SEARCH, case-insensitively in
# UTF-8.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->plan(17);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;

    server {
        listen 127.0.0.1:%%PORT_8025%%;
        protocol smtp;
    }

    server {
        listen 127.0.0.1:%%PORT_8143%%;
        protocol imap;
        imap_auth_plaintext on;
    }
}
EOF

$t->run();
$t->add_domain('example.test');

my $U = 'u@example.test';
$t->add_user($U, 'secret');

my $smtp = port(8025);

Tern::Test::SMTP::deliver($smtp, $U, <<"EOF" =~ s/\n/\r\n/gr);
From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm\@example.test>
To: u\@example.test
Subject: =?UTF-8?B?w4ZSTyBSZXBvcnQ=?= for Q3
Date: Fri, 27 Nov 2026 10:00:00 +0100
Message-ID: <one\@example.test>
List-Id: <ops.example.test>

first body
EOF

Tern::Test::SMTP::deliver($smtp, $U, <<"EOF" =~ s/\n/\r\n/gr);
From: Alice <alice\@example.test>
To: u\@example.test
Subject: lunch
Date: Thu, 26 Nov 2026 12:00:00 +0000
Message-ID: <two\@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

see attached
--b1
Content-Type: application/pdf; name="menu.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1--
EOF

# rewrite both files: same names, other text

my @files = sort $t->maildir_files($U);
is(scalar @files, 2, 'two messages delivered');

for my $f (@files) {
    open(my $fh, '>', $f) or die "$f: $!";
    print $fh "From: Mallory <m\@evil.test>\nSubject: replaced\n\n"
              . "replaced body\n";
    close($fh);
}

my $s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
$s->read();
$s->login($U, 'secret');

# UTF-8 in quoted strings (RFC 6855), for the SEARCH strings below
like(scalar $s->run('ENABLE UTF8=ACCEPT'), qr/^\* ENABLED UTF8=ACCEPT/m,
     'enable UTF8=ACCEPT');
like(scalar $s->run('EXAMINE INBOX'), qr/^\* 2 EXISTS/m, 'examine');

my $r = $s->run('FETCH 1 (ENVELOPE)');
like($r, qr/"=\?UTF-8\?B\?w4ZSTyBSZXBvcnQ=\?= for Q3"/,
     'ENVELOPE subject from the cache');
like($r, qr/\(\("=\?UTF-8\?Q\?J=C3=BCrgen_M=C3=BCller\?=" NIL "jm" "example\.test"\)\)/,
     'ENVELOPE from from the cache');
unlike($r, qr/Mallory|replaced/, 'ENVELOPE not read from the file');

$r = $s->run('FETCH 2 (BODYSTRUCTURE)');
like($r, qr/"APPLICATION" "PDF" \("NAME" "menu\.pdf"\)/i,
     'BODYSTRUCTURE from the cache');

$r = $s->run('FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject List-Id)])');
like($r, qr/List-Id: <ops\.example\.test>/, 'HEADER.FIELDS from the cache');
unlike($r, qr/replaced/, 'HEADER.FIELDS not read from the file');

$r = $s->run('FETCH 1 (BODY.PEEK[TEXT])');
like($r, qr/replaced body/, 'BODY[TEXT] reads the file');

# SEARCH on header keys: the cache; RFC 2047 decoded, folded

like(scalar $s->run('SEARCH FROM "jürgen"'), qr/^\* SEARCH 1\r\n/m,
     'SEARCH FROM decoded, case-insensitive in UTF-8')
    or diag($s->run('SEARCH FROM "jürgen"'));
like(scalar $s->run('SEARCH SUBJECT "ærο report"'), qr/^\* SEARCH\r\n/m,
     'SEARCH SUBJECT with another letter finds nothing');
like(scalar $s->run('SEARCH SUBJECT "æro REPORT"'), qr/^\* SEARCH 1\r\n/m,
     'SEARCH SUBJECT decoded and folded');
like(scalar $s->run('SEARCH OR FROM alice HEADER List-Id ops'),
     qr/^\* SEARCH 1 2\r\n/m, 'SEARCH OR FROM HEADER');
like(scalar $s->run('SEARCH FROM mallory'), qr/^\* SEARCH\r\n/m,
     'SEARCH FROM does not read the file');
like(scalar $s->run('SEARCH SENTBEFORE 27-Nov-2026'), qr/^\* SEARCH 2\r\n/m,
     'SEARCH SENTBEFORE from the cached Date');

# BODY reads the files

like(scalar $s->run('SEARCH BODY "replaced body"'), qr/^\* SEARCH 1 2\r\n/m,
     'SEARCH BODY reads the files');

$s->run('LOGOUT');

$t->stop();

###############################################################################
