package Tern::Test::SMTP;

# SMTP client for tests, in the shape of nginx-tests' Test::Nginx::SMTP.
#
#     my $s = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . $t->port(8025));
#     $s->ok('greeting');                     # 220
#     $s->send('EHLO client.test');
#     my $ehlo = $s->read();                  # "250-...\r\n250 ...\r\n"
#     $s->send('STARTTLS');
#     $s->check(qr/^220 /, 'starttls');
#     $s->starttls() or die;                  # upgrade only
#     $s->print("MAIL FROM:<a\@b.test>\r\nRCPT TO:<u\@example.test>\r\n");
#
# new() takes IO::Socket::INET options (PeerAddr; default 127.0.0.1 and
# port index 8025, or 8465 with SSL), SSL => 1 for implicit TLS,
# ReadTimeout (seconds, default 5) and SSL_* options for IO::Socket::SSL.
# It dies when it cannot connect or the TLS handshake fails.
#
# send($line)    writes $line and CRLF; print($raw) writes bytes as given
# read([$timeout]) one whole reply (all lines of a multi-line reply),
#                or undef if nothing came within the timeout
# getline([$timeout]) one line
# ok($name), authok($name), check($re, $name)  read and test the reply
# code()         read a reply and return its three-digit code
# starttls(%ssl_opts)  start TLS on the connection; true on success
# can_read($timeout), eof($timeout), socket(), close()
#
# deliver($port, $rcpt, $data[, $from])  a function: one message by
#                EHLO/MAIL/RCPT/DATA to 127.0.0.1:$port ($data without
#                the final ".", dot-stuffed here); returns the reply to
#                the data, dies
#                unless it is 250

use warnings;
use strict;

use Test::More qw//;

use Tern::Test;

our @ISA = ('Tern::Test::Client');


sub default_port {
    my ($class, $ssl) = @_;
    return $ssl ? 8465 : 8025;
}


sub read {
    my ($self, $timeout) = @_;

    my $deadline = Time::HiRes::time() + ($timeout // $self->{_timeout});
    my $reply;

    while (1) {
        my $left = $deadline - Time::HiRes::time();
        my $line = $self->getline($left > 0 ? $left : 0.001);

        last unless defined $line;

        Tern::Test::log_in($line);
        $reply .= $line;

        # "250-" goes on; "250 ", a bare "250" or anything else ends it

        last unless $line =~ /^\d{3}-/;
    }

    return $reply;
}


sub code {
    my ($self, $timeout) = @_;

    my $r = $self->read($timeout) // return undef;
    my ($code) = $r =~ /^(\d{3})/;

    return $code;
}


sub ok {
    my ($self, $name) = @_;
    return Test::More->builder->like($self->read(), qr/^2\d\d[- \r\n]/, $name);
}


sub authok {
    my ($self, $name) = @_;
    return Test::More->builder->like($self->read(), qr/^235[- \r\n]/, $name);
}


sub starttls {
    my ($self, %opts) = @_;
    return $self->start_tls(%opts);
}


sub deliver {
    my ($port, $rcpt, $data, $from) = @_;

    my $c = Tern::Test::SMTP->new(PeerAddr => "127.0.0.1:$port");
    $c->read();
    $c->send('EHLO client.example.test');
    $c->read();
    $c->send('MAIL FROM:<' . ($from // 'sender@example.test') . '>');
    $c->read();
    $c->send("RCPT TO:<$rcpt>");
    $c->read();
    $c->send('DATA');
    $c->read();
    (my $stuffed = $data) =~ s/^\./../mg;
    $c->print($stuffed . ".\r\n");
    my $r = $c->read() // '';
    $c->send('QUIT');
    $c->read();
    $c->close();

    die "smtp delivery to $rcpt failed: $r" unless $r =~ /^250/;

    return $r;
}


1;
