#!/usr/bin/perl

# IMAP: bad input.  Unbalanced parentheses, literals over the limits
# (synchronizing: refused before any octet, no "+"; non-synchronizing:
# the octets are skipped, never read as commands), invalid UTF-8 and
# invalid modified UTF-7 mailbox names (nothing made on disk), sequence
# sets on an empty mailbox and at the edges (0, 4294967295), commands in
# the wrong state, an overlong line (BAD, then closed), NUL bytes (a NUL
# only in a literal8), bad AUTHENTICATE, IDLE, APPEND, flag, section and
# search arguments, too many errors (BYE), LOGIN refused before STARTTLS
# when plaintext is off (LOGINDISABLED), plaintext sent after STARTTLS
# dropped, a TLS session dropped without LOGOUT, and no password in the
# log (at level debug).  After each refusal the session must still work
# (NOOP answered) unless the case says the server closes it.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw/ encode_base64 /;
use Test::More;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->has(qw/socket_ssl/)->plan(187);

Tern::Test::gen_cert($t, 'tern');

# debug: whatever a debug build logs must not hold a password either

(my $base = Tern::Test::conf_base())
    =~ s/^error_log\s+(\S+)\s+\w+;/error_log $1 debug;/m;

$t->write_file_expand('tern.conf', $base . <<'EOF');
mail {
    server_name  mail.example.test;
    ssl_certificate      tern.crt;
    ssl_certificate_key  tern.key;
    auth_failure_delay   100ms;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8143%%;
        protocol imap;
        imap_auth_plaintext on;
        max_errors 1000;
    }
    server {
        listen 127.0.0.1:%%PORT_8144%%;
        protocol imap;
        imap_auth_plaintext on;
        max_errors 3;
    }
    server {
        listen 127.0.0.1:%%PORT_8145%%;
        protocol imap;
    }
    server {
        listen 127.0.0.1:%%PORT_8146%%;
        protocol imap;
        imap_auth_plaintext on;
        max_errors 1000;
        imap_max_line     8k;
        imap_max_literal  1k;
        imap_max_append   10k;
    }
}
EOF

$t->run();
$t->add_domain('example.test');

my $U = 'u@example.test';
my $PASS = 'Pw-7f3a9c1e-secret';
$t->add_user($U, $PASS);

my $md = $t->maildir($U);

smtp_deliver($U, "From: a\@example.test\r\nSubject: one\r\n\r\nbody 1\r\n");
smtp_deliver($U, "From: b\@example.test\r\nSubject: two\r\n\r\nbody 2\r\n");

###############################################################################

# wrong state, before login

my $s = imap(8143);

like($s->run('SELECT INBOX'), qr/^a\d+ (BAD|NO)\b/m, 'select before login');
like($s->run('FETCH 1 FLAGS'), qr/^a\d+ (BAD|NO)\b/m, 'fetch before login');
like($s->run('CREATE Foo'), qr/^a\d+ (BAD|NO)\b/m, 'create before login');
like($s->run('IDLE'), qr/^a\d+ (BAD|NO)\b/m, 'idle before login');
alive($s, 'alive after commands before login');

ok(!-d "$md/.Foo", 'nothing created before login');

# wrong state, after login, nothing selected

$s = imap_in(8143);

like($s->run('FETCH 1 FLAGS'), qr/^a\d+ (BAD|NO)\b/m, 'fetch without select');
like($s->run('STORE 1 +FLAGS (\Seen)'), qr/^a\d+ (BAD|NO)\b/m,
     'store without select');
like($s->run('SEARCH ALL'), qr/^a\d+ (BAD|NO)\b/m, 'search without select');
like($s->run('EXPUNGE'), qr/^a\d+ (BAD|NO)\b/m, 'expunge without select');
like($s->run('CLOSE'), qr/^a\d+ (BAD|NO)\b/m, 'close without select');
like($s->run('UID FETCH 1 FLAGS'), qr/^a\d+ (BAD|NO)\b/m,
     'uid fetch without select');
like($s->run('LOGIN ' . $U . ' x'), qr/^a\d+ (BAD|NO)\b/m,
     'login when logged in');
like($s->run('STARTTLS'), qr/^a\d+ (BAD|NO)\b/m, 'starttls when logged in');
alive($s, 'alive after commands in the wrong state');

###############################################################################

# syntax: parentheses, empty lines, tags

