#!/usr/bin/perl

# IMAP FETCH, STORE, SEARCH, SORT, COPY, MOVE, EXPUNGE, CLOSE, UNSELECT
# (tn_mail_imap_fetch.c, _search.c, _copy.c).  Messages are delivered by
# SMTP (a plain one, one with RFC 2047 encoded non-ASCII headers, a
# multipart with an attachment holding NULs and a message/rfc822 part,
# a large one); every FETCH item is compared with what is computed here
# from the message file on disk; flags are checked in the Maildir file
# names, COPY and MOVE on disk.  Then bad sets, an empty mailbox, and a
# mailbox of 530 messages fetched in several batches.

use warnings;
use strict;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Encode qw/ encode /;
use File::Basename qw/ basename /;
use MIME::Base64 qw/ encode_base64 /;
use Test::More;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->has(qw/imap/);

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8143%%;
        protocol imap;
        imap_auth_plaintext on;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');
$t->add_user('big@example.test', 'secret');
$t->add_user('cte@example.test', 'secret');

my $U = 'u@example.test';

###############################################################################

# the messages

my $subj2 = 'Grüße aus Köln';

my @msgs;

$msgs[1] = join "\r\n",
    'From: "Alice Example" <alice@example.test>',
    'To: u@example.test',
    'Cc: carol@example.test',
    'Subject: hello world',
    'Date: Mon, 2 Jan 2023 10:00:00 +0000',
    'Message-ID: <one@example.test>',
    'X-Folded: first',
    '  second',
    '',
    'Line one of the body.',
    'The word zanzibar is only here.',
    '';

$msgs[2] = join "\r\n",
    'From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.test>',
    'To: u@example.test',
    'Subject: =?UTF-8?B?' . encode_base64(encode('UTF-8', $subj2), '')
        . '?=',
    'Date: Fri, 15 Mar 2024 23:30:00 -0500',
    'Message-ID: <two@example.test>',
    '',
    'Short body.',
    '';

my $bin = join('', map { chr($_ % 256) } 0 .. 599);

