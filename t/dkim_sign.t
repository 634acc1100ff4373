#!/usr/bin/perl

# DKIM signing of outgoing mail: keys made by "tern dkim keygen" (RSA
# and Ed25519, both for one domain), a message submitted with AUTH PLAIN
# over STARTTLS, delivered locally and relayed to a sink; both copies
# carry one signature per key, relaxed/relaxed, From oversigned, folded
# to 78 columns, and verify with dkimpy (python3-dkim) and with Perl's
# Mail::DKIM::Verifier (asking the test DNS server for the records the
# keygen printed).  Incoming mail is not signed, a From domain without a
# key is not signed, a bad key file fails "tern -t" with file:line.

use warnings;
use strict;

use Test::More;
use MIME::Base64;
use IO::Socket::INET;
use Time::HiRes qw/ sleep /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $PY = '/usr/bin/python3';

my $t = Tern::Test->new()->has(qw/dkim net_dns socket_ssl/);

plan(skip_all => 'no python3-dkim')
    unless system("$PY -c 'import dkim, nacl' 2>/dev/null") == 0;
plan(skip_all => 'no Mail::DKIM')
    unless eval { require Mail::DKIM::Verifier; require Mail::DKIM::DNS; 1 };

# Mail::DKIM 1.20230212 (Debian 12) has no ed25519-sha256: then only the
# RSA signature is checked with it (dkimpy checks both)
my $PERL_ED = eval { require Mail::DKIM::Algorithm::ed25519_sha256; 1 };

$t->plan(39);

my $dir = $t->testdir();

Tern::Test::gen_cert($t, 'mail');

# the keys first: the command reads the configuration

my $base = Tern::Test::conf_base() . <<'EOF';
mail {
    server_name mail.example.test;
}
EOF
$t->write_file('tern.conf', $base);

my %rec;

for my $k ([ 'rsa', 'rsa' ], [ 'ed', 'ed25519' ]) {
    my ($rc, $out, $err) = $t->tern('dkim', 'keygen', 'Example.TEST', $k->[0],
                                    $k->[1]);
    is($rc, 0, "keygen $k->[1]") or diag($err);
    like($out, qr/^\Q$k->[0]\E\._domainkey\.example\.test IN TXT "v=DKIM1; k=$k->[1]; " "p=/,
         "keygen $k->[1]: the record");
    $rec{"$k->[0]._domainkey.example.test"} = [ $out =~ /"([^"]*)"/g ];
    my @st = stat("$dir/dkim/example.test.$k->[0].key");
    is(@st ? $st[2] & 0777 : -1, 0600, "keygen $k->[1]: key file mode 0600");
}

my ($rc, $out, $err) = $t->tern('dkim', 'keygen', 'example.test', 'rsa');
isnt($rc, 0, 'keygen does not overwrite a key');

# a bad key: tern -t names the file and line

$t->write_file('bad.key', "-----BEGIN PRIVATE KEY-----\nAAAA\n"
               . "-----END PRIVATE KEY-----\n");
$t->write_file('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name mail.example.test;
    dkim_sign example.test x bad.key;
}
EOF
($rc, $out, $err) = $t->tern('-t');
isnt($rc, 0, 'tern -t: a bad key fails');
like($err, qr/is not a PEM private key in \S*tern\.conf:\d+/,
     'tern -t: the file and line');

my $dns = $t->dns({
    (map { $_ => { TXT => [ $rec{$_} ] } } keys %rec),
    'sink.test' => { MX => [ '10 mx.sink.test' ] },
    'mx.sink.test' => { A => '127.0.0.1' },
});

my $conf = Tern::Test::conf_base() . <<"EOF";
resolver 127.0.0.1:$dns;

outbound {
    mx_port %%PORT_8030%%;
    ipv6 off;
    retry 1h 1h;
    tls none;
}

mail {
    server_name mail.example.test;
    ssl_certificate     mail.crt;
    ssl_certificate_key mail.key;
    auth_failure_delay  0;

    dkim_sign example.test rsa dkim/example.test.rsa.key;
    dkim_sign example.test ed  dkim/example.test.ed.key;

    server { listen 127.0.0.1:%%PORT_8587%%; protocol smtp;
             smtp_auth required; }
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$t->write_file_expand('tern.conf', $conf);
$t->listen_ports(8587, 8025)->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'Secret-pw-4f9d2a');
$t->add_user('v@example.test', 'Other-pw-83bc1e');

# a sink for the relayed copy: each message into sink.N