$s = imap_in(8143);
$s->run_ok('SELECT INBOX', 'select');

like($s->run('FETCH 1 (FLAGS'), qr/^a\d+ BAD\b/m, 'fetch "(" unbalanced');
like($s->run('FETCH 1 FLAGS)'), qr/^a\d+ BAD\b/m, 'fetch ")" unbalanced');
like($s->run('FETCH 1 ((FLAGS) UID'), qr/^a\d+ BAD\b/m,
     'fetch nested unbalanced');
like($s->run('STORE 1 +FLAGS (\Seen))'), qr/^a\d+ BAD\b/m,
     'store "))"');
like($s->run('SEARCH (OR SUBJECT one SUBJECT two'), qr/^a\d+ BAD\b/m,
     'search "(" unbalanced');
like($s->run('SEARCH ' . ('(' x 200) . 'ALL' . (')' x 200)),
     qr/^a\d+ BAD\b/m, 'nesting too deep');

my $r = $s->run('FETCH 1 FLAGS');
like($r, qr/^\* 1 FETCH \(FLAGS \([^)]*\)\)\r\n/m, 'fetch after errors');
unlike($r, qr/\\Seen/, 'store with bad syntax changed nothing');

$s->send('');
like($s->read(), qr/^\* BAD\b/, 'empty line');
$s->send('+abc NOOP');
like($s->read(), qr/^\* BAD\b/, 'tag with "+"');
$s->send('a(b NOOP');
like($s->read(), qr/^(\*|a\(b) BAD\b/, 'tag with "("');
$s->send('tagonly');
like($s->read(), qr/^(\*|tagonly) BAD\b/, 'tag without a command');
like($s->run('FROBNICATE 1 2 3'), qr/^a\d+ BAD\b/m, 'unknown command');
alive($s, 'alive after syntax errors');

###############################################################################

# NUL bytes and 8-bit bytes where none may be

$s = imap_in(8143);

$s->print("z1 NOOP\0\r\n");
like($s->read(), qr/^(z1|\*) BAD\b/, 'NUL after the command');
$s->print("z2 STATUS \"IN\0BOX\" (MESSAGES)\r\n");
like($s->read(), qr/^(z2|\*) BAD\b/, 'NUL in a quoted string');
$s->print("z3 STATUS IN\0BOX (MESSAGES)\r\n");
like($s->read(), qr/^(z3|\*) BAD\b/, 'NUL in an atom');
$s->print("z4 ST\0TUS INBOX (MESSAGES)\r\n");
like($s->read(), qr/^(z4|\*) BAD\b/, 'NUL in the command name');
$s->print("z5 STATUS {5}\r\n");
like($s->read(), qr/^\+/, 'literal for a NUL');
$s->print("IN\0OX (MESSAGES)\r\n");
like($s->read(), qr/^(z5|\*) BAD\b/, 'NUL in a literal');
$s->print("z6 STATUS IN\xc3\xa9BOX (MESSAGES)\r\n");
like($s->read(), qr/^(z6|\*) BAD\b/, '8-bit byte in an atom');
alive($s, 'alive after NUL bytes');

###############################################################################

# mailbox names: invalid UTF-8 (in a quoted string the parser refuses
# 8-bit bytes without UTF8=ACCEPT; in a literal it does not), invalid
# modified UTF-7; nothing must reach the disk

$s = imap_in(8143);

# the first LIST makes the special-use folders
$s->run('LIST "" "*"');

my @before = folders();

like($s->run("CREATE \"\xff\xfe\""), qr/^a\d+ BAD\b/m,
     'create 8-bit quoted without utf8');
like(create_literal($s, "\xff\xfe"), qr/^a\d+ (NO|BAD)\b/m,
     'create 8-bit literal (not modified UTF-7)');
like(create_literal($s, "caf\xc3\xa9"), qr/^a\d+ (NO|BAD)\b/m,
     'create raw UTF-8 without utf8 enabled');

for my $bad ('&Jjo', '&AGE-', '&Jjo!-', '&2D3-', 'a&', '&U,BTFw',
             '&AAA-', '&ZeVnLIqe&-')
{
    like($s->run('CREATE ' . Tern::Test::IMAP::quote($bad)),
         qr/^a\d+ (NO|BAD)\b/m, "create invalid modified UTF-7 $bad");
}

like($s->run('CREATE "a//b"'), qr/^a\d+ (NO|BAD)\b/m, 'create a//b');
like($s->run('CREATE "/abs"'), qr/^a\d+ (NO|BAD)\b/m, 'create /abs');
like($s->run('CREATE "x/../y"'), qr/^a\d+ (NO|BAD)\b/m, 'create x/../y');
like($s->run('CREATE ".."'), qr/^a\d+ (NO|BAD)\b/m, 'create ..');
like($s->run('CREATE "' . ('n' x 600) . '"'), qr/^a\d+ (NO|BAD)\b/m,
     'create a name too long');
like($s->run('CREATE INBOX'), qr/^a\d+ NO\b/m, 'create INBOX');
like($s->run('SELECT "&Jjo"'), qr/^a\d+ (NO|BAD)\b/m,
     'select invalid modified UTF-7');

is(join(' ', folders()), join(' ', @before), 'no folder made on disk');

# a valid one for comparison: on disk as the modified UTF-7 itself

$s->run_ok('CREATE "&ZeVnLIqe-"', 'create valid modified UTF-7');
ok(-d "$md/.&ZeVnLIqe-/cur", 'valid folder on disk');
like($s->run('LIST "" "&ZeVnLIqe-"'),
     qr/^\* LIST \([^)]*\) "\/" "?&ZeVnLIqe-"?\r\n/m, 'list it back');

