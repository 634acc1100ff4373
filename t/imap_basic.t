#!/usr/bin/perl

# IMAP: the greeting and capabilities, LOGIN and AUTHENTICATE PLAIN (with
# SASL-IR and after a continuation), LOGINDISABLED and STARTTLS (with the
# CVE-2011-0411 injection), the mailbox commands with the Maildir++
# folders they make on disk, APPEND and the file it writes, the SELECT
# responses, IDLE seeing a delivery by SMTP within a second with two
# workers and two sessions, a too-large literal refused before it is
# sent, bad commands, commands in the wrong state, a too-long line, the
# idle timeout, and Mail::IMAPClient as a real client.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw/ encode_base64 /;
use Socket qw/ CRLF /;
use Test::More;
use Time::HiRes qw/ sleep time /;

use Tern::Test;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->has('socket_ssl');

Tern::Test::gen_cert($t, 'tern');

(my $conf = Tern::Test::conf_base())
    =~ s/worker_processes 1;/worker_processes 2;/;

$t->write_file_expand('tern.conf', $conf . <<'EOF');
mail {
    server_name  mail.example.test;
    ssl_certificate      tern.crt;
    ssl_certificate_key  tern.key;
    auth_failure_delay   100ms;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server { listen 127.0.0.1:%%PORT_8143%%; protocol imap; }
    server { listen 127.0.0.1:%%PORT_8993%% ssl; protocol imap; }
    server {
        listen 127.0.0.1:%%PORT_8144%%;
        protocol imap;
        imap_auth_plaintext on;
        imap_max_append 2k;
    }
    server {
        listen 127.0.0.1:%%PORT_8145%%;
        protocol imap;
        imap_auth_plaintext on;
        imap_timeout 1s;
        max_errors 3;
        imap_max_line 8k;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret pass');
$t->add_user('w@example.test', 'other');

my $U = 'u@example.test';
my $PASS = 'secret pass';
my $MD = $t->maildir($U);

###############################################################################

# greeting and capabilities, not authenticated

my $s = imap(8143);
my $g = $s->getline();
like($g,
    qr/^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 [^\]]*\] Tern IMAP ready\r\n$/,
    'greeting with capabilities');
like($g, qr/ STARTTLS/, 'greeting: STARTTLS');
like($g, qr/ LOGINDISABLED/, 'greeting: LOGINDISABLED without TLS');
unlike($g, qr/AUTH=PLAIN/, 'greeting: no AUTH=PLAIN without TLS');

my ($u, $r) = $s->cmd('CAPABILITY');
like($u, qr/^\* CAPABILITY IMAP4rev1 IMAP4rev2 .*LITERAL\+.*SASL-IR.*IDLE/m,
    'CAPABILITY');
like($r, qr/^a\d+ OK /, 'CAPABILITY ok');

($u, $r) = $s->cmd(qq{LOGIN "$U" "$PASS"});
like($r, qr/^a\d+ NO \[PRIVACYREQUIRED\]/, 'LOGIN refused without TLS');

($u, $r) = $s->cmd('AUTHENTICATE PLAIN ' . plain($U, $PASS));
like($r, qr/^a\d+ NO \[PRIVACYREQUIRED\]/, 'AUTHENTICATE refused without TLS');

($u, $r) = $s->cmd('SELECT INBOX');
like($r, qr/^a\d+ BAD .*state/, 'SELECT before login: BAD');

($u, $r) = $s->cmd('FETCH 1 FLAGS');
like($r, qr/^a\d+ BAD/, 'FETCH before login: BAD');

($u, $r) = $s->cmd('NOOP');
like($r, qr/^a\d+ OK/, 'NOOP');

# APPEND before login: refused before the literal, no spool file

$s->print("ap1 APPEND INBOX {10}\r\n");
like($s->getline(), qr/^ap1 BAD /, 'APPEND before login: BAD, no continuation');
$s->print("ap2 APPEND INBOX {8+}\r\nap3 NOOP\r\n");
like($s->getline(), qr/^ap2 BAD /, 'APPEND before login with LITERAL+: BAD');
($u, $r) = $s->cmd('NOOP');
like($u . $r, qr/\A\Qa\E\d+ OK/, 'the literal octets did not run');

# STARTTLS with a command pipelined behind it in the same write

$s->print("s1 STARTTLS\r\ns2 CAPABILITY\r\n");
like($s->getline(), qr/^s1 OK /, 'STARTTLS ok');
ok($s->start_tls(), 'TLS handshake');