$t->run_daemon(sub {
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1:' . $t->port(8030),
                                    Listen => 5, ReuseAddr => 1) or die $!;
    my $n = 0;

    while (my $c = $srv->accept()) {
        $c->autoflush(1);
        print $c "220 sink ESMTP\r\n";
        my ($data, $msg) = (0, '');

        while (my $l = <$c>) {
            if ($data) {
                if ($l eq ".\r\n") {
                    $n++;
                    open(my $fh, '>', "$dir/sink.tmp") or die $!;
                    print $fh $msg;
                    close $fh;
                    rename("$dir/sink.tmp", "$dir/sink.$n");
                    print $c "250 2.0.0 Ok\r\n";
                    ($data, $msg) = (0, '');
                    next;
                }
                $l =~ s/^\.//;
                $msg .= $l;
                next;
            }

            if ($l =~ /^(EHLO|HELO)/i) {
                print $c "250-sink\r\n250 8BITMIME\r\n";
            } elsif ($l =~ /^DATA/i) {
                print $c "354 go\r\n";
                $data = 1;
            } elsif ($l =~ /^QUIT/i) {
                print $c "221 bye\r\n";
                last;
            } else {
                print $c "250 2.0.0 Ok\r\n";
            }
        }

        close $c;
    }
});

$t->write_file('verify.py', <<'EOF');
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
print(' '.join(one(i) for i in range(n)))
EOF

# dkimpy's verdict on each signature, in order
sub dkimpy {
    my ($msg) = @_;
    $t->write_file('v.eml', $msg);
    my $args = join ' ', map { "'$_=" . join('', @{$rec{$_}}) . "'" }
        keys %rec;
    my $r = `$PY $dir/verify.py $args < $dir/v.eml 2>&1`;
    chomp $r;
    return $r;
}

# Mail::DKIM's: "selector:result" of each signature
sub mail_dkim {
    my ($msg) = @_;
    Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
        nameservers => [ '127.0.0.1' ], port => $dns, recurse => 0));
    my $v = Mail::DKIM::Verifier->new();
    $v->PRINT($msg);
    $v->CLOSE();
    return join ' ', sort map { $_->selector() . ':' . $_->result() }
        grep { $PERL_ED || $_->algorithm() ne 'ed25519-sha256' }
        $v->signatures();
}

sub crlf { (my $m = $_[0]) =~ s/\r?\n/\r\n/g; return $m; }

sub plain { encode_base64("\0$_[0]\0$_[1]", '') }

###############################################################################

my $msg = "From: U <u\@example.test>\r\n"
    . "To: V <v\@example.test>, W <w\@sink.test>\r\n"
    . "Subject: signed\r\n"
    . "Date: Fri, 27 Nov 2026 23:00:00 +0000\r\n"
    . "Message-ID: <sign.1\@example.test>\r\n"
    . "MIME-Version: 1.0\r\n"
    . "Content-Type: text/plain; charset=utf-8\r\n"
    . "X-Not-Signed: 1\r\n"
    . "\r\n"
    . "Hello,\r\n  a body with  spaces \r\n.dot line\r\n\r\n\r\n";

my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8587));
$s->read();
$s->send('EHLO client.test');
$s->read();
$s->send('STARTTLS');
$s->read();
ok($s->starttls(), 'STARTTLS');
$s->send('EHLO client.test');
$s->read();
$s->send('AUTH PLAIN ' . plain('u@example.test', 'Secret-pw-4f9d2a'));
like($s->read(), qr/^235 /, 'AUTH PLAIN');
$s->send('MAIL FROM:<u@example.test>');
$s->read();
$s->send('RCPT TO:<v@example.test>');
$s->read();
$s->send('RCPT TO:<w@sink.test>');
like($s->read(), qr/^250 /, 'RCPT to the sink domain');
$s->send('DATA');
$s->read();
(my $stuffed = $msg) =~ s/^\./../mg;
$s->print($stuffed . ".\r\n");
like($s->read(), qr/^250 /, 'submitted');
$s->send('QUIT');
$s->read();

my @f = $t->maildir_files('v@example.test');
is(scalar @f, 1, 'delivered locally');
my $local = crlf($t->read_file($f[0]));

