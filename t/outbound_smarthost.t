#!/usr/bin/perl

# Outbound connections (smarthosts): AUTH over required TLS, the backup
# connection taking over when the primary is down, routes by sender and
# recipient domain, and the password never in a log.

use warnings;
use strict;

use Test::More;
use MIME::Base64 qw/ encode_base64 /;
use Time::HiRes qw/ sleep time /;

use lib 't/lib';
use Tern::Test;
use Tern::Test::SMTP;
use Tern::Test::Peer;

my $t = Tern::Test->new()->has('net_dns')->has('socket_ssl')->plan(19);

my ($crt, $key) = Tern::Test::gen_cert($t, 'relay');

my $dns = $t->dns({
    'direct.test' => { MX => [ '10 mx.direct.test' ] },
    'mx.direct.test' => { A => '127.0.0.1' },
});

my $PW = 'Relay-Secret-7f3a';
my $PW2 = 'Backup-Secret-91c2';

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
resolver 127.0.0.1:$dns;
resolver_timeout 2s;

outbound {
    mx_port %%PORT_8032%%;
    ipv6 off;
    retry 1s 2s;
    connect_timeout 2s;
    tls may;

    connection primary {
        host 127.0.0.1;
        port %%PORT_8030%%;
        tls require;
        auth relayuser $PW;
        backup second;
    }

    connection second {
        host 127.0.0.1;
        port %%PORT_8031%%;
        tls implicit;
        auth backupuser $PW2;
    }

    route sender_domain direct.test direct;
    route recipient_domain direct.test direct;
    route default primary;
}

mail {
    server_name mail.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp;
             smtp_relay_networks 127.0.0.1/32; }
}
EOF

$t->listen_ports(8025)->run();
$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

my %peer = (tls => [$crt, $key], auth => ['relayuser', $PW]);

sub send_msg {
    my ($from, $rcpt, $subject) = @_;
    my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
    $s->read();
    $s->print("EHLO c.test\r\nMAIL FROM:<$from>\r\nRCPT TO:<$rcpt>\r\n"
              . "DATA\r\n");
    $s->read() for 1 .. 4;
    $s->print("Subject: $subject\r\n\r\nbody\r\n.\r\n");
    my $r = $s->read();
    $s->send('QUIT');
    return $r;
}

###############################################################################

# the primary is down: the backup takes the message, over TLS, with AUTH

my $second = Tern::Test::Peer::start($t, port => $t->port(8031),
                                     name => 'second', implicit => 1,
                                     tls => [$crt, $key],
                                     auth => ['backupuser', $PW2]);

like(send_msg('u@example.test', 'x@far.test', 'backup'), qr/^250 /,
     'queued for the smarthost');
my @m = Tern::Test::Peer::wait_messages($second, 1);
is(scalar @m, 1, 'the backup connection delivered it');
is($m[0]{tls}, 1, 'over implicit TLS (the backup\'s own setting)');
is($m[0]{auth}, 'backupuser', 'authenticated with the backup\'s login');
is_deeply($m[0]{rcpts}, ['x@far.test'], 'to the recipient');

# the primary is back: it gets the next one

my $primary = Tern::Test::Peer::start($t, port => $t->port(8030),
                                      name => 'primary', %peer);

like(send_msg('u@example.test', 'y@far.test', 'primary'), qr/^250 /,
     'queued again');
@m = Tern::Test::Peer::wait_messages($primary, 1);
is(scalar @m, 1, 'the primary delivered it');
is($m[0]{tls} && $m[0]{auth}, 'relayuser', 'TLS and AUTH on the primary');
is(scalar(Tern::Test::Peer::messages($second)), 1,
   'nothing more to the backup');

# routes: a sender domain and a recipient domain going direct to MX

my $direct = Tern::Test::Peer::start($t, port => $t->port(8032),
                                     name => 'direct', tls => [$crt, $key]);

like(send_msg('u@example.test', 'z@direct.test', 'rcpt route'), qr/^250 /,
     'queued for a direct recipient domain');
@m = Tern::Test::Peer::wait_messages($direct, 1);
is_deeply($m[0]{rcpts}, ['z@direct.test'], 'went direct to the MX');
is($m[0]{auth}, undef, 'without AUTH');
is($m[0]{tls}, 1, 'opportunistic STARTTLS to the MX (tls may)');
ok($t->wait_for_log(qr/TLSv1\.[23]/), 'the TLS version logged');

like(send_msg('a@direct.test', 'w@far.test', 'sender route'), qr/^250 /,
     'queued from a direct sender domain');
ok($t->wait_for_log(qr/queue: message \S+ to <w\@far\.test>: (deferred|bounced)/),
   'the sender route went direct (far.test has no MX here)');
is(scalar(Tern::Test::Peer::messages($primary)), 1,
   'not through the smarthost');

# the password must not appear anywhere in the log

my $log = $t->read_file('logs/error.log');
unlike($log, qr/\Q$PW\E|\Q$PW2\E/, 'no password in the error log');
my $b64 = encode_base64("\0relayuser\0$PW", '');
unlike($log, qr/\Q$b64\E/, 'no AUTH base64 in the error log');

$t->stop();

###############################################################################
