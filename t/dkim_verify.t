#!/usr/bin/perl

# DKIM verification (RFC 6376, RFC 8301, RFC 8463) of messages signed by
# two independent implementations, dkimpy (python3-dkim, RSA and Ed25519)
# and Perl's Mail::DKIM::Signer (RSA), simple and relaxed, sent to Tern
# by SMTP; the key records come from the test DNS server.  Each result
# is read back from the Authentication-Results field of the delivered
# file: pass; a body, a signed field and a mailing-list footer changed
# (fail); l= with a tail appended (pass, reported); rsa-sha1 (fail); a
# revoked key, t=s with i= in a subdomain, h=sha1 and k=ed25519 in the
# record for an RSA signature, no key (permerror); a key lookup timing
# out (temperror); two signatures, one good and one bad; none.

use warnings;
use strict;

use Test::More;
use MIME::Base64;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $PY = '/usr/bin/python3';

my $t = Tern::Test->new()->has(qw/dkim net_dns/)->has_daemon('openssl');

plan(skip_all => 'no python3-dkim')
    unless system("$PY -c 'import dkim, nacl' 2>/dev/null") == 0;
plan(skip_all => 'no Mail::DKIM')
    unless eval { require Mail::DKIM::Signer; require Mail::DKIM::PrivateKey;
                  1 };

$t->plan(37);

my $dir = $t->testdir();

# keys: two RSA (PKCS #1 PEM, what dkimpy reads), one Ed25519

sub rsa_key {
    my ($name) = @_;
    system("openssl genrsa -traditional -out $dir/$name.pem 2048 "
           . "2>/dev/null") == 0 or die "openssl genrsa failed\n";
    my $der = `openssl rsa -in $dir/$name.pem -pubout -outform DER 2>/dev/null`;
    return encode_base64($der, '');
}

my $rsa = rsa_key('rsa');
my $rsa2 = rsa_key('rsa2');

my ($edseed, $edpub) = split ' ', `$PY -c '
import base64, nacl.signing
k = nacl.signing.SigningKey.generate()
print(base64.b64encode(bytes(k)).decode(),
      base64.b64encode(bytes(k.verify_key)).decode())'`;
$t->write_file('ed.key', $edseed);

# a TXT record of strings of at most 255 bytes

sub txt {
    my ($tags, $p) = @_;
    my @s = ($tags, "p=" . substr($p, 0, 200));
    push @s, substr($p, 200 + 250 * ($_ - 1), 250)
        for 1 .. int((length($p) - 200 + 249) / 250);
    return { TXT => [ [ grep { length } @s ] ] };
}

