#!/usr/bin/perl

# DMARC aggregate reports (RFC 7489 7.2): messages evaluated by the server
# become rows of tern.db; "tern dmarc report" builds one gzip-compressed
# XML report per policy domain and day, which validates against the RFC
# 7489 schema (xmllint, Debian's libmail-dmarc-perl copy) and parses with
# Mail::DMARC's report parser, with the right counts and dispositions; it
# is queued for the rua= addresses that may have it: an external one only
# with its <policy-domain>._report._dmarc record, never one of our own
# domains, never past "!size", a malformed one skipped with a log line;
# --dry-run writes the files and marks nothing; a second run sends nothing
# new; an incoming report is not reported on.

use warnings;
use strict;

use Test::More;
use POSIX qw/ strftime /;
use MIME::Base64 qw/ decode_base64 /;
use IO::Uncompress::Gunzip qw/ gunzip $GunzipError /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;

my $schema = '/usr/share/perl5/auto/share/dist/Mail-DMARC/rua-schema.xsd';

my $t = Tern::Test->new()->has(qw/dmarc net_dns/)->plan(36);

-x '/usr/bin/xmllint' && -f $schema
    or plan skip_all => 'xmllint or the rua schema is missing';
eval { require Mail::DMARC::Report::Receive; require XML::LibXML; 1 }
    or plan skip_all => 'Mail::DMARC is missing';

my $dns = $t->dns({
    'rep.test' => { TXT => [ 'v=spf1 -all' ], MX => [ '10 mx.test' ] },
    'ok.rep.test' => { TXT => [ 'v=spf1 ip4:127.0.0.1 -all' ] },
    '_dmarc.rep.test' => { TXT => [ 'v=DMARC1; p=none; rua=mailto:agg@rep.test,'
        . 'mailto:x@third.test, mailto:bad@@broken, https://r.test/x,'
        . 'mailto:tiny@rep.test!10,mailto:postmaster@example.test' ] },
    'ext.test' => { TXT => [ 'v=spf1 -all' ] },
    '_dmarc.ext.test' => { TXT => [ 'v=DMARC1; p=quarantine; pct=100; '
        . 'rua=mailto:r@verified.test,mailto:r@unverified.test' ] },
    'ext.test._report._dmarc.verified.test' => { TXT => [ 'v=DMARC1' ] },
    # one address that takes every domain's reports
    '*._report._dmarc.victim.test' => { TXT => [ 'v=DMARC1' ] },
    'odd.test' => { TXT => [ 'v=spf1 -all' ] },
    # the reports' destinations: an MX where nothing listens, so that
    # queued reports stay deferred in the queue
    'verified.test' => { MX => [ '10 mx.test' ] },
    'mx.test' => { A => '127.0.0.1' },
    '_dmarc.odd.test' => { TXT => [ 'v=DMARC1; p=none; rua=,' ] },
});

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 2s;

outbound {
    mx_port %%PORT_8030%%;
    ipv6 off;
    retry 1h 1h;
    connect_timeout 2s;
}