$msgs[3] = join "\r\n",
    'From: Bob <bob@example.test>',
    'To: u@example.test',
    'Subject: multipart test',
    'Date: Sat, 16 Mar 2024 08:00:00 +0100',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="XYZ"',
    '',
    'preamble',
    '--XYZ',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'The text part.',
    '--XYZ',
    'Content-Type: application/octet-stream; name="a.bin"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="a.bin"',
    '',
    (encode_base64($bin) =~ s/\n\z//r =~ s/\n/\r\n/gr),
    '--XYZ',
    'Content-Type: message/rfc822',
    '',
    'From: Inner <inner@example.test>',
    'Subject: inner message',
    '',
    'Inner body.',
    '--XYZ--',
    '';

$msgs[4] = join "\r\n",
    'From: Dave <dave@example.test>',
    'To: u@example.test',
    'Subject: a large one',
    'Date: Sun, 17 Mar 2024 09:00:00 +0000',
    '',
    scalar((('0123456789' x 7) . "\r\n") x 3000);

smtp_deliver($U, $msgs[$_]) for 1 .. 4;

my @files = $t->maildir_files($U);
is(scalar @files, 4, '4 messages on disk');

# the file of each message, by its Subject

my %file;

for my $f (@files) {
    my $d = slurp($f);
    for my $i (1 .. 4) {
        my ($subj) = $msgs[$i] =~ /^Subject: (.*?)\r\n/m;
        $file{$i} = $f if index($d, "Subject: $subj") >= 0;
    }
}

is(scalar keys %file, 4, 'files found by subject');

my %disk = map { $_ => crlf(slurp($file{$_})) } 1 .. 4;

###############################################################################

my $s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
$s->read();
$s->login($U, 'secret');

my $r = $s->run('SELECT INBOX');
like($r, qr/^\* 4 EXISTS\r$/m, 'select: 4 exists');
like($r, qr/^a\d+ OK \[READ-WRITE\]/m, 'select read-write');

# view items

my @r = $s->run('FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)');
is(scalar(grep { /^\* \d+ FETCH/ } @r), 4, 'fetch 1:* four responses');
is(Tern::Test::IMAP::status(\@r), 'OK', 'fetch 1:* ok');

my %uid;

for my $l (@r) {
    my ($n, $h) = Tern::Test::IMAP::fetch_items($l);
    next unless defined $n;
    $uid{$n} = $h->{UID};
    is($h->{'RFC822.SIZE'}, length $disk{$n}, "RFC822.SIZE of $n");
    like($h->{INTERNALDATE},
         qr/^\d{2}-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [-+]\d{4}$/,
         "INTERNALDATE of $n");
    ok(ref $h->{FLAGS} eq 'ARRAY'
       && !grep({ $_ eq '\\Seen' } @{$h->{FLAGS}}), "FLAGS of $n unseen");
}

my ($u1, $u2, $u3, $u4) = @uid{1 .. 4};
my ($n, $h);

ok($u1 && $u1 < $u2 && $u2 < $u3 && $u3 < $u4, 'uids ascending');

# BODY.PEEK[] byte for byte, partials

for my $n (1 .. 4) {
    is(fetch1($n, 'BODY.PEEK[]', 'BODY[]'), $disk{$n}, "BODY.PEEK[] of $n");
}

# one response in several batches: 4 sections of 216 KB

$r = $s->run('FETCH 4 (BODY.PEEK[] BODY.PEEK[TEXT] UID BODY.PEEK[1] '
             . 'BODY.PEEK[]<5.300000>)');
($n, $h) = Tern::Test::IMAP::fetch_items(($r =~ /^(\* 4 FETCH .*)^a\d+ OK/ms)[0]);
is($h->{'BODY[]'}, $disk{4}, 'one response in pieces: BODY[]');
is($h->{'BODY[TEXT]'}, text_of($disk{4}), 'one response in pieces: TEXT');
is($h->{'BODY[1]'}, text_of($disk{4}), 'one response in pieces: 1');
is($h->{'BODY[]<5>'}, substr($disk{4}, 5, 300000),
   'one response in pieces: partial');
is($h->{UID}, $u4, 'one response in pieces: UID');

is(fetch1(1, 'BODY.PEEK[]<0.10>', 'BODY[]<0>'), substr($disk{1}, 0, 10),
   'partial <0.10>');
is(fetch1(1, 'BODY.PEEK[]<10.20>', 'BODY[]<10>'), substr($disk{1}, 10, 20),
   'partial <10.20>');
is(fetch1(1, 'BODY.PEEK[]<100000.5>', 'BODY[]<100000>'), '',
   'partial beyond the end is empty');
is(fetch1(4, 'BODY.PEEK[TEXT]<100.1000>', 'BODY[TEXT]<100>'),
   substr(text_of($disk{4}), 100, 1000), 'partial of TEXT');

# header sections

my ($h1, $b1) = split_msg($disk{1});

is(fetch1(1, 'BODY.PEEK[HEADER]', 'BODY[HEADER]'), $h1, 'BODY[HEADER]');
is(fetch1(1, 'BODY.PEEK[TEXT]', 'BODY[TEXT]'), $b1, 'BODY[TEXT]');
is(fetch1(1, 'BODY.PEEK[HEADER.FIELDS (From Subject)]',
          'BODY[HEADER.FIELDS (From Subject)]'),
   fields($h1, 0, 'from', 'subject'), 'HEADER.FIELDS (From Subject)');
is(fetch1(1, 'BODY.PEEK[HEADER.FIELDS (x-folded)]',
          'BODY[HEADER.FIELDS (x-folded)]'),
   fields($h1, 0, 'x-folded'), 'HEADER.FIELDS of a folded field');
is(fetch1(1, 'BODY.PEEK[HEADER.FIELDS.NOT (Received From)]',
          'BODY[HEADER.FIELDS.NOT (Received From)]'),
   fields($h1, 1, 'received', 'from'), 'HEADER.FIELDS.NOT');
is(fetch1(1, 'RFC822.HEADER'), $h1, 'RFC822.HEADER');
is(fetch1(1, 'BODY.PEEK[1]', 'BODY[1]'), $b1, 'BODY[1] of a single part');

# multipart sections

my $m3 = $disk{3};

is(fetch1(3, 'BODY.PEEK[1]', 'BODY[1]'), "The text part.",
   'BODY[1] text part');
like(fetch1(3, 'BODY.PEEK[2.MIME]', 'BODY[2.MIME]'),
     qr/\AContent-Type: application\/octet-stream; name="a.bin"\r\n.*\r\n\r\n\z/s,
     'BODY[2.MIME]');
is(fetch1(3, 'BODY.PEEK[3.HEADER]', 'BODY[3.HEADER]'),
   "From: Inner <inner\@example.test>\r\nSubject: inner message\r\n\r\n",
   'BODY[3.HEADER] of message/rfc822');
is(fetch1(3, 'BODY.PEEK[3.TEXT]', 'BODY[3.TEXT]'), "Inner body.",
   'BODY[3.TEXT]');
is(fetch1(3, 'BODY.PEEK[9]', 'BODY[9]'), '', 'a part that does not exist');

$r = $s->run("FETCH 3 (BINARY.PEEK[2] BINARY.SIZE[2])");
like($r, qr/BINARY\[2\] ~\{600\}\r\n/, 'BINARY[2] as literal8 (NULs)');
($n, $h) = Tern::Test::IMAP::fetch_items(($r =~ /^(\* 3 FETCH .*)^a\d+ /ms)[0]);
is($h->{'BINARY[2]'}, $bin, 'BINARY[2] decoded');
is($h->{'BINARY.SIZE[2]'}, 600, 'BINARY.SIZE[2]');
is(fetch1(3, 'BINARY.PEEK[1]', 'BINARY[1]'), "The text part.",
   'BINARY[1] of a 7bit part');
is(fetch1(3, 'BINARY.PEEK[2]<10.20>', 'BINARY[2]<10>'), substr($bin, 10, 20),
   'BINARY[2]<10.20>');
like($s->run('FETCH 3 body.peek[header.fields (subject)]'),
     qr/^\* 3 FETCH \(BODY\[HEADER\.FIELDS \(subject\)\] \{/m,
     'section keywords in upper case, field names as sent');

# structure

$r = $s->run('FETCH 3 (BODYSTRUCTURE BODY ENVELOPE)');
like($r, qr/BODYSTRUCTURE \(\("TEXT" "PLAIN" \("CHARSET" "us-ascii"\)/i,
     'BODYSTRUCTURE first part');
like($r, qr/"APPLICATION" "OCTET-STREAM"/i, 'BODYSTRUCTURE attachment');
like($r, qr/"MESSAGE" "RFC822"/i, 'BODYSTRUCTURE message/rfc822');
like($r, qr/"MIXED" \("BOUNDARY" "XYZ"\)/i, 'BODYSTRUCTURE multipart');
like($r, qr/ BODY \(\("TEXT" "PLAIN"/i, 'BODY');
like($r, qr/ENVELOPE \("Sat, 16 Mar 2024 08:00:00 \+0100" "multipart test" /,
     'ENVELOPE date and subject');

$r = $s->run('FETCH 2 ENVELOPE');
like($r, qr/"=\?UTF-8\?B\?/, 'ENVELOPE keeps encoded words');

# macros

$r = $s->run('FETCH 1 ALL');
like($r, qr/^\* 1 FETCH \(.*FLAGS .*INTERNALDATE .*RFC822\.SIZE .*ENVELOPE/m,
     'ALL');
$r = $s->run('FETCH 1 FAST');
like($r, qr/^\* 1 FETCH \((?=.*FLAGS)(?=.*INTERNALDATE)(?=.*RFC822\.SIZE)(?!.*ENVELOPE)/m,
     'FAST');
$r = $s->run('FETCH 1 FULL');
like($r, qr/^\* 1 FETCH \((?=.*ENVELOPE)(?=.*BODY \()/m, 'FULL');

# UID FETCH adds UID

$r = $s->run("UID FETCH $u2 FLAGS");
like($r, qr/^\* 2 FETCH \((?=.*UID $u2\b)/m, 'UID FETCH has UID');

# no \Seen from PEEK; \Seen from BODY[TEXT], FLAGS in the response

$r = $s->run('FETCH 1 FLAGS');
unlike($r, qr/\\Seen/, 'PEEK did not set \Seen');

$r = $s->run('FETCH 1 BODY[TEXT]');
like($r, qr/^\* 1 FETCH \((?=.*FLAGS \([^)]*\\Seen)/m,
     'BODY[TEXT] sets \Seen and tells FLAGS');
like(flags_on_disk(1), qr/S/, '\Seen in the file name');

$r = $s->run('FETCH 2 RFC822');
like($r, qr/RFC822 \{\d+\}/, 'RFC822');
like($r, qr/\\Seen/, 'RFC822 sets \Seen');
$r = $s->run('FETCH 2 RFC822.TEXT');
like($r, qr/RFC822\.TEXT \{\d+\}\r\nShort body\./, 'RFC822.TEXT');

# bad fetches

like($s->run('FETCH 1 FOO'), qr/^a\d+ BAD/m, 'unknown item');
like($s->run('FETCH 1 ALLX'), qr/^a\d+ BAD/m, 'not a macro');
like($s->run('FETCH 1 (ALL)'), qr/^a\d+ BAD/m, 'a macro in a list');
like($s->run('FETCH 1 (FLAGS) (CHANGEDSINCE)'), qr/^a\d+ BAD/m,
     'CHANGEDSINCE without a value');
like($s->run('FETCH 1 BODY[FOO]'), qr/^a\d+ BAD/m, 'bad section');
like($s->run('FETCH 1 (FLAGS'), qr/^a\d+ BAD/m, 'unbalanced');
like($s->run('FETCH 0 FLAGS'), qr/^a\d+ BAD/m, 'sequence 0');
like($s->run('FETCH 1:2:3 FLAGS'), qr/^a\d+ BAD/m, 'bad set');
like($s->run('FETCH 4294967295 FLAGS'), qr/^a\d+ BAD/m,
     'sequence 4294967295 beyond the mailbox');
like($s->run('FETCH 4294967296 FLAGS'), qr/^a\d+ BAD/m,
     'sequence 4294967296');
$r = $s->run('UID FETCH 4294967295 FLAGS');
like($r, qr/^a\d+ OK/m, 'UID FETCH 4294967295 ok');
unlike($r, qr/FETCH \(/, 'UID FETCH 4294967295 nothing');
$r = $s->run('UID FETCH 1:4294967295 UID');
is(scalar(() = $r =~ /^\* \d+ FETCH/mg), 4, 'UID FETCH 1:4294967295');
$r = $s->run("UID FETCH $u4:* UID");
is(scalar(() = $r =~ /^\* \d+ FETCH/mg), 1, 'UID FETCH last:*');

###############################################################################

# STORE

$r = $s->run('STORE 3 +FLAGS (\Flagged)');
like($r, qr/^\* 3 FETCH \(FLAGS \(\\Flagged \\Recent\)\)/m,
     'STORE +FLAGS (\Recent: this session saw it first)');
like(flags_on_disk(3), qr/^F$/, 'F in the file name');

$r = $s->run("UID STORE $u3 +FLAGS (\\Answered \\Draft)");
like($r, qr/^\* 3 FETCH \((?=.*UID $u3)(?=.*\\Answered)(?=.*\\Draft)/m,
     'UID STORE has UID');
like(flags_on_disk(3), qr/^DFR$/, 'DFR in the file name');

$r = $s->run('STORE 3 -FLAGS.SILENT (\Draft \Answered)');
unlike($r, qr/FETCH/, '.SILENT');
like(flags_on_disk(3), qr/^F$/, 'F again');

$r = $s->run('STORE 3 FLAGS $Junk \Seen');
like($r, qr/^\* FLAGS \(.*\$Junk/m, 'a new keyword: * FLAGS');
like($r, qr/^\* 3 FETCH \(FLAGS \((?=.*\$Junk)(?=.*\\Seen)(?!.*Flagged)/m,
     'STORE FLAGS without parentheses');
like(flags_on_disk(3), qr/^S$/, 'S in the file name');

like($s->run('STORE 3 +FLAGS (\Recent)'), qr/^a\d+ BAD/m, '\Recent refused');
like($s->run('STORE 3 +FOO (\Seen)'), qr/^a\d+ BAD/m, 'bad store item');
like($s->run('STORE 9 +FLAGS (\Seen)'), qr/^a\d+ BAD/m, 'STORE beyond');

# CONDSTORE

$r = $s->run('FETCH 3 (MODSEQ)');
my ($ms) = $r =~ /MODSEQ \((\d+)\)/;
ok($ms, 'MODSEQ');

$r = $s->run('STORE 3 (UNCHANGEDSINCE ' . ($ms - 1)
             . ') +FLAGS (\Flagged)');
like($r, qr/^a\d+ OK \[MODIFIED 3\]/m, 'UNCHANGEDSINCE fails: MODIFIED');
$r = $s->run("STORE 3 (UNCHANGEDSINCE $ms) +FLAGS (\\Flagged)");
like($r, qr/^\* 3 FETCH \((?=.*MODSEQ \((\d+)\))/m,
     'UNCHANGEDSINCE passes, MODSEQ told');
like($r, qr/^a\d+ OK (?!\[MODIFIED)/m, 'no MODIFIED');

$r = $s->run("FETCH 1:* (FLAGS) (CHANGEDSINCE $ms)");
is(scalar(() = $r =~ /^\* \d+ FETCH/mg), 1, 'CHANGEDSINCE: one changed');
like($r, qr/^\* 3 FETCH .*MODSEQ/m, 'CHANGEDSINCE: with MODSEQ');

###############################################################################

# SEARCH

is_deeply(search('SEARCH ALL'), [1, 2, 3, 4], 'SEARCH ALL');
is_deeply(search('SEARCH FROM alice'), [1], 'FROM');
is_deeply(search('SEARCH FROM "ALICE EXAMPLE"'), [1], 'FROM name');
is_deeply(search8('FROM', 'müller'), [2], 'FROM RFC 2047 Q');
is_deeply(search8('SUBJECT', 'KÖLN'), [2], 'SUBJECT non-ASCII upper case');
is_deeply(search8('SUBJECT', 'grüße aus'), [2],
          'SUBJECT RFC 2047 B');
is_deeply(search8('SUBJECT', 'grüsse'), [], 'SUBJECT non-ASCII no match');
is_deeply(search('SEARCH SUBJECT HELLO'), [1], 'SUBJECT');
is_deeply(search('SEARCH TO u@example.test'), [1, 2, 3, 4], 'TO');
is_deeply(search('SEARCH CC carol'), [1], 'CC');
is_deeply(search('SEARCH OR FROM alice FROM bob'), [1, 3], 'OR');
is_deeply(search('SEARCH NOT FROM alice'), [2, 3, 4], 'NOT');
is_deeply(search('SEARCH (OR SEEN FLAGGED) NOT 1'), [2, 3], 'list, NOT set');
is_deeply(search('SEARCH SEEN'), [1, 2, 3], 'SEEN');
is_deeply(search('SEARCH UNSEEN'), [4], 'UNSEEN');
is_deeply(search('SEARCH FLAGGED'), [3], 'FLAGGED');
is_deeply(search('SEARCH KEYWORD $Junk'), [3], 'KEYWORD');
is_deeply(search('SEARCH UNKEYWORD $Junk'), [1, 2, 4], 'UNKEYWORD');
is_deeply(search('SEARCH KEYWORD $Nothing'), [], 'unknown KEYWORD');
is_deeply(search('SEARCH LARGER 100000'), [4], 'LARGER');
is_deeply(search('SEARCH SMALLER 1000'), [1, 2], 'SMALLER');
is_deeply(search('SEARCH 2:3'), [2, 3], 'set');
is_deeply(search("SEARCH UID $u2:$u3"), [2, 3], 'UID set');
is_deeply(search('UID SEARCH FROM bob'), [$u3], 'UID SEARCH');
is_deeply(search('SEARCH BODY zanzibar'), [1], 'BODY');
is_deeply(search('SEARCH BODY "inner body"'), [3], 'BODY in a part');
is_deeply(search('SEARCH TEXT zanzibar'), [1], 'TEXT body');
is_deeply(search('SEARCH TEXT "one@example"'), [1], 'TEXT header');
is_deeply(search('SEARCH HEADER Message-ID two@'), [2], 'HEADER');
is_deeply(search('SEARCH HEADER X-Folded "second"'), [1], 'HEADER folded');
is_deeply(search('SEARCH HEADER MIME-Version ""'), [3], 'HEADER exists');
is_deeply(search('SEARCH SENTSINCE 15-Mar-2024'), [2, 3, 4], 'SENTSINCE');
is_deeply(search('SEARCH SENTBEFORE 15-Mar-2024'), [1], 'SENTBEFORE');
is_deeply(search('SEARCH SENTON 15-Mar-2024'), [2],
          'SENTON (the date as written)');

my @now = gmtime();
my $today = sprintf('%d-%s-%d', $now[3],
    (qw/Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec/)[$now[4]],
    $now[5] + 1900);

is_deeply(search("SEARCH SINCE $today"), [1, 2, 3, 4], 'SINCE today');
is_deeply(search("SEARCH BEFORE $today"), [], 'BEFORE today');
is_deeply(search('SEARCH BEFORE 1-Jan-2100 SINCE 1-Jan-2000'), [1, 2, 3, 4],
          'BEFORE and SINCE');
is_deeply(search('SEARCH ON 1-Jan-2000'), [], 'ON');
is_deeply(search('SEARCH CHARSET UTF-8 FROM alice'), [1], 'CHARSET UTF-8');
like($s->run('SEARCH CHARSET ISO-8859-1 FROM alice'),
     qr/^a\d+ NO \[BADCHARSET/m, 'BADCHARSET');
like($s->run('SEARCH FOO'), qr/^a\d+ BAD/m, 'unknown key');
like($s->run('SEARCH BEFORE 31-Foo-2020'), qr/^a\d+ BAD/m, 'bad date');
like($s->run('SEARCH 9'), qr/^a\d+ BAD/m, 'sequence beyond the mailbox');

$r = $s->run('SEARCH RETURN (MIN MAX COUNT ALL) NOT 2');
like($r, qr/^\* ESEARCH \(TAG "a\d+"\) MIN 1 MAX 4 COUNT 3 ALL 1,3:4\r$/m,
     'ESEARCH');
$r = $s->run('UID SEARCH RETURN (COUNT) FROM nobody');
like($r, qr/^\* ESEARCH \(TAG "a\d+"\) UID COUNT 0\r$/m, 'ESEARCH empty');

$r = $s->run('SEARCH RETURN (SAVE) FROM bob');
unlike($r, qr/ESEARCH/, 'SAVE alone: no ESEARCH');
$r = $s->run('FETCH $ (UID)');
like($r, qr/^\* 3 FETCH \(UID $u3\)/m, 'FETCH $');
is_deeply(search('SEARCH OR $ 1'), [1, 3], 'SEARCH $');

$r = $s->run('SEARCH MODSEQ 1');
like($r, qr/^\* SEARCH 1 2 3 4 \(MODSEQ \d+\)\r$/m, 'SEARCH MODSEQ');

# SORT

is_deeply(sort_('SORT (SUBJECT) UTF-8 ALL'), [4, 2, 1, 3], 'SORT SUBJECT');
is_deeply(sort_('SORT (REVERSE SIZE) UTF-8 ALL'), [4, 3, 1, 2],
          'SORT REVERSE SIZE');
is_deeply(sort_('SORT (DATE) UTF-8 ALL'), [1, 2, 3, 4], 'SORT DATE');
is_deeply(sort_('SORT (FROM) UTF-8 NOT 4'), [1, 3, 2], 'SORT FROM');
is_deeply(sort_('SORT (ARRIVAL) UTF-8 ALL'), [1, 2, 3, 4], 'SORT ARRIVAL');
is_deeply(sort_('SORT (CC SUBJECT) UTF-8 ALL'), [4, 2, 3, 1],
          'SORT CC SUBJECT');
is_deeply(sort_('SORT (REVERSE CC SUBJECT) UTF-8 ALL'), [1, 4, 2, 3],
          'SORT REVERSE CC SUBJECT');
is_deeply(sort_('SORT (TO) UTF-8 SEEN'), [1, 2, 3], 'SORT TO');
is_deeply(sort_("UID SORT (SIZE) UTF-8 ALL"), [$u2, $u1, $u3,
          $u4], 'UID SORT SIZE');
like($s->run('SORT (FOO) UTF-8 ALL'), qr/^a\d+ BAD/m, 'bad sort key');

###############################################################################

# COPY, MOVE

my $md = $t->maildir($U);

# the special-use mailboxes are made at the first LIST

$s->run('LIST "" "*"');
$s->run('CREATE Archive');

$r = $s->run('COPY 1:2 Archive');
like($r, qr/^a\d+ OK \[COPYUID \d+ $u1:$u2 1:2\]/m, 'COPY COPYUID');
is(scalar(() = glob("$md/.Archive/cur/*")), 2, 'copies on disk');

$r = $s->run("UID COPY $u1,$u3 Archive");
like($r, qr/^a\d+ OK \[COPYUID \d+ $u1,$u3 3:4\]/m,
     'UID COPY COPYUID');
like($s->run('COPY 1 Nowhere'), qr/^a\d+ NO \[TRYCREATE\]/m, 'TRYCREATE');

$r = $s->run('MOVE 2 Archive');
like($r, qr/^\* OK \[COPYUID \d+ $u2 5\]/m, 'MOVE COPYUID untagged');
like($r, qr/^\* 2 EXPUNGE\r$/m, 'MOVE EXPUNGE');
like($r, qr/^a\d+ OK/m, 'MOVE ok');
ok(!-e $file{2} && !grep({ index(slurp($_), 'Short body') >= 0 }
                         $t->maildir_files($U)), 'moved away on disk');
is(scalar(() = glob("$md/.Archive/cur/*")), 5, 'moved into Archive');
like($s->run("UID COPY $u4 Archive"), qr/^a\d+ OK \[COPYUID \d+ $u4 6\]/m,
     'an unseen one copied');

$r = $s->run('FETCH 1:* UID');
is(scalar(() = $r =~ /^\* \d+ FETCH/mg), 3, 'view: 3 left');
like($r, qr/^\* 2 FETCH \(UID $u3\)/m, 'numbers shifted');

# EXPUNGE, UID EXPUNGE

$s->run('STORE 1,3 +FLAGS.SILENT (\Deleted)');
$r = $s->run("UID EXPUNGE $u4");
like($r, qr/^\* 3 EXPUNGE\r$/m, 'UID EXPUNGE');
unlike($r, qr/^\* 1 EXPUNGE/m, 'UID EXPUNGE only its set');
$r = $s->run('EXPUNGE');
like($r, qr/^\* 1 EXPUNGE\r$/m, 'EXPUNGE');
is(scalar(my @left = $t->maildir_files($U)), 1, 'one file left in INBOX');
$r = $s->run('FETCH 1:* UID');
like($r, qr/^\* 1 FETCH \(UID $u3\)\r$/m, 'the view after EXPUNGE');

# EXAMINE: read-only

$r = $s->run('EXAMINE Archive');
like($r, qr/^\* 6 EXISTS/m, 'EXAMINE Archive');
like($s->run('STORE 1 +FLAGS (\Deleted)'), qr/^a\d+ NO/m,
     'STORE in EXAMINE');
like($s->run('EXPUNGE'), qr/^a\d+ NO/m, 'EXPUNGE in EXAMINE');
like($s->run('MOVE 1 INBOX'), qr/^a\d+ NO/m, 'MOVE in EXAMINE');
like($s->run('FETCH 6 BODY[TEXT]<0.5>'), qr/BODY\[TEXT\]<0> \{5\}/,
     'FETCH in EXAMINE');
unlike($s->run('FETCH 6 FLAGS'), qr/\\Seen/, 'no \Seen in EXAMINE');
like($s->run('UNSELECT'), qr/^a\d+ OK/m, 'UNSELECT');
like($s->run('FETCH 1 FLAGS'), qr/^a\d+ BAD/m, 'FETCH after UNSELECT');

# CLOSE expunges silently

$s->run('SELECT Archive');
$s->run('STORE 1:2 +FLAGS.SILENT (\Deleted)');
$r = $s->run('CLOSE');
unlike($r, qr/EXPUNGE/, 'CLOSE is silent');
like($r, qr/^a\d+ OK/m, 'CLOSE ok');
is(scalar(() = glob("$md/.Archive/cur/*")), 4, 'CLOSE expunged');

# an empty mailbox

$r = $s->run('SELECT Drafts');
like($r, qr/^\* 0 EXISTS/m, 'empty Drafts');
$r = $s->run('FETCH 1:* FLAGS');
like($r, qr/^a\d+ (OK|BAD)/m, 'FETCH 1:* on an empty mailbox answered');
unlike($r, qr/FETCH \(/, 'nothing fetched');
$r = $s->run('UID FETCH 1:* FLAGS');
like($r, qr/^a\d+ OK/m, 'UID FETCH 1:* on an empty mailbox');
like($s->run('SEARCH ALL'), qr/^\* SEARCH\r$/m, 'SEARCH in an empty mailbox');
like($s->run('UID SEARCH 1:*'), qr/^\* SEARCH\r$/m, 'SEARCH 1:* empty');
like($s->run('EXPUNGE'), qr/^a\d+ OK/m, 'EXPUNGE in an empty mailbox');
like($s->run('UID COPY 1:* INBOX'), qr/^a\d+ OK/m, 'UID COPY of nothing');

$s->run('LOGOUT');

###############################################################################

# a larger mailbox: several batches of output

{
    my $c = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8025));
    $c->read();
    $c->send('EHLO client.example.test');
    $c->read();

    for my $i (1 .. 530) {
        $c->send('MAIL FROM:<sender@example.test>');
        $c->read();
        $c->send('RCPT TO:<big@example.test>');
        $c->read();
        $c->send('DATA');
        $c->read();
        $c->print("From: s$i\@example.test\r\nSubject: bulk $i\r\n\r\n"
                  . ("body of $i " x ($i == 7 ? 40000 : 20)) . "\r\n.\r\n");
        $c->read();
    }

    $c->send('QUIT');
    $c->read();
}

$s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143),
                           ReadTimeout => 30);
$s->read();
$s->login('big@example.test', 'secret');
like($s->run('SELECT INBOX'), qr/^\* 530 EXISTS/m, '530 messages');

@r = $s->run('FETCH 1:* (UID ENVELOPE)', 60);
is(scalar(grep { /^\* \d+ FETCH/ } @r), 530, 'FETCH ENVELOPE 530');
is(Tern::Test::IMAP::status(\@r), 'OK', 'FETCH ENVELOPE ok');
is(scalar(grep { my ($a) = /"bulk (\d+)"/; my ($b) = /^\* (\d+) /;
                 defined $a && $a == $b } @r), 530,
   'each envelope its message');

@r = $s->run('FETCH 1:* BODY.PEEK[]', 60);
is(scalar(grep { /^\* \d+ FETCH/ } @r), 530, 'FETCH BODY[] 530');
my ($big) = grep { /^\* 7 FETCH/ } @r;
ok($big && length($big) > 400000, 'the large one whole');

@r = $s->run('FETCH 1:* FLAGS', 60);
is(scalar(grep { /^\* \d+ FETCH/ } @r), 530, 'FETCH FLAGS 530');

is(scalar @{search('SEARCH SUBJECT bulk')}, 530, 'SEARCH 530');
is_deeply(search('SEARCH SUBJECT "bulk 529"'), [529], 'SEARCH one of 530');

# pipelined: every command answered in order

$s->print(join('', map { "p$_ FETCH $_ (UID BODY.PEEK[HEADER])\r\n" }
                   1 .. 20));
my $all = $s->tagged('p20', 30);
is(scalar(() = $all =~ /^p\d+ OK/mg), 20, 'pipelined fetches');

$s->run('LOGOUT');

###############################################################################

# BINARY of quoted-printable and of an unknown encoding; IMAP4rev2 ESEARCH

smtp_deliver('cte@example.test', join "\r\n",
    'From: q@example.test',
    'Subject: encodings',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'caf=C3=A9 =3D soft=',
    'break',
    '--b',
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: x-uuencode',
    '',
    'begin 644 x',
    '--b--',
    '');

$s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
$s->read();
$s->login('cte@example.test', 'secret');
$s->run('SELECT INBOX');

is(fetch1(1, 'BINARY.PEEK[1]', 'BINARY[1]'), "caf\xc3\xa9 = softbreak",
   'BINARY of quoted-printable');
like($s->run('FETCH 1 BINARY.PEEK[2]'), qr/^a\d+ NO \[UNKNOWN-CTE\]/m,
     'BINARY of x-uuencode: UNKNOWN-CTE');
like($s->run('FETCH 1 BINARY.SIZE[1]'), qr/BINARY\.SIZE\[1\] 17\b/,
     'BINARY.SIZE of quoted-printable');

# a message expunged by another session while this one still has it

smtp_deliver('cte@example.test', "Subject: gone soon\r\n\r\nbody\r\n");
like($s->run('NOOP'), qr/^\* 2 EXISTS/m, 'a second message');

my $s2 = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
$s2->read();
$s2->login('cte@example.test', 'secret');
$s2->run('SELECT INBOX');
$s2->run('STORE 2 +FLAGS.SILENT (\Deleted)');
like($s2->run('EXPUNGE'), qr/^\* 2 EXPUNGE/m, 'expunged by another session');
$s2->run('LOGOUT');

$r = $s->run('FETCH 1:2 (UID BODY.PEEK[HEADER] ENVELOPE)');
like($r, qr/^a\d+ OK/m, 'FETCH of an expunged message: OK');
like($r, qr/^\* 1 FETCH/m, 'the other message fetched');
unlike($r, qr/^\* 2 FETCH/m, 'the expunged message skipped');
unlike($r, qr/^\* 2 EXPUNGE/m, 'no EXPUNGE during FETCH');
like($s->run('NOOP'), qr/^\* 2 EXPUNGE/m, 'EXPUNGE on the next NOOP');

$s->run('UNSELECT');
like($s->run('ENABLE IMAP4rev2'), qr/^\* ENABLED IMAP4rev2/m, 'IMAP4rev2');
$s->run('SELECT INBOX');
like($s->run('SEARCH ALL'), qr/^\* ESEARCH \(TAG "a\d+"\) ALL 1\r$/m,
     'IMAP4rev2 SEARCH answers ESEARCH');
like($s->run('UID SEARCH NOT ALL'), qr/^\* ESEARCH \(TAG "a\d+"\) UID\r$/m,
     'IMAP4rev2 UID SEARCH without matches');
$s->run('LOGOUT');

$t->done_testing();

###############################################################################

sub smtp_deliver {
    my ($rcpt, $data) = @_;
    return Tern::Test::SMTP::deliver(port(8025), $rcpt, $data);
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<:raw', $f) or return '';
    local $/;
    return <$fh>;
}

# the CRLF form of a file (LF as stored)

sub crlf {
    my ($d) = @_;
    $d =~ s/(?<!\r)\n/\r\n/g;
    return $d;
}

sub split_msg {
    my ($m) = @_;
    my $i = index($m, "\r\n\r\n");
    return (substr($m, 0, $i + 4), substr($m, $i + 4));
}

sub text_of {
    return (split_msg($_[0]))[1];
}

# HEADER.FIELDS of a header block, computed here

sub fields {
    my ($hdr, $not, @names) = @_;
    my %want = map { lc($_) => 1 } @names;
    my $out = '';

    for my $f (split /\r\n(?![ \t])/, $hdr) {
        next if $f eq '';
        my ($name) = $f =~ /^([^:\s]+)\s*:/;
        next unless defined $name;
        my $in = $want{lc $name} ? 1 : 0;
        $out .= "$f\r\n" if $in != $not;
    }

    return $out . "\r\n";
}

# one item of one message

sub fetch1 {
    my ($n, $item, $name) = @_;
    my $r = $s->run("FETCH $n ($item)");
    my ($resp) = $r =~ /^(\* $n FETCH .*)^a\d+ OK/ms;
    my (undef, $h) = Tern::Test::IMAP::fetch_items($resp);
    return $h ? $h->{uc($name // $item)} : undef;
}

sub search {
    my ($cmd) = @_;
    return search_result($s->run($cmd));
}

# SEARCH CHARSET UTF-8 KEY, the non-ASCII string as a literal

sub search8 {
    my ($key, $str) = @_;
    my $b = encode('UTF-8', $str);
    my $tag = $s->cmd("SEARCH CHARSET UTF-8 $key {" . length($b) . '}');
    $s->read();
    $s->print($b . "\r\n");
    return search_result(scalar $s->tagged($tag));
}

sub search_result {
    my ($r) = @_;
    my ($l) = $r =~ /^\* SEARCH([^\r\n]*)/m;
    return undef unless defined $l;
    $l =~ s/ \(MODSEQ \d+\)//;
    return [ grep { length } split / /, $l ];
}

sub sort_ {
    my ($cmd) = @_;
    my $r = $s->run($cmd);
    my ($l) = $r =~ /^\* SORT([^\r\n]*)/m;
    return undef unless defined $l;
    return [ grep { length } split / /, $l ];
}

sub flags_on_disk {
    my ($n) = @_;
    my ($f) = grep { index(slurp($_), $msgs[$n] =~ /^(Subject: [^\r]*)/m
                                       ? $1 : "\0") >= 0 }
              $t->maildir_files($U);
    return '' unless $f;
    my ($fl) = basename($f) =~ /:2,([A-Za-z]*)$/;
    return $fl // '';
}

###############################################################################
