#!/usr/bin/perl

# IMAP with real clients, each checked on what it got back AND on what
# landed on disk (the Maildir++ of the user: folder "X" is "<maildir>/.X"):
#   - curl imap:// (LIST, FETCH by ";UID=", APPEND by upload, EXAMINE and
#     SEARCH as custom requests, the URL search), imaps:// and STARTTLS
#     with --ssl-reqd;
#   - mbsync (isync) over STARTTLS: a Tern account synced both ways with
#     a local Maildir: messages, flags, a folder created locally, nested
#     folders, deletions, a folder of 201 messages (one of 3 MB); then
#     nothing to do after a restart and "tern index rebuild" (UIDVALIDITY
#     and UIDs kept);
#   - offlineimap3 over implicit TLS, likewise (one-shot runs);
#   - Mail::IMAPClient over STARTTLS and implicit TLS: folders, APPEND,
#     SEARCH, flags, COPY, MOVE, EXPUNGE, RENAME (a \Noselect parent too),
#     DELETE, IDLE, BODYSTRUCTURE and a part, SORT, STATUS, SUBSCRIBE,
#     NAMESPACE.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::MD5 qw/ md5_hex /;
use File::Basename qw/ basename dirname /;
use File::Path qw/ make_path /;
use Test::More;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->has(qw/socket_ssl/)->has_daemon('curl');
$t->plan(128);

# CN=127.0.0.1: mbsync checks the host name even for a pinned certificate

Tern::Test::gen_cert($t, '127.0.0.1');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    ssl_certificate      127.0.0.1.crt;
    ssl_certificate_key  127.0.0.1.key;
    auth_failure_delay   100ms;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8143%%;
        protocol imap;
        imap_auth_plaintext on;
    }
    server { listen 127.0.0.1:%%PORT_8144%%; protocol imap; }
    server { listen 127.0.0.1:%%PORT_8993%% ssl; protocol imap; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'pw1');
$t->add_user('m@example.test', 'pw2');
$t->add_user('o@example.test', 'pw3');
$t->add_user('c@example.test', 'pw4');

my $dir = $t->testdir();

###############################################################################

# curl

my $U = 'u@example.test';
my $umd = $t->maildir($U);

my @msgs = (
    "From: a\@example.test\r\nTo: u\@example.test\r\nSubject: one\r\n\r\n"
        . "first message\r\n.leading dot\r\n",
    "From: b\@example.test\r\nTo: u\@example.test\r\nSubject: two\r\n\r\n"
        . join('', map { "line $_ " . ('z' x 60) . "\r\n" } 1 .. 2000),
);

smtp_deliver($U, $_) for @msgs;

my @f = $t->maildir_files($U);
is(scalar @f, 2, 'curl: delivered');

my @stored = map { crlf($t->read_file($_)) } @f;

my $ip = port(8143);
my @auth = ('-u', "$U:pw1");

my ($rc, $out) = curl("imap://127.0.0.1:$ip/", @auth);
is($rc, 0, 'curl list');

my %list = map { /^\* LIST \(([^)]*)\) "\/" "?([^"\r\n]+)"?\r?$/ ? ($2, $1)
                                                               : () }
           split /\n/, $out;

is(join(' ', grep { exists $list{$_} }
             qw/ INBOX Sent Drafts Trash Junk Archive /),
   'INBOX Sent Drafts Trash Junk Archive', 'curl list: the special folders');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX;UID=1", @auth);
ok($rc == 0 && $out eq $stored[0], 'curl fetch uid 1');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX;UID=2", @auth);
ok($rc == 0 && $out eq $stored[1], 'curl fetch uid 2 (large)');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX;UID=2;SECTION=HEADER", @auth);
like($out, qr/\ASubject: two\r\n\r\n\z|\r\nSubject: two\r\n\r\n\z/,
     'curl fetch section header');

# BODY[] (not PEEK) sets \Seen: on disk as ":2,S"

my @names = map { basename($_) } $t->maildir_files($U);
is(scalar(grep { /:2,[A-Z]*S/ } @names), 2, 'curl fetch set \Seen on disk');

# upload: APPEND

my $up = "From: curl\@example.test\r\nTo: u\@example.test\r\n"
         . "Subject: uploaded\r\n\r\nuploaded by curl\r\nline 2\r\n";