# with UTF8=ACCEPT: raw UTF-8 passes, broken UTF-8 does not

my $e = $s->run('ENABLE UTF8=ACCEPT');

SKIP: {
    skip 'UTF8=ACCEPT not enabled', 5 unless $e =~ /^\* ENABLED .*UTF8/m;

    like($s->run("CREATE \"\xc3\x28\""), qr/^a\d+ (BAD|NO)\b/m,
         'utf8: create invalid UTF-8 (bad continuation)');
    like($s->run("CREATE \"\xed\xa0\x80\""), qr/^a\d+ (BAD|NO)\b/m,
         'utf8: create UTF-8 surrogate');
    like($s->run("CREATE \"\xc0\xaf\""), qr/^a\d+ (BAD|NO)\b/m,
         'utf8: create overlong UTF-8');
    like(create_literal($s, "x\xe2\x82"), qr/^a\d+ (NO|BAD)\b/m,
         'utf8: create truncated UTF-8 in a literal');
    $s->run_ok("CREATE \"caf\xc3\xa9\"", 'utf8: create valid UTF-8');
}

is(scalar(grep { !/^\.(&ZeVnLIqe-|caf&AOk-)\z/ } folders()),
   scalar(@before), 'only the valid folders on disk');
alive($s, 'alive after bad names');

###############################################################################

# sequence sets

$s = imap_in(8143);

$s->run_ok('CREATE Empty', 'create empty');
$s->run_ok('SELECT Empty', 'select empty');

$r = $s->run('UID FETCH 1:* FLAGS');
like($r, qr/^a\d+ OK\b/m, 'empty: uid fetch 1:*');
unlike($r, qr/^\* \d+ FETCH/m, 'empty: uid fetch 1:* nothing');
$r = $s->run('FETCH 1:* FLAGS');
like($r, qr/^a\d+ (OK|BAD|NO)\b/m, 'empty: fetch 1:* answered');
unlike($r, qr/^\* \d+ FETCH/m, 'empty: fetch 1:* nothing');
like($s->run('SEARCH 1:*'), qr/^\* SEARCH\r\n(.*\r\n)?a\d+ OK\b/m,
     'empty: search 1:*');
like($s->run('UID STORE 1:* +FLAGS (\Seen)'), qr/^a\d+ OK\b/m,
     'empty: uid store 1:*');
like($s->run('STORE * +FLAGS (\Seen)'), qr/^a\d+ (OK|BAD|NO)\b/m,
     'empty: store *');
like($s->run('UID COPY 1:* INBOX'), qr/^a\d+ (OK|NO)\b/m,
     'empty: uid copy 1:*');
like($s->run('EXPUNGE'), qr/^a\d+ OK\b/m, 'empty: expunge');
is(scalar(my @f = $t->maildir_files($U)), 2, 'empty: inbox unchanged');

$s->run_ok('SELECT INBOX', 'select inbox');

