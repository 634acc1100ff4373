#!/usr/bin/perl

# POP3 after IMAP: a POP3 session loads the maildrop, then an IMAP SELECT
# moves the INBOX files from new/ to cur/ (":2," added) and a STORE
# renames one in cur/ (":2,S"); RETR and TOP in the POP3 session still
# return each message byte for byte (the store finds the file's path
# now).  The reverse, POP3 DELE + QUIT seen by IMAP as EXPUNGE, is in
# t/imap_concurrent.t.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Basename qw/ basename /;
use Test::More;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::POP3;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->plan(13);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;

    server {
        listen 127.0.0.1:%%PORT_8143%%;
        protocol imap;
        imap_auth_plaintext on;
    }

    server {
        listen 127.0.0.1:%%PORT_8110%%;
        protocol pop3;
        pop3_auth_plaintext on;
    }
}
EOF

$t->run();
$t->add_domain('example.test');

my $U = 'u@example.test';
$t->add_user($U, 'secret');

# delivered as another delivery agent would, into new/; the second one
# has a line that POP3 dot-stuffs

my $md = $t->maildir($U);
mkdir("$md/$_") for qw/ tmp new cur /;

$t->write_file("$md/new/1700000001.M1P1.example.test",
               "From: a\@example.test\nSubject: one\n\nbody 1\n");
$t->write_file("$md/new/1700000002.M2P1.example.test",
               "From: a\@example.test\nSubject: two\n\n"
               . ".dot line\nbody 2\n");

my @new = $t->maildir_files($U);
is(scalar(grep { m{/new/} } @new), 2, 'two messages in new/');

###############################################################################

my $p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
$p->read();
$p->send("USER $U");
$p->read();
$p->send('PASS secret');
$p->ok('pop3 login');

$p->send('RETR 1');
my ($st, $before1) = $p->read_multi();
like($st, qr/^\+OK/, 'pop3 RETR 1 before IMAP');

# IMAP moves both files to cur/ and renames the first once more

my $i = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
$i->read();
$i->login($U, 'secret');

like(scalar $i->run('SELECT INBOX'), qr/^\* 2 EXISTS\r\n.*^a\d+ OK/ms,
     'imap SELECT INBOX');
like(scalar $i->run('STORE 1 +FLAGS (\Seen)'),
     qr/^\* 1 FETCH \(.*\\Seen.*^a\d+ OK/ms, 'imap STORE +FLAGS');

my $r = $i->run('FETCH 2 BODY.PEEK[]');
my ($len) = $r =~ /BODY\[\] \{(\d+)\}\r\n/;
my $imap2 = defined $len ? substr($r, $+[0], $len) : '';

my @cur = $t->maildir_files($U);
ok(@cur == 2 && !grep({ m{/new/} } @cur)
   && grep({ m{/cur/[^/]+:2,S$} } @cur) == 1
   && grep({ m{/cur/[^/]+:2,$} } @cur) == 1,
   'files moved to cur/ and renamed')
    or diag(join(' ', map { basename($_) } @cur));

# the POP3 session still has the paths of the login

$p->send('RETR 1');
my ($st1, $after1) = $p->read_multi();
like($st1, qr/^\+OK/, 'pop3 RETR 1 after the rename');
ok(defined $after1 && defined $before1 && $after1 eq $before1
   && $after1 eq "From: a\@example.test\r\nSubject: one\r\n\r\nbody 1\r\n",
   'RETR 1 byte for byte');

$p->send('RETR 2');
my ($st2, $after2) = $p->read_multi();
like($st2, qr/^\+OK/, 'pop3 RETR 2 after the move to cur/');
ok(defined $after2 && $after2 eq $imap2 && $imap2 =~ /^\.dot line\r\n/m,
   'RETR 2 byte for byte, as IMAP has it');

$p->send('TOP 2 0');
my ($st3, $top2) = $p->read_multi();
ok(defined $top2 && $top2 =~ /^Subject: two\r\n/m
   && $imap2 =~ /^\Q$top2\E/, 'TOP 2 0');

$p->send('QUIT');
$p->ok('pop3 quit');
$p->close();

$i->run('LOGOUT');

unlike($t->read_file($t->error_log_path()), qr/\[error\].*open\(/,
       'no open() error logged');

$t->stop();

###############################################################################
