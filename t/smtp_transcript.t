#!/usr/bin/perl

# The SMTP transcript (smtp_transcript, smtp_transcript_networks): both
# sides of a session in order, the TLS line (STARTTLS and implicit TLS),
# AUTH credentials masked whatever shape they come in (PLAIN with and
# without an initial response, LOGIN, bad base64, no mechanism, a NUL, a
# too-long line, pipelined), message text never recorded, escaping and
# cutting, the networks filter, off by default, the 421 of a timeout,
# and "tern -s reopen".  Clients: swaks, Net::SMTP, openssl s_client and
# the harness's own.

use warnings;
use strict;

use Test::More;
use MIME::Base64;
use Net::SMTP;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('socket_ssl')->has_daemon('swaks')
    ->has_daemon('openssl')->plan(73);

Tern::Test::gen_cert($t, 'mail');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;

    ssl_certificate     mail.crt;
    ssl_certificate_key mail.key;
    auth_failure_delay  0;

    # submission with STARTTLS, and implicit TLS: recorded
    server { listen 127.0.0.1:%%PORT_8587%%; protocol smtp;
             smtp_auth required;
             smtp_transcript logs/transcript.log; }
    server { listen 127.0.0.1:%%PORT_8465%% ssl; protocol smtp;
             smtp_auth required;
             smtp_transcript logs/transcript.log; }

    # AUTH in the clear, recorded into another file
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp;
             smtp_auth optional; smtp_auth_plaintext on;
             smtp_transcript logs/clear.log; }

    # only some clients recorded
    server { listen 127.0.0.1:%%PORT_8027%%; protocol smtp;
             smtp_transcript logs/nets.log;
             smtp_transcript_networks 127.0.0.2/32 192.0.2.0/24 ::1; }

    # a short timeout
    server { listen 127.0.0.1:%%PORT_8028%%; protocol smtp;
             smtp_timeout 1s;
             smtp_transcript logs/clear.log; }

    # no smtp_transcript: nothing recorded
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    # every write fails (ENOSPC)
    server { listen 127.0.0.1:%%PORT_8029%%; protocol smtp;
             smtp_transcript /dev/full; }
}
EOF

$t->run();
$t->add_domain('example.test');

my $PW = 'Secret-pw-4f9d2a';
my $BAD = 'Wrong-pw-5b1c77';
my $u = 'u@example.test';
my $v = 'v@example.test';
$t->add_user($u, $PW);
$t->add_user($v, 'Other-pw-83bc1e');

my ($sub, $ssl, $clr, $nets, $slow, $off, $full) =
    map { $t->port($_) } 8587, 8465, 8026, 8027, 8028, 8025, 8029;

my $dir = $t->testdir();