($u, $r) = $s->cmd('CAPABILITY');
unlike($u . $r, qr/^s2 /m, 'no reply to a command pipelined after STARTTLS');
like($u, qr/AUTH=PLAIN/, 'AUTH=PLAIN under TLS');
unlike($u, qr/STARTTLS|LOGINDISABLED/, 'no STARTTLS, LOGINDISABLED under TLS');

($u, $r) = $s->cmd('STARTTLS');
like($r, qr/^a\d+ BAD/, 'STARTTLS twice: BAD');

($u, $r) = $s->cmd(qq{LOGIN "$U" "$PASS"});
like($r, qr/^a\d+ OK \[CAPABILITY [^\]]*NAMESPACE[^\]]*\] /,
    'LOGIN under TLS, capabilities after login');

($u, $r) = $s->cmd('LOGOUT');
like($u, qr/^\* BYE /, 'LOGOUT: BYE');
like($r, qr/^a\d+ OK/, 'LOGOUT: OK');
ok($s->eof(3), 'LOGOUT: closed');

# implicit TLS

$s = imap(8993, SSL => 1);
like($s->getline(), qr/^\* OK \[CAPABILITY [^\]]*AUTH=PLAIN[^\]]*\] /,
    'implicit TLS: AUTH=PLAIN');
($u, $r) = $s->cmd('AUTHENTICATE PLAIN ' . plain($U, $PASS));
like($r, qr/^a\d+ OK \[CAPABILITY /,
    'implicit TLS: AUTHENTICATE with SASL-IR');
$s->cmd('LOGOUT');

###############################################################################

# logins on a server that allows them in the clear

$s = imap(8144);
$s->getline();

($u, $r) = $s->cmd(qq{LOGIN "$U" "wrong"});
like($r, qr/^a\d+ NO \[AUTHENTICATIONFAILED\]/, 'LOGIN wrong password');

$s->print("x1 AUTHENTICATE PLAIN\r\n");
like($s->getline(), qr/^\+ ?\r\n$/, 'AUTHENTICATE: continuation');
$s->print("*\r\n");
like($s->getline(), qr/^x1 BAD /, 'AUTHENTICATE cancelled');

$s->print("x2 AUTHENTICATE PLAIN\r\n");
$s->getline();
$s->print(plain($U, $PASS) . "\r\n");
like($s->getline(), qr/^x2 OK \[CAPABILITY /,
    'AUTHENTICATE after continuation');

($u, $r) = $s->cmd(qq{LOGIN "$U" "$PASS"});
like($r, qr/^a\d+ BAD .*state/, 'LOGIN after login: BAD');

($u, $r) = $s->cmd('ID NIL');
like($u, qr/^\* ID \("name" "Tern"\)/, 'ID');

($u, $r) = $s->cmd('NAMESPACE');
like($u, qr/^\* NAMESPACE \(\(\"\" \"\/\"\)\) NIL NIL/, 'NAMESPACE');

($u, $r) = $s->cmd('ENABLE CONDSTORE FOO');
like($u, qr/^\* ENABLED CONDSTORE\r\n/, 'ENABLE');

($u, $r) = $s->cmd('FETCH 1 FLAGS');
like($r, qr/^a\d+ BAD .*state/, 'FETCH without a mailbox: BAD');

# mailboxes

($u, $r) = $s->cmd('LIST "" "*"');
like($r, qr/^a\d+ OK/, 'LIST');
like($u, qr/^\* LIST \([^)]*\) "\/" "?INBOX"?\r\n/m, 'LIST: INBOX');
like($u, qr/^\* LIST \([^)]*\\Sent[^)]*\) "\/" "?Sent"?\r\n/m,
    'LIST: Sent with \\Sent');
like($u, qr/\\HasNoChildren/, 'LIST: CHILDREN');

($u, $r) = $s->cmd('LIST "" ""');
like($u, qr/^\* LIST \(\\Noselect\) "\/" ""\r\n/, 'LIST: the delimiter');

($u, $r) = $s->cmd('CREATE "Work/2026"');
like($r, qr/^a\d+ OK/, 'CREATE Work/2026');
ok(-d "$MD/.Work.2026/cur", 'CREATE: folder on disk');

($u, $r) = $s->cmd('CREATE "Work/2026"');
like($r, qr/^a\d+ NO /, 'CREATE again: NO');

($u, $r) = $s->cmd('CREATE "Lists" (USE (\\Flagged))');
like($r, qr/^a\d+ NO \[USEATTR\]/, 'CREATE-SPECIAL-USE: unknown use');

($u, $r) = $s->cmd('CREATE "Lists" (USE (\\Drafts))');
like($r, qr/^a\d+ (OK|NO) /, 'CREATE-SPECIAL-USE: answered');

($u, $r) = $s->cmd('LIST "" "Work/%"');
like($u, qr/^\* LIST \([^)]*\) "\/" "?Work\/2026"?\r\n/m, 'LIST with %');
unlike($u, qr/"?INBOX"?\r\n/, 'LIST with %: no INBOX');

($u, $r) = $s->cmd('LIST "" "%"');
like($u, qr/^\* LIST \([^)]*\\HasChildren[^)]*\) "\/" "?Work"?\r\n/m,
    'LIST: the parent with \\HasChildren');

