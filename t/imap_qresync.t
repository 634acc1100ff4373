#!/usr/bin/perl

# IMAP QRESYNC (RFC 7162 3.2; tn_mail_imap_qresync.c): a client notes
# UIDVALIDITY and HIGHESTMODSEQ and leaves; another session changes
# flags, expunges and appends; the first comes back with ENABLE QRESYNC
# and SELECT (QRESYNC ...) and is told exactly what vanished and what
# changed, also restricted by known uids; UID FETCH (CHANGEDSINCE m
# VANISHED); VANISHED instead of EXPUNGE in a live session (a sync,
# EXPUNGE, UID EXPUNGE, MOVE; CLOSE is silent); the errors.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Tern::Test;
use Tern::Test::IMAP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->has(qw/imap/);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF2');
mail {
    server_name  mail.example.test;

    server {
        listen 127.0.0.1:%%PORT_8143%%;
        protocol imap;
        imap_auth_plaintext on;
    }
}
EOF2

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $U = 'u@example.test';

sub session {
    my $s = Tern::Test::IMAP->new();
    $s->ok('greeting');
    $s->login($U, 'secret');
    return $s;
}

sub msg {
    my ($n) = @_;
    return join "\r\n", 'From: a@example.test', 'To: u@example.test',
        "Subject: message $n", '', "Body $n.", '';
}

sub fetches {
    my ($r) = @_;
    my @f;
    for my $l (split /\r\n/, $r) {
        next unless $l =~ /^\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)$/;
        push @f, "$1:$2:$3";
    }
    return \@f;
}

sub vanished {
    my ($r) = @_;
    my @v = $r =~ /^\* VANISHED \(EARLIER\) ([^\r\n]*)\r\n/mg;
    return join ' ', @v;
}

###############################################################################

# six messages, uids 1..6

my $s = session();
for my $n (1 .. 6) {
    like(scalar $s->append('INBOX', msg($n)), qr/^a\d+ OK/m, "APPEND $n");
}

like($s->run('CAPABILITY'), qr/^\* CAPABILITY .* QRESYNC[ \r]/m,
     'QRESYNC advertised');

my $r = $s->run('SELECT INBOX');
my ($uv) = $r =~ /\[UIDVALIDITY (\d+)\]/;
my ($ms) = $r =~ /\[HIGHESTMODSEQ (\d+)\]/;
ok($uv && $ms, 'UIDVALIDITY and HIGHESTMODSEQ noted');

# without ENABLE QRESYNC
like($s->run("SELECT INBOX (QRESYNC ($uv $ms))"), qr/^a\d+ BAD/m,
     'QRESYNC without ENABLE: BAD');
$s->run_ok('SELECT INBOX', 'select again');
like($s->run("UID FETCH 1:* (FLAGS) (CHANGEDSINCE $ms VANISHED)"),
     qr/^a\d+ BAD/m, 'VANISHED without ENABLE: BAD');
$s->run('LOGOUT');

# another session: flags, expunges, an append

my $b = session();
$b->run_ok('SELECT INBOX', 'B: SELECT');
$b->run_ok('UID STORE 2 +FLAGS (\Flagged)', 'B: flag 2');
$b->run_ok('UID STORE 3:5 +FLAGS (\Deleted)', 'B: delete 3:5');
$b->run_ok('EXPUNGE', 'B: EXPUNGE');
like(scalar $b->append('INBOX', msg(7)), qr/^a\d+ OK .*APPENDUID \d+ 7\]/m,
     'B: APPEND 7');
$b->run('LOGOUT');

# the first client comes back

$s = session();
like($s->run('ENABLE QRESYNC'), qr/^\* ENABLED QRESYNC\r\n.*^a\d+ OK/ms,
     'ENABLE QRESYNC');

$r = $s->run("SELECT INBOX (QRESYNC ($uv $ms))");
like($r, qr/^a\d+ OK \[READ-WRITE\]/m, 'SELECT QRESYNC');
is(vanished($r), '3:5', 'VANISHED (EARLIER) 3:5');
is_deeply(fetches($r), ['2:2:\Flagged', '4:7:'], 'FETCH of 2 and 7');
like($r, qr/^\* VANISHED .*^\* 2 FETCH .*^a\d+ OK/ms,
     'VANISHED, FETCH, then the tagged OK');
