package Tern::Test::IMAP;

# IMAP client for tests, on Tern::Test::Client like Tern::Test::SMTP.
#
#     my $s = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
#     $s->ok('greeting');                      # "* OK ..."
#     $s->login('u@example.test', 'secret');   # dies unless OK
#     my @r = $s->run('SELECT INBOX');         # untagged..., tagged
#     my $r = $s->run('FETCH 1 FLAGS');        # the same, joined
#     my $tag = $s->cmd('IDLE');               # sends "$tag IDLE"
#     my $l = $s->read();                      # one response
#     my @t = $s->tagged($tag);                # up to the tagged line
#
# new() takes IO::Socket::INET options (PeerAddr; default 127.0.0.1 and
# port index 8143, or 8993 with SSL), SSL => 1 for implicit TLS,
# ReadTimeout (seconds, default 5) and SSL_* options for IO::Socket::SSL.
#
# read([$timeout])   one response: a line, and when it ends with a literal
#                    "{n}" the n octets and the rest of the response, all
#                    together as received; undef when nothing came
# cmd($text)         sends "<tag> $text" CRLF, returns the tag (a1, a2...)
# tagged($tag[, $timeout])  responses up to and including the tagged one;
#                    list context: the responses, scalar: joined; stops
#                    early (without the tagged line) at EOF or timeout
# run($text[, $timeout])   cmd() and tagged()
# ok($name), check($re, $name)  read one response and test it
# run_ok($text, $name)  run() and test the tagged line is OK
# login($user, $pass)  LOGIN with quoted strings; dies unless OK
# append($mbox, $msg[, $flags, $date])  APPEND with a synchronizing
#                    literal ($flags: "\Seen \Draft"); like tagged()
# starttls(%ssl_opts)  STARTTLS and the handshake; true on success
# status($response)  the status of a tagged line: OK, NO, BAD, or ''
#
# Functions:
# parse($text)       IMAP data (atoms, numbers, "quoted", {n} literals,
#                    NIL, lists) to Perl: strings, undef, array refs; an
#                    atom with a section ("BODY[HEADER]") is one string
# fetch_items($resp) "* N FETCH (K V ...)": (N, { uc K => V })
# quote($s)          a quoted string

use warnings;
use strict;

use Test::More qw//;
use Time::HiRes qw/ time /;

use Tern::Test;

our @ISA = ('Tern::Test::Client');

our $TAG = 0;


sub default_port {
    my ($class, $ssl) = @_;
    return $ssl ? 8993 : 8143;
}