($u, $r) = $s->cmd('LIST "" "inbox"');
like($u, qr/"?INBOX"?\r\n/, 'LIST: INBOX matches case-insensitively');

($u, $r) = $s->cmd('RENAME "Work/2026" "Work/2027"');
like($r, qr/^a\d+ OK/, 'RENAME');
ok(-d "$MD/.Work.2027/cur" && !-e "$MD/.Work.2026", 'RENAME on disk');

($u, $r) = $s->cmd('SUBSCRIBE "Work/2027"');
like($r, qr/^a\d+ OK/, 'SUBSCRIBE');

($u, $r) = $s->cmd('LSUB "" "*"');
like($u, qr/^\* LSUB \([^)]*\) "\/" "?Work\/2027"?\r\n/m, 'LSUB');

($u, $r) = $s->cmd('LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES))');
like($u, qr/^\* LIST \([^)]*\\Subscribed[^)]*\) "\/" "?Work\/2027"?\r\n/m,
    'LIST (SUBSCRIBED)');
like($u, qr/^\* STATUS "?Work\/2027"? \(MESSAGES 0\)\r\n/m, 'LIST-STATUS');

($u, $r) = $s->cmd('UNSUBSCRIBE "Work/2027"');
like($r, qr/^a\d+ OK/, 'UNSUBSCRIBE');

($u, $r) = $s->cmd('DELETE "Work/2027"');
like($r, qr/^a\d+ OK/, 'DELETE');
ok(!-e "$MD/.Work.2027", 'DELETE on disk');

($u, $r) = $s->cmd('DELETE "Nonexistent"');
like($r, qr/^a\d+ NO /, 'DELETE of a mailbox that does not exist');

($u, $r) = $s->cmd('CREATE "../../etc"');
like($r, qr/^a\d+ (NO|BAD) /, 'CREATE ../../etc refused');

# APPEND, then the file on disk

my $msg = "From: a\@example.test\r\nSubject: appended\r\n\r\n"
    . "line 1\r\nline 2\r\n";

$s->print('p1 APPEND INBOX (\Seen $Label) {' . length($msg) . "}\r\n");
like($s->getline(), qr/^\+ /, 'APPEND: continuation');
$s->print($msg . "\r\n");
$r = $s->getline();
like($r, qr/^p1 OK \[APPENDUID \d+ 1\] /, 'APPEND: APPENDUID');

my @files = glob("$MD/cur/*");
is(scalar @files, 1, 'APPEND: one file in cur/');
(my $lf = $msg) =~ s/\r\n/\n/g;
is(slurp($files[0]), $lf, 'APPEND: the file has LF line ends');
like($files[0], qr/:2,[A-Z]*S/, 'APPEND: \\Seen in the file name');

# LITERAL+ and a date

$s->print('p2 APPEND INBOX "01-Feb-2026 10:00:00 +0100" {'
    . length($msg) . "+}\r\n" . $msg . "\r\n");
like($s->getline(), qr/^p2 OK \[APPENDUID \d+ 2\] /, 'APPEND with LITERAL+');

($u, $r) = $s->cmd("APPEND Nonexistent {3+}\r\nabc");
like($r, qr/^a\d+ NO \[TRYCREATE\]/, 'APPEND to a missing mailbox: TRYCREATE');
is(scalar(() = glob($t->testdir() . '/spool/*')), 0, 'no spool file left');

# too large: refused before the literal is sent