$t->write_file('upload.eml', $up);

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX", @auth,
                   '-T', "$dir/upload.eml");
is($rc, 0, 'curl append');

@f = $t->maildir_files($U);
my @upf = grep { $t->read_file($_) =~ /^Subject: uploaded$/m } @f;
is(scalar @f, 3, 'curl append: 3 messages');
is(scalar @upf, 1, 'curl append: on disk');
is($t->read_file($upf[0] // $f[0]), lf($up),
   'curl append: stored as uploaded');

($rc, $out) = curl("imap://127.0.0.1:$ip/Sent", @auth,
                   '-T', "$dir/upload.eml");
is($rc, 0, 'curl append to Sent');
is(scalar(folder_files($umd, 'Sent')), 1, 'curl append: in .Sent');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX;UID=3", @auth);
is($out, $up, 'curl fetch the uploaded one');

# EXAMINE and SEARCH as custom requests, and the URL search

($rc, $out) = curl("imap://127.0.0.1:$ip/", @auth, '-X', 'EXAMINE INBOX');
ok($rc == 0 && $out =~ /^\* 3 EXISTS\r?$/m, 'curl examine');
like($out, qr/^\* OK \[UIDVALIDITY \d+\]/m, 'curl examine uidvalidity');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX", @auth,
                   '-X', 'SEARCH SUBJECT two');
like($out, qr/^\* SEARCH 2\r?$/m, 'curl search custom');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX?SUBJECT%20uploaded", @auth);
like($out, qr/^\* SEARCH 3\r?$/m, 'curl search url');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX", @auth,
                   '-X', 'UID FETCH 1:* (FLAGS)');
is(scalar(() = $out =~ /^\* \d FETCH \(.*\\Seen.*\)\r?$/mg), 3,
   'curl flags: all seen');

# TLS

($rc, $out) = curl('imaps://127.0.0.1:' . port(8993) . '/INBOX;UID=1',
                   '--insecure', @auth);
ok($rc == 0 && $out eq $stored[0], 'curl imaps');

($rc, $out) = curl('imap://127.0.0.1:' . port(8144) . '/INBOX;UID=2',
                   '--ssl-reqd', '--insecure', @auth);
ok($rc == 0 && $out eq $stored[1], 'curl starttls');

($rc, $out) = curl('imap://127.0.0.1:' . port(8144) . '/INBOX;UID=1',
                   @auth);
isnt($rc, 0, 'curl refused in the clear');
is($out, '', 'curl got nothing in the clear');

($rc, $out) = curl("imap://127.0.0.1:$ip/INBOX;UID=1", '-u', "$U:bad");
isnt($rc, 0, 'curl bad password');

is(scalar(@f = $t->maildir_files($U)), 3, 'curl: 3 messages kept');

###############################################################################

# Mail::IMAPClient