like($s->run('FETCH 0 FLAGS'), qr/^a\d+ BAD\b/m, 'fetch 0');
like($s->run('FETCH 0:1 FLAGS'), qr/^a\d+ BAD\b/m, 'fetch 0:1');
like($s->run('UID FETCH 0 FLAGS'), qr/^a\d+ BAD\b/m, 'uid fetch 0');
like($s->run('FETCH 4294967295 FLAGS'), qr/^a\d+ (BAD|NO)\b/m,
     'fetch 4294967295 beyond the mailbox');
like($s->run('FETCH 4294967296 FLAGS'), qr/^a\d+ BAD\b/m,
     'fetch 4294967296');
like($s->run('FETCH 01 FLAGS'), qr/^a\d+ BAD\b/m, 'fetch 01');
like($s->run('FETCH 1,,2 FLAGS'), qr/^a\d+ BAD\b/m, 'fetch 1,,2');
like($s->run('FETCH 1: FLAGS'), qr/^a\d+ BAD\b/m, 'fetch 1:');
like($s->run('FETCH -1 FLAGS'), qr/^a\d+ BAD\b/m, 'fetch -1');
like($s->run('FETCH 99999999999999999999 FLAGS'), qr/^a\d+ BAD\b/m,
     'fetch 2^66');

$r = $s->run('UID FETCH 4294967295 FLAGS');
like($r, qr/^a\d+ OK\b/m, 'uid fetch 4294967295');
unlike($r, qr/^\* \d+ FETCH/m, 'uid fetch 4294967295: nothing');

# RFC 3501 6.4.8: "n:*" with n above the last UID still names the last

$r = $s->run('UID FETCH 4294967295:* FLAGS');
like($r, qr/^\* 2 FETCH \(.*UID 2\b.*\)\r\n(.*\r\n)?a\d+ OK\b/m,
     'uid fetch 4294967295:* is the last message');

$r = $s->run('FETCH *:1 FLAGS');
is(scalar(() = $r =~ /^\* \d FETCH/mg), 2, 'fetch *:1 both');
$r = $s->run('UID SEARCH UID 4294967295');
like($r, qr/^\* SEARCH\r\n/m, 'uid search uid 4294967295');
alive($s, 'alive after sequence sets');

###############################################################################

# literals over the limits; in the default limits (8143) first

$s = imap(8143);

# synchronizing, too large: refused at once, no "+", the session goes on

$s->print("L1 LOGIN {99999999}\r\n");
$r = $s->read();
like($r, qr/^L1 (BAD|NO)\b/, 'sync literal too large: refused');
alive($s, 'sync literal too large: session goes on');

$s = imap_in(8143) if $s->eof(0.1);
user_login($s);

$s->print("L2 APPEND INBOX {99999999}\r\n");
like($s->read(), qr/^L2 NO \[TOOBIG\]/, 'sync append too large: TOOBIG');
alive($s, 'sync append too large: session goes on');

$s->print("L3 LOGIN {18446744073709551616}\r\n");
like($s->read(), qr/^L3 (BAD|NO)\b/, 'literal size above 2^64-1');
alive($s, 'session goes on after a size above 2^64-1');

$s->print("L4 LOGIN {}\r\n");
like($s->read(), qr/^(L4|\*) BAD\b/, 'literal {}');
$s->print("L5 LOGIN {-1}\r\n");
like($s->read(), qr/^(L5|\*) BAD\b/, 'literal {-1}');
alive($s, 'session goes on after bad literal headers');

is(scalar(@f = $t->maildir_files($U)), 2, 'nothing appended');

# the small limits of 8146: max_literal 1k, max_append 10k, max_line 8k

$s = imap_in(8146);

# non-synchronizing, too large: the octets are skipped; commands hidden
# in them are never run

my $hidden = join('', map { "h$_ CREATE Hidden$_\r\n" } 1 .. 100);

$s->print("L6 STATUS {" . length($hidden) . "+}\r\n$hidden (MESSAGES)\r\n");
$r = $s->read();
like($r, qr/^L6 (BAD|NO)\b/, 'non-sync literal too large: refused');
alive($s, 'non-sync literal too large: session goes on');

my $msg = "Subject: big\r\n\r\n" . join('', map { "h$_ CREATE Big$_\r\n" }
                                          1 .. 1000);

$s->print("L7 APPEND INBOX {" . length($msg) . "+}\r\n$msg\r\n");
like($s->read(), qr/^L7 NO \[TOOBIG\]/, 'non-sync append too large');
alive($s, 'non-sync append too large: session goes on');