$s->print("big APPEND INBOX {5000}\r\n");
$r = $s->getline();
like($r, qr/^big NO \[TOOBIG\]/, 'too large literal: NO [TOOBIG] first');
($u, $r) = $s->cmd('NOOP');
like($r, qr/^a\d+ OK/, 'session goes on after TOOBIG');

# a too-large non-synchronizing literal is skipped, never run

$s->print("big2 APPEND INBOX {3000+}\r\n" . ('x' x 2990) . "a9 LOGOUT\r\n");
like($s->getline(), qr/^big2 NO \[TOOBIG\]/, 'LITERAL+ too large: TOOBIG');
($u, $r) = $s->cmd('NOOP');
like($r, qr/^a\d+ OK/, 'its octets did not run as commands');

# STATUS

($u, $r) = $s->cmd('STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)');
my $status = '\(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 1 SIZE \d+\)';
like($u, qr/^\* STATUS "?INBOX"? $status\r\n/,
    'STATUS');

($u, $r) = $s->cmd('STATUS INBOX (FOO)');
like($r, qr/^a\d+ BAD/, 'STATUS with an unknown item');

# SELECT and EXAMINE

($u, $r) = $s->cmd('SELECT INBOX');
like($u,
    qr/^\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft[^)]*\)\r\n/m,
    'SELECT: FLAGS');
like($u, qr/^\* OK \[PERMANENTFLAGS \([^)]*\\\*\)\]/m,
    'SELECT: PERMANENTFLAGS');
like($u, qr/^\* 2 EXISTS\r\n/m, 'SELECT: EXISTS');
like($u, qr/^\* \d+ RECENT\r\n/m, 'SELECT: RECENT');
like($u, qr/^\* OK \[UNSEEN 2\]/m, 'SELECT: UNSEEN');
like($u, qr/^\* OK \[UIDVALIDITY \d+\]/m, 'SELECT: UIDVALIDITY');
like($u, qr/^\* OK \[UIDNEXT 3\]/m, 'SELECT: UIDNEXT');
like($u, qr/^\* OK \[HIGHESTMODSEQ \d+\]/m, 'SELECT: HIGHESTMODSEQ');
like($r, qr/^a\d+ OK \[READ-WRITE\]/, 'SELECT: READ-WRITE');

($u, $r) = $s->cmd('EXAMINE INBOX');
like($r, qr/^a\d+ OK \[READ-ONLY\]/, 'EXAMINE: READ-ONLY');

($u, $r) = $s->cmd('SELECT INBOX');
like($u, qr/^\* OK \[CLOSED\]/m, 'SELECT while selected: [CLOSED]');

$s->print('p3 APPEND INBOX {' . length($msg) . "+}\r\n" . $msg . "\r\n");
($u, $r) = ('', '');
while (defined(my $l = $s->getline())) {
    $r = $l, last if $l =~ /^p3 /;
    $u .= $l;
}
like($u, qr/^\* 3 EXISTS\r\n/m, 'APPEND to the selected mailbox: EXISTS');
like($r, qr/^p3 OK \[APPENDUID \d+ 3\]/, 'APPEND to the selected mailbox');

($u, $r) = $s->cmd('GETQUOTAROOT INBOX');
like($u, qr/^\* QUOTAROOT "?INBOX"?/m, 'GETQUOTAROOT');

($u, $r) = $s->cmd('CHECK');
like($r, qr/^a\d+ OK/, 'CHECK');

($u, $r) = $s->cmd('ENABLE IMAP4rev2');
like($r, qr/^a\d+ BAD .*state/, 'ENABLE in the selected state: BAD');

($u, $r) = $s->cmd('FOO');
like($r, qr/^a\d+ BAD /, 'unknown command: BAD');

$s->print("\r\n");
like($s->getline(), qr/^\* BAD /, 'empty line: * BAD');

# pipelining: answers in order

$s->print("q1 NOOP\r\nq2 CAPABILITY\r\nq3 STATUS INBOX (MESSAGES)\r\n");
my @tags;
while (defined(my $l = $s->getline())) {
    push @tags, $1 if $l =~ /^(q\d) /;
    last if @tags == 3;
}
is("@tags", 'q1 q2 q3', 'pipelined commands answered in order');

# split packets: a command byte by byte, a literal header in two parts

$s->print($_), sleep(0.01) for split //, "sp1 NOOP\r\n";
like($s->getline(), qr/^sp1 OK /, 'a command sent byte by byte');

