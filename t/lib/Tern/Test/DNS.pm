package Tern::Test::DNS;

# A DNS server for tests: Net::DNS::Nameserver in a forked child, on
# 127.0.0.1, UDP and TCP, answering from a hash:
#
#     {
#         'example.test' => {
#             MX  => [ '10 mx.example.test' ],
#             A   => [ '127.0.0.1' ],
#             TXT => [ 'v=spf1 -all' ],         # one string: one TXT record
#         },
#         'mx.example.test'   => { A => '127.0.0.1' },  # a single record
#         'sel._domainkey.example.test' => {
#             TXT => [ [ 'v=DKIM1; k=rsa; ', 'p=MIIB...' ] ],
#                                                 # list: one record made
#                                                 # of several strings
#         },
#         'slow.test'  => { A => 'TIMEOUT', MX => [ '10 x.test' ] },
#         'www.example.test' => { CNAME => 'example.test' },
#         '*.wild.test' => { A => '127.0.0.2' },
#         'timeout.test' => 'TIMEOUT',    # never answered
#         'fail.test'    => 'SERVFAIL',   # also REFUSED, NXDOMAIN
#     }
#
# Names not in the hash get NXDOMAIN; a name that is there without the
# asked type gets an empty NOERROR answer. Names are case-insensitive.
# Answers larger than 512 bytes (or the query's EDNS size) are sent over
# UDP as an empty answer with TC set, so the client retries over TCP, as
# it would with a real server. TIMEOUT
# means no answer: over UDP nothing comes back; over TCP the connection
# is closed without a reply.
#
# Each query is appended to the log file, if one is given, as a line
# "name type proto" (proto is udp or tcp).

use warnings;
use strict;

use IO::Handle;
use IO::Select;
use POSIX qw/ WNOHANG /;
use Time::HiRes qw/ sleep time /;


sub start {
    my ($class, %args) = @_;

    my $port = $args{port} or die "Tern::Test::DNS: no port\n";
    my $zone = _normalize($args{zone} // {});

    require Net::DNS;
    require Net::DNS::Nameserver;

    pipe(my $rd, my $wr) or die "pipe: $!\n";

    my $parent = $$;
    my $pid = fork();
    die "Can't fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        close $rd;
        $SIG{TERM} = 'DEFAULT';
        eval { _serve($zone, $port, $args{log}, $wr, $parent) };
        print $wr "ERR $@\n" if $@;
        POSIX::_exit(0);
    }

    close $wr;

    my $line;
    if (IO::Select->new($rd)->can_read(10)) {
        $line = <$rd>;
    }
    close $rd;

    if (!defined $line || $line !~ /^OK/) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        die "DNS server on port $port did not start: "
            . ($line // "no answer\n");
    }

    return bless { pid => $pid, port => $port, owner => $$ }, $class;
}


sub port {
    my ($self) = @_;
    return $self->{port};
}


sub pid {
    my ($self) = @_;
    return $self->{pid};
}


sub stop {
    my ($self) = @_;

    my $pid = delete $self->{pid} or return;

    kill 'TERM', $pid;

    for (1 .. 100) {
        return if waitpid($pid, WNOHANG) != 0;
        sleep(0.05);
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
}


sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop() if $self->{pid} && $self->{owner} == $$;
}


###############################################################################

# Lower-case names without the final dot; every type maps to a list of
# records or to a string that is an rcode or TIMEOUT.

sub _normalize {
    my ($zone) = @_;

    my %z;

    while (my ($name, $v) = each %$zone) {
        my $n = lc $name;
        $n =~ s/\.\z//;

        if (!ref $v) {
            $z{$n} = uc $v;
            next;
        }

        for my $type (keys %$v) {
            my $r = $v->{$type};
            my $t = uc $type;

            if (!ref $r && $r =~ /^(TIMEOUT|SERVFAIL|REFUSED|NXDOMAIN)$/i) {
                $z{$n}{$t} = uc $r;
            } else {
                $z{$n}{$t} = ref $r eq 'ARRAY' ? [ @$r ] : [ $r ];
            }
        }
    }

    return \%z;
}