mail {
    server_name mail.example.test;
    dmarc_report_org "Example Org";
    dmarc_report_from dmarc-reports\@example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

$t->listen_ports(8025)->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my $u = 'u@example.test';
my $n = 0;

sub send_msg {
    my ($from, $mail_from, $subject) = @_;

    my $tag = 'm' . ++$n;
    $subject //= $tag;

    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $s->read();
    $s->print("EHLO client.test\r\nMAIL FROM:<$mail_from>\r\n"
              . "RCPT TO:<$u>\r\nDATA\r\n");
    $s->read() for 1 .. 4;
    $s->print("From: <$from>\r\nTo: <$u>\r\nSubject: $subject\r\n\r\n"
              . "$tag\r\n.\r\n");
    my $r = $s->read(10) // '';
    $s->send('QUIT');
    $s->read();

    return $r;
}

# rows written so far (the workers log each batch)
sub rows_written {
    my $log = $t->read_file($t->error_log_path());
    my $sum = 0;
    $sum += $1 while $log =~ /dmarc: (\d+) report rows written/g;
    return $sum;
}

my @r;

push @r, send_msg('a@rep.test', 'a@rep.test');          # fail
push @r, send_msg('b@rep.test', 'b@rep.test');          # fail
push @r, send_msg('c@rep.test', 'c@ok.rep.test');       # pass (SPF aligned)
push @r, send_msg('d@ext.test', 'd@ext.test');          # fail, quarantine
push @r, send_msg('e@odd.test', 'e@odd.test');          # fail
# a report itself is not reported on
push @r, send_msg('f@rep.test', 'f@rep.test',
                  'Report Domain: rep.test Submitter: x Report-ID: <1>');

is(scalar(grep { /^250 / } @r), 6, 'six messages accepted');

for (1 .. 100) {
    last if rows_written() >= 5;
    select(undef, undef, undef, 0.1);
}

is(rows_written(), 5, 'five rows written (the report is not one)');

$t->stop_server();

my $today = strftime('%Y-%m-%d', gmtime());
my $dir = $t->testdir();
mkdir "$dir/dry";

# --dry-run: the files, nothing marked

my ($rc, $out, $err) = $t->tern('dmarc', 'report', '--date', $today,
                                '--dry-run', "$dir/dry");
is($rc, 0, 'dry run: exit 0') or diag($err);
like($out, qr/ rep\.test \Q$today\E: 3 messages, 2 records, 1 destinations/,
     'dry run: rep.test, 3 messages in 2 records, 1 destination');
like($out, qr/ ext\.test \Q$today\E: 1 messages, 1 records, 1 destinations/,
     'dry run: ext.test, the verified destination');

my ($gz) = glob("$dir/dry/example.test!rep.test!*.xml.gz");
ok($gz, 'dry run: the RFC 7489 file name');

my ($begin, $end) = ($gz // '') =~ /!(\d+)!(\d+)\.xml\.gz$/;
is(strftime('%Y-%m-%d %H:%M:%S', gmtime($begin // 0)), "$today 00:00:00",
   'file name: the day begins');
is(($end // 0) - ($begin // 0), 86399, 'file name: the day ends');

my $xml;
gunzip($gz => \$xml) or diag("gunzip: $GunzipError");
$t->write_file('rep.xml', $xml // '');

# Debian's copy declares a targetNamespace but refers to its own types
# without a prefix, which xmllint refuses to compile; the same schema
# without the targetNamespace is what reports (and RFC 7489's examples)
# use: <feedback> in no namespace

my $xsd = $t->read_file($schema);
if (`xmllint --noout --schema $schema $dir/rep.xml 2>&1` =~ /failed to compile/)
{
    $xsd =~ s/\s+targetNamespace="[^"]*"//;
    $t->write_file('rua-schema.xsd', $xsd);
    $schema = "$dir/rua-schema.xsd";
}

my $lint = `xmllint --noout --schema $schema $dir/rep.xml 2>&1`;
is($? >> 8, 0, 'xmllint: valid against rua-schema.xsd') or diag($lint);

# Mail::DMARC's parser (Receive's handle_body without the SQL store)

my $recv = Mail::DMARC::Report::Receive->new();
my $dom = XML::LibXML->load_xml(string => $xml);
$recv->do_node_report_metadata($dom->findnodes('/feedback/report_metadata'));
$recv->do_node_policy_published($dom->findnodes('/feedback/policy_published'));
$recv->do_node_record($_) for $dom->findnodes('/feedback/record');

my $agg = $recv->report->aggregate;
is($agg->metadata->org_name, 'Example Org', 'parsed: org_name');
is($agg->metadata->email, 'dmarc-reports@example.test', 'parsed: email');
is($agg->metadata->begin, $begin, 'parsed: date_range begin');
is($agg->policy_published->domain, 'rep.test', 'parsed: policy domain');
is($agg->policy_published->p, 'none', 'parsed: p=none');

my %rec;
for my $rec (@{$agg->record}) {
    my $pe = $rec->row->policy_evaluated;
    $rec{$rec->identifiers->envelope_from} =
        join(' ', $rec->row->source_ip, $rec->row->count, $pe->disposition,
             $pe->dkim, $pe->spf, $rec->identifiers->header_from,
             $rec->auth_results->spf->[0]{result});
}

is($rec{'rep.test'}, '127.0.0.1 2 none fail fail rep.test fail',
   'parsed: the two failing messages');
is($rec{'ok.rep.test'}, '127.0.0.1 1 none fail pass rep.test pass',
   'parsed: the passing one');

my ($eml) = glob("$dir/dry/*.rep.test.eml");
my $msg = $eml ? $t->read_file($eml) : '';
like($msg, qr/^Subject: Report Domain: rep\.test Submitter: Example Org Report-ID: <[^>]+>$/m,
     'message: the RFC 7489 subject');
like($msg, qr/^To: <agg\@rep\.test>$/m, 'message: to the one destination');
like($msg, qr/^Content-Type: application\/gzip; name="example\.test!rep\.test!/m,
     'message: the report attached');

# the real run: queued

($rc, $out, $err) = $t->tern('dmarc', 'report', '--date', $today);
is($rc, 0, 'report: exit 0') or diag($err);

my @queued = glob("$dir/queue/*/*.msg");
is(scalar @queued, 2, 'report: two messages queued');

my %to;
for my $q (@queued) {
    my $m = $t->read_file($q);
    my ($d) = $m =~ /^Subject: Report Domain: (\S+)/m;
    my ($to) = $m =~ /^To: (.*)$/m;
    $to{$d // '?'} = $to;
    if (($d // '') eq 'ext.test') {
        my ($b64) = $m =~ /Content-Transfer-Encoding: base64\n\n(.*?)\n\n/s;
        my $x;
        gunzip(\decode_base64($b64 // '') => \$x);
        like($x // '', qr{<disposition>quarantine</disposition>},
             'ext.test: quarantine in the queued report');
    }
}

is($to{'rep.test'}, '<agg@rep.test>', 'rep.test: to its own address only');
is($to{'ext.test'}, '<r@verified.test>',
   'ext.test: to the verified external address only');

my $log = $err;
like($log, qr/malformed rua URI "mailto:bad\@\@broken" of rep\.test skipped/,
     'log: the malformed rua');
like($log, qr/"mailto:x\@third\.test" of rep\.test is outside its organisation and rep\.test\._report\._dmarc\.third\.test has no v=DMARC1 record/,
     'log: the unverified external rua');
like($log, qr/"mailto:r\@unverified\.test" of ext\.test is outside/,
     'log: ext.test unverified');
like($log, qr/"mailto:postmaster\@example\.test" of rep\.test is in one of our domains/,
     'log: our own domain');
like($log, qr/more than the limit of rua URI "mailto:tiny\@rep\.test!10"/,
     'log: the !size limit');
like($log, qr/of odd\.test on \Q$today\E: no usable destination/,
     'log: a blank rua');

# again: nothing new

($rc, $out, $err) = $t->tern('dmarc', 'report', '--date', $today);
is($rc, 0, 'second run: exit 0');
is(scalar(() = glob("$dir/queue/*/*.msg")), 2, 'second run: nothing queued');

# 101 domains point rua= at one address: it gets 100 reports of a run

require DBI;
my $db = DBI->connect("dbi:SQLite:dbname=$dir/tern.db", '', '',
                      { RaiseError => 1 });
my $ins = $db->prepare("INSERT INTO dmarc_records (time, day,"
    . " policy_domain, source_ip, header_from, envelope_from, policy, rua,"
    . " auth, disposition, dkim_aligned, spf_aligned, sampled_out)"
    . " VALUES (1577880000, '2020-01-01', ?, '192.0.2.1', ?, ?,"
    . " 'none none r r 100', 'mailto:victim\@victim.test', ?, 0, 0, 0, 0)");
$ins->execute("d$_.test", "d$_.test", "d$_.test",
              "spf d$_.test mfrom fail\n") for 1 .. 101;

($rc, $out, $err) = $t->tern('dmarc', 'report', '--date', '2020-01-01');
is(scalar(() = $out =~ /: 1 messages, 1 records, 1 destinations$/mg), 100,
   'one destination: 100 reports');
like($err, qr/"mailto:victim\@victim\.test" of d\d+\.test has had 100 reports in this run, skipped/,
     'one destination: the 101st is skipped with a log line');

@queued = glob("$dir/queue/*/*.msg");

# the daily run in the housekeeper (SIGUSR2 runs its jobs now): it
# reports the days before today, so a row of yesterday is made

$db->do("INSERT INTO dmarc_records (time, day, policy_domain, source_ip,"
        . " header_from, envelope_from, policy, rua, auth, disposition,"
        . " dkim_aligned, spf_aligned, sampled_out)"
        . " SELECT time - 86400, date(day, '-1 day'), policy_domain,"
        . " source_ip, header_from, envelope_from, policy, rua, auth,"
        . " disposition, dkim_aligned, spf_aligned, sampled_out"
        . " FROM dmarc_records WHERE policy_domain = 'ext.test'");
$db->disconnect();

$t->listen_ports(8025)->run();
$t->wait_for_log(qr/housekeeper: \d+ jobs/);
kill 'USR2', $t->master_pid();

ok($t->wait_for_log(qr/dmarc report: 1 reports, 1 queued/, 20),
   'housekeeper: the job reported yesterday');

my @all = glob("$dir/queue/*/*.msg");
my %old = map { $_ => 1 } @queued;
my ($new) = grep { !$old{$_} } @all;
my $nm = $new ? $t->read_file($new) : '';
like($nm, qr/^To: <r\@verified\.test>$/m,
     'housekeeper: to the address its resolver verified');

$t->stop();