sub read_bytes {
    my ($self, $n, $timeout) = @_;

    my $deadline = time() + ($timeout // $self->{_timeout});

    while (length $self->{_buf} < $n) {
        my $left = $deadline - time();
        last if $left <= 0;
        my $got = $self->_fill($left);
        last if defined $got && $got == 0;
    }

    return substr($self->{_buf}, 0, $n, '');
}


sub read {
    my ($self, $timeout) = @_;

    $timeout //= $self->{_timeout};

    my $r = $self->getline($timeout);
    return undef unless defined $r;

    while ($r =~ /~?\{(\d+)\+?\}\r?\n\z/) {
        my $n = $1;
        my $data = $self->read_bytes($n, $timeout);
        $r .= $data;
        last if length $data < $n;
        my $rest = $self->getline($timeout);
        last unless defined $rest;
        $r .= $rest;
    }

    Tern::Test::log_in($r);

    return $r;
}


sub cmd {
    my ($self, $text) = @_;

    my $tag = 'a' . ++$TAG;
    $self->send("$tag $text");

    return $tag;
}


sub tagged {
    my ($self, $tag, $timeout) = @_;

    my $deadline = time() + ($timeout // $self->{_timeout});
    my @r;

    while (1) {
        my $left = $deadline - time();
        last if $left <= 0;

        my $r = $self->read($left);
        last unless defined $r;

        push @r, $r;
        last if $r =~ /^\Q$tag\E /;
    }

    return wantarray ? @r : join('', @r);
}


sub run {
    my ($self, $text, $timeout) = @_;

    my $tag = $self->cmd($text);

    return $self->tagged($tag, $timeout);
}


sub status {
    my ($r) = @_;
    $r = $r->[-1] if ref $r;
    return '' unless defined $r;
    my ($st) = $r =~ /^[^ *+]\S* (OK|NO|BAD)\b/i;
    return uc($st // '');
}


sub ok {
    my ($self, $name) = @_;
    return Test::More->builder->like($self->read(), qr/^\* OK\b/, $name);
}


sub run_ok {
    my ($self, $text, $name) = @_;

    my @r = $self->run($text);

    return Test::More->builder->like($r[-1] // '', qr/^a\d+ OK\b/,
                                     $name // $text);
}


sub login {
    my ($self, $user, $pass) = @_;

    my $r = $self->run('LOGIN ' . quote($user) . ' ' . quote($pass));

    die "login as $user failed: $r\n" unless $r =~ /^a\d+ OK/m;

    return $r;
}


sub append {
    my ($self, $mbox, $msg, $flags, $date) = @_;

    my $tag = $self->cmd('APPEND ' . quote($mbox)
                         . (defined $flags ? " ($flags)" : '')
                         . (defined $date ? ' ' . quote($date) : '')
                         . ' {' . length($msg) . '}');

    my $r = $self->read();

    if (!defined $r || $r !~ /^\+/) {
        my @rest = defined $r && $r =~ /^\Q$tag\E / ? ()
                   : $self->tagged($tag);
        return wantarray ? ($r, @rest) : join('', $r // '', @rest);
    }

    $self->print($msg . "\r\n");

    return $self->tagged($tag);
}


sub starttls {
    my ($self, %opts) = @_;

    my $r = $self->run('STARTTLS');
    return 0 unless $r =~ /^a\d+ OK/m;

    return $self->start_tls(%opts);
}


###############################################################################

sub quote {
    my ($s) = @_;
    $s =~ s/(["\\])/\\$1/g;
    return "\"$s\"";
}


sub parse {
    my ($text) = @_;

    my $pos = 0;
    my @stack = ([]);

    while ($pos < length $text) {
        my $c = substr($text, $pos, 1);

        if ($c eq ' ' || $c eq "\r" || $c eq "\n") {
            $pos++;

        } elsif ($c eq '(') {
            my $l = [];
            push @{$stack[-1]}, $l;
            push @stack, $l;
            $pos++;

        } elsif ($c eq ')') {
            pop @stack if @stack > 1;
            $pos++;

        } elsif ($c eq '"') {
            my $s = '';
            $pos++;
            while ($pos < length $text) {
                my $d = substr($text, $pos++, 1);
                last if $d eq '"';
                $d = substr($text, $pos++, 1) if $d eq '\\';
                $s .= $d;
            }
            push @{$stack[-1]}, $s;

        } elsif (substr($text, $pos) =~ /^~?\{(\d+)\+?\}\r\n/) {
            my $n = $1;
            $pos += length($&);
            push @{$stack[-1]}, substr($text, $pos, $n);
            $pos += $n;

        } else {
            # an atom; a "[" section runs to its "]", spaces and all

            my $a = '';
            while ($pos < length $text) {
                my $d = substr($text, $pos, 1);
                last if $d =~ /[ ()\r\n]/;
                if ($d eq '[') {
                    my $e = index($text, ']', $pos);
                    $e = length($text) - 1 if $e < 0;
                    $a .= substr($text, $pos, $e - $pos + 1);
                    $pos = $e + 1;
                    next;
                }
                $a .= $d;
                $pos++;
            }
            push @{$stack[-1]}, uc($a) eq 'NIL' ? undef : $a;
        }
    }

    return $stack[0];
}


sub fetch_items {
    my ($resp) = @_;

    return () unless defined $resp
                     && $resp =~ /^\* (\d+) FETCH (\(.*)\z/si;
    my $n = $1;
    my $l = parse($2)->[0] // [];
    my %h;

    for (my $i = 0; $i + 1 < @$l; $i += 2) {
        $h{uc $l->[$i]} = $l->[$i + 1];
    }

    return ($n, \%h);
}


1;
