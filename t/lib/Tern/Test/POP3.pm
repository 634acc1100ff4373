package Tern::Test::POP3;

# POP3 client for tests, in the shape of nginx-tests' Test::Nginx::POP3.
#
#     my $s = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . $t->port(8110));
#     $s->ok('greeting');                     # +OK
#     $s->send('STLS');
#     $s->ok('stls');
#     $s->stls() or die;                      # upgrade only
#     $s->send('USER u@example.test');
#     $s->ok('user');
#     $s->send('PASS secret');
#     $s->ok('pass');
#     $s->send('RETR 1');
#     my ($status, $body) = $s->read_multi(); # body dot-unstuffed
#
# new() takes IO::Socket::INET options (PeerAddr; default 127.0.0.1 and
# port index 8110, or 8995 with SSL), SSL => 1 for implicit TLS,
# ReadTimeout (seconds, default 5) and SSL_* options for IO::Socket::SSL.
#
# read([$timeout])   one status line ("+OK ...\r\n" or "-ERR ...\r\n")
# read_multi([$timeout])  a status line and, after +OK, the lines up to
#                    and including ".\r\n". In scalar context the raw
#                    text; in list context (status line, body) where the
#                    body has the dot-stuffing and the final "." removed.
#                    A missing terminator within the timeout leaves the
#                    raw text without ".\r\n" (and the body undef).
# ok($name), err($name), check($re, $name)
# stls(%ssl_opts)    start TLS on the connection; true on success
# send, print, getline, can_read, eof, socket, close as in
# Tern::Test::SMTP

use warnings;
use strict;

use Test::More qw//;

use Tern::Test;

our @ISA = ('Tern::Test::Client');


sub default_port {
    my ($class, $ssl) = @_;
    return $ssl ? 8995 : 8110;
}


sub read {
    my ($self, $timeout) = @_;

    my $line = $self->getline($timeout);
    Tern::Test::log_in($line) if defined $line;

    return $line;
}


sub read_multi {
    my ($self, $timeout) = @_;

    my $deadline = Time::HiRes::time() + ($timeout // $self->{_timeout});

    my $status = $self->read($timeout);
    my $raw = $status;
    my ($body, $complete);

    if (defined $status && $status =~ /^\+OK/) {
        my @lines;

        while (1) {
            my $left = $deadline - Time::HiRes::time();
            my $line = $self->getline($left > 0 ? $left : 0.001);

            last unless defined $line;

            $raw .= $line;

            if ($line eq ".\r\n") {
                $complete = 1;
                last;
            }

            $line =~ s/^\.//;
            push @lines, $line;
        }

        Tern::Test::log_in(substr($raw, length $status)) if length $raw;
        $body = join '', @lines if $complete;
    }

    return wantarray ? ($status, $body) : $raw;
}


sub ok {
    my ($self, $name) = @_;
    return Test::More->builder->like($self->read(), qr/^\+OK/, $name);
}


sub err {
    my ($self, $name) = @_;
    return Test::More->builder->like($self->read(), qr/^-ERR/, $name);
}


sub stls {
    my ($self, %opts) = @_;
    return $self->start_tls(%opts);
}


1;