SKIP: {
    skip 'no Mail::IMAPClient', 47
        unless eval { require Mail::IMAPClient; 1 };

    my $C = 'c@example.test';
    my $cmd = $t->maildir($C);

    smtp_deliver($C, "From: x\@example.test\r\nSubject: c$_\r\n"
                     . "Message-ID: <c$_\@example.test>\r\n\r\n"
                     . "body of c$_\r\n") for 1 .. 3;

    my $imap = Mail::IMAPClient->new(
        Server => '127.0.0.1',
        Port => port(8144),
        Starttls => [ SSL_verify_mode => 0 ],
        User => $C,
        Password => 'pw4',
        Uid => 1,
        Timeout => 20,
        Debug => $ENV{TERN_TEST_VERBOSE} ? 1 : 0,
    );

    ok($imap && $imap->IsAuthenticated(), 'imapclient starttls login')
        or diag($@);
    skip 'no imapclient session', 46 unless $imap;

    ok($imap->has_capability('IDLE'), 'imapclient: IDLE capability');

    my @folders = $imap->folders();
    ok((grep { $_ eq 'Trash' } @folders) && (grep { $_ eq 'INBOX' } @folders),
       'imapclient folders');

    ok($imap->create('Projects/2026'), 'imapclient create');
    ok(-d "$cmd/.Projects.2026/cur", 'imapclient create: on disk');

    my $text = "From: c\@example.test\r\nSubject: appended\r\n\r\nhello\r\n";
    my $uid = $imap->append_string('Projects/2026', $text, '\\Flagged',
                                   '01-Jan-2026 10:00:00 +0000');
    ok($uid, 'imapclient append');

    my @pf = folder_files($cmd, 'Projects.2026');
    is(scalar @pf, 1, 'imapclient append: on disk');
    like(basename($pf[0] // ''), qr/:2,F\z/, 'imapclient append: flag F');
    is(crlf($t->read_file($pf[0] // '/dev/null')), $text,
       'imapclient append: content');
    $imap->examine('Projects/2026');
    is(epoch($imap->internaldate($uid)), 1767261600,
       'imapclient append: internal date');

    ok($imap->select('INBOX'), 'imapclient select');
    is($imap->message_count('INBOX'), 3, 'imapclient message_count');

    my $found = $imap->search('SUBJECT', 'c2') // [];
    is(join(',', @$found), '2', 'imapclient search');

    is(crlf($imap->message_string(2) // ''),
       crlf($t->read_file(($t->maildir_files($C))[1])),
       'imapclient message_string');

    ok($imap->set_flag('\\Answered', 1), 'imapclient set_flag');
    like(basename(file_with($cmd, 'c1')), qr/:2,[A-Z]*R/,
         'imapclient set_flag: on disk');
    is(join(' ', sort grep { $_ ne '\Recent' } @{$imap->flags(1) // []}),
       '\Answered',
       'imapclient flags');

    ok($imap->copy('Archive', 3), 'imapclient copy');
    is(scalar(folder_files($cmd, 'Archive')), 1, 'imapclient copy: on disk');

    # Mail::IMAPClient's move() is COPY and \Deleted: MOVE by hand
    ok($imap->tag_and_run('UID MOVE 2 Trash'), 'imapclient uid move');
    is(scalar(folder_files($cmd, 'Trash')), 1, 'imapclient move: in Trash');
    ok(!file_with($cmd, 'c2'), 'imapclient move: gone from INBOX');

    ok($imap->delete_message(3) && $imap->expunge(), 'imapclient expunge');
    is(scalar(my @cf = $t->maildir_files($C)), 1,
       'imapclient expunge: on disk');

    ok($imap->rename('Projects/2026', 'Work/2026'), 'imapclient rename');
    ok(-d "$cmd/.Work.2026/cur" && !-d "$cmd/.Projects.2026",
       'imapclient rename: on disk');

    # a parent that exists only as one (\Noselect): RFC 3501 6.3.5, its
    # inferiors are renamed with it

    ok($imap->create('Projects/2027') && $imap->rename('Projects', 'Old'),
       'imapclient rename a \Noselect parent');
    ok(-d "$cmd/.Old.2027/cur" && !-d "$cmd/.Projects.2027",
       'imapclient rename a parent: on disk');

    ok($imap->delete('Work/2026'), 'imapclient delete');
    ok(!-d "$cmd/.Work.2026", 'imapclient delete: on disk');

    $imap->logout();

    # implicit TLS, IDLE

    $imap = Mail::IMAPClient->new(
        Server => '127.0.0.1',
        Port => port(8993),
        Ssl => [ SSL_verify_mode => 0 ],
        User => $C,
        Password => 'pw4',
        Uid => 1,
        Timeout => 20,
    );

    ok($imap && $imap->IsAuthenticated(), 'imapclient ssl login')
        or diag($@);
    skip 'no imapclient ssl session', 16 unless $imap;

    ok($imap->examine('INBOX'), 'imapclient examine');
    my $tag = $imap->idle();
    ok($tag, 'imapclient idle');

    smtp_deliver($C, "From: x\@example.test\r\nSubject: c4\r\n\r\nc4\r\n");

    my $data = [];
    for (1 .. 10) {
        $data = $imap->idle_data(1) || [];
        last if grep { /^\* \d+ EXISTS/ } @$data;
    }

    ok(scalar(grep { /^\* 2 EXISTS/ } @$data), 'imapclient idle: EXISTS')
        or diag(explain($data));
    ok($imap->done($tag), 'imapclient done');
    is($imap->message_count('INBOX'), 2, 'imapclient ssl message_count');

    # a multipart message: BODYSTRUCTURE, a part, SORT, fetch_hash,
    # STATUS, SUBSCRIBE, NAMESPACE

    smtp_deliver($C, "From: x\@example.test\r\nSubject: parts test\r\n"
        . "MIME-Version: 1.0\r\n"
        . "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        . "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        . "hello\r\n"
        . "--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
        . "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n"
        . "--b1--\r\n");

    ok($imap->select('INBOX'), 'imapclient select again');
    my ($mpu) = @{ $imap->search('SUBJECT', 'parts') || [] };
    ok($mpu, 'imapclient search the multipart one');

    my $bs = $mpu ? $imap->get_bodystructure($mpu) : undef;
    is(lc(($bs ? $bs->bodytype : '') . '/' . ($bs ? $bs->bodysubtype : '')),
       'multipart/mixed', 'imapclient bodystructure');
    is(join(',', grep { /^\d+$/ } $bs ? $bs->parts : ()), '1,2',
       'imapclient bodystructure parts');
    like($mpu ? $imap->bodypart_string($mpu, 2) // '' : '',
         qr/\AAAECAwQ=(\r\n)?\z/, 'imapclient bodypart_string');

    my @all = @{ $imap->messages() || [] };
    is(join(',', $imap->sort('REVERSE SUBJECT', 'UTF-8', 'ALL')),
       join(',', reverse @all), 'imapclient sort reverse subject');

    my $h = $imap->fetch_hash('FLAGS', 'RFC822.SIZE') || {};
    is(join(',', sort { $a <=> $b } keys %$h), join(',', @all),
       'imapclient fetch_hash');
    is($h->{$mpu // 0}{'RFC822.SIZE'},
       length(crlf($t->read_file(file_with($cmd, 'parts test')
                                 || '/dev/null'))),
       'imapclient fetch_hash size');

    like(join('', $imap->status('INBOX', 'MESSAGES', 'UIDNEXT')),
         qr/\bMESSAGES 3\b/, 'imapclient status');
    ok($imap->subscribe('Archive')
       && grep({ $_ eq 'Archive' } $imap->subscribed()),
       'imapclient subscribe');

    my $ns = $imap->namespace();
    is(ref $ns ? $ns->[0][0][1] : '', '/', 'imapclient namespace');

    $imap->logout();
}

###############################################################################

# mbsync (isync) over STARTTLS

SKIP: {
    skip 'no mbsync', 32 unless grep { -x "$_/mbsync" } split /:/, $ENV{PATH};

    my $M = 'm@example.test';
    my $smd = $t->maildir($M);
    my $near = "$dir/mbsync";

    smtp_deliver($M, "From: x\@example.test\r\nSubject: m$_\r\n"
                     . "Message-ID: <m$_\@example.test>\r\n\r\n"
                     . "body of m$_\r\n") for 1 .. 3;

    my $s = imap_login(8143, $M, 'pw2');
    $s->run('SELECT INBOX');
    $s->run('STORE 2 +FLAGS (\Flagged)');
    $s->run('CREATE Work');
    $s->run('CREATE Proj/Sub');
    $s->append('Proj/Sub', "From: x\@example.test\r\nSubject: nested\r\n"
               . "Message-ID: <nested1\@example.test>\r\n\r\nnested\r\n");
    $s->append('Work', "From: x\@example.test\r\nSubject: w1\r\n\r\nw1\r\n",
               '\Seen');

    # a folder of many messages, pipelined with LITERAL+, and a large one

    $s->run('CREATE Bulk');

    my $bulk = '';

    for my $i (1 .. 200) {
        my $m = "From: x\@example.test\r\nSubject: bulk $i\r\n"
                . "Message-ID: <bulk$i\@example.test>\r\n\r\n"
                . ("bulk line $i\r\n" x ($i % 17 + 1));
        $bulk .= "b$i APPEND Bulk {" . length($m) . "+}\r\n$m\r\n";
    }

    $s->print($bulk);
    my $appended = grep { $s->tagged("b$_", 30) =~ /^b$_ OK/m } 1 .. 200;

    my $big = "From: x\@example.test\r\nSubject: big one\r\n\r\n"
              . join('', map { sprintf("%07d %s\r\n", $_, 'b' x 68) }
                             1 .. 40000);
    $appended++ if $s->append('Bulk', $big) =~ /^a\d+ OK/m;

    is($appended, 201, 'mbsync: 201 messages appended to Bulk');

    $s->run('LOGOUT');

    $t->write_file('mbsyncrc', <<"EOF");
IMAPAccount tern
Host 127.0.0.1
Port @{[ port(8144) ]}
User $M
Pass pw2
SSLType STARTTLS
CertificateFile $dir/127.0.0.1.crt
SystemCertificates no

IMAPStore far
Account tern

MaildirStore near
Path $near/
Inbox $near/INBOX
SubFolders Verbatim

Channel c
Far :far:
Near :near:
Patterns *
Create Both
Remove Both
Expunge Both
SyncState *
EOF

    make_path($near);

    my ($mrc, $log) = mbsync();
    is($mrc, 0, 'mbsync 1') or diag($log);

    my @n = near_files("$near/INBOX");
    is(scalar @n, 3, 'mbsync 1: 3 messages near');
    like(basename(near_with(\@n, 'm2')), qr/:2,[A-Z]*F[A-Z]*\z/,
         'mbsync 1: flag F near');
    is(notuid($t->read_file(near_with(\@n, 'm1') || '/dev/null')),
       lf($t->read_file(file_with($smd, 'm1') || '/dev/null')),
       'mbsync 1: content');

    my @w = near_files("$near/Work");
    is(scalar @w, 1, 'mbsync 1: folder Work');
    like(basename($w[0] // ''), qr/:2,[A-Z]*S/, 'mbsync 1: Work flag S');
    ok(-d "$near/Trash/cur", 'mbsync 1: special folders');
    is(scalar(near_files("$near/Proj/Sub")), 1, 'mbsync 1: nested folder');

    my @bn = near_files("$near/Bulk");
    is(scalar @bn, 201, 'mbsync 1: Bulk near');
    is(join(' ', sort map { md5_hex(notuid($t->read_file($_))) } @bn),
       join(' ', sort map { md5_hex(lf($t->read_file($_))) }
                      folder_files($smd, 'Bulk')),
       'mbsync 1: Bulk content as on the server');

    # near: m1 seen, m3 deleted, one new message, a new folder

    add_flag(near_with(\@n, 'm1'), 'S');
    unlink near_with(\@n, 'm3');

    my $new = "From: near\@example.test\nSubject: from near\n"
              . "Message-ID: <near1\@example.test>\n\nwritten near\n";
    $t->write_file("$near/INBOX/new/1800000000.near1.host", $new);

    make_path(map { "$near/Local/$_" } qw/ cur new tmp /);
    $t->write_file("$near/Local/cur/1800000001.local1.host:2,F",
                   "From: near\@example.test\nSubject: local folder\n"
                   . "Message-ID: <local1\@example.test>\n\nin Local\n");

    ($mrc, $log) = mbsync();
    is($mrc, 0, 'mbsync 2') or diag($log);

    like(basename(file_with($smd, 'm1')), qr/:2,[A-Z]*S/,
         'mbsync 2: flag S on the server');
    ok(!file_with($smd, 'm3'), 'mbsync 2: m3 deleted on the server');
    is(notuid($t->read_file(file_with($smd, 'from near') || '/dev/null')),
       $new, 'mbsync 2: new message on the server');
    my @lf = folder_files($smd, 'Local');
    is(scalar @lf, 1, 'mbsync 2: folder Local on the server');
    like(basename($lf[0] // ''), qr/:2,[A-Z]*F/, 'mbsync 2: Local flag F');

    $s = imap_login(8143, $M, 'pw2');
    $s->run('SELECT INBOX');
    my %fl = flags_by_subject($s);
    like($fl{m1} // '', qr/\\Seen/, 'mbsync 2: imap sees m1 seen');
    ok(!exists $fl{m3}, 'mbsync 2: imap does not see m3');
    ok(exists $fl{'from near'}, 'mbsync 2: imap sees the new one');

    # far: a new message, a flag, an expunge

    smtp_deliver($M, "From: x\@example.test\r\nSubject: m4\r\n"
                     . "Message-ID: <m4\@example.test>\r\n\r\nbody of m4\r\n");
    $s->run('SELECT INBOX');
    store_by_subject($s, 'm1', '+FLAGS (\\Answered)');
    store_by_subject($s, 'from near', '+FLAGS (\\Deleted)');
    $s->run('EXPUNGE');
    $s->run('LOGOUT');

    ($mrc, $log) = mbsync();
    is($mrc, 0, 'mbsync 3') or diag($log);

    @n = near_files("$near/INBOX");
    ok(near_with(\@n, 'm4'), 'mbsync 3: m4 near');
    like(basename(near_with(\@n, 'm1')), qr/:2,[A-Z]*R/,
         'mbsync 3: flag R near');
    ok(!near_with(\@n, 'from near'), 'mbsync 3: expunged near');
    is(scalar @n, 3, 'mbsync 3: m1 m2 m4 near');

    ($mrc, $log) = mbsync();
    is($mrc, 0, 'mbsync 4: nothing to do');
    is(scalar(@n = near_files("$near/INBOX")), 3, 'mbsync 4: stable');

    # UIDVALIDITY and UIDs survive a restart and an index rebuild: mbsync
    # has nothing to do (it would refetch or complain otherwise)

    $t->stop_server();
    my ($irc, undef, $ierr) = $t->tern('index', 'rebuild', $M);
    is($irc, 0, 'index rebuild') or diag($ierr);
    $t->run();

    ($mrc, $log) = mbsync();
    is($mrc, 0, 'mbsync 5: after a restart and an index rebuild')
        or diag($log);
    unlike($log, qr/UIDVALIDITY/i, 'mbsync 5: UIDVALIDITY kept');
    is(scalar(@n = near_files("$near/INBOX")), 3, 'mbsync 5: INBOX as before');
    is(scalar(@n = near_files("$near/Bulk")), 201, 'mbsync 5: Bulk as before');
}

###############################################################################

# offlineimap3 over implicit TLS

SKIP: {
    skip 'no offlineimap', 24
        unless grep { -x "$_/offlineimap" } split /:/, $ENV{PATH};

    my $O = 'o@example.test';
    my $smd = $t->maildir($O);
    my $local = "$dir/oi/mail";

    my $fp = `openssl x509 -in $dir/127.0.0.1.crt -noout -fingerprint -sha256`;
    $fp =~ s/^.*=//;
    $fp =~ s/[:\s]//g;
    $fp = lc $fp;

    smtp_deliver($O, "From: x\@example.test\r\nSubject: o$_\r\n"
                     . "Message-ID: <o$_\@example.test>\r\n\r\n"
                     . "body of o$_\r\n") for 1 .. 3;

    my $s = imap_login(8143, $O, 'pw3');
    $s->run('SELECT INBOX');
    $s->run('STORE 3 +FLAGS (\Flagged)');
    $s->run('CREATE Work');
    $s->run('CREATE Proj/Sub');
    $s->append('Proj/Sub', "From: x\@example.test\r\nSubject: nested\r\n"
               . "Message-ID: <nested2\@example.test>\r\n\r\nnested\r\n");
    $s->append('Work', "From: x\@example.test\r\nSubject: ow1\r\n"
                       . "Message-ID: <ow1\@example.test>\r\n\r\now1\r\n",
               '\Seen');
    $s->run('LOGOUT');

    make_path("$dir/oi/meta", $local);

    $t->write_file('offlineimaprc', <<"EOF");
[general]
accounts = t
metadata = $dir/oi/meta
maxsyncaccounts = 1

[Account t]
localrepository = near
remoterepository = far

[Repository near]
type = Maildir
localfolders = $local

[Repository far]
type = IMAP
remotehost = 127.0.0.1
remoteport = @{[ port(8993) ]}
remoteuser = $O
remotepass = pw3
ssl = yes
cert_fingerprint = $fp
maxconnections = 1
holdconnectionopen = no
expunge = yes
EOF

    my ($orc, $log) = offlineimap();
    is($orc, 0, 'offlineimap 1') or diag($log);

    my @n = near_files("$local/INBOX");
    is(scalar @n, 3, 'offlineimap 1: 3 messages near');
    like(basename(near_with(\@n, 'o3')), qr/:2,[A-Z]*F/,
         'offlineimap 1: flag F near');
    is(lf($t->read_file(near_with(\@n, 'o1') || '/dev/null')),
       lf($t->read_file(file_with($smd, 'o1') || '/dev/null')),
       'offlineimap 1: content');
    my @w = near_files("$local/Work");
    is(scalar @w, 1, 'offlineimap 1: folder Work');
    like(basename($w[0] // ''), qr/:2,[A-Z]*S/, 'offlineimap 1: Work flag S');
    is(scalar(near_files("$local/Proj.Sub")), 1,
       'offlineimap 1: nested folder');

    # near: o1 seen, o2 deleted, one new message, a new folder

    add_flag(near_with(\@n, 'o1'), 'S');
    unlink near_with(\@n, 'o2');

    $t->write_file("$local/INBOX/new/1800000000.near1.host",
                   "From: near\@example.test\nSubject: from near\n"
                   . "Message-ID: <onear1\@example.test>\n\nwritten near\n");

    make_path(map { "$local/Local/$_" } qw/ cur new tmp /);
    $t->write_file("$local/Local/cur/1800000001.local1.host:2,F",
                   "From: near\@example.test\nSubject: local folder\n"
                   . "Message-ID: <olocal1\@example.test>\n\nin Local\n");

    ($orc, $log) = offlineimap();
    is($orc, 0, 'offlineimap 2') or diag($log);

    like(basename(file_with($smd, 'o1')), qr/:2,[A-Z]*S/,
         'offlineimap 2: flag S on the server');
    ok(!file_with($smd, 'o2'), 'offlineimap 2: o2 deleted on the server');
    like($t->read_file(file_with($smd, 'from near') || '/dev/null'),
         qr/^Subject: from near\n(?:.*\n)*?\nwritten near\n\z/m,
         'offlineimap 2: new message on the server');
    my @lf = folder_files($smd, 'Local');
    is(scalar @lf, 1, 'offlineimap 2: folder Local on the server');
    like(basename($lf[0] // ''), qr/:2,[A-Z]*F/,
         'offlineimap 2: Local flag F');

    # far: a new message, a flag, an expunge

    smtp_deliver($O, "From: x\@example.test\r\nSubject: o4\r\n"
                     . "Message-ID: <o4\@example.test>\r\n\r\nbody of o4\r\n");

    $s = imap_login(8143, $O, 'pw3');
    $s->run('SELECT INBOX');
    store_by_subject($s, 'o1', '+FLAGS (\\Answered)');
    store_by_subject($s, 'from near', '+FLAGS (\\Deleted)');
    $s->run('EXPUNGE');
    $s->run('LOGOUT');

    ($orc, $log) = offlineimap();
    is($orc, 0, 'offlineimap 3') or diag($log);

    @n = near_files("$local/INBOX");
    ok(near_with(\@n, 'o4'), 'offlineimap 3: o4 near');
    like(basename(near_with(\@n, 'o1')), qr/:2,[A-Z]*R/,
         'offlineimap 3: flag R near');
    ok(!near_with(\@n, 'from near'), 'offlineimap 3: expunged near');
    is(scalar @n, 3, 'offlineimap 3: o1 o3 o4 near');

    ($orc, $log) = offlineimap();
    is($orc, 0, 'offlineimap 4: nothing to do') or diag($log);
    is(scalar(@n = near_files("$local/INBOX")), 3, 'offlineimap 4: stable');

    $t->stop_server();
    my ($irc, undef, $ierr) = $t->tern('index', 'rebuild', $O);
    is($irc, 0, 'offlineimap: index rebuild') or diag($ierr);
    $t->run();

    ($orc, $log) = offlineimap();
    is($orc, 0, 'offlineimap 5: after a restart and an index rebuild')
        or diag($log);
    unlike($log, qr/UIDVALIDITY/i, 'offlineimap 5: UIDVALIDITY kept');
    is(scalar(@n = near_files("$local/INBOX")), 3,
       'offlineimap 5: INBOX as before');
}

###############################################################################

sub crlf {
    my ($s) = @_;
    $s =~ s/\r?\n/\r\n/g;
    return $s;
}

sub lf {
    my ($s) = @_;
    $s =~ s/\r\n/\n/g;
    return $s;
}

# mbsync marks the messages it propagates with an X-TUID header

sub notuid {
    my ($s) = @_;
    $s = lf($s);
    $s =~ s/^X-TUID: .*\n//m;
    return $s;
}

sub curl {
    my (@args) = @_;

    my $out = "$dir/curl.out";
    unlink $out;

    system('curl', '-s', '--max-time', '20', '-o', $out, @args);
    my $rc = $? >> 8;

    my $content = -f $out ? $t->read_file($out) : '';
    Tern::Test::log_core('curl', "@args -> $rc\n$content");

    return ($rc, $content);
}

sub mbsync {
    local $ENV{HOME} = $dir;

    my $log = `timeout 120 mbsync -c $dir/mbsyncrc -a 2>&1`;
    my $rc = $? >> 8;
    Tern::Test::log_core('mbsync', "-> $rc\n$log");

    return ($rc, $log);
}

sub offlineimap {
    local $ENV{HOME} = $dir;

    my $log = `timeout 120 offlineimap -c $dir/offlineimaprc -o -u quiet 2>&1`;
    my $rc = $? >> 8;
    Tern::Test::log_core('offlineimap', "-> $rc\n$log");

    return ($rc, $log);
}

# The flags of each message of the selected mailbox, by Subject.

sub flags_by_subject {
    my ($s) = @_;

    my %fl;

    for my $r ($s->run('FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])'))
    {
        my (undef, $h) = Tern::Test::IMAP::fetch_items($r) or next;
        my ($hdr) = grep { /^BODY\[/ } keys %$h;
        my ($subj) = ($h->{$hdr // ''} // '') =~ /^Subject: (.*?)\r?$/m;
        $fl{$subj} = join(' ', @{$h->{FLAGS} || []}) if defined $subj;
    }

    return %fl;
}

sub store_by_subject {
    my ($s, $subj, $what) = @_;

    my ($n) = $s->run('SEARCH SUBJECT ' . Tern::Test::IMAP::quote($subj))
              =~ /^\* SEARCH (\d+)/m;
    $s->run("STORE $n $what") if $n;
}

# An INTERNALDATE as seconds since the epoch.

sub epoch {
    my ($d) = @_;

    my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
               Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);

    return $d // 'undef' unless defined $d && $d =~
        /^ ?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)\z/
        && exists $mon{$2};

    require Time::Local;
    my $e = Time::Local::timegm($6, $5, $4, $1, $mon{$2}, $3);

    return $e - ($7 eq '-' ? -1 : 1) * ($8 * 3600 + $9 * 60);
}

sub imap_login {
    my ($port, $user, $pass) = @_;

    my $s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port($port));
    $s->read();
    $s->login($user, $pass);

    return $s;
}

# Message files of a Maildir (cur/ and new/).

sub near_files {
    my ($d) = @_;

    my @files;

    for my $sub (qw/ cur new /) {
        opendir(my $dh, "$d/$sub") or next;
        push @files, map { "$d/$sub/$_" } grep { !/^\./ } readdir $dh;
        closedir $dh;
    }

    my @sorted = sort grep { -f $_ } @files;

    return @sorted;
}

# The files of the Maildir++ folder ".$folder" of a user's Maildir.

sub folder_files {
    my ($md, $folder) = @_;
    return near_files("$md/.$folder");
}

# The file among @$files (or in INBOX of the Maildir $md) whose Subject
# is $subj; '' if none.

sub near_with {
    my ($files, $subj) = @_;

    for my $f (@$files) {
        return $f if -f $f && $t->read_file($f) =~ /^Subject: \Q$subj\E\r?$/m;
    }

    return '';
}

sub file_with {
    my ($md, $subj) = @_;
    return near_with([ near_files($md) ], $subj);
}

# Adds a maildir flag to a file name (flags kept in ASCII order).

sub add_flag {
    my ($f, $flag) = @_;

    return unless $f;

    my ($base, $flags) = $f =~ /^(.*?)(?::2,([A-Za-z]*))?\z/;
    my %fl = map { $_ => 1 } split(//, $flags // ''), $flag;
    my $to = "$base:2," . join('', sort keys %fl);

    # a message in new/ goes to cur/ with its flags
    $to =~ s{/new/([^/]+)\z}{/cur/$1};

    rename $f, $to or die "rename $f: $!\n";
}

sub smtp_deliver {
    my ($rcpt, $data) = @_;
    return Tern::Test::SMTP::deliver(port(8025), $rcpt, $data);
}

###############################################################################