sub _rr {
    my ($name, $type, $data) = @_;

    if ($type eq 'TXT' || $type eq 'SPF') {
        my @strings = map { _split255($_) } ref $data ? @$data : ($data);

        return Net::DNS::RR->new(
            owner => $name,
            type => $type,
            ttl => 300,
            txtdata => \@strings,
        );
    }

    return Net::DNS::RR->new("$name. 300 IN $type $data");
}


sub _split255 {
    my ($s) = @_;

    my @parts;
    push @parts, substr($s, 0, 255, '') while length $s > 255;
    push @parts, $s;

    return @parts;
}


sub _lookup {
    my ($zone, $name) = @_;

    return $zone->{$name} if exists $zone->{$name};

    my @labels = split /\./, $name;

    while (@labels > 1) {
        shift @labels;
        my $wild = join '.', '*', @labels;
        return $zone->{$wild} if exists $zone->{$wild};
    }

    return undef;
}


# rcode (undef: stay silent), answer records

sub _answer {
    my ($zone, $qname, $qtype) = @_;

    my $name = lc $qname;
    $name =~ s/\.\z//;

    my @ans;

    for (1 .. 8) {
        my $node = _lookup($zone, $name);

        return (@ans ? 'NOERROR' : 'NXDOMAIN', \@ans) unless defined $node;

        if (!ref $node) {
            return (undef, []) if $node eq 'TIMEOUT';
            return ($node, \@ans);
        }

        my $recs = $node->{$qtype};

        if (!defined $recs && $qtype ne 'CNAME' && $node->{CNAME}) {
            my ($target) = @{$node->{CNAME}};
            push @ans, _rr($qname, 'CNAME', $target);
            $qname = $target;
            ($name = lc $target) =~ s/\.\z//;
            next;
        }

        return ('NOERROR', \@ans) unless defined $recs;

        if (!ref $recs) {
            return (undef, []) if $recs eq 'TIMEOUT';
            return ($recs, \@ans);
        }

        push @ans, map { _rr($qname, $qtype, $_) } @$recs;

        return ('NOERROR', \@ans);
    }

    return ('SERVFAIL', []);
}


sub _serve {
    my ($zone, $port, $log, $ready, $parent) = @_;

    my $logfh;

    if (defined $log) {
        open $logfh, '>>', $log or die "Can't open $log: $!\n";
        $logfh->autoflush(1);
    }

    my $handler = sub {
        my ($qname, $qclass, $qtype, $peer, $query, $conn) = @_;

        print $logfh "$qname $qtype " . lc($conn->{protocol} // '') . "\n"
            if $logfh;

        my ($rcode, $ans) = _answer($zone, $qname, $qtype);

        return undef unless defined $rcode;

        # Net::DNS::Nameserver does not truncate answers to queries
        # without EDNS, so do it here: an empty answer with TC set sends
        # the client to TCP.

        if ($conn->{protocol} eq 'udp' && @$ans) {
            my $max = $query->edns->size || 0;
            $max = 512 if $max < 512;

            my $reply = $query->reply();
            $reply->push(answer => @$ans);

            if (length($reply->data()) > $max) {
                return ($rcode, [], [], [], { aa => 1, tc => 1 });
            }
        }

        return ($rcode, $ans, [], [], { aa => 1 });
    };

    # protocol numbers are logged by name

    my %proto = (getprotobyname('tcp') => 'tcp',
                 getprotobyname('udp') => 'udp');

    my $ns = Net::DNS::Nameserver->new(
        LocalAddr => [ '127.0.0.1' ],
        LocalPort => $port,
        Truncate => 0,
        ReplyHandler => sub {
            $_[5]{protocol} = $proto{$_[5]{protocol} // ''}
                              // $_[5]{protocol};
            return $handler->(@_);
        },
        Verbose => 0,
    ) or die "Net::DNS::Nameserver on 127.0.0.1:$port: $!\n";

    print $ready "OK\n";
    close $ready;

    # until stopped, or until the test that started us is gone

    while (getppid() == $parent) {
        $ns->loop_once(0.5);
    }
}


1;