$s->print("L8 APPEND INBOX {20000}\r\n");
like($s->read(), qr/^L8 NO \[TOOBIG\]/, 'sync append over imap_max_append');
alive($s, 'sync append over the limit: session goes on');

# two literals of one command together over max_literal

$s->print("L9 LOGIN {600}\r\n");
like($s->read(), qr/^\+/, 'first literal accepted');
$s->print(('u' x 600) . " {600}\r\n");
like($s->read(), qr/^L9 (BAD|NO)\b/, 'literals together over the limit');
alive($s, 'session goes on after two literals');

# a message under the limit is accepted

my $ok = $s->append('INBOX', "Subject: small\r\n\r\nsmall\r\n");
like($ok, qr/^a\d+ OK\b/m, 'append under the limit');

is(scalar(@f = $t->maildir_files($U)), 3, 'only the small one appended');
ok(!grep(-d, map { "$md/.$_" } qw/ Hidden1 Hidden100 Big1 Big1000 /),
   'no command from inside a literal ran');

# an overlong line: BAD, and the session is closed (RFC 9051 7.1.5)

$s->send('o1 SEARCH ' . join(' ', ('ALL') x 3000));
$r = $s->read();
like($r, qr/^(o1|\*) BAD\b/, 'overlong line refused');
like($s->read(), qr/^\* BYE\b/, 'overlong line: BYE');
ok($s->eof(), 'overlong line: connection closed');

# a huge non-synchronizing literal (over 256 MB): refused, closed

$s = imap_in(8146);
$s->print("L10 APPEND INBOX {18446744073709551615+}\r\nSubject: x\r\n\r\n");
like($s->read(), qr/^L10 NO \[TOOBIG\]/, 'huge non-sync literal refused');
like($s->read(), qr/^\* BYE\b/, 'huge non-sync literal: BYE');
ok($s->eof(), 'huge non-sync literal: connection closed');
$s->close();

###############################################################################

# more refusals: AUTHENTICATE, IDLE, APPEND, flags, sections, search keys

$s = imap(8143);

$s->send('x1 AUTHENTICATE PLAIN');
like($s->read(), qr/^\+/, 'authenticate continuation');
$s->send('*');
like($s->read(), qr/^x1 BAD\b/, 'authenticate cancelled: BAD');
$s->send('x2 AUTHENTICATE PLAIN');
$s->read();
$s->send('!!!!');
like($s->read(), qr/^x2 (BAD|NO)\b/, 'authenticate invalid base64');
$s->send('DONE');
like($s->read(), qr/^(DONE|\*) BAD\b/, 'DONE outside IDLE');
alive($s, 'alive after bad authentication');

user_login($s);
$s->run_ok('SELECT INBOX', 'select for refusals');

$s->send('x3 IDLE');
like($s->read(), qr/^\+/, 'idle');
$s->send('FOO');
like($s->read(), qr/^x3 BAD\b/, 'idle ended by something else: BAD');
alive($s, 'alive after a bad IDLE end');

# APPEND to a mailbox that does not exist: TRYCREATE, with the octets
# of a synchronizing literal if "+" was sent, and never run as commands

$hidden = "h1 CREATE Hidden1\r\n";

like(append_raw($s, 'x4', 'Nope', '{', $hidden), qr/^x4 NO \[TRYCREATE\]/m,
     'append to no mailbox: TRYCREATE');
like(append_raw($s, 'x5', 'Nope', '{', $hidden, '+'),
     qr/^x5 NO \[TRYCREATE\]/m, 'append non-sync to no mailbox: TRYCREATE');
alive($s, 'alive after APPEND to no mailbox');
ok(!-d "$md/.Hidden1" && !-d "$md/.Nope", 'nothing created by APPEND');

# flags

like($s->run('STORE 1 +FLAGS (\Recent)'), qr/^a\d+ BAD\b/m, 'store \Recent');
like($s->run('STORE 1 +FLAGS (\Foo)'), qr/^a\d+ BAD\b/m, 'store \Foo');
like($s->run('STORE 1 +FLAGS (foo])'), qr/^a\d+ BAD\b/m, 'store foo]');
like($s->run('STORE 1 FLAGS \Seen'), qr/^a\d+ (OK|BAD)\b/m,
     'store a flag without parentheses: answered');
like($s->run('STORE 1 +FLAGS (' . join(' ', map { "kw$_" } 1 .. 70) . ')'),
     qr/^a\d+ NO\b/m, 'store 70 keywords: NO');