unlike($r, qr/EXPUNGE/, 'no EXPUNGE');

# known uids restrict both
$r = $s->run("EXAMINE INBOX (QRESYNC ($uv $ms 1:4))");
like($r, qr/^\* OK \[CLOSED\]/m, 'CLOSED');
is(vanished($r), '3:4', 'known uids: VANISHED (EARLIER) 3:4');
is_deeply(fetches($r), ['2:2:\Flagged'], 'known uids: FETCH of 2');

$r = $s->run("SELECT INBOX (QRESYNC ($uv $ms 5,7 (1:2 1:2)))");
like($r, qr/^a\d+ OK/m, 'with seq-match-data');
is(vanished($r), '5', 'known 5,7: VANISHED (EARLIER) 5');
is_deeply(fetches($r), ['4:7:'], 'known 5,7: FETCH of 7');

# nothing changed since now
my ($ms2) = $r =~ /\[HIGHESTMODSEQ (\d+)\]/;
$r = $s->run("SELECT INBOX (QRESYNC ($uv $ms2))");
is(vanished($r), '', 'up to date: no VANISHED');
is_deeply(fetches($r), [], 'up to date: no FETCH');

# another uidvalidity: nothing told
$r = $s->run('SELECT INBOX (QRESYNC (' . ($uv + 1) . " $ms))");
like($r, qr/^a\d+ OK/m, 'uidvalidity mismatch: OK');
is(vanished($r), '', 'uidvalidity mismatch: no VANISHED');
is_deeply(fetches($r), [], 'uidvalidity mismatch: no FETCH');

# bad parameters
like($s->run('SELECT INBOX (QRESYNC (0 1))'), qr/^a\d+ BAD/m,
     'uidvalidity 0: BAD');
like($s->run("SELECT INBOX (QRESYNC ($uv))"), qr/^a\d+ BAD/m,
     'no modseq: BAD');
like($s->run("SELECT INBOX (QRESYNC ($uv $ms 1:x))"), qr/^a\d+ BAD/m,
     'bad known uids: BAD');
like($s->run("SELECT INBOX (QRESYNC ($uv $ms 1:4 (1)))"), qr/^a\d+ BAD/m,
     'bad seq-match-data: BAD');

# UID FETCH (CHANGEDSINCE m VANISHED)

$s->run_ok('SELECT INBOX', 'SELECT');
$r = $s->run("UID FETCH 1:* FLAGS (CHANGEDSINCE $ms VANISHED)");
like($r, qr/^a\d+ OK/m, 'UID FETCH VANISHED');
is(vanished($r), '3:5', 'UID FETCH: VANISHED (EARLIER) 3:5');
like($r, qr/^\* VANISHED .*^\* 2 FETCH .*^\* 4 FETCH .*^a\d+ OK/ms,
     'UID FETCH: VANISHED first, then FETCH of 2 and 7');
is(scalar(() = $r =~ /^\* \d+ FETCH/mg), 2, 'UID FETCH: two FETCH');

