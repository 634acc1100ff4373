#!/usr/bin/perl

# The Lua mime phase (issue 7) over real SMTP sessions, with the examples
# conf/lua/exe_rename.lua, disclaimer.lua and large_message.lua (required
# by a test script that picks one by the Subject): an .exe attachment
# renamed with its new content type while every other byte of the message
# stays as sent; RFC 2231 and RFC 2047 file names read and written; a
# disclaimer on an outgoing message (a part of its own, or appended to a
# plain text, re-encoded); bodies replaced in quoted-printable and base64
# and decoded back; a part removed; a script error and an endless loop
# (the message delivered unchanged, the error logged, other sessions
# served); tern.sleep in the phase; the large-message status row.

use warnings;
use strict;

use Test::More;
use MIME::Base64 qw/ encode_base64 decode_base64 /;
use MIME::QuotedPrint qw/ decode_qp /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $t = Tern::Test->new()->has('lua');

my $ROOT = Cwd::getcwd();
my $u = 'u@example.test';
my $dir = $t->testdir();

$t->write_file('mime.lua', <<'EOF2');
local exe_rename = require("exe_rename")
local disclaimer = require("disclaimer")
local large_message = require("large_message")

local function leaves(msg)
    local list = {}
    for _, p in ipairs(msg:parts()) do
        if not p:is_multipart() then
            list[#list + 1] = p
        end
    end
    return list
end

local tests = {}

function tests.exe(msg) exe_rename(msg) end
function tests.disclaimer(msg) disclaimer(msg) end
function tests.large(msg) large_message(msg) end

function tests.filenames(msg)
    for _, p in ipairs(msg:parts()) do
        local name = p:filename()
        if name then
            tern.log("info", "filename: " .. name)
            p:set_filename("neu-" .. name)
        end
    end
end

function tests.body(msg)
    for _, p in ipairs(leaves(msg)) do
        local t = p:content_type()
        if t == "text/plain" then
            p:set_body(p:body():upper() .. "Ünïcödé\n")
        elseif t == "application/octet-stream" then
            p:set_body(p:body():reverse())
        end
    end
end

function tests.remove(msg)
    for _, p in ipairs(msg:parts()) do
        local name = p:filename()
        if name and name:match("^drop") then
            p:remove()
        end
    end
    msg.root:set_header("X-Removed", "yes")
    msg.root:remove_header("X-Junk")
end

function tests.error(msg)
    msg.root:set_header("X-Not", "applied")
    local t = nil
    return t.field
end

function tests.loop(msg)
    msg.root:set_header("X-Not", "applied")
    while true do end
end

function tests.notify(msg)
    local ok, err = tern.send_message{
        from = "postmaster@example.test",
        to = { "u@example.test", "x@sink.test" },
        subject = "Notice f\195\188r notify1",
        body = "the message came\nwith \195\188n\195\175c\195\182d\195\169\n",
    }
    msg.root:set_header("X-Sent", tostring(ok) .. " " .. tostring(err))
    local bad = pcall(tern.send_message, { from = "a@b.test",
        to = "u@example.test", subject = "x\r\nBcc: evil@evil.test",
        body = "x" })
    local bad2 = pcall(tern.send_message, { from = "a@b.test",
        to = "u@example.test>, <evil@evil.test", body = "x" })
    msg.root:set_header("X-Sent-Bad", (bad or bad2) and "accepted" or "refused")
    ok, err = tern.send_message{ from = "postmaster@example.test",
                                 to = "nobody@example.test", body = "x" }
    msg.root:set_header("X-Sent-Unknown", tostring(ok) .. " " .. tostring(err))
end

function tests.keep(msg)
    kept = msg.root
end

function tests.gone(msg)
    local ok, err = pcall(kept.header, kept, "Subject")
    msg.root:set_header("X-Gone", ok and "no" or err)
end

function tests.sleep(msg)
    tern.sleep(0.2)
    local ct, params = msg.root:content_type()
    msg.root:set_header("X-Slept", ct .. " " .. (params.boundary or "-"))
end

function tests.hostile(msg)
    local ok, err = pcall(msg.root.set_header, msg.root, "X-Bad",
                          "a\r\nBcc: x@evil.test")
    msg.root:set_header("X-Refused", ok and "no" or "yes")
    ok = pcall(msg.root.set_header, msg.root, "Bad Name", "x")
    msg.root:set_header("X-Refused-Name", ok and "no" or "yes")
    msg.root:set_header("X-Encoded", "grüße")
end

return function(msg)
    local subject = msg.root:header("Subject") or ""
    local name = subject:match("^(%a+)")
    tern.log("info", "mime phase: " .. subject .. " outgoing="
             .. tostring(msg.outgoing) .. " tls=" .. tostring(msg.tls)
             .. " user=" .. (msg.user or "-") .. " rcpts="
             .. table.concat(msg.rcpts, ","))
    if name and tests[name] then
        return tests[name](msg)
    end
end
EOF2

sub conf {
    my ($extra, $top) = @_;
    $top //= '';
    $t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF2");
$top
mail {
    server_name mail.example.test;
    lua_script mime %%TESTDIR%%/mime.lua;
    lua_package_path $ROOT/conf/lua;
    lua_timeout 200ms;
    smtp_max_message_size 4m;
    $extra

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF2
}

# DKIM signing of outgoing mail, when the dkim module and dkimpy are there:
# a message the mime phase changed is signed again over the changed text

my $PY = '/usr/bin/python3';
my $dkim = (grep { $_ eq 'dkim' } $t->features())
    && system("$PY -c 'import dkim' 2>/dev/null") == 0;
my %rec;

if ($dkim) {
    $t->write_file('tern.conf', Tern::Test::conf_base()
                   . "mail { server_name mail.example.test; }\n");
    my ($rc, $out) = $t->tern('dkim', 'keygen', 'example.test', 'sel', 'rsa');
    $dkim = ($rc == 0);
    $rec{'sel._domainkey.example.test'} = join('', $out =~ /"([^"]*)"/g);
}

# a DNS server and an outbound queue for the remote recipient of
# tern.send_message (Postfix's smtp-sink on mx_port), when there

my $SINK = (-x '/usr/sbin/smtp-sink') ? '/usr/sbin/smtp-sink' : '';
my $dns = eval { $t->dns({
    'sink.test' => { MX => [ '10 mx.sink.test' ] },
    'mx.sink.test' => { A => '127.0.0.1' },
}) };
my $remote = ($SINK && $dns) ? 1 : 0;
my $outbound = $remote ? <<"EOF2" : '';
resolver 127.0.0.1:$dns;

outbound {
    mx_port %%PORT_8030%%;
    ipv6 off;
    retry 1h 1h;
    tls none;
}
EOF2

conf($dkim ? 'dkim_sign example.test sel dkim/example.test.sel.key;' : '',
     $outbound);

$t->write_file('verify.py', <<'EOF2');
import sys, dkim
recs = dict(a.split('=', 1) for a in sys.argv[1:])
msg = sys.stdin.buffer.read()
def dns(name, timeout=5):
    return recs.get(name.decode().rstrip('.').lower(), '').encode()
d = dkim.DKIM(msg)
n = sum(1 for h in d.headers if h[0].lower() == b'dkim-signature')
def one(i):
    try:
        return 'pass' if d.verify(idx=i, dnsfunc=dns) else 'fail'
    except dkim.DKIMException:
        return 'fail'
print(' '.join(one(i) for i in range(n)) or 'none')
EOF2

sub dkimpy {
    my ($msg) = @_;
    $msg =~ s/\r?\n/\r\n/g;
    $t->write_file('v.eml', $msg);
    my $args = join ' ', map { "'$_=$rec{$_}'" } keys %rec;
    my $r = `$PY $dir/verify.py $args < $dir/v.eml 2>&1`;
    chomp $r;
    return $r;
}

$t->plan(50 + 6 + 10);
$t->listen_ports(8025, 8026)->run();
$t->add_domain('example.test');
$t->add_user($u, 'Mime-pw-7a2c');
$t->add_user('postmaster@example.test', 'Mime-pw-7a2d');

sub smtp {
    my ($port) = @_;
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:'
                                  . $t->port($port // 8025));
    $s->read();
    $s->send('EHLO client.test');
    $s->read();
    return $s;
}

sub send_msg {
    my ($text, $port, $rcpt) = @_;
    my $s = smtp($port);
    $s->send("MAIL FROM:<a\@b.test>");
    my $r = $s->read();
    return $r unless $r =~ /^250/;
    $s->send('RCPT TO:<' . ($rcpt // $u) . '>');
    $r = $s->read();
    return $r unless $r =~ /^250/;
    $s->send('DATA');
    $r = $s->read();
    return $r unless $r =~ /^354/;
    (my $wire = $text) =~ s/\n/\r\n/g;
    $wire =~ s/^\./../mg;
    $s->print($wire . ".\r\n");
    $r = $s->read(10);
    $s->send('QUIT');
    return $r;
}

# the stored text without our Received and Authentication-Results header
# fields (all of it: $whole)
sub stored {
    my ($subject, $addr, $whole) = @_;
    my $glob = $t->maildir($addr // $u) . '/{new,cur}/*';
    for my $f (glob($glob)) {
        my $text = do { local (@ARGV, $/) = ($f); <> };
        next unless $text =~ /^Subject: \Q$subject\E$/m;
        return $text if $whole;
        $text =~ s/\AReceived: [^\n]*\n(?:[ \t][^\n]*\n)*//;
        # SPF and DMARC run too (a resolver is configured): their field
        $text =~ s/\AAuthentication-Results: [^\n]*\n(?:[ \t][^\n]*\n)*//;
        return $text;
    }
    return '';
}

my $exe64 = encode_base64("MZ\x90\x00" . ("\x01\x02\xff" x 100));
my $pdf64 = encode_base64("%PDF-1.4 " . ("pdf" x 50));

sub multipart {
    my ($subject, @parts) = @_;
    return "From: a\@b.test\nTo: $u\nSubject: $subject\n"
        . "MIME-Version: 1.0\n"
        . "Content-Type: multipart/mixed; boundary=\"XyZ\"\n\n"
        . "This is a multipart message.\n"
        . join('', map { "--XyZ\n$_\n" } @parts)
        . "--XyZ--\nthe epilogue\n";
}

my $text_part = "Content-Type: text/plain; charset=utf-8\n"
    . "Content-Transfer-Encoding: quoted-printable\n\n"
    . "Hello,=20the invoice=\n is attached.\ncaf=C3=A9\n";
my $exe_part = "Content-Type: application/x-msdownload; name=\"setup.exe\"\n"
    . "Content-Transfer-Encoding: base64\n"
    . "Content-Disposition: attachment;\n\tfilename=\"Setup.EXE\"\n\n"
    . $exe64;
my $pdf_part = "Content-Type: application/pdf\n"
    . "Content-Transfer-Encoding: base64\n"
    . "Content-Disposition: attachment; filename=\"invoice.pdf\"\n\n"
    . $pdf64;

###############################################################################

# exe_rename.lua: only the .exe part's fields change

my $orig = multipart('exe1', $text_part, $exe_part, $pdf_part);
like(send_msg($orig), qr/^250 /, 'exe: queued');
ok($t->wait_for_log(qr/mime phase: exe1 outgoing=false tls=false user=- rcpts=\Q$u\E\b/),
   'msg: the envelope and the session (outgoing, tls, user, rcpts)');
my $got = stored('exe1');

(my $want = $orig) =~ s{Content-Type: application/x-msdownload; name="setup.exe"\n}
    {Content-Type: application/octet-stream; name=Setup.EXE.txt\n};
$want =~ s{Content-Disposition: attachment;\n\tfilename="Setup.EXE"\n}
    {Content-Disposition: attachment; filename=Setup.EXE.txt\n};
is($got, $want, 'exe: renamed, new content type, all else byte-identical');
ok($t->wait_for_log(qr/lua: \S*exe_rename.lua:\d+: renamed attachment (?:\\x22|")Setup.EXE(?:\\x22|")/),
   'exe: logged by the script');
ok(index($got, $text_part) >= 0 && index($got, $pdf_part) >= 0
   && index($got, $exe64) >= 0, 'exe: the other parts and the exe body as sent');


# RFC 2231 and RFC 2047 file names: read decoded, written as RFC 2231

my $f2231 = "Content-Type: application/pdf\n"
    . "Content-Transfer-Encoding: base64\n"
    . "Content-Disposition: attachment;\n"
    . " filename*=UTF-8''%E2%82%AC%20rates.pdf\n\n" . $pdf64;
my $f2047 = "Content-Type: text/plain; name=\"=?UTF-8?B?w7xiZXIudHh0?=\"\n"
    . "Content-Disposition: attachment;\n"
    . " filename=\"=?UTF-8?B?w7xiZXIudHh0?=\"\n\n"
    . "text\n";

$orig = multipart('filenames1', $text_part, $f2231, $f2047);
like(send_msg($orig), qr/^250 /, 'filenames: queued');
$got = stored('filenames1');

$want = $orig;
$want =~ s{Content-Disposition: attachment;\n filename\*=UTF-8''%E2%82%AC%20rates.pdf\n}
    {Content-Disposition: attachment; filename*=UTF-8''neu-%E2%82%AC%20rates.pdf\n};
$want =~ s{Content-Type: text/plain; name="=\?UTF-8\?B\?w7xiZXIudHh0\?="\n}
    {Content-Type: text/plain; name*=UTF-8''neu-%C3%BCber.txt\n};
$want =~ s{Content-Disposition: attachment;\n filename="=\?UTF-8\?B\?w7xiZXIudHh0\?="\n}
    {Content-Disposition: attachment; filename*=UTF-8''neu-%C3%BCber.txt\n};
is($got, $want, 'filenames: both rewritten in RFC 2231, the rest as sent');
ok($t->wait_for_log(qr/lua: \S*mime.lua:\d+: filename: \S+ rates.pdf/),
   'filenames: RFC 2231 name decoded for the script');

# bodies replaced: quoted-printable stays so, base64 stays so, 7bit text
# with 8-bit bytes becomes quoted-printable

my $bin = join('', map { chr($_ % 256) } 0 .. 700);
my $bin_part = "Content-Type: application/octet-stream\n"
    . "Content-Transfer-Encoding: base64\n\n" . encode_base64($bin);
my $plain_part = "Content-Type: text/plain\n\nplain text\n";

$orig = multipart('body1', $text_part, $bin_part, $plain_part, $pdf_part);
like(send_msg($orig), qr/^250 /, 'body: queued');
$got = stored('body1');

my @parts = split(/\n--XyZ\n/, $got);
is(scalar @parts, 5, 'body: the parts are there');
my ($h1, $b1) = split(/\n\n/, $parts[1], 2);
is($h1, "Content-Type: text/plain; charset=utf-8\n"
   . "Content-Transfer-Encoding: quoted-printable", 'body: QP header as sent');
is(decode_qp($b1), "HELLO, THE INVOICE IS ATTACHED.\nCAF\xc3\xa9\n"
   . "\xc3\x9cn\xc3\xafc\xc3\xb6d\xc3\xa9\n", 'body: QP body decodes back');
my ($h2, $b2) = split(/\n\n/, $parts[2], 2);
is(decode_base64($b2), scalar reverse($bin), 'body: base64 body decodes back');
ok((grep { length > 76 } split /\n/, $b2) == 0, 'body: base64 lines of 76');
my ($h3, $b3) = split(/\n\n/, $parts[3], 2);
is($h3, "Content-Type: text/plain\n"
   . "Content-Transfer-Encoding: quoted-printable",
   'body: 7bit text with 8-bit bytes becomes quoted-printable');
is(decode_qp($b3), "PLAIN TEXT\n\xc3\x9cn\xc3\xafc\xc3\xb6d\xc3\xa9\n",
   'body: and decodes back');
ok(index($got, $pdf_part) >= 0, 'body: the pdf part as sent');

# parts removed (the first, one inside, the last), header fields

my $drop0 = "Content-Type: application/octet-stream\n"
    . "Content-Disposition: attachment; filename=drop0.bin\n\nzero\n";
my $drop1 = $drop0 =~ s/drop0/drop1/r =~ s/zero/one/r;
my $drop2 = $drop0 =~ s/drop0/drop2/r =~ s/zero/two/r;

$orig = multipart('remove1', $drop0, $text_part, $drop1, $pdf_part, $drop2);
$orig =~ s/^(To: .*\n)/$1X-Junk: one\n/m;
$orig =~ s/^(Subject: .*\n)/$1X-Junk: two\n  folded\n/m;
like(send_msg($orig), qr/^250 /, 'remove: queued');
$got = stored('remove1');

$want = multipart('remove1', $text_part, $pdf_part);
$want =~ s/^(Content-Type: multipart.*\n)/$1X-Removed: yes\n/m;
is($got, $want, 'remove: parts and fields gone, one added, rest as sent');

# a script error and an endless loop: the message as sent, the error logged

$orig = multipart('error1', $text_part, $exe_part);
like(send_msg($orig), qr/^250 /, 'error: queued');
is(stored('error1'), $orig, 'error: delivered unchanged');
ok($t->wait_for_log(qr/lua: mime phase failed: \S*mime.lua:\d+: attempt to index local 't'.*stack traceback/),
   'error: logged with the traceback');

$orig = multipart('loop1', $text_part, $exe_part);
like(send_msg($orig), qr/^250 /, 'loop: queued');
is(stored('loop1'), $orig, 'loop: delivered unchanged');
ok($t->wait_for_log(qr/lua: mime phase failed: stopped by lua_(timeout|max_instructions)/),
   'loop: stopped and logged');

# tern.sleep in the phase: another session is served meanwhile

my $sa = smtp();
$sa->send("MAIL FROM:<a\@b.test>");
$sa->read();
$sa->send("RCPT TO:<$u>");
$sa->read();
$sa->send('DATA');
$sa->read();
$orig = multipart('sleep1', $text_part);
$sa->print(($orig =~ s/\n/\r\n/gr) . ".\r\n");
ok($t->wait_for_log(qr/mime phase: sleep1/), 'sleep: the script runs');

$orig = multipart('exe2', $text_part, $exe_part);
like(send_msg($orig), qr/^250 /, 'sleep: another session served meanwhile');
like($sa->read(10), qr/^250 /, 'sleep: then the sleeping message is queued');
$sa->send('QUIT');
$sa->read();
like(stored('sleep1'), qr/^X-Slept: multipart\/mixed XyZ$/m,
     'sleep: the script went on after the wait');

# a client gone while its script sleeps: the worker goes on

$sa = smtp();
$sa->send("MAIL FROM:<a\@b.test>");
$sa->read();
$sa->send("RCPT TO:<$u>");
$sa->read();
$sa->send('DATA');
$sa->read();
$sa->print((multipart('sleep2', $text_part) =~ s/\n/\r\n/gr) . ".\r\n");
ok($t->wait_for_log(qr/mime phase: sleep2/), 'gone: the script runs');
$sa->close();
like(send_msg(multipart('exe3', $text_part, $exe_part)), qr/^250 /,
     'gone: the next session is served');

# the session reads nothing while its checks run (README "Message
# checks"): the script finishes and the message is kept, never lost

my $kept = '';
for (1 .. 50) {
    $kept = stored('sleep2');
    last if $kept;
    select undef, undef, undef, 0.1;
}
like($kept, qr/^X-Slept: multipart\/mixed XyZ$/m,
     'gone: the script finished, the message delivered');

# hostile values: CR LF refused, bad names refused, 8-bit encoded

$orig = multipart('hostile1', $text_part);
like(send_msg($orig), qr/^250 /, 'hostile: queued');
$got = stored('hostile1');
ok($got =~ /^X-Refused: yes$/m && $got =~ /^X-Refused-Name: yes$/m
   && $got !~ /evil/, 'hostile: CR LF and a bad name refused');
like($got, qr/^X-Encoded: =\?UTF-8\?B\?Z3LDvMOfZQ==\?=$/m,
     'hostile: 8-bit value as RFC 2047');

# a part kept in a global is refused in a later call

like(send_msg(multipart('keep1', $text_part)), qr/^250 /, 'keep: queued');
like(send_msg(multipart('gone1', $text_part)), qr/^250 /, 'gone: queued');
like(stored('gone1'), qr/^X-Gone: .*the message of this part is gone$/m,
     'a part of an earlier call is refused');

# disclaimer.lua: outgoing messages only

$orig = multipart('disclaimer1', $text_part, $pdf_part);
like(send_msg($orig, 8026), qr/^250 /, 'disclaimer: outgoing queued');
$got = stored('disclaimer1');
($want) = $orig =~ /\A(.*)\n--XyZ--\n/s;
ok(index($got, $want . "\n--XyZ\n") == 0,
   'disclaimer: the message as sent up to its end');
like($got, qr/\n--XyZ\nContent-Type:\ text\/plain;\ charset=utf-8\n
              Content-Disposition:\ inline\n\n
              This\ message\ is\ confidential.*\nand\ tell\ the\ sender.\n
              --XyZ--\nthe\ epilogue\n\z/sx,
     'disclaimer: a part at the end');

$orig = "From: a\@b.test\nSubject: disclaimer2\nMIME-Version: 1.0\n"
    . "Content-Type: text/plain; charset=utf-8\n"
    . "Content-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9\n";
like(send_msg($orig, 8026), qr/^250 /, 'disclaimer: plain text queued');
$got = stored('disclaimer2');
($h1, $b1) = split(/\n\n/, $got, 2);
is(decode_qp($b1), "caf\xc3\xa9\n\n-- \nThis message is confidential.  If "
   . "you are not its addressee, please delete it\nand tell the sender.\n",
   'disclaimer: appended to the text, quoted-printable');

$orig = multipart('disclaimer3', $text_part);
like(send_msg($orig), qr/^250 /, 'disclaimer: incoming queued');
is(stored('disclaimer3'), $orig, 'disclaimer: incoming left alone');

# DKIM: outgoing messages changed by the mime phase verify

SKIP: {
skip 'no dkim module or no python3 dkim', 6 unless $dkim;

$orig = multipart('disclaimer4', $text_part, $pdf_part);
$orig =~ s/^From: .*/From: u\@example.test/m;
like(send_msg($orig, 8026), qr/^250 /, 'dkim: multipart queued');
$got = stored('disclaimer4', $u, 1);
like($got, qr/^DKIM-Signature: .*d=example\.test; s=sel;/m,
     'dkim: signed once') or diag($got);
is(dkimpy($got), 'pass', 'dkim: the part added, the signature verifies');

$orig = "From: u\@example.test\nSubject: disclaimer5\nMIME-Version: 1.0\n"
    . "Content-Type: text/plain\n\nsome text\n";
like(send_msg($orig, 8026), qr/^250 /, 'dkim: plain text queued');
$got = stored('disclaimer5', $u, 1);
is(dkimpy($got), 'pass', 'dkim: the text appended, the signature verifies');
like($got, qr/^-- \nThis message is confidential/m, 'dkim: with the text');
}

# tern.send_message: a notice to a local and a remote recipient, durable
# before the script goes on; hostile values refused; an unknown local
# recipient an error the script sees

my $sink_pid;
$sink_pid = $t->run_daemon($SINK, ($> == 0 ? ('-u', 'nobody') : ()),
                           '127.0.0.1:'
                           . $t->port(8030), '16') if $remote;
select undef, undef, undef, 0.3;

like(send_msg(multipart('notify1', $text_part)), qr/^250 /,
     'send_message: queued');
$got = stored('notify1');
like($got, qr/^X-Sent: true nil$/m, 'send_message: true for the script');
like($got, qr/^X-Sent-Bad: refused$/m,
     'send_message: CR LF in the subject and a bad address refused');
like($got, qr/^X-Sent-Unknown: nil unknown local recipient$/m,
     'send_message: an unknown local recipient is an error');

my $subj = '=?UTF-8?B?' . encode_base64("Notice f\xc3\xbcr notify1", '')
    . '?=';
my $notice = stored($subj);
like($notice, qr/\AReceived: |\ADate: /, 'send_message: the notice stored');
like($notice, qr/^From: postmaster\@example.test\nTo: u\@example.test,\n x\@sink.test\n/m,
     'send_message: From and To');
my ($nh, $nb) = split(/\n\n/, $notice, 2);
ok($nh =~ /^Message-ID: <\S+\@example.test>$/m && $nh =~ /^Date: /m
   && $nh =~ /^Content-Transfer-Encoding: quoted-printable$/m,
   'send_message: Date, Message-ID, MIME fields');
is(decode_qp($nb // ''), "the message came\nwith \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9\n",
   'send_message: the body decodes back');

SKIP: {
skip 'no smtp-sink or no Net::DNS', 1 unless $remote;

ok($t->wait_for_log(qr/queue: message \S+ to <x\@sink.test>: delivered/, 15),
   'send_message: the remote copy delivered through the outbound queue');
}

# large_message.lua: the status row

$orig = "From: a\@b.test\nSubject: large1\n\n" . ("x" x 1000 . "\n") x 1100;
like(send_msg($orig), qr/^250 /, 'large: queued');
is(stored('large1'), $orig, 'large: delivered unchanged');
ok($t->wait_for_log(qr/\[warn\] .*lua: status \(warn\) from \S*large_message.lua:\d+: large message \w+ \(\d+ bytes\) from <a\@b.test>/),
   'large: status logged');

my $row = '';
for (1 .. 50) {
    $row = `sqlite3 $dir/tern.db "SELECT level, message FROM status" 2>/dev/null`;
    last if $row =~ /large message/;
    select undef, undef, undef, 0.1;
}
like($row, qr/^warn\|large message \w+ \(\d+ bytes\) from <a\@b.test>$/m,
     'large: status row in tern.db');

my $pm = '';
for (1 .. 50) {
    for my $f (glob($t->maildir('postmaster@example.test') . '/new/*')) {
        $pm = do { local (@ARGV, $/) = ($f); <> };
    }
    last if $pm;
    select undef, undef, undef, 0.1;
}
like($pm, qr/^Subject: Large message \w+$/m,
     'large: the postmaster told by tern.send_message');

my @spool = glob("$dir/spool/*");
is(scalar @spool, 0, 'spool empty');

$t->stop();
