#!/usr/bin/perl

# DMARC (RFC 7489) on incoming mail, with SPF and DKIM: p=reject with SPF
# failing and no signature gets a 550 at the end of DATA and nothing is
# stored; p=quarantine goes to the Junk folder; p=none is delivered with
# dmarc=fail; an aligned SPF pass passes; forwarded mail (SPF fails, an
# aligned DKIM signature made by dkimpy passes) passes; a message a list
# changed (DKIM and SPF fail) fails; relaxed and strict alignment with a
# subdomain; the organisational domain's record and its sp=; several From
# addresses are refused (RFC 7489 6.6.1); "dmarc_policy mark" only marks;
# a forged Authentication-Results with our authserv-id is removed; a DNS
# timeout is dmarc=temperror and the message is accepted.

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::IMAP;

my $t = Tern::Test->new()->has(qw/dmarc dkim net_dns/)->plan(37);

-x '/usr/bin/dkimsign' && -x '/usr/bin/python3'
    or plan skip_all => 'dkimsign (python3-dkim) is missing';

my $dir = $t->testdir();

# an RSA key for dkimpy, its public half for DNS

system("openssl genrsa -out $dir/dkim.key 2048 2>/dev/null") == 0
    or die "openssl genrsa failed\n";
my $pub = `openssl rsa -in $dir/dkim.key -pubout 2>/dev/null`;
$pub =~ s/-----[^-]+-----//g;
$pub =~ s/\s+//g;

my $spf_pass = 'v=spf1 ip4:127.0.0.1 -all';
my $spf_fail = 'v=spf1 -all';