my $dns = $t->dns({
    'py._domainkey.example.org' => txt('v=DKIM1; k=rsa; ', $rsa),
    'ed._domainkey.example.org' => txt('v=DKIM1; k=ed25519; ', $edpub),
    'revoked._domainkey.example.org' => { TXT => [ 'v=DKIM1; k=rsa; p=' ] },
    'strict._domainkey.example.org' => txt('v=DKIM1; t=s; ', $rsa),
    'sha1._domainkey.example.org' => txt('v=DKIM1; h=sha1; ', $rsa),
    'wrongk._domainkey.example.org' => txt('v=DKIM1; k=ed25519; ', $edpub),
    'other._domainkey.example.org' => txt('v=DKIM1; ', $rsa2),
    'slow._domainkey.example.org' => 'TIMEOUT',
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 1s;

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

$t->write_file('sign.py', <<'EOF');
import sys, dkim
key, sel, dom, alg, canon, length, ident = sys.argv[1:8]
msg = sys.stdin.buffer.read()
h, b = canon.split('/')
sig = dkim.sign(msg, sel.encode(), dom.encode(), open(key, 'rb').read(),
                identity=None if ident == '-' else ident.encode(),
                canonicalize=(h.encode(), b.encode()),
                signature_algorithm=alg.encode(), length=(length == '1'),
                include_headers=[b'from', b'to', b'subject', b'date',
                                 b'message-id'])
sys.stdout.buffer.write(sig + msg)
EOF

my $n = 0;

sub message {
    my ($subject) = @_;
    $n++;
    return "From: Joe <joe\@example.org>\r\n"
        . "To: u\@example.test\r\n"
        . "Subject: $subject\r\n"
        . "Date: Fri, 27 Nov 2026 23:00:00 +0000\r\n"
        . "Message-ID: <$n.dkim\@example.org>\r\n"
        . "\r\n"
        . "Hello,\r\n  this is\ta  test. \r\n\r\n.leading dot\r\n\r\n\r\n";
}

# dkimpy: (selector, alg, canon, length, identity)
sub pysign {
    my ($msg, $sel, $alg, $canon, %o) = @_;
    my $key = $sel eq 'ed' ? "$dir/ed.key"
        : $sel eq 'other' ? "$dir/rsa2.pem" : "$dir/rsa.pem";
    $key = $o{key} if $o{key};
    open(my $fh, '>', "$dir/in.eml") or die;
    binmode $fh;
    print $fh $msg;
    close $fh;
    my $cmd = "$PY $dir/sign.py $key $sel example.org $alg $canon "
        . ($o{length} ? 1 : 0) . ' ' . ($o{i} // '-') . " < $dir/in.eml";
    my $out = `$cmd`;
    die "dkimpy failed\n" unless $out =~ /^DKIM-Signature/;
    return $out;
}

sub perlsign {
    my ($msg, $method) = @_;
    my $d = Mail::DKIM::Signer->new(
        Algorithm => 'rsa-sha256', Method => $method,
        Domain => 'example.org', Selector => 'py',
        KeyFile => "$dir/rsa.pem",
        Headers => 'from:to:subject:date');
    $d->PRINT($msg);
    $d->CLOSE();
    return $d->signature()->as_string() . "\r\n" . $msg;
}

# delivers; the Authentication-Results field of what was stored
sub ar {
    my ($msg) = @_;
    my %before = map { $_ => 1 } $t->maildir_files('u@example.test');
    Tern::Test::SMTP::deliver($t->port(8025), 'u@example.test', $msg);
    my ($f) = grep { !$before{$_} } $t->maildir_files('u@example.test');
    return '(not stored)' unless $f;
    my $m = $t->read_file($f);
    my ($h) = split /\n\n/, $m, 2;
    my ($ar) = $h =~ /^(Authentication-Results:.*?\n(?:[ \t].*\n)*)/m;
    return $ar // '(none)';
}

###############################################################################

my $m = message('relaxed rsa');
like(ar(pysign($m, 'py', 'rsa-sha256', 'relaxed/relaxed')),
     qr/dkim=pass header\.d=example\.org header\.s=py header\.b=/,
     'dkimpy rsa-sha256 relaxed/relaxed: pass');

like(ar(pysign(message('simple rsa'), 'py', 'rsa-sha256', 'simple/simple')),
     qr/dkim=pass header\.d=example\.org header\.s=py/,
     'dkimpy rsa-sha256 simple/simple: pass');

like(ar(pysign(message('ed25519'), 'ed', 'ed25519-sha256', 'relaxed/simple')),
     qr/dkim=pass header\.d=example\.org header\.s=ed/,
     'dkimpy ed25519-sha256 relaxed/simple: pass');

like(ar(pysign(message('ed25519 simple'), 'ed', 'ed25519-sha256',
               'simple/relaxed')),
     qr/dkim=pass header\.d=example\.org header\.s=ed/,
     'dkimpy ed25519-sha256 simple/relaxed: pass');

like(ar(perlsign(message('perl relaxed'), 'relaxed')),
     qr/dkim=pass header\.d=example\.org header\.s=py/,
     'Mail::DKIM relaxed: pass');

like(ar(perlsign(message('perl simple'), 'simple')),
     qr/dkim=pass header\.d=example\.org header\.s=py/,
     'Mail::DKIM simple: pass');

# an empty body, a body without a final empty line

(my $e = message('empty body')) =~ s/\r\n\r\n.*\z/\r\n\r\n/s;
like(ar(pysign($e, 'py', 'rsa-sha256', 'simple/simple')),
     qr/dkim=pass /, 'empty body simple: pass');
like(ar(pysign($e, 'py', 'rsa-sha256', 'relaxed/relaxed')),
     qr/dkim=pass /, 'empty body relaxed: pass');

# changed after signing

my $s = pysign(message('body changed'), 'py', 'rsa-sha256', 'relaxed/relaxed');
$s =~ s/this is/this was/;
like(ar($s), qr/dkim=fail reason="body hash mismatch" header\.d=example\.org/,
     'body changed: fail');

$s = pysign(message('header changed'), 'py', 'rsa-sha256', 'relaxed/relaxed');
$s =~ s/Subject: header changed/Subject: header Changed/;
like(ar($s), qr/dkim=fail reason="signature verification failed"/,
     'signed field changed: fail');

$s = pysign(message('relaxed whitespace'), 'py', 'rsa-sha256',
            'relaxed/relaxed');
$s =~ s/Subject: relaxed whitespace/Subject:  relaxed \t whitespace  /;
$s =~ s/this is\ta  test/this  is a test/;
like(ar($s), qr/dkim=pass /, 'relaxed: whitespace changed: pass');

$s = pysign(message('list'), 'py', 'rsa-sha256', 'relaxed/relaxed');
$s .= "-- \r\nlist mailing list\r\nhttps://lists.example.net/list\r\n";
$s =~ s/Subject: list/Subject: [list] list/;
like(ar($s), qr/dkim=fail reason="(body hash mismatch|signature verif)/,
     'mailing list footer and subject tag: fail');

$s = pysign(message('footer'), 'py', 'rsa-sha256', 'simple/simple');
$s .= "-- \r\nfooter\r\n";
like(ar($s), qr/dkim=fail reason="body hash mismatch"/,
     'mailing list footer: fail');

# l=: the signed part intact, a tail appended: not a pass (checklist A1)

$s = pysign(message('length'), 'py', 'rsa-sha256', 'relaxed/relaxed',
            length => 1);
like($s, qr/l=\d+/, 'dkimpy wrote l=');
my $l = ar($s);
like($l, qr/dkim=pass header\.d=example\.org/, 'l= whole body: pass');
unlike($l, qr/unsigned/, 'l= whole body: no note');
$s .= "appended by someone else\r\n";
like(ar($s),
     qr/dkim=policy reason="l= leaves \d+ bytes of the body unsigned" header\.d=example\.org/,
     'l= and a tail appended: policy (the tail is nobody\'s), reported');

# RFC 8301: rsa-sha1 fails

like(ar(pysign(message('sha1'), 'py', 'rsa-sha1', 'relaxed/relaxed')),
     qr/dkim=fail reason="rsa-sha1 is not accepted \(RFC 8301\)"/,
     'rsa-sha1: fail');

# key records

like(ar(pysign(message('revoked'), 'revoked', 'rsa-sha256', 'relaxed/relaxed',
               key => "$dir/rsa.pem")),
     qr/dkim=permerror reason="key revoked" header\.d=example\.org header\.s=revoked/,
     'revoked key: permerror');

like(ar(pysign(message('strict'), 'strict', 'rsa-sha256', 'relaxed/relaxed',
               i => '@sub.example.org')),
     qr/dkim=permerror reason="key t=s and the i= domain is not d="/,
     't=s with i= in a subdomain: permerror');

like(ar(pysign(message('strict ok'), 'strict', 'rsa-sha256',
               'relaxed/relaxed', i => 'joe@example.org')),
     qr/dkim=pass header\.d=example\.org header\.s=strict/,
     't=s with i= in d=: pass');

like(ar(pysign(message('sub'), 'py', 'rsa-sha256', 'relaxed/relaxed',
               i => '@sub.example.org')),
     qr/dkim=pass header\.d=example\.org header\.s=py/,
     'i= in a subdomain without t=s: pass');

like(ar(pysign(message('h=sha1'), 'sha1', 'rsa-sha256', 'relaxed/relaxed')),
     qr/dkim=permerror reason="key h= does not allow sha256"/,
     'record h=sha1 for rsa-sha256: permerror');

like(ar(pysign(message('wrongk'), 'wrongk', 'rsa-sha256', 'relaxed/relaxed')),
     qr/dkim=permerror reason="key type k= does not match a="/,
     'record k=ed25519 for rsa-sha256: permerror');

like(ar(pysign(message('nokey'), 'nokey', 'rsa-sha256', 'relaxed/relaxed',
               key => "$dir/rsa.pem")),
     qr/dkim=permerror reason="no key for the signature" header\.d=example\.org header\.s=nokey/,
     'no key record: permerror');

like(ar(pysign(message('wrong key'), 'py', 'rsa-sha256', 'relaxed/relaxed',
               key => "$dir/rsa2.pem")),
     qr/dkim=fail reason="signature verification failed"/,
     'signed with another key: fail');

like(ar(pysign(message('slow'), 'slow', 'rsa-sha256', 'relaxed/relaxed',
               key => "$dir/rsa.pem")),
     qr/dkim=temperror reason="key lookup failed" header\.d=example\.org header\.s=slow/,
     'key lookup timing out: temperror');

# two signatures: one good, one bad, both reported in order

$s = pysign(message('two'), 'py', 'rsa-sha256', 'relaxed/relaxed');
$s = pysign($s, 'other', 'rsa-sha256', 'relaxed/relaxed',
            key => "$dir/rsa.pem");
$l = ar($s);
like($l, qr/dkim=fail reason="signature verification failed" header\.d=example\.org header\.s=other/,
     'two signatures: the bad one fails');
like($l, qr/dkim=pass header\.d=example\.org header\.s=py/,
     'two signatures: the good one passes');

# an RSA and an Ed25519 signature on one message

$s = pysign(message('dual'), 'py', 'rsa-sha256', 'relaxed/relaxed');
$s = pysign($s, 'ed', 'ed25519-sha256', 'relaxed/relaxed');
$l = ar($s);
ok($l =~ /dkim=pass header\.d=example\.org header\.s=ed/
   && $l =~ /dkim=pass header\.d=example\.org header\.s=py/,
   'rsa and ed25519 signatures: both pass');

# a broken signature field: permerror, the others still checked

$s = pysign(message('broken'), 'py', 'rsa-sha256', 'relaxed/relaxed');
$s = "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=py; h=to;"
     . " bh=AAAA; b=AAAA; d=x\r\n" . $s;
$l = ar($s);
like($l, qr/dkim=permerror reason="duplicate tag"/, 'duplicate tag: permerror');
like($l, qr/dkim=pass header\.d=example\.org header\.s=py/,
     'next to a broken one, a good signature passes');

# more than 10 signatures: 10 checked (one key lookup), the rest not

$s = pysign(message('many'), 'py', 'rsa-sha256', 'relaxed/relaxed');
my ($one) = $s =~ /^(DKIM-Signature:.*?\r\n)(?![ \t])/s;
$l = ar(($one x 11) . $s);
is(scalar(() = $l =~ /dkim=pass /g), 10, '12 signatures: 10 checked');
is(scalar(() = $l =~ /dkim=policy reason="not checked: more than 10 signatures"/g),
   2, '12 signatures: 2 not checked');

# a header beyond the limits of the checks: its signatures cannot be
# checked

$s = pysign(message('big header'), 'py', 'rsa-sha256', 'relaxed/relaxed');
$s =~ s/^(From: .*\r\n)/$1 . join('', map { "X-Filler-$_: " . ('x' x 990)
                                                . "\r\n" } 1 .. 300)/me;
like(ar($s), qr/dkim=permerror reason="header too large to check"/,
     'a header too large: permerror');

# none: no dkim result

unlike(ar(message('unsigned')), qr/dkim=/, 'unsigned: no dkim result');

like($t->wait_for_log(qr/dkim: d=example\.org s=py: pass/, 5) // '',
     qr/client: 127\.0\.0\.1/, 'the result is logged');

$t->stop();