$s->print("sp2 STATUS {5");
sleep(0.1);
$s->print("}\r\n");
like($s->getline(), qr/^\+ /, 'literal header split: continuation');
$s->print("INBOX (UIDNEXT)\r\n");
($u, $r) = ('', '');
while (defined(my $l = $s->getline())) {
    $r = $l, last if $l =~ /^sp2 /;
    $u .= $l;
}
like($u, qr/^\* STATUS "?INBOX"? \(UIDNEXT \d+\)/, 'STATUS of a literal name');
like($r, qr/^sp2 OK /, 'literal header split: OK');

# a bad split: a bare CR inside a command

$s->print("sp3 NOOP\r");
sleep(0.1);
$s->print("x\r\n");
like($s->getline(), qr/^sp3 BAD /, 'CR without LF: BAD');

$s->cmd('LOGOUT');

###############################################################################

# IDLE: sessions in both workers (SO_REUSEPORT spreads connections by
# their source port: sessions are opened until the log shows logins in
# two worker processes), one delivery by SMTP, an untagged EXISTS within
# a second in every session

my @idle;
my $mark = length($t->read_file('logs/error.log'));
my %pids;

for my $n (1 .. 20) {
    my $c = imap(8144);
    $c->getline();
    $c->cmd(qq{LOGIN "$U" "$PASS"});
    my ($su) = $c->cmd('SELECT INBOX');
    my ($exists) = $su =~ /^\* (\d+) EXISTS/m;
    $c->print("i$n IDLE\r\n");
    my $cont = $c->getline();
    push @idle, [$c, $exists, $cont];

    my $log = substr($t->read_file('logs/error.log'), $mark);
    $pids{$1} = 1 while $log =~ /\[info\] (\d+)#\d+: \*\d+ imap login/g;
    last if $n >= 2 && keys %pids >= 2;
}

is(scalar keys %pids, 2, 'IDLE: sessions in two workers (' . @idle . ')');
is(scalar(grep { $_->[2] =~ /^\+ / } @idle), scalar @idle,
    'IDLE: continuation in every session');

my $start = time();
smtp_send($U, "Subject: idle\r\n\r\nnew mail\r\n");

my ($seen, $slow) = (0, 0);

for my $i (@idle) {
    my ($c, $exists) = @$i;
    my $line = $c->getline(2);
    my $want = $exists + 1;
    $seen++ if defined $line && $line =~ /^\* $want EXISTS\r\n/;
    $slow = time() - $start if time() - $start > $slow;
}

is($seen, scalar @idle, 'IDLE: every session got EXISTS of the new message');
# reported, not asserted (no timings in tests): t/bench measures
note(sprintf('IDLE: EXISTS %.2f s after the delivery', $slow));