my $dns = $t->dns({
    # p=reject; its mail comes from a host SPF does not list
    'reject.test' => { TXT => [ $spf_fail ] },
    '_dmarc.reject.test' => { TXT => [ 'v=DMARC1; p=reject' ] },
    'quar.test' => { TXT => [ $spf_fail ] },
    '_dmarc.quar.test' => { TXT => [ 'v=DMARC1; p=quarantine' ] },
    'none.test' => { TXT => [ $spf_fail ] },
    '_dmarc.none.test' => { TXT => [ 'v=DMARC1; p=none' ] },
    # SPF passes for the From domain and its bounce subdomain
    'good.test' => { TXT => [ $spf_pass ] },
    'bounce.good.test' => { TXT => [ $spf_pass ] },
    '_dmarc.good.test' => { TXT => [ 'v=DMARC1; p=reject' ] },
    'sel._domainkey.good.test' => {
        TXT => [ [ 'v=DKIM1; k=rsa; ', "p=$pub" ] ],
    },
    'bounce.strict.test' => { TXT => [ $spf_pass ] },
    '_dmarc.strict.test' => { TXT => [ 'v=DMARC1; p=reject; aspf=s' ] },
    # a forwarder whose SPF does not list us either
    'fwd.test' => { TXT => [ $spf_fail ] },
    # only the organisational domain has a record
    'sub.org.test' => { TXT => [ $spf_fail ] },
    '_dmarc.org.test' => { TXT => [ 'v=DMARC1; p=none; sp=reject' ] },
    'org.test' => { TXT => [ $spf_fail ] },
    # the policy cannot be had
    'slow.test' => { TXT => [ $spf_fail ] },
    '_dmarc.slow.test' => 'TIMEOUT',
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 1s;

mail {
    server_name mail.example.test;
    dmarc on;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp;
             dmarc_policy mark; }
    server { listen 127.0.0.1:%%PORT_8143%%; protocol imap;
             imap_auth_plaintext on; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $u = 'u@example.test';
my $n = 0;

# sends a message; returns the reply to DATA and the stored copy (or '')
sub send_msg {
    my (%m) = @_;

    my $tag = 'm' . ++$n;
    my $port = $t->port($m{port} // 8025);
    my $from = $m{from};
    my $head = $m{head} // "From: <$from>\r\n";
    my $msg = $m{raw} // "${head}To: <$u>\r\nSubject: $tag\r\n"
                        . "Message-ID: <$tag\@test>\r\n\r\nbody of $tag\r\n";

    if ($m{sign}) {
        $msg = dkim_sign($msg);
        $msg =~ s/body of/changed by a list:/ if $m{break};
    }

    my $s = Tern::Test::SMTP->new(PeerAddr => "127.0.0.1:$port");
    $s->read();
    $s->print("EHLO client.test\r\nMAIL FROM:<$m{mail_from}>\r\n"
              . "RCPT TO:<$u>\r\nDATA\r\n");
    $s->read() for 1 .. 4;
    (my $stuffed = $msg) =~ s/^\./../mg;
    $s->print($stuffed . ".\r\n");
    my $r = $s->read(10) // '';
    $s->send('QUIT');
    $s->read();

    return ($r, stored($tag));
}

sub stored {
    my ($tag) = @_;

    my $md = $t->maildir($u);

    for my $f (glob("$md/new/* $md/cur/* $md/.*/new/* $md/.*/cur/*")) {
        my $m = $t->read_file($f);
        return wantarray ? ($m, $f) : $m
            if $m =~ /^Subject: \Q$tag\E\r?$/m;
    }

    return '';
}

# dkimpy signs the message for good.test, selector "sel"
sub dkim_sign {
    my ($msg) = @_;

    (my $lf = $msg) =~ s/\r\n/\n/g;
    $t->write_file('tosign.eml', $lf);

    my $signed = `/usr/bin/dkimsign sel good.test $dir/dkim.key \\
                  < $dir/tosign.eml`;
    die "dkimsign failed:\n$lf\n" unless $signed =~ /^DKIM-Signature:/m;

    $signed =~ s/\r?\n/\r\n/g;
    return $signed;
}

sub ar {
    my ($m) = @_;

    my ($ar) = $m =~ /^(Authentication-Results:\ mail\.example\.test;.*?)
                      \r?\n(?![ \t])/msx;
    return $ar // '';
}

###############################################################################

my ($r, $m);

# p=reject, SPF fails, no signature

($r, $m) = send_msg(from => 'a@reject.test', mail_from => 'a@reject.test');
like($r, qr/^550 5\.7\.1 Rejected by the DMARC policy of reject\.test/,
     'p=reject: 550 at the end of DATA');
is($m, '', 'p=reject: nothing stored');

# p=quarantine: the Junk folder

($r, $m) = send_msg(from => 'a@quar.test', mail_from => 'a@quar.test');
like($r, qr/^250 /, 'p=quarantine: accepted');
my ($qm, $qf) = stored("m$n");
like($qf // '', qr{/\.Junk/(new|cur)/}, 'p=quarantine: in .Junk');
like(ar($m), qr/dmarc=fail .*header\.from=quar\.test/s,
     'p=quarantine: dmarc=fail');

my $i = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . $t->port(8143));
$i->read();
$i->login($u, 'secret');
like(scalar $i->run('STATUS Junk (MESSAGES)'), qr/\* STATUS "?Junk"? \(MESSAGES 1\)/,
     'p=quarantine: IMAP shows it in Junk');
like(scalar $i->run('STATUS INBOX (MESSAGES)'), qr/\(MESSAGES 0\)/,
     'p=quarantine: not in INBOX');
$i->run('LOGOUT');

# p=none: delivered, dmarc=fail

($r, $m) = send_msg(from => 'a@none.test', mail_from => 'a@none.test');
like($r, qr/^250 /, 'p=none: accepted');
like(ar($m), qr/spf=fail/, 'p=none: spf=fail');
like(ar($m), qr/dmarc=fail \(?reason="p=none dis=none"\)? header\.from=none\.test|dmarc=fail.*p=none dis=none/s,
     'p=none: dmarc=fail with the policy');
unlike($m, qr{/\.Junk/}, 'p=none: not in Junk');

# SPF passes for an aligned domain

($r, $m) = send_msg(from => 'a@good.test', mail_from => 'b@bounce.good.test');
like($r, qr/^250 /, 'aligned SPF pass: accepted');
like(ar($m), qr/dmarc=pass/, 'aligned SPF pass: dmarc=pass');

# strict SPF alignment: a subdomain is not aligned

($r, $m) = send_msg(from => 'a@strict.test',
                    mail_from => 'b@bounce.strict.test');
like($r, qr/^550 5\.7\.1 Rejected by the DMARC policy of strict\.test/,
     'aspf=s: a subdomain does not align');

# forwarded: SPF fails (the forwarder), DKIM passes for the From domain

($r, $m) = send_msg(from => 'a@good.test', mail_from => 'list@fwd.test',
                    sign => 1);
like($r, qr/^250 /, 'forwarded: accepted');
like(ar($m), qr/spf=fail/, 'forwarded: spf=fail');
like(ar($m), qr/dkim=pass/, 'forwarded: dkim=pass');
like(ar($m), qr/dmarc=pass/, 'forwarded: dmarc=pass');

# a mailing list changed the body: DKIM and SPF fail, p=reject

($r, $m) = send_msg(from => 'a@good.test', mail_from => 'list@fwd.test',
                    sign => 1, break => 1);
like($r, qr/^550 5\.7\.1 Rejected by the DMARC policy of good\.test/,
     'changed by a list: dkim fails, rejected');

# the same on the "mark" server: delivered with the results

($r, $m) = send_msg(from => 'a@good.test', mail_from => 'list@fwd.test',
                    sign => 1, break => 1, port => 8026);
like($r, qr/^250 /, 'dmarc_policy mark: accepted');
like(ar($m), qr/dkim=fail/, 'dmarc_policy mark: dkim=fail');
like(ar($m), qr/dmarc=fail.*p=reject dis=reject/s,
     'dmarc_policy mark: dmarc=fail, the policy said reject');

# the organisational domain's record, sp=reject

($r, $m) = send_msg(from => 'a@sub.org.test', mail_from => 'a@sub.org.test');
like($r, qr/^550 5\.7\.1 Rejected by the DMARC policy of org\.test/,
     'org domain record: sp=reject applies to a subdomain');

($r, $m) = send_msg(from => 'a@org.test', mail_from => 'a@org.test');
like($r, qr/^250 /, 'org domain record: p=none for the domain itself');

# RFC 7489 6.6.1: several From addresses or fields, none

($r, $m) = send_msg(head => "From: <a\@good.test>, <b\@reject.test>\r\n",
                    mail_from => 'b@bounce.good.test');
like($r, qr/^550 5\.7\.1 .*one From/, 'two From addresses: refused');

($r, $m) = send_msg(head => "From: <a\@good.test>\r\nFrom: <b\@reject.test>\r\n",
                    mail_from => 'b@bounce.good.test');
like($r, qr/^550 5\.7\.1 .*one From/, 'two From fields: refused');

($r, $m) = send_msg(head => "Sender: <a\@good.test>\r\n",
                    mail_from => 'b@bounce.good.test');
like($r, qr/^250 /, 'no From: outside DMARC, delivered');
unlike($m // '', qr/dmarc=/, 'no From: no dmarc result');

# a From hidden past the fields the checks keep is no way around
($r, $m) = send_msg(head => ("X-Filler: x\r\n" x 1001)
                            . "From: <a\@reject.test>\r\n",
                    mail_from => 'b@bounce.good.test');
like($r, qr/^550 5\.7\.1 .*one From/, 'From after 1001 fields: refused');

($r, $m) = send_msg(head => "From: <a\@good.test>:<b\@reject.test>\r\n",
                    mail_from => 'b@bounce.good.test');
like($r, qr/^550 5\.7\.1 /, 'a From group (RFC 6854 trick): refused');

($r, $m) = send_msg(head => "From: <a\@good.test>, <b\@good.test>\r\n",
                    mail_from => 'b@bounce.good.test');
like($r, qr/^250 /, 'two From addresses of one domain: evaluated');

($r, $m) = send_msg(head => "From: <a\@good.test>, <b\@reject.test>\r\n",
                    mail_from => 'b@bounce.good.test', port => 8026);
like(ar($m), qr/dmarc=permerror/, 'two From addresses, mark: permerror');

# a forged Authentication-Results with our authserv-id goes

($r, $m) = send_msg(head => "Authentication-Results: mail.example.test; "
                            . "dmarc=pass header.from=reject.test\r\n"
                            . "From: <a\@none.test>\r\n",
                    mail_from => 'a@none.test');
like($r, qr/^250 /, 'forged A-R: accepted');
my @ar = $m =~ /^Authentication-Results: mail\.example\.test/mg;
is(scalar @ar, 1, 'forged A-R: only ours is left');
unlike($m, qr/header\.from=reject\.test/, 'forged A-R: removed');

# DNS timeout: temperror, accepted

($r, $m) = send_msg(from => 'a@slow.test', mail_from => 'a@slow.test');
like($r, qr/^250 /, 'DNS timeout: accepted');
like(ar($m), qr/dmarc=temperror/, 'DNS timeout: dmarc=temperror');

$t->stop();
