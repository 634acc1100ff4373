#!/usr/bin/perl

# IMAP: the example conversation of RFC 3501 section 8, replayed line by
# line over a raw socket.  The mailbox is made to look like the one of
# the example: 18 messages, 16 of them \Seen and appended first (message
# 12 is the "IMAP4rev1 WG mtg summary and minutes" of the RFC, with its
# headers, INTERNALDATE and a body of 3028 octets in 92 lines), then 2
# delivered by SMTP (\Recent, unseen: UNSEEN 17).  Each response is
# compared in shape; ENVELOPE, BODY and BODY[HEADER] exactly.  Message 12
# is then checked on disk: its file name carries the flags ":2,ST".

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Basename qw/ basename /;
use Test::More;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->plan(37);

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
$t->add_user('mrc@example.test', 'secret');

my $U = 'mrc@example.test';

###############################################################################

# the mailbox of the example

my $header = join '', map { "$_\r\n" }
    'Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)',
    'From: Terry Gray <gray@cac.washington.edu>',
    'Subject: IMAP4rev1 WG mtg summary and minutes',
    'To: imap@cac.washington.edu',
    'cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>',
    'Message-Id: <B27397-0100000@cac.washington.edu>',
    'MIME-Version: 1.0',
    'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII',
    '';

# 92 lines, 3028 octets with CRLF: 84 of 31 characters, 8 of 30

my $body = join '', map {
    my $len = $_ <= 84 ? 31 : 30;
    my $l = sprintf('%02d minutes of the meeting ', $_);
    $l . ('x' x ($len - length $l)) . "\r\n";
} 1 .. 92;

is(length($header), 342, 'header of message 12: 342 octets');
is(length($body), 3028, 'body of message 12: 3028 octets');

my $s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
$s->read();
$s->login($U, 'secret');

my $ok = 0;

for my $i (1 .. 16) {
    my $msg = $i == 12 ? $header . $body
        : "From: Someone <someone\@example.test>\r\n"
          . "To: mrc\@example.test\r\n"
          . "Subject: message $i\r\n"
          . "Date: Tue, 16 Jul 1996 1$i:00:00 -0700\r\n"
          . "\r\n"
          . "text of message $i\r\n";

    my $date = $i == 12 ? '17-Jul-1996 02:44:25 -0700'
                        : sprintf('16-Jul-1996 %02d:00:00 -0700', $i);

    $ok++ if Tern::Test::IMAP::status(
        [ $s->append('INBOX', $msg, '\\Seen', $date) ]) eq 'OK';
}

is($ok, 16, 'appended 16 seen messages');

# a session that selects the mailbox takes \Recent of what it sees

$s->run_ok('SELECT INBOX', 'setup select');
$s->run('LOGOUT');
$s->close();

smtp_deliver($U, "From: x\@example.test\r\nSubject: new $_\r\n\r\n"
                 . "unseen $_\r\n") for 17, 18;

is(scalar(my @f = $t->maildir_files($U)), 18, '18 messages on disk');

###############################################################################

# the conversation; "S:" lines are the comments

$s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));

# S:   * OK IMAP4rev1 Service Ready