$r = $s->run('FETCH 1 FLAGS');
unlike($r, qr/kw\d/, 'no keyword stored');

# a NUL in an APPEND message: refused in a literal, a literal8 may have it

my $nul = "Subject: nul\r\n\r\na\0b\r\n";
@f = $t->maildir_files($U);

# RFC 3501 9: literal = "{" number "}" CRLF *CHAR8, CHAR8 without NUL

like(append_raw($s, 'x6', 'INBOX', '{', $nul), qr/^x6 (NO|BAD)\b/m,
     'append with a NUL in a literal refused');
is(scalar(my @g = $t->maildir_files($U)), scalar @f, 'nothing stored');

# RFC 3516 4.4: APPEND takes a literal8 when BINARY is announced

like(append_raw($s, 'x7', 'INBOX', '~{', $nul), qr/^x7 (OK|NO)\b/m,
     'append with a NUL in a literal8 answered OK or NO');
alive($s, 'alive after NUL in APPEND');

# sections, items, search keys

like($s->run('FETCH 1 BODY[0]'), qr/^a\d+ BAD\b/m, 'fetch body[0]');
like($s->run('FETCH 1 BODY[1.0]'), qr/^a\d+ BAD\b/m, 'fetch body[1.0]');
like($s->run('FETCH 1 BODY[HEADER.FIELDS ()]'), qr/^a\d+ BAD\b/m,
     'fetch header.fields ()');
like($s->run('FETCH 1 BODY[]<5.0>'), qr/^a\d+ BAD\b/m, 'fetch <5.0>');
like($s->run('FETCH 1 BODY[TEXT'), qr/^a\d+ BAD\b/m, 'fetch body[text');
like($s->run('FETCH 1 (FLAGS FOO)'), qr/^a\d+ BAD\b/m, 'fetch unknown item');
like($s->run('FETCH 1 BODY[' . join('.', (1) x 150) . ']'),
     qr/^a\d+ BAD\b/m, 'fetch 150 part numbers');