$r = $s->run("UID FETCH 1:3 FLAGS (CHANGEDSINCE $ms VANISHED)");
is(vanished($r), '3', 'UID FETCH 1:3: VANISHED (EARLIER) 3');
is(scalar(() = $r =~ /^\* 2 FETCH \(.*UID 2/mg), 1, 'UID FETCH 1:3: 2');
is(scalar(() = $r =~ /^\* \d+ FETCH/mg), 1, 'UID FETCH 1:3: only 2');

like($s->run("FETCH 1:* FLAGS (CHANGEDSINCE $ms VANISHED)"),
     qr/^a\d+ BAD/m, 'VANISHED without UID: BAD');
like($s->run('UID FETCH 1:* FLAGS (VANISHED)'), qr/^a\d+ BAD/m,
     'VANISHED without CHANGEDSINCE: BAD');

# live: VANISHED instead of EXPUNGE

$b = session();
$b->run_ok('SELECT INBOX', 'B: SELECT');
$b->run_ok('UID STORE 6 +FLAGS (\Deleted)', 'B: delete 6');
$b->run_ok('EXPUNGE', 'B: EXPUNGE 6');

$r = $s->run('NOOP');
like($r, qr/^\* VANISHED 6\r\n/m, 'sync: VANISHED 6');
unlike($r, qr/EXPUNGE|EARLIER/, 'sync: no EXPUNGE');

$s->run_ok('UID STORE 1 +FLAGS.SILENT (\Deleted)', 'delete 1');
$r = $s->run('EXPUNGE');
like($r, qr/^\* VANISHED 1\r\n/m, 'EXPUNGE: VANISHED 1');
unlike($r, qr/^\* \d+ EXPUNGE/m, 'EXPUNGE: no EXPUNGE');

$s->run_ok('UID STORE 2 +FLAGS.SILENT (\Deleted)', 'delete 2');
$r = $s->run('UID EXPUNGE 2');
like($r, qr/^\* VANISHED 2\r\n/m, 'UID EXPUNGE: VANISHED 2');
unlike($r, qr/^\* \d+ EXPUNGE/m, 'UID EXPUNGE: no EXPUNGE');

$s->run_ok('CREATE Other', 'CREATE');
like(scalar $s->append('INBOX', msg(8)), qr/^a\d+ OK/m, 'APPEND 8');
$r = $s->run('UID MOVE 7 Other');
like($r, qr/^\* VANISHED 7\r\n/m, 'MOVE: VANISHED 7');
unlike($r, qr/^\* \d+ EXPUNGE/m, 'MOVE: no EXPUNGE');

$s->run_ok('UID STORE 8 +FLAGS.SILENT (\Deleted)', 'delete 8');
$r = $s->run('CLOSE');
like($r, qr/^a\d+ OK/m, 'CLOSE');
unlike($r, qr/VANISHED|EXPUNGE/, 'CLOSE is silent');

$r = $s->run('SELECT INBOX');
like($r, qr/^\* 0 EXISTS/m, 'INBOX empty');
$b->run('LOGOUT');

# the expunged log pruned: every known uid the mailbox lacks vanished

$s->run_ok('CREATE Pruned', 'CREATE Pruned');
for my $n (1 .. 5) {
    like(scalar $s->append('Pruned', msg($n)), qr/^a\d+ OK/m,
         "Pruned: APPEND $n");
}
$r = $s->run('SELECT Pruned');
($uv) = $r =~ /\[UIDVALIDITY (\d+)\]/;
($ms) = $r =~ /\[HIGHESTMODSEQ (\d+)\]/;
$s->run_ok('UID STORE 2,4 +FLAGS.SILENT (\Deleted)', 'Pruned: delete');
$s->run_ok('EXPUNGE', 'Pruned: EXPUNGE');
$s->run_ok('UID STORE 5 +FLAGS.SILENT (\Seen)', 'Pruned: seen 5');
$s->run_ok('UNSELECT', 'UNSELECT');

SKIP: {
    skip 'no sqlite3', 6 if system('sqlite3 -version >/dev/null 2>&1');

    my $db = $t->maildir($U) . '/index.db';
    is(system('sqlite3', $db,
              "UPDATE mailboxes SET expunged_modseq = highestmodseq"
              . " WHERE name = 'Pruned';"
              . " DELETE FROM expunged WHERE mailbox_id ="
              . " (SELECT id FROM mailboxes WHERE name = 'Pruned');"),
       0, 'the log pruned');

    $r = $s->run("SELECT Pruned (QRESYNC ($uv $ms))");
    like($r, qr/^a\d+ OK/m, 'pruned: SELECT QRESYNC');
    is(vanished($r), '2,4', 'pruned: VANISHED (EARLIER) 2,4');
    is_deeply(fetches($r), ['3:5:\Seen'], 'pruned: FETCH of 5');

    $r = $s->run("SELECT Pruned (QRESYNC ($uv $ms 3:9))");
    is(vanished($r), '4', 'pruned, known 3:9: VANISHED (EARLIER) 4');

    $r = $s->run("UID FETCH 1:* FLAGS (CHANGEDSINCE $ms VANISHED)");
    is(vanished($r), '2,4', 'pruned: UID FETCH VANISHED 2,4');
}

$s->run('LOGOUT');

$t->done_testing();

###############################################################################