my $r = $s->read();
like($r, qr/^\* OK\b.*\r\n\z/, 'greeting');
ok(($r // '') !~ /\[CAPABILITY / || $r =~ /\bIMAP4rev1\b/,
   'greeting capability, if any, has IMAP4rev1');

# C:   a001 login mrc secret
# S:   a001 OK LOGIN completed

$s->send("a001 login $U secret");
my @r = read_to('a001');
like($r[-1], qr/^a001 OK\b.*\r\n\z/, 'a001 login');
is(scalar(grep { !/^\* CAPABILITY / } @r[0 .. $#r - 1]), 0,
   'a001 nothing else untagged');

# C:   a002 select inbox
# S:   * 18 EXISTS
# S:   * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
# S:   * 2 RECENT
# S:   * OK [UNSEEN 17] Message 17 is the first unseen message
# S:   * OK [UIDVALIDITY 3857529045] UIDs valid
# S:   a002 OK [READ-WRITE] SELECT completed

$s->send('a002 select inbox');
@r = read_to('a002');
my $tagged = pop @r;

like($tagged, qr/^a002 OK \[READ-WRITE\] .*\r\n\z/, 'a002 select');
is(one(\@r, qr/^\* 18 EXISTS\r\n\z/), 1, 'a002 18 EXISTS');
is(one(\@r, qr/^\* 2 RECENT\r\n\z/), 1, 'a002 2 RECENT');
is(one(\@r, qr/^\* OK \[UNSEEN 17\].*\r\n\z/), 1, 'a002 UNSEEN 17');
is(one(\@r, qr/^\* OK \[UIDVALIDITY [1-9]\d*\].*\r\n\z/), 1,
   'a002 UIDVALIDITY');

my ($flags) = map { /^\* FLAGS \(([^()]*)\)\r\n\z/ ? $1 : () } @r;
is(join(' ', sort grep { /^\\/ } split ' ', $flags // ''),
   '\Answered \Deleted \Draft \Flagged \Seen', 'a002 FLAGS');

my @uidnext = map { /^\* OK \[UIDNEXT (\d+)\]/ ? $1 : () } @r;
ok(!@uidnext || $uidnext[0] == 19, 'a002 UIDNEXT 19 if sent');

# what else may come: PERMANENTFLAGS, UIDNEXT (RFC 3501 6.3.1), CONDSTORE

my $codes = join '|', qw/ UNSEEN UIDVALIDITY UIDNEXT PERMANENTFLAGS
                          HIGHESTMODSEQ NOMODSEQ /;
my $known =
    qr/^\* (\d+ EXISTS|\d+ RECENT|FLAGS \(.*\)|OK \[($codes)\b.*)\r\n\z/;

is(join('', grep { $_ !~ $known } @r), '', 'a002 nothing unexpected');

# C:   a003 fetch 12 full
# S:   * 12 FETCH (FLAGS (\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700"
#       RFC822.SIZE 4286 ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"
#       "IMAP4rev1 WG mtg summary and minutes"
#       (("Terry Gray" NIL "gray" "cac.washington.edu"))
#       (("Terry Gray" NIL "gray" "cac.washington.edu"))
#       (("Terry Gray" NIL "gray" "cac.washington.edu"))
#       ((NIL NIL "imap" "cac.washington.edu"))
#       ((NIL NIL "minutes" "CNRI.Reston.VA.US")
#       ("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL
#       "<B27397-0100000@cac.washington.edu>")
#       BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028
#       92))
# S:   a003 OK FETCH completed

$s->send('a003 fetch 12 full');
@r = read_to('a003');
$tagged = pop @r;

like($tagged, qr/^a003 OK\b.*\r\n\z/, 'a003 fetch');
is(scalar @r, 1, 'a003 one response');
like($r[0] // '', qr/^\* 12 FETCH \(.*\)\r\n\z/s, 'a003 fetch shape');

my (undef, $f) = Tern::Test::IMAP::fetch_items($r[0]);
$f //= {};

is(join(' ', sort keys %$f),
   'BODY ENVELOPE FLAGS INTERNALDATE RFC822.SIZE', 'a003 items');
is(join(' ', @{$f->{FLAGS} // []}), '\Seen', 'a003 FLAGS');

# the same instant; the zone need not be kept

is(internaldate($f->{INTERNALDATE}), internaldate('17-Jul-1996 02:44:25 -0700'),
   'a003 INTERNALDATE');
is($f->{'RFC822.SIZE'}, 342 + 3028, 'a003 RFC822.SIZE');

my $gray = [ [ 'Terry Gray', undef, 'gray', 'cac.washington.edu' ] ];

is_deeply($f->{ENVELOPE}, [
    'Wed, 17 Jul 1996 02:23:25 -0700 (PDT)',
    'IMAP4rev1 WG mtg summary and minutes',
    $gray, $gray, $gray,
    [ [ undef, undef, 'imap', 'cac.washington.edu' ] ],
    [ [ undef, undef, 'minutes', 'CNRI.Reston.VA.US' ],
      [ 'John Klensin', undef, 'KLENSIN', 'MIT.EDU' ] ],
    undef, undef,
    '<B27397-0100000@cac.washington.edu>',
], 'a003 ENVELOPE');

# media types, parameter names and the charset are case-insensitive

my $b = $f->{BODY} // [];
$_ = uc($_ // 'NIL') for @$b[0, 1, 5];
@{$b->[2]} = map { uc($_ // '') } @{$b->[2]} if ref $b->[2];

is_deeply($b, [ 'TEXT', 'PLAIN', [ 'CHARSET', 'US-ASCII' ], undef, undef,
                '7BIT', 3028, 92 ], 'a003 BODY');

# C:   a004 fetch 12 body[header]
# S:   * 12 FETCH (BODY[HEADER] {342}
# S:   Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)
# S:   ...
# S:   Content-Type: TEXT/PLAIN; CHARSET=US-ASCII
# S:
# S:   )
# S:   a004 OK FETCH completed

$s->send('a004 fetch 12 body[header]');
@r = read_to('a004');
$tagged = pop @r;

like($tagged, qr/^a004 OK\b.*\r\n\z/, 'a004 fetch');
# the example answers BODY[HEADER] in capitals; the ABNF is
# case-insensitive, so the section may come back as the client wrote it

my $a004 = join('', @r);
my $item = $a004 =~ s/^(\* 12 FETCH \(BODY\[HEADER\] )//i ? uc $1 : '';

is($item . $a004, "* 12 FETCH (BODY[HEADER] {342}\r\n$header)\r\n",
   'a004 BODY[HEADER]');

# C:   a005 store 12 +flags \deleted
# S:   * 12 FETCH (FLAGS (\Seen \Deleted))
# S:   a005 OK +FLAGS completed

$s->send('a005 store 12 +flags \deleted');
@r = read_to('a005');
$tagged = pop @r;

like($tagged, qr/^a005 OK\b.*\r\n\z/, 'a005 store');
is(scalar @r, 1, 'a005 one response');
like($r[0] // '',
     qr/^\* 12 FETCH \(FLAGS \((\\Seen \\Deleted|\\Deleted \\Seen)\)\)\r\n\z/,
     'a005 FETCH FLAGS');

# C:   a006 logout
# S:   * BYE IMAP4rev1 server terminating connection
# S:   a006 OK LOGOUT completed

$s->send('a006 logout');
@r = read_to('a006');

is(scalar @r, 2, 'a006 two responses');
like($r[0] // '', qr/^\* BYE\b.*\r\n\z/, 'a006 BYE');
like($r[1] // '', qr/^a006 OK\b.*\r\n\z/, 'a006 logout');
ok($s->eof(5), 'a006 connection closed');

###############################################################################

# on disk: LOGOUT does not expunge, the flags are in the file name

my @m12 = grep { $t->read_file($_) =~ /B27397-0100000/ }
          $t->maildir_files($U);

is(scalar @m12, 1, 'message 12 still on disk');
like(basename($m12[0] // ''), qr/:2,ST\z/, 'message 12 file flags ST');

###############################################################################

# Responses up to the tagged one of $tag.

sub read_to {
    my ($tag) = @_;
    return $s->tagged($tag, 10);
}

# An INTERNALDATE as seconds since the epoch, or the text if it is not one.

sub internaldate {
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

# How many of @$r match $re.

sub one {
    my ($r, $re) = @_;
    return scalar grep { $_ =~ $re } @$r;
}

sub smtp_deliver {
    my ($rcpt, $data) = @_;
    return Tern::Test::SMTP::deliver(port(8025), $rcpt, $data);
}

###############################################################################