sub plain { encode_base64("\0$_[0]\0$_[1]", '') }
sub smtp { Tern::Test::SMTP->new(PeerAddr => "127.0.0.1:$_[0]", @_[1 .. $#_]) }

sub slurp {
    my ($name) = @_;
    open my $fh, '<:raw', "$dir/$name" or return '';
    local $/;
    return scalar <$fh>;
}

# The lines of the session that sent "EHLO $helo", once its last line
# ("R: closed: ...") is written; '' when there is none.

sub session {
    my ($file, $helo, $wait) = @_;

    for (1 .. ($wait // 50)) {
        my $all = slurp($file);

        if ($all =~ /^[\d\/]+ [\d:]+ \*(\d+) \S+ C: EHLO \Q$helo\E$/m) {
            my $n = $1;
            my @l = grep { / \*$n / } split /\n/, $all;
            return join("\n", @l) . "\n" if grep { / R: closed: / } @l;
        }

        select undef, undef, undef, 0.1;
    }

    return '';
}

# The patterns match lines of the text in this order (others may come
# between); the first one that does not is reported.

sub in_order {
    my ($text, $name, @re) = @_;

    my @lines = split /\n/, $text;
    my $i = 0;

    for my $re (@re) {
        $i++ while $i < @lines && $lines[$i] !~ $re;

        if ($i == @lines) {
            fail($name);
            diag("no line matching $re in order in:\n$text");
            return;
        }

        $i++;
    }

    pass($name);
}

my $PRE = qr/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \*\d+ 127\.0\.0\.1/;

###############################################################################

# (1) swaks: STARTTLS, AUTH PLAIN with an initial response, a message

my $out = `swaks --server 127.0.0.1:$sub --tls --auth PLAIN \\
    --auth-user $u --auth-password '$PW' --from $u --to $v \\
    --helo t1.test --body 'the body text 6d1e0b' 2>&1`;
like($out, qr/^<~  250 2\.0\.0 Ok: queued/m, 'swaks: queued');

my $t1 = session('logs/transcript.log', 't1.test');

in_order($t1, 'STARTTLS, AUTH PLAIN, message: both sides in order',
    qr/$PRE R: connected to 127\.0\.0\.1:$sub$/,
    qr/$PRE S: 220 mail\.example\.test ESMTP Tern$/,
    qr/$PRE C: EHLO t1\.test$/,
    qr/$PRE S: 250-STARTTLS$/,
    qr/$PRE S: 250 ENHANCEDSTATUSCODES$/,
    qr/$PRE C: STARTTLS$/,
    qr/$PRE S: 220 2\.0\.0 Ready to start TLS$/,
    qr/$PRE T: TLS TLSv1\.[23] [A-Z0-9_-]+$/,
    qr/$PRE C: EHLO t1\.test$/,
    qr/$PRE S: 250-AUTH PLAIN LOGIN$/,
    qr/$PRE C: AUTH PLAIN \*\*\*\*$/,
    qr/$PRE R: AUTH result: ok mechanism=PLAIN user=u\@example\.test$/,
    qr/$PRE S: 235 2\.7\.0 Authentication successful$/,
    qr/$PRE C: MAIL FROM:<u\@example\.test>/,
    qr/$PRE S: 250 /,
    qr/$PRE C: RCPT TO:<v\@example\.test>/,
    qr/$PRE S: 250 /,
    qr/$PRE C: DATA$/,
    qr/$PRE S: 354 /,
    qr/$PRE R: message data \d+ bytes$/,
    qr/$PRE S: 250 2\.0\.0 Ok: queued as [0-9A-Z]{16}$/,
    qr/$PRE C: QUIT$/,
    qr/$PRE S: 221 2\.0\.0 Bye$/,
    qr/$PRE R: closed: messages=1$/);

unlike($t1, qr/\Q$PW\E/, 't1: no password');
unlike($t1, qr/\Q${\ plain($u, $PW)}\E/, 't1: no base64 of PLAIN');
unlike($t1, qr/6d1e0b/, 't1: no message text');
my $nauth = grep { /$PRE C: AUTH / } split /\n/, $t1;
is($nauth, 1, 't1: one AUTH line');

# (2) implicit TLS, AUTH LOGIN: a wrong password, then the right one

my $s = smtp($ssl, SSL => 1);
$s->read();
$s->send('EHLO t2.test');
$s->read();
$s->send('AUTH LOGIN');
like($s->read(), qr/^334 VXNlcm5hbWU6/, 'LOGIN: Username:');
$s->send(encode_base64($u, ''));
like($s->read(), qr/^334 UGFzc3dvcmQ6/, 'LOGIN: Password:');
$s->send(encode_base64($BAD, ''));
like($s->read(), qr/^535 /, 'LOGIN: wrong password');
$s->send('AUTH LOGIN ' . encode_base64($u, ''));
like($s->read(), qr/^334 UGFzc3dvcmQ6/, 'LOGIN with an initial response');
$s->send(encode_base64($PW, ''));
like($s->read(), qr/^235 /, 'LOGIN: right password');
$s->send('QUIT');
$s->read();

my $t2 = session('logs/transcript.log', 't2.test');

in_order($t2, 'implicit TLS, AUTH LOGIN twice: in order',
    qr/$PRE R: connected to 127\.0\.0\.1:$ssl \(ssl\)$/,
    qr/$PRE T: TLS TLSv1\.[23] [A-Z0-9_-]+$/,
    qr/$PRE S: 220 mail\.example\.test ESMTP Tern$/,
    qr/$PRE C: EHLO t2\.test$/,
    qr/$PRE C: AUTH LOGIN$/,
    qr/$PRE S: 334 VXNlcm5hbWU6$/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE S: 334 UGFzc3dvcmQ6$/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE R: AUTH result: failed mechanism=LOGIN user=u\@example\.test$/,
    qr/$PRE S: 535 5\.7\.8 /,
    qr/$PRE C: AUTH LOGIN \*\*\*\*$/,
    qr/$PRE S: 334 UGFzc3dvcmQ6$/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE R: AUTH result: ok mechanism=LOGIN user=u\@example\.test$/,
    qr/$PRE S: 235 /,
    qr/$PRE C: QUIT$/,
    qr/$PRE R: closed: messages=0$/);

for my $secret ($PW, $BAD, encode_base64($PW, ''), encode_base64($BAD, ''),
                encode_base64($u, ''))
{
    unlike($t2, qr/\Q$secret\E/, "t2: no \"$secret\"");
}

# (3) AUTH PLAIN without an initial response, in the clear

$s = smtp($clr);
$s->read();
$s->send('EHLO t3.test');
$s->read();
$s->send('AUTH PLAIN');
like($s->read(), qr/^334 /, 'PLAIN: 334');
$s->send(plain($u, $PW));
like($s->read(), qr/^235 /, 'PLAIN: 235');
$s->send('QUIT');
$s->read();

my $t3 = session('logs/clear.log', 't3.test');

in_order($t3, 'PLAIN after 334: masked',
    qr/$PRE C: AUTH PLAIN$/,
    qr/$PRE S: 334 $/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE R: AUTH result: ok mechanism=PLAIN user=u\@example\.test$/,
    qr/$PRE S: 235 /);

unlike($t3, qr/\Q${\ plain($u, $PW)}\E/, 't3: no base64');

# bad AUTH of every kind: whatever the line, the credentials stay out

my @clear = ('Clear-Secret', encode_base64('clear-user', ''),
             map { encode_base64("\0$u\0Clear-Secret-$_", '') } 5, 8);

$s = smtp($clr);
$s->read();
$s->send('EHLO t3b.test');
$s->read();
$s->send('AUTH PLAIN Clear-Secret-1');
like($s->read(), qr/^501 /, 'bad initial response');
$s->send('AUTH Clear-Secret-2');
like($s->read(), qr/^504 /, 'no mechanism');
$s->send('AUTH PLAIN');
$s->read();
$s->print("Clear-Secret-3\0x\r\n");
like($s->read(), qr/^501 /, 'a response with a NUL');
$s->send('AUTH PLAIN');
$s->read();
$s->send('Clear-Secret-4' . ('A' x 13000));
like($s->read(), qr/^500 5\.5\.6 /, 'a response too long');
$s->print("AUTH PLAIN\r\n" . encode_base64("\0$u\0Clear-Secret-5", '')
          . "\r\nNOOP\r\n");
like($s->read(), qr/^334 /, 'pipelined: 334');
like($s->read(), qr/^535 /, 'pipelined: 535');
like($s->read(), qr/^250 /, 'pipelined: NOOP');
$s->send('AUTH LOGIN ' . encode_base64('clear-user', ''));
$s->read();
$s->send('Clear-Secret-7');
like($s->read(), qr/^501 /, 'LOGIN: not base64');
$s->send('auth plain ' . encode_base64("\0$u\0Clear-Secret-8", ''));
like($s->read(), qr/^535 /, 'lower case auth');
$s->send('QUIT');
$s->read();

my $t3b = session('logs/clear.log', 't3b.test');

in_order($t3b, 'bad AUTH: masked by state and command',
    qr/$PRE C: AUTH PLAIN \*\*\*\*$/,
    qr/$PRE S: 501 /,
    qr/$PRE C: AUTH \*\*\*\*$/,
    qr/$PRE S: 504 /,
    qr/$PRE C: AUTH PLAIN$/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE S: 501 /,
    qr/$PRE C: AUTH PLAIN$/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE S: 500 5\.5\.6 /,
    qr/$PRE C: AUTH PLAIN$/,
    qr/$PRE S: 334 $/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE S: 535 /,
    qr/$PRE C: NOOP$/,
    qr/$PRE C: AUTH LOGIN \*\*\*\*$/,
    qr/$PRE C: \*\*\*\*$/,
    qr/$PRE S: 501 /,
    qr/$PRE C: auth plain \*\*\*\*$/,
    qr/$PRE S: 535 /);

my $creds = join '|', map { quotemeta } @clear;
unlike($t3b, qr/$creds/, 't3b: no credentials');
unlike(slurp('logs/clear.log') . slurp('logs/transcript.log'), qr/$creds/,
       'no credentials in any transcript');

# (7) control and 8-bit bytes escaped, long lines cut, bad lines

$s = smtp($clr);
$s->read();
$s->send('EHLO t7.test');
$s->read();
$s->print("NOOP \x01\x7f\xe9\\x\"q\tend\r\n");
like($s->read(), qr/^250 /, 'NOOP with control bytes');
$s->print("\xe9HLO x\r\n");
like($s->read(), qr/^500 5\.5\.2 Bad command line/, '8-bit verb');
$s->send('NOOP ' . ('y' x 600));
like($s->read(), qr/^250 /, 'NOOP of 605 octets');
$s->send('NOOP ' . ('z' x 13000));
like($s->read(), qr/^500 5\.5\.2 Line too long/, 'line too long');
$s->send('QUIT');
$s->read();

my $t7 = session('logs/clear.log', 't7.test');

in_order($t7, 'escaped, cut, bad lines',
    qr/$PRE C: NOOP \\x01\\x7F\\xE9\\x5Cx\\x22q\\x09end$/,
    qr/$PRE S: 250 /,
    qr/$PRE C: \[invalid command line\]$/,
    qr/$PRE S: 500 5\.5\.2 Bad command line$/,
    qr/$PRE C: NOOP y{507} \[cut 93 octets\]$/,
    qr/$PRE S: 250 /,
    qr/$PRE C: \[line too long\]$/,
    qr/$PRE S: 500 5\.5\.2 Line too long$/);

unlike(slurp('logs/clear.log'), qr/[^\x20-\x7e\n]/,
       'only printable ASCII in the file');

# the 421 of a timeout

$s = smtp($slow);
$s->read();
$s->send('EHLO t8.test');
$s->read();
like($s->read(4), qr/^421 4\.4\.2 /, 'timeout: 421');

my $t8 = session('logs/clear.log', 't8.test');

in_order($t8, 'timeout: 421 and the end recorded',
    qr/$PRE S: 421 4\.4\.2 mail\.example\.test Error: timeout exceeded$/,
    qr/$PRE R: closed: messages=0, timed out$/);

# (4) smtp_transcript_networks: 127.0.0.1 is not in it, 127.0.0.2 is

$s = smtp($nets);
$s->read();
$s->send('EHLO n1.test');
$s->read();
$s->send('QUIT');
$s->read();

my $smtp = Net::SMTP->new('127.0.0.1', Port => $nets, LocalAddr => '127.0.0.2',
                          Hello => 'n2.test', Timeout => 5);
ok($smtp, 'Net::SMTP from 127.0.0.2');
$smtp->reset() if $smtp;
$smtp->quit() if $smtp;

my $n2 = session('logs/nets.log', 'n2.test');
like($n2, qr/^[\d\/]+ [\d:]+ \*\d+ 127\.0\.0\.2 C: EHLO n2\.test$/m,
     '127.0.0.2 recorded');
like($n2, qr/ 127\.0\.0\.2 C: RSET$/m, '127.0.0.2: RSET');
unlike(slurp('logs/nets.log'), qr/n1\.test|127\.0\.0\.1 /,
       '127.0.0.1 not recorded');

# (6) reopen: the file moved away, "tern -s reopen", a new file

rename("$dir/logs/transcript.log", "$dir/logs/transcript.old")
    or die "rename: $!\n";

my ($rc) = $t->tern('-s', 'reopen');
is($rc, 0, 'tern -s reopen');

# the master, the worker and the housekeeper

my $reopened = 0;
for (1 .. 50) {
    $reopened = () = slurp('logs/error.log') =~ /reopening logs/g;
    last if $reopened >= 3;
    select undef, undef, undef, 0.1;
}
is($reopened, 3, 'master, worker and housekeeper reopened');

$out = `printf 'EHLO reopen.test\\nQUIT\\n' | timeout 10 openssl s_client \\
    -starttls smtp -connect 127.0.0.1:$sub -crlf -quiet -ign_eof 2>&1`;
like($out, qr/^221 /m, 'openssl s_client: QUIT');

my $t6 = session('logs/transcript.log', 'reopen.test');
in_order($t6, 'reopened file: the new session',
    qr/$PRE C: STARTTLS$/,
    qr/$PRE T: TLS TLSv1\.[23] /,
    qr/$PRE C: EHLO reopen\.test$/,
    qr/$PRE C: QUIT$/,
    qr/$PRE R: closed: messages=0$/);
unlike(slurp('logs/transcript.old'), qr/reopen\.test/,
       'not in the old file');
like(slurp('logs/transcript.old'), qr/EHLO t2\.test/, 'old file kept');

# (5) off by default

$s = smtp($off);
$s->read();
$s->send('EHLO off.test');
$s->read();
$s->send('QUIT');
$s->read();

# a session recorded after it: it had its time to be written

$s = smtp($clr);
$s->read();
$s->send('EHLO last.test');
$s->read();
$s->send('QUIT');
$s->read();
ok(session('logs/clear.log', 'last.test'), 'a later session recorded');

opendir my $dh, "$dir/logs" or die "opendir: $!\n";
my @files = grep { -f "$dir/logs/$_" && $_ ne 'error.log' && $_ ne 'tern.pid' }
    readdir $dh;
closedir $dh;

is(join(' ', sort @files), 'clear.log nets.log transcript.log transcript.old',
   'the transcript files');
unlike(join('', map { slurp("logs/$_") } @files), qr/off\.test/,
       'server without smtp_transcript: nothing');

# a file that takes nothing: logged once per session, the session goes on

for my $n (1, 2) {
    $s = smtp($full);
    $s->read();
    $s->send("EHLO full$n.test");
    $s->read();
    $s->send('NOOP');
    like($s->read(), qr/^250 /, "transcript write fails: session $n goes on");
    $s->send('QUIT');
    like($s->read(), qr/^221 /, "transcript write fails: session $n QUIT");
}

# configuration errors

$t->write_file('bad.conf', Tern::Test::conf_base() . <<'EOF');
mail { server { listen 127.0.0.1:1; protocol smtp;
                smtp_transcript_networks 10.0.0.1/8; } }
EOF
my ($brc, undef, $berr) = $t->tern('-c', "$dir/bad.conf", '-t');
is($brc, 1, 'tern -t: bad smtp_transcript_networks');
like($berr, qr/low address bits of "10\.0\.0\.1\/8" are meaningless/,
     'the network named');

$t->write_file('bad2.conf', Tern::Test::conf_base() . <<'EOF');
mail { server { listen 127.0.0.1:1; protocol smtp;
                smtp_transcript a.log; smtp_transcript b.log; } }
EOF
($brc, undef, $berr) = $t->tern('-c', "$dir/bad2.conf", '-t');
like($berr, qr/"smtp_transcript" directive is duplicate/,
     'smtp_transcript twice');

# nowhere: the error log has neither the credentials nor a write failure

$t->stop();

my $log = slurp('logs/error.log');

for my $secret ($PW, $BAD, plain($u, $PW), encode_base64($PW, ''),
                encode_base64($BAD, ''), @clear)
{
    unlike($log, qr/\Q$secret\E/, "error log: no \"$secret\"");
}

# the harness's probe of the port is a session too

my @failed = $log =~ /^(.*smtp transcript.*)$/mg;
my %per;
$per{$_}++ for map { / \*(\d+) / } @failed;
ok(@failed >= 2 && !grep({ $_ > 1 } values %per),
   'error log: one write failure per session')
    or diag(join "\n", @failed);
my $fre = '\[error\] .* bytes to the smtp transcript "/dev/full" failed'
          . ' \(-1 written\) \(28: ';
like($failed[-1] // '', qr/$fre/, 'error log: the failure');
like($log, qr/smtp auth: mechanism=PLAIN, user="u\@example\.test", result=ok/,
     'error log: the AUTH line as before');

###############################################################################
