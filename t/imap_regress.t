#!/usr/bin/perl

# IMAP regressions: an APPEND literal ending in a bare CR keeps it (it
# was dropped), a sequence set of many overlapping ranges names each
# message once and is answered at once (its cost was ranges times
# messages, in the event loop), LOGIN in the wrong state is refused, and
# a FETCH whose output is larger than a batch waits for it to be sent
# while another session is served meanwhile.

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

my $t = Tern::Test->new();

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;

    server {
        listen 127.0.0.1:%%PORT_8143%%;
        protocol imap;
        imap_auth_plaintext on;
    }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'pw');

$t->plan(18);

###############################################################################

sub imap {
    my $s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
    $s->read();
    return $s;
}

my $s = imap();
$s->login('u@example.test', 'pw');

# an APPEND literal that ends in a bare CR

my $r = $s->append('INBOX', "Subject: cr\r\n\r\nbody\r");
like($r, qr/OK \[APPENDUID \d+ 1\]/, 'APPEND with a trailing CR');

$s->run_ok('SELECT INBOX');

$r = $s->run('FETCH 1 (RFC822.SIZE BODY.PEEK[TEXT])');
like($r, qr/RFC822\.SIZE 20\b/, 'the trailing CR counts in the size');
like($r, qr/BODY\[TEXT\] \{5\}\r\nbody\r\)/, 'the trailing CR is kept');

# LOGIN in the authenticated state

$r = $s->run('LOGIN u@example.test pw');
like($r, qr/^a\d+ BAD .*not valid in selected state/m, 'LOGIN refused');

# many overlapping ranges: each message once

for my $i (2 .. 40) {
    $s->append('INBOX', "Subject: m$i\r\n\r\nmessage $i\r\n");
}

$s->run_ok('NOOP');

my $set = join(',', ('1:*') x 2000, '3');
my @r = $s->run("FETCH $set (UID)");
my @fetch = grep { /^\* \d+ FETCH/ } @r;
is(scalar @fetch, 40, 'a set of 2000 ranges: 40 responses');
like($r[-1], qr/^a\d+ OK/, 'FETCH of the long set completed');

@r = $s->run("UID FETCH " . join(',', ('1:4294967295') x 2000) . " (FLAGS)");
is(scalar(grep { /^\* \d+ FETCH/ } @r), 40, 'UID set: 40 responses');

# a FETCH larger than a batch of output, read slowly, while another
# session goes on

my $big = "Subject: big\r\n\r\n" . (('x' x 998) . "\r\n") x 600;
$r = $s->append('INBOX', $big);
like($r, qr/OK \[APPENDUID/, 'APPEND of 600 KB');

my $tag = $s->cmd('FETCH 41,41,1:* (BODY.PEEK[])');

my $o = imap();
$o->login('u@example.test', 'pw');
like(scalar $o->run('STATUS INBOX (MESSAGES)'), qr/MESSAGES 41/,
     'another session is served while the FETCH output waits');

@r = $s->tagged($tag, 20);
is(scalar(grep { /^\* \d+ FETCH/ } @r), 41, 'the large FETCH: 41 responses');
like($r[-1], qr/^\Q$tag\E OK/, 'the large FETCH completed');

# a client that vanishes in the middle of an APPEND literal: nothing is
# stored, the spool file goes, the worker goes on

my @before = $t->maildir_files('u@example.test');

my $v = imap();
$v->login('u@example.test', 'pw');
$v->print("v1 APPEND INBOX {100000}\r\n");
like($v->read(), qr/^\+ /, 'vanishing APPEND: continuation');
$v->print("Subject: half\r\n\r\n" . ('y' x 5000));
select(undef, undef, undef, 0.3);
$v->close();

ok($t->wait_for_log(qr/imap session closed: user=u\@example\.test, .*append=0/,
                    5), 'vanishing APPEND: session closed');
is(scalar(() = glob($t->testdir() . '/spool/*')), 0,
   'vanishing APPEND: no spool file left');
is(scalar(my @after = $t->maildir_files('u@example.test')), scalar @before,
   'vanishing APPEND: nothing stored');
like(scalar $o->run('NOOP'), qr/^a\d+ OK/m, 'the worker goes on');

###############################################################################