like($s->run('SEARCH CHARSET FOO-BAR ALL'), qr/^a\d+ NO \[BADCHARSET\b/m,
     'search unknown charset');
like($s->run('SEARCH SINCE 32-Jan-2026'), qr/^a\d+ BAD\b/m, 'search bad date');
like($s->run('SEARCH LARGER 99999999999999999999'), qr/^a\d+ BAD\b/m,
     'search larger 2^66');
like($s->run('SEARCH FOO'), qr/^a\d+ BAD\b/m, 'search unknown key');
like($s->run('SEARCH NOT'), qr/^a\d+ BAD\b/m, 'search NOT without key');
like($s->run('SEARCH OR ALL'), qr/^a\d+ BAD\b/m, 'search OR with one key');
alive($s, 'alive after bad sections and keys');

# mailboxes: INBOX, a \Noselect parent; a failed SELECT unselects

like($s->run('DELETE INBOX'), qr/^a\d+ NO\b/m, 'delete INBOX');
$s->run_ok('CREATE Parent/Child', 'create Parent/Child');
like($s->run('SELECT Parent'), qr/^a\d+ NO\b/m, 'select a \Noselect parent');
like($s->run('FETCH 1 FLAGS'), qr/^a\d+ BAD\b/m,
     'a failed SELECT leaves no mailbox selected');
like($s->run('RENAME Parent/Child INBOX'), qr/^a\d+ NO\b/m,
     'rename onto INBOX');
like($s->run('CREATE Parent/Child'), qr/^a\d+ NO\b/m, 'create again');
alive($s, 'alive after bad mailbox commands');

###############################################################################

# too many errors

$s = imap(8144);

my @r;

for my $i (1 .. 4) {
    $s->send("e$i FROB");
    while (defined(my $l = $s->read(1))) {
        push @r, $l;
    }
    last if grep { /^\* BYE/ } @r;
}

my $n = scalar grep { /^e\d+ BAD/ } @r;
ok(scalar(grep { /^\* BYE\b/ } @r), 'too many errors: BYE');
ok($n >= 2 && $n <= 3, 'too many errors: after max_errors');
ok($s->eof(), 'too many errors: closed');

###############################################################################

# plaintext off (8145): LOGINDISABLED until STARTTLS

$s = imap(8145);

$r = $s->run('CAPABILITY');
like($r, qr/^\* CAPABILITY .*\bLOGINDISABLED\b/m, 'logindisabled');
like($r, qr/^\* CAPABILITY .*\bSTARTTLS\b/m, 'starttls offered');
unlike($r, qr/^\* CAPABILITY .*\bAUTH=PLAIN\b/m, 'no auth=plain in the clear');

like($s->run("LOGIN $U $PASS"), qr/^a\d+ NO \[PRIVACYREQUIRED\]/m,
     'login refused in the clear');
like($s->run('AUTHENTICATE PLAIN ' . encode_base64("\0$U\0$PASS", '')),
     qr/^a\d+ (NO|BAD)\b/m, 'authenticate refused in the clear');

# a command sent with STARTTLS in the same packet is dropped

$s->print("t1 STARTTLS\r\nt2 LOGIN $U $PASS\r\n");
like($s->read(), qr/^t1 OK\b/, 'starttls');
ok($s->start_tls(), 'tls handshake');

$r = $s->run('CAPABILITY');
unlike($r, qr/^t2 /m, 'no answer to the injected command');
unlike($r, qr/LOGINDISABLED|STARTTLS/, 'capability after tls');
unlike($s->run('SELECT INBOX'), qr/^a\d+ OK/m, 'injected login did not run');
user_login($s);
$s->run_ok('SELECT INBOX', 'login over tls');

# dropped without LOGOUT: the worker must go on (a sanitizer build once
# found a use after free here)

$s->close();
alive(imap(8143), 'worker alive after a TLS session dropped');

###############################################################################

# wrong passwords, then the log

$s = imap(8143);
like($s->run("LOGIN $U Wrong-4b1d7a"), qr/^a\d+ NO\b/m, 'bad password');
like($s->run('AUTHENTICATE PLAIN '
             . encode_base64("\0$U\0Wrong-9e2c0f", '')),
     qr/^a\d+ NO\b/m, 'bad password, authenticate');
$s->close();

$s = imap(8143);
$s->run_ok('AUTHENTICATE PLAIN ' . encode_base64("\0$U\0$PASS", ''),
           'authenticate plain');
$s->run('LOGOUT');
$s->close();

$t->stop_server();

my $log = $t->read_file('logs/error.log');
my @secrets = ($PASS, 'Wrong-4b1d7a', 'Wrong-9e2c0f',
               encode_base64("\0$U\0$PASS", ''),
               encode_base64("\0$U\0Wrong-9e2c0f", ''));

is(scalar(grep { index($log, $_) >= 0 } @secrets), 0,
   'no password in the log');

###############################################################################

sub imap {
    my ($port) = @_;

    my $c = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port($port));
    $c->read();

    return $c;
}

# connected and logged in; a failed login shows in the tests that follow

sub imap_in {
    my ($port) = @_;

    my $c = imap($port);
    user_login($c);

    return $c;
}

sub user_login {
    my ($c) = @_;

    return scalar $c->run('LOGIN ' . Tern::Test::IMAP::quote($U) . ' '
                          . Tern::Test::IMAP::quote($PASS));
}

sub alive {
    my ($c, $name) = @_;
    like(scalar $c->run('NOOP'), qr/^a\d+ OK\b/m, $name);
}

# APPEND of $data to $mbox with a literal "$open$n$plus}"; sends the
# octets unless refused before; the responses up to the tagged one

sub append_raw {
    my ($c, $tag, $mbox, $open, $data, $plus) = @_;

    $plus //= '';
    $c->send("$tag APPEND $mbox $open" . length($data) . "$plus}");

    if (!$plus) {
        my $r = $c->read();
        return $r unless defined $r && $r =~ /^\+/;
    }

    $c->print("$data\r\n");

    return scalar $c->tagged($tag);
}

sub create_literal {
    my ($c, $name) = @_;

    my $tag = $c->cmd('CREATE {' . length($name) . '}');
    my $r = $c->read();
    return $r unless defined $r && $r =~ /^\+/;

    $c->print("$name\r\n");

    return scalar $c->tagged($tag);
}

# the Maildir++ folders of the user

sub folders {
    opendir(my $dh, $md) or return ();
    my @d = sort grep { /^\.[^.]/ && -d "$md/$_" } readdir $dh;
    closedir $dh;
    return @d;
}

sub smtp_deliver {
    my ($rcpt, $data) = @_;
    return Tern::Test::SMTP::deliver(port(8025), $rcpt, $data);
}

###############################################################################
