#!/usr/bin/perl

# POP3 with real clients: curl (pop3://, pop3s://, STLS with --ssl-reqd)
# and fetchmail (in the clear and over TLS), reading mail delivered by
# SMTP; what they fetch must equal what was delivered.  A plaintext login
# without TLS is refused when pop3_auth_plaintext is off.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Tern::Test;
use Tern::Test::POP3;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new();

$t->has_daemon('curl');
$t->plan(19);

Tern::Test::gen_cert($t, 'tern');

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF');
mail {
    server_name  mail.example.test;
    ssl_certificate      tern.crt;
    ssl_certificate_key  tern.key;
    auth_failure_delay   100ms;

    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }

    server {
        listen 127.0.0.1:%%PORT_8110%%;
        protocol pop3;
        pop3_auth_plaintext on;
    }
    server { listen 127.0.0.1:%%PORT_8111%%; protocol pop3; }
    server { listen 127.0.0.1:%%PORT_8995%% ssl; protocol pop3; }
}
EOF

$t->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'pw1');
$t->add_user('f@example.test', 'pw2');

my @msgs = (
    "From: a\@example.test\r\nTo: u\@example.test\r\nSubject: one\r\n\r\n"
        . "first message\r\n.leading dot\r\n",
    "From: b\@example.test\r\nTo: u\@example.test\r\nSubject: two\r\n\r\n"
        . join('', map { "line $_ " . ('z' x 60) . "\r\n" } 1 .. 2000),
);

smtp_deliver('u@example.test', $_) for @msgs;
smtp_deliver('f@example.test', $msgs[0]);

my @f = $t->maildir_files('u@example.test');
is(scalar @f, 2, 'delivered by smtp');

# what is stored: the delivered data after the Received header, LF ends

my @stored = map { crlf($t->read_file($_)) } @f;

ok($stored[0] =~ /\Q$msgs[0]\E\z/ && $stored[1] =~ /\Q$msgs[1]\E\z/,
   'stored as delivered');

my $fstored = crlf($t->read_file(($t->maildir_files('f@example.test'))[0]));

###############################################################################

# curl

my $pp = port(8110);

my ($rc, $out) = curl("pop3://127.0.0.1:$pp/", '-u', 'u@example.test:pw1');
is($rc, 0, 'curl list');
is($out, "1 " . length($stored[0]) . "\r\n2 " . length($stored[1])
         . "\r\n", 'curl list output');

($rc, $out) = curl("pop3://127.0.0.1:$pp/1", '-u', 'u@example.test:pw1');
is($out, $stored[0], 'curl retr 1');

($rc, $out) = curl("pop3://127.0.0.1:$pp/2", '-u', 'u@example.test:pw1');
ok($out eq $stored[1], 'curl retr 2');

($rc, $out) = curl('pop3s://127.0.0.1:' . port(8995) . '/1', '--insecure',
                   '-u', 'u@example.test:pw1');
is($out, $stored[0], 'curl pop3s');

($rc, $out) = curl('pop3://127.0.0.1:' . port(8111) . '/2', '--ssl-reqd',
                   '--insecure', '-u', 'u@example.test:pw1');
ok($rc == 0 && $out eq $stored[1], 'curl stls');

($rc, $out) = curl('pop3://127.0.0.1:' . port(8111) . '/1',
                   '-u', 'u@example.test:pw1');
isnt($rc, 0, 'curl refused in the clear');
is($out, '', 'curl got nothing in the clear');

($rc, $out) = curl("pop3://127.0.0.1:$pp/1", '-u', 'u@example.test:bad');
isnt($rc, 0, 'curl bad password');

is(scalar(@f = $t->maildir_files('u@example.test')), 2, 'curl kept mail');

###############################################################################

# fetchmail

SKIP: {
    skip 'no fetchmail', 7 unless grep { -x "$_/fetchmail" }
                                  split /:/, $ENV{PATH};

    my $fetched = fetchmail(8110, "sslproto ''", 'plain');
    is($fetched, lf($fstored), 'fetchmail plain');

    $fetched = fetchmail(8995, "ssl\n    no sslcertck", 'ssl');
    is($fetched, lf($fstored), 'fetchmail implicit tls');

    $fetched = fetchmail(8111, "sslproto 'tls1.2+'\n    no sslcertck",
                         'stls');
    is($fetched, lf($fstored), 'fetchmail stls');

    is(scalar(@f = $t->maildir_files('f@example.test')), 1,
       'fetchmail keep');

    $fetched = fetchmail(8110, "sslproto ''", 'flush', 'nokeep');
    is($fetched, lf($fstored), 'fetchmail nokeep');
    is(scalar(@f = $t->maildir_files('f@example.test')), 0,
       'fetchmail nokeep deleted the message');

    # The server writes the line a moment after the client has gone.
    ok($t->wait_for_log(
           qr/pop3 session closed: user=f\@example\.test, retr=1, dele=1/, 5),
       'session log counts');
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

sub curl {
    my (@args) = @_;

    my $dir = $t->testdir();
    my $out = "$dir/curl.out";
    unlink $out;

    system('curl', '-s', '--max-time', '20', '-o', $out, @args);
    my $rc = $? >> 8;

    my $content = -f $out ? $t->read_file($out) : '';
    Tern::Test::log_core('curl', "@args -> $rc\n$content");

    return ($rc, $content);
}

# Runs fetchmail against one port and returns what its MDA received.

sub fetchmail {
    my ($port, $opts, $tag, $keep) = @_;

    my $dir = $t->testdir();
    my $rc = "$dir/fetchmailrc.$tag";
    my $mbox = "$dir/fetched.$tag";

    $keep //= 'keep';

    $t->write_file($rc, <<EOF);
set no syslog
set invisible
poll 127.0.0.1 port @{[ port($port) ]} protocol pop3
    user "f\@example.test" password "pw2" is "nobody" here
    $keep
    fetchall
    $opts
    mda "/bin/sh -c 'cat >> $mbox'"
EOF

    chmod 0600, $rc;
    unlink $mbox;

    local $ENV{HOME} = $dir;
    local $ENV{FETCHMAILHOME} = $dir;

    my $log = `fetchmail -f "$rc" -v --nosyslog -d0 2>&1`;
    Tern::Test::log_core('fetchmail', $log);

    my $got = -f $mbox ? $t->read_file($mbox) : '';

    # fetchmail may start the data with a mbox "From " line
    $got =~ s/\AFrom [^\n]*\n//;

    return $got;
}

sub smtp_deliver {
    my ($rcpt, $data) = @_;

    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8025));
    $s->read();
    $s->send('EHLO client.example.test');
    $s->read();
    $s->send('MAIL FROM:<sender@example.test>');
    $s->read();
    $s->send("RCPT TO:<$rcpt>");
    $s->read();
    $s->send('DATA');
    $s->read();
    (my $stuffed = $data) =~ s/^\./../mg;
    $s->print($stuffed . ".\r\n");
    my $r = $s->read() // '';
    $s->send('QUIT');
    $s->read();

    die "smtp delivery to $rcpt failed: $r" unless $r =~ /^250/;
}

###############################################################################
