#!/usr/bin/perl

# IMAP under concurrency: two workers, several sessions with INBOX
# selected (which worker each landed in is read with "ss -tnp"; the pair
# A/B is taken on different workers when there are two).  Flags set in
# one session reach the others as untagged FETCH, after NOOP and in IDLE;
# an EXPUNGE reaches them as untagged EXPUNGE; a POP3 DELE + QUIT is an
# EXPUNGE for IMAP and an IMAP expunge is gone for the next POP3 session;
# an SMTP delivery reaches every IDLE session, on both workers, within a
# second (checked as at most 2 s: sanitizer builds are slow).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Basename qw/ basename /;
use Test::More;
use Time::HiRes qw/ sleep time /;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::POP3;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $SESSIONS = 8;

my $t = Tern::Test->new()->plan(56);

(my $base = Tern::Test::conf_base())
    =~ s/^worker_processes\s+\d+;/worker_processes 2;/m;

$t->write_file_expand('tern.conf', $base . <<'EOF');
mail {
    server_name  mail.example.test;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

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

smtp_deliver($U, "From: a\@example.test\r\nSubject: m$_\r\n\r\nbody $_\r\n")
    for 1 .. 4;

is(scalar(my @f = $t->maildir_files($U)), 4, 'delivered');

###############################################################################

# sessions, and the worker of each

# The kernel spreads connections over the workers' SO_REUSEPORT sockets
# by a hash: connect until both workers have some (40 tries at most; the
# last places are kept for the missing worker).

my @s;
my %worker;
my @workers = $t->workers();

for my $try (1 .. 40) {
    last if @s == $SESSIONS;

    my $c = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143),
                                  ReadTimeout => 10);
    $c->read();

    my $w = worker_of($c) // 'unknown';
    my %have = map { (worker_of($_) // 'unknown') => 1 } @s;

    next if @s == $SESSIONS - 1 && @workers > 1 && $w ne 'unknown'
            && keys %have == 1 && $have{$w} && $try < 40;

    $c->login($U, 'secret');
    push @s, $c;
}

my $selected = 0;

for my $c (@s) {
    my $r = $c->run('SELECT INBOX');
    $selected++ if $r =~ /^\* 4 EXISTS\r\n/m && $r =~ /^a\d+ OK/m;
}

is($selected, $SESSIONS, 'every session selected INBOX with 4 messages');

$worker{$_} = worker_of($s[$_]) for 0 .. $#s;

my %by;
push @{$by{$worker{$_} // 'unknown'}}, $_ for 0 .. $#s;

note('sessions per worker: '
     . join(', ', map { "$_: @{$by{$_}}" } sort keys %by));

SKIP: {
    skip 'no socket owner from ss -tnp', 1 if $by{unknown};
    ok(scalar(keys %by) >= 2, 'sessions on both workers');
}

# A and B on different workers when possible

my ($ai, $bi) = (0, 1);

for my $j (1 .. $#s) {
    if (defined $worker{$j} && defined $worker{0}
        && $worker{$j} ne $worker{0})
    {
        $bi = $j;
        last;
    }
}

my ($A, $B) = @s[$ai, $bi];
my @others = @s[grep { $_ != $ai } 0 .. $#s];

# uid and file of each message, by subject

my %uid;
for (grep { /^\* \d+ FETCH/ }
     $A->run('FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])'))
{
    $uid{$2} = $1 if /UID (\d+).*Subject: (m\d)/s;
}

is(join(',', map { $uid{"m$_"} // '-' } 1 .. 4), '1,2,3,4', 'uids');

###############################################################################

# flags: seen by the others after NOOP

my $r = $A->run('STORE 1 +FLAGS (\Flagged)');
like($r, qr/^\* 1 FETCH \(.*\\Flagged.*\)\r\n/m, 'A: store');

# README: "the others before the tagged reply of their next command",
# so a NOOP sent right after the STORE completed must show it

my $seen = 0;
my %told;

for my $i (0 .. $#others) {
    $r = $others[$i]->run('NOOP');
    $told{$i}++ if $r =~ /^\* 1 FETCH \((?:.* )?FLAGS \([^)]*\\Flagged[^)]*\)/m
                   && $r =~ /^a\d+ OK/m;
}

is(scalar keys %told, scalar @others,
   'flag seen by every other session on the next NOOP');

# and by every one a moment later (the IDLE bound: 200 ms)

sleep(0.5);

for my $i (0 .. $#others) {
    $r = $others[$i]->run('NOOP');
    $told{$i} += 10 if $r =~ /^\* 1 FETCH \((?:.* )?FLAGS \([^)]*\\Flagged/m;
}

is(scalar(grep { ($told{$_} // 0) == 1 || ($told{$_} // 0) == 10 }
          0 .. $#others),
   scalar @others, 'flag seen by every other session, exactly once');

like(file_of('m1'), qr/:2,[A-Z]*F/, 'flag in the file name');

# flags: seen in IDLE (B on the other worker)

my $idle = idle_start($B);
ok($idle, 'B: idle');

$r = $A->run('STORE 2 +FLAGS (\Seen $Label1)');
like($r, qr/^a\d+ OK/m, 'A: store 2');

my ($got) = idle_wait($B, qr/^\* 2 FETCH \(.*FLAGS \(/, 5);
like($got // '', qr/\\Seen/, 'B: idle got the flag');
like($got // '', qr/\$Label1/, 'B: idle got the keyword');

# A removes a flag; B still idling

$A->run('STORE 1 -FLAGS (\Flagged)');
($got) = idle_wait($B, qr/^\* 1 FETCH \(.*FLAGS \(/, 5);
unlike($got // '\Flagged', qr/\\Flagged/, 'B: idle got the flag removed');

like(scalar idle_done($B, $idle), qr/^a\d+ OK/m, 'B: idle done');

###############################################################################

# expunge

my $f3 = file_of('m3');

$r = $A->run('STORE 3 +FLAGS.SILENT (\Deleted)');
unlike($r, qr/^\* 3 FETCH/m, 'A: silent store');

$idle = idle_start($B);

$r = $A->run('EXPUNGE');
like($r, qr/^\* 3 EXPUNGE\r\n(?:.*\r\n)*a\d+ OK/m, 'A: expunge');
ok(!-e $f3, 'expunged file removed');

($got) = idle_wait($B, qr/^\* 3 EXPUNGE/, 5);
ok($got, 'B: idle got the expunge');
like(scalar idle_done($B, $idle), qr/^a\d+ OK/m, 'B: idle done after expunge');

$seen = 0;

for my $c (@others) {
    next if $c == $B;
    $r = $c->run('NOOP');
    $seen++ if $r =~ /^\* 3 EXPUNGE\r\n/m;
}

is($seen, scalar(@others) - 1, 'expunge seen by every other session');

# the views agree: messages 1, 2, 4 left, as sequence numbers 1 to 3

$seen = 0;

for my $c (@s) {
    $r = $c->run('UID SEARCH ALL');
    $seen++ if $r =~ /^\* SEARCH 1 2 4\r\n/m;
}

is($seen, $SESSIONS, 'every session: uids 1 2 4');

# a FETCH in the other session of a message expunged meanwhile: RFC 3501
# 7.4.1, no EXPUNGE during FETCH; the data, nothing or a NO (RFC 2180
# 4.1), never another message

$A->run('STORE 2 +FLAGS.SILENT (\Deleted)');
$A->run('EXPUNGE');

$r = $B->run('FETCH 2 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
unlike($r, qr/^\* \d+ EXPUNGE/m, 'no EXPUNGE during FETCH');
ok(($r =~ /^\* 2 FETCH \(.*UID 2\b.*m2/ms || $r !~ /FETCH/)
   && $r =~ /^a\d+ (OK|NO)\b/m,
   'FETCH of a message expunged elsewhere: its data, nothing or NO');
like(scalar $B->run('NOOP'), qr/^\* 2 EXPUNGE\r\n/m, 'then EXPUNGE on NOOP');

settle();

###############################################################################

# POP3 and IMAP: one store

my $m4 = basename(file_of('m4'));
(my $uidl4 = $m4) =~ s/[:,].*//;

my $p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
$p->read();
$p->send("USER $U");
$p->read();
$p->send('PASS secret');
$p->ok('pop3 login');

$p->send('UIDL');
my (undef, $uidl) = $p->read_multi();
my %pnum = map { (split ' ')[1] => (split ' ')[0] } split /\r\n/, $uidl // '';

ok(exists $pnum{$uidl4}, 'pop3 lists m4');

$idle = idle_start($B);

$p->send("DELE $pnum{$uidl4}");
$p->ok('pop3 dele');

($got) = idle_wait($B, qr/^\* \d+ EXPUNGE/, 1);
ok(!$got, 'no expunge before QUIT');

$p->send('QUIT');
$p->ok('pop3 quit');
$p->close();

# m4 is sequence number 2 now (m1, m4)

($got) = idle_wait($B, qr/^\* 2 EXPUNGE/, 5);
ok($got, 'B: idle got the POP3 deletion');
idle_done($B, $idle);

# A may be on the other worker: past its 200 ms check (the next-command
# promise is tested above)

sleep(0.5);
like(scalar $A->run('NOOP'), qr/^\* 2 EXPUNGE\r\n/m,
     'A: pop3 deletion on NOOP');
like(scalar $A->run('UID SEARCH ALL'), qr/^\* SEARCH 1\r\n/m,
     'A: only m1 left');

# IMAP expunge, then POP3: gone

smtp_deliver($U, "From: a\@example.test\r\nSubject: m5\r\n\r\nbody 5\r\n");

$r = $A->run('NOOP');
like($r, qr/^\* 2 EXISTS\r\n/m, 'A: m5 arrived, on the next NOOP');

settle();

my $m5 = basename(file_of('m5'));
(my $uidl5 = $m5) =~ s/[:,].*//;

$A->run('STORE 1 +FLAGS.SILENT (\Deleted)');
like(scalar $A->run('EXPUNGE'), qr/^\* 1 EXPUNGE\r\n/m, 'A: expunge m1');


$p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
$p->read();
$p->send("USER $U");
$p->read();
$p->send('PASS secret');
$p->ok('pop3 login again');
$p->send('UIDL');
(undef, $uidl) = $p->read_multi();
is(join(' ', map { (split ' ')[1] } split /\r\n/, $uidl // ''), $uidl5,
   'pop3 sees only m5');
$p->send('QUIT');
$p->ok('pop3 quit again');

###############################################################################

# MOVE: an EXPUNGE for the sessions on the source, EXISTS for those on
# the target (C, on A's other worker when there is one)

my ($ci) = grep { $_ != $ai && $_ != $bi
                  && ($worker{$_} // '') ne ($worker{$ai} // '') } 0 .. $#s;
($ci) = grep { $_ != $ai && $_ != $bi } 0 .. $#s unless defined $ci;
my $C = $s[$ci];

$A->run_ok('CREATE Moved', 'A: create Moved');
$C->run_ok('SELECT Moved', 'C: select Moved');

smtp_deliver($U, "From: a\@example.test\r\nSubject: m7\r\n\r\nbody 7\r\n");
settle();

my ($u7) = $A->run('UID SEARCH SUBJECT m7') =~ /^\* SEARCH (\d+)/m;
ok($u7, 'm7 delivered');

my $cidle = idle_start($C);
$idle = idle_start($B);

$r = $A->run('UID MOVE ' . ($u7 // 0) . ' Moved');
like($r, qr/^\* OK \[COPYUID \d+ \d+ 1\]/m, 'A: move, COPYUID');
like($r, qr/^\* 2 EXPUNGE\r\n(?:.*\r\n)*a\d+ OK/m, 'A: move, EXPUNGE');

($got) = idle_wait($C, qr/^\* 1 EXISTS/, 5);
ok($got, 'C: idle got EXISTS in the target');
($got) = idle_wait($B, qr/^\* 2 EXPUNGE/, 5);
ok($got, 'B: idle got EXPUNGE in the source');
idle_done($B, $idle);
idle_done($C, $cidle);

like(scalar $C->run('FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])'),
     qr/UID 1\b.*Subject: m7/s, 'C: the moved message');
is(scalar(my @mv = grep { -f } glob($t->maildir($U) . '/.Moved/cur/*')), 1,
   'moved on disk');
ok(!file_of('m7'), 'gone from INBOX on disk');

$C->run('SELECT INBOX');
settle();

###############################################################################

# an SMTP delivery reaches IDLE sessions on each worker within a second

my @idlers = ($B);
for my $j (0 .. $#s) {
    next if $j == $ai || $j == $bi;
    if (!defined $worker{$j} || !defined $worker{$bi}
        || $worker{$j} ne $worker{$bi})
    {
        push @idlers, $s[$j];
        last;
    }
}

push @idlers, $A;

for my $c (@idlers) {
    $c->run('NOOP');
}

my @tags = map { idle_start($_) } @idlers;
is(scalar(grep { defined } @tags), scalar @idlers, 'idle on each worker');

my ($elapsed, $n) = smtp_deliver_timed(
    "From: a\@example.test\r\nSubject: m6\r\n\r\nbody 6\r\n", @idlers);

note(sprintf('IDLE notification after %.3f s', $elapsed));

is($n, scalar @idlers, 'every idle session got EXISTS');


my $done = 0;
for my $i (0 .. $#idlers) {
    $done++ if idle_done($idlers[$i], $tags[$i]) =~ /^a\d+ OK/m;
}
is($done, scalar @idlers, 'idle done');

# and the last state everywhere

$seen = 0;

for my $c (@s) {
    $c->run('NOOP');
    $r = $c->run('UID SEARCH ALL');
    $seen++ if $r =~ /^\* SEARCH \d+ \d+\r\n/m;
}

is($seen, $SESSIONS, 'every session: two messages');

# flags changed at the same time by two sessions (on two workers): no
# change is lost, in the index or in the file names

for my $round (1 .. 10) {
    my $ta = $A->cmd('STORE 1:* +FLAGS.SILENT (\\Seen \\Flagged)');
    my $tb = $B->cmd('STORE 1:* +FLAGS.SILENT (\\Answered)');
    $A->tagged($ta);
    $B->tagged($tb);

    $ta = $A->cmd('STORE 1:* -FLAGS.SILENT (\\Seen \\Flagged)');
    $tb = $B->cmd('STORE 1:* -FLAGS.SILENT (\\Answered)');
    $A->tagged($ta);
    $B->tagged($tb);
}

my $ta = $A->cmd('STORE 1:* +FLAGS.SILENT (\\Seen)');
my $tb = $B->cmd('STORE 1:* +FLAGS.SILENT (\\Answered $Done)');
like(scalar $A->tagged($ta), qr/^a\d+ OK/m, 'A: concurrent store');
like(scalar $B->tagged($tb), qr/^a\d+ OK/m, 'B: concurrent store');

sleep(0.5);
$seen = 0;

for my $c (@s) {
    $c->run('NOOP');
    $r = $c->run('FETCH 1:* FLAGS');
    $seen++ if 2 == grep { /\\Seen/ && /\\Answered/ && /\$Done/ && !/\\Flagged/ }
                    $r =~ /^\* \d+ FETCH \((.*)\)\r$/mg;
}

is($seen, $SESSIONS, 'every session: both changes, none lost');
is(scalar(grep { basename($_) =~ /:2,RS\z/ } $t->maildir_files($U)), 2,
   'both changes in the file names');

for my $c (@s) {
    $c->run('LOGOUT');
    $c->close();
}

is(scalar(@f = $t->maildir_files($U)), 2, 'two files left');

###############################################################################

# Every session takes in what changed (after the 200 ms check).

sub settle {
    sleep(0.5);
    $_->run('NOOP') for @s;
}

# The worker process that holds the server side of a client's socket.

sub worker_of {
    my ($c) = @_;

    my $cport = $c->socket()->sockport();
    my $sport = port(8143);

    my $filter = "( sport = :$sport and dport = :$cport )";
    my $out = `ss -tnpH state established '$filter' 2>/dev/null`;
    my ($pid) = $out =~ /pid=(\d+)/;

    return $pid;
}

# The message file whose Subject is $subj.

sub file_of {
    my ($subj) = @_;

    for my $f ($t->maildir_files($U)) {
        return $f if $t->read_file($f) =~ /^Subject: \Q$subj\E\r?$/m;
    }

    return '';
}

sub idle_start {
    my ($c) = @_;

    my $tag = $c->cmd('IDLE');
    my $r = $c->read();

    return defined $r && $r =~ /^\+/ ? $tag : undef;
}

# Waits up to $timeout s for an untagged response matching $re; returns
# it and the seconds it took (undef on timeout).

sub idle_wait {
    my ($c, $re, $timeout) = @_;

    my $start = time();
    my $deadline = $start + $timeout;

    while ((my $left = $deadline - time()) > 0) {
        my $r = $c->read($left);
        last unless defined $r;
        return ($r, time() - $start) if $r =~ $re;
    }

    return (undef, undef);
}

sub idle_done {
    my ($c, $tag) = @_;

    return '' unless defined $tag;

    $c->send('DONE');
    return scalar $c->tagged($tag);
}

# Delivers by SMTP and waits for "* N EXISTS" in each IDLE session;
# returns the longest time from the end of the data to an EXISTS, and
# how many sessions got one.

sub smtp_deliver_timed {
    my ($data, @idle) = @_;

    my $c = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8025));
    $c->read();
    $c->send('EHLO client.example.test');
    $c->read();
    $c->send('MAIL FROM:<sender@example.test>');
    $c->read();
    $c->send("RCPT TO:<$U>");
    $c->read();
    $c->send('DATA');
    $c->read();

    my $start = time();
    $c->print($data . ".\r\n");

    my ($max, $n) = (0, 0);

    for my $s (@idle) {
        my ($r) = idle_wait($s, qr/^\* \d+ EXISTS/, 10);
        next unless $r;
        $n++;
        my $e = time() - $start;
        $max = $e if $e > $max;
    }

    $c->read();
    $c->send('QUIT');
    $c->read();

    return ($n ? $max : 999, $n);
}

sub smtp_deliver {
    my ($rcpt, $data) = @_;
    return Tern::Test::SMTP::deliver(port(8025), $rcpt, $data);
}

###############################################################################