$_->[0]->close() for @idle[2 .. $#idle];
@idle = @idle[0, 1];

# DONE split across two writes

my $c = $idle[0][0];
$c->print("DO");
sleep(0.2);
$c->print("NE\r\n");
my $line;
do { $line = $c->getline() } while (defined $line && $line =~ /^\* /);
like($line, qr/^i1 OK /, 'DONE split across packets');

$c = $idle[1][0];
$c->print("NOT DONE\r\n");
do { $line = $c->getline() } while (defined $line && $line =~ /^\* /);
like($line, qr/^i2 BAD /, 'IDLE ended by something else: BAD');

# a session that goes idle (its buffers given back) and is then dropped

$c = imap(8144);
$c->getline();
$c->cmd(qq{LOGIN "$U" "$PASS"});
$c->cmd('SELECT INBOX');
sleep(0.3);
$c->close();

# a flag change by one session is seen by the other

my $a = $idle[0][0];
my $b = $idle[1][0];

($u, $r) = $a->cmd('UID STORE 1 +FLAGS (\Flagged)');
sleep(0.5);
($u, $r) = $b->cmd('NOOP');
like($u, qr/^\* 1 FETCH \(UID 1 FLAGS \([^)]*\\Flagged/m,
    'NOOP tells a flag change of another session');

$a->cmd('LOGOUT');
$b->cmd('LOGOUT');

###############################################################################

# limits: a too-long line closes; too many errors close; the idle timeout

$s = imap(8145);
$s->getline();
$s->print('a1 NOOP ' . ('x' x 9000) . "\r\n");
$r = $s->getline();
like($r, qr/^(a1|\*) BAD /, 'too long line: BAD');
like($s->getline(), qr/^\* BYE /, 'too long line: BYE');
ok($s->eof(3), 'too long line: closed');

$s = imap(8145);
$s->getline();
$s->cmd('FOO') for 1 .. 2;
$s->print("a3 FOO\r\n");
like($s->getline(), qr/^a3 BAD /, 'third error: BAD');
like($s->getline(), qr/^\* BYE /, 'too many errors: BYE');
ok($s->eof(3), 'too many errors: closed');

$s = imap(8145);
$s->getline();
like($s->getline(3), qr/^\* BYE Autologout/, 'idle timeout: BYE');
ok($s->eof(3), 'idle timeout: closed');

###############################################################################

# the change notices survive a reload: a session idling in a worker of
# the old generation hears of a delivery made by the new one

$c = imap(8144);
$c->getline();
$c->cmd(qq{LOGIN "$U" "$PASS"});
($u) = $c->cmd('SELECT INBOX');
my ($before) = $u =~ /^\* (\d+) EXISTS/m;
$c->print("r1 IDLE\r\n");
$c->getline();

$t->reload();
sleep(0.3);

smtp_send($U, "Subject: after reload\r\n\r\nnew mail\r\n");

$line = $c->getline(2);
like($line, qr/^\* @{[ $before + 1 ]} EXISTS\r\n/,
    'IDLE in an old worker after a reload: EXISTS');
$c->print("DONE\r\n");
do { $line = $c->getline() } while (defined $line && $line =~ /^\* /);
like($line, qr/^r1 OK /, 'IDLE in an old worker: DONE');
$c->cmd('LOGOUT');

###############################################################################

# Mail::IMAPClient

SKIP: {
    eval { require Mail::IMAPClient; 1 } or skip 'no Mail::IMAPClient', 5;

    my $imap = Mail::IMAPClient->new(
        Server => '127.0.0.1',
        Port => port(8144),
        User => $U,
        Password => $PASS,
        Timeout => 5,
    );

    ok($imap && $imap->IsAuthenticated(), 'Mail::IMAPClient: login');
    my $folders = $imap ? $imap->folders() : [];
    ok(grep({ $_ eq 'Sent' } @$folders), 'Mail::IMAPClient: folders');
    ok($imap && $imap->create('Client'), 'Mail::IMAPClient: create');
    ok($imap && $imap->select('INBOX'), 'Mail::IMAPClient: select');
    is($imap ? $imap->message_count('INBOX') : 0, 5,
        'Mail::IMAPClient: message_count');
    $imap->logout() if $imap;
}

###############################################################################

my $log = $t->read_file('logs/error.log');
like($log, qr/imap session closed: user=u\@example\.test, /,
    'session closed line');
unlike($log, qr/secret pass/, 'no password in the log');

$t->done_testing();

###############################################################################

sub imap {
    my ($port, %args) = @_;
    return Tern::Test::IMAPSession->new(
        PeerAddr => '127.0.0.1:' . port($port), %args);
}

sub plain {
    my ($user, $pass) = @_;
    return encode_base64("\0$user\0$pass", '');
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return undef;
    local $/;
    return scalar <$fh>;
}

sub smtp_send {
    my ($to, $data) = @_;

    my $m = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8025));
    $m->read();
    $m->send('EHLO client.test');
    $m->read();
    $m->send('MAIL FROM:<a@example.test>');
    $m->read();
    $m->send("RCPT TO:<$to>");
    $m->read();
    $m->send('DATA');
    $m->read();
    $m->print($data . ".\r\n");
    my $reply = $m->read();
    $m->send('QUIT');
    return $reply;
}

###############################################################################

package Tern::Test::IMAPSession;

BEGIN { our @ISA = ('Tern::Test::Client'); }

# cmd($text): sends "aN $text", reads up to the tagged line; in list
# context (untagged lines joined, the tagged line)

sub cmd {
    my ($self, $text, $timeout) = @_;

    my $tag = 'a' . ++$self->{_tag};
    $self->print("$tag $text\r\n");

    my $untagged = '';

    while (1) {
        my $line = $self->getline($timeout);
        Tern::Test::log_in($line) if defined $line;
        return ($untagged, undef) unless defined $line;

        if ($line =~ /^\Q$tag\E /) {
            return ($untagged, $line);
        }

        $untagged .= $line;
    }
}

sub default_port {
    my ($class, $ssl) = @_;
    return $ssl ? 8993 : 8143;
}

1;

###############################################################################