my ($hdr) = split /\r\n\r\n/, $local, 2;
my @sigs = $hdr =~ /^(DKIM-Signature:.*\r\n(?:[ \t].*\r\n)*)/mg;
is(scalar @sigs, 2, 'two signatures (rsa and ed25519)');
like($sigs[0] // '', qr/a=rsa-sha256;/, 'the first: rsa-sha256');
like($sigs[1] // '', qr/a=ed25519-sha256;/, 'the second: ed25519-sha256');
(my $h = $sigs[0] // '') =~ s/\r\n[ \t]+/ /g;
like($h, qr/c=relaxed\/relaxed; d=example\.test; s=rsa; t=\d+;/,
     'relaxed/relaxed, d=, s=, t=');

my ($hl) = $h =~ /h=([^;]*);/;
$hl //= '';
$hl =~ s/\s//g;
is($hl, 'from:from:to:to:cc:subject:subject:date:date:message-id:'
   . 'mime-version:content-type:content-type:reply-to',
   'h=: From, To, Subject, Date, Content-Type oversigned, Cc, Reply-To too');
unlike($hl, qr/x-not-signed|received/, 'other fields not signed');
like($hl, qr/mime-version:content-type:content-type/, 'MIME fields signed');
ok(!grep({ length > 78 } map { split /\r\n/ } @sigs), 'folded to 78 columns');
unlike($hdr, qr/^Authentication-Results:/m, 'outgoing: not verified');

is(dkimpy($local), 'pass pass', 'local copy: dkimpy verifies both');
is(mail_dkim($local), ($PERL_ED ? 'ed:pass ' : '') . 'rsa:pass',
   'local copy: Mail::DKIM verifies' . ($PERL_ED ? ' both' : ' rsa'));

# the relayed copy

for (1 .. 100) {
    last if -e "$dir/sink.1";
    sleep(0.1);
}

ok(-e "$dir/sink.1", 'relayed to the sink');
my $relayed = -e "$dir/sink.1" ? crlf($t->read_file('sink.1')) : '';
is(dkimpy($relayed), 'pass pass', 'relayed copy: dkimpy verifies both');
is(mail_dkim($relayed), ($PERL_ED ? 'ed:pass ' : '') . 'rsa:pass',
   'relayed copy: Mail::DKIM verifies' . ($PERL_ED ? ' both' : ' rsa'));

# a changed copy fails in both

(my $bad = $relayed) =~ s/a body with/a body without/;
is(dkimpy($bad), 'fail fail', 'changed: dkimpy fails');
is(mail_dkim($bad), ($PERL_ED ? 'ed:fail ' : '') . 'rsa:fail',
   'changed: Mail::DKIM fails');

# submits a message to v@example.test; the reply to its end
sub submit {
    my ($text) = @_;
    my $c = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8587));
    $c->read();
    $c->send('EHLO client.test');
    $c->read();
    $c->send('STARTTLS');
    $c->read();
    $c->starttls();
    $c->send('EHLO client.test');
    $c->read();
    $c->send('AUTH PLAIN ' . plain('u@example.test', 'Secret-pw-4f9d2a'));
    $c->read();
    $c->print("MAIL FROM:<u\@example.test>\r\nRCPT TO:<v\@example.test>\r\n"
              . "DATA\r\n");
    $c->read() for 1 .. 3;
    $c->print($text . ".\r\n");
    my $r = $c->read();
    $c->send('QUIT');
    $c->read();
    return $r;
}

# a From domain without a key is not signed

like(submit("From: u\@other.test\r\nSubject: other\r\n\r\nbody\r\n"),
     qr/^250 /, 'From another domain: accepted');

@f = $t->maildir_files('v@example.test');
my $other = @f == 2 ? $t->read_file($f[1]) : '';
like($other, qr/Subject: other/, 'From another domain: delivered');
unlike($other, qr/DKIM-Signature/, 'From another domain: not signed');

# incoming (not authenticated) mail with our From is not signed

Tern::Test::SMTP::deliver($t->port(8025), 'v@example.test',
    "From: u\@example.test\r\nSubject: incoming\r\n\r\nbody\r\n");
@f = $t->maildir_files('v@example.test');
my $in = @f == 3 ? $t->read_file($f[2]) : '';
like($in, qr/Subject: incoming/, 'incoming: delivered');
unlike($in, qr/DKIM-Signature/, 'incoming: not signed');

like($t->wait_for_log(qr/dkim: signed d=example\.test s=rsa/, 5) // '',
     qr/client: 127\.0\.0\.1/, 'signing is logged');

# a reload with the RSA key alone: one signature, still good

$conf =~ s/^    dkim_sign example\.test ed .*\n//m;
$t->write_file_expand('tern.conf', $conf);
$t->reload();

like(submit("From: U <u\@example.test>\r\nSubject: after reload\r\n"
            . "\r\nbody\r\n"), qr/^250 /, 'after reload: accepted');
@f = $t->maildir_files('v@example.test');
my $re = @f == 4 ? crlf($t->read_file($f[3])) : '';
is(scalar(() = $re =~ /^DKIM-Signature:/mg), 1, 'after reload: one signature');
is(dkimpy($re), 'pass', 'after reload: it verifies');

$t->stop();
