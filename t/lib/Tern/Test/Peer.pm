package Tern::Test::Peer;

# A scripted remote SMTP server for outbound tests: it listens on
# 127.0.0.1:PORT (or addr => '::1') in a forked child (one more child per connection),
# records every message it accepts, and misbehaves on request.
#
#     my $dir = Tern::Test::Peer::start($t, port => $t->port(8030),
#         name => 'mx1', ext => [qw/PIPELINING 8BITMIME SIZE DSN/],
#         tls => [$crt, $key]);              # offer STARTTLS
#     ...
#     my @msgs = Tern::Test::Peer::messages($dir);   # oldest first
#     # each: { from => 'a@b', rcpts => ['x@y', ...], params => 'MAIL line',
#     #         rcpt_lines => [...], data => "...\r\n", tls => 0|1,
#     #         auth => 'user'|undef, file => PATH }
#
# What a recipient's local part asks for (prefix match):
#     defer...     451 4.3.0 to RCPT
#     once...      451 4.3.0 to RCPT the first time, then 250
#     reject...    550 5.1.1 to RCPT
#     dropdata...  the connection is closed in the middle of the data
#     late4...     250 to RCPT, 451 4.6.0 after the data
#     late5...     250 to RCPT, 554 5.6.0 after the data
# Options: greeting => '554 go away' (instead of 220), auth => [user, pw],
# implicit => 1 (TLS from the start, with tls => [crt, key]),
# (AUTH PLAIN/LOGIN offered and required after TLS if tls is set),
# ext => [...] extensions offered (default PIPELINING 8BITMIME SIZE DSN
# SMTPUTF8 ENHANCEDSTATUSCODES), chunking => 1 (CHUNKING too).

use warnings;
use strict;

use File::Path qw/ make_path /;
use POSIX ();
use IO::Socket::INET;
use MIME::Base64 qw/ decode_base64 /;
use Time::HiRes qw/ time /;


sub start {
    my ($t, %o) = @_;

    my $dir = $t->testdir() . '/peer-' . ($o{name} // $o{port});
    make_path($dir);

    require IO::Socket::IP;

    my $server = IO::Socket::IP->new(
        LocalHost => $o{addr} // '127.0.0.1', LocalPort => $o{port},
        Listen => 64, ReuseAddr => 1, Proto => 'tcp')
        or die "peer: cannot listen on $o{port}: $@\n";

    $t->run_daemon(sub {
        $SIG{CHLD} = 'IGNORE';
        my $n = 0;
        while (1) {
            my $c = $server->accept() or next;
            $n++;
            my $pid = fork();
            if (!defined $pid) { close $c; next; }
            if ($pid == 0) {
                close $server;
                conn_log($dir, "open $n");
                my $closed = eval { session($c, $dir, "$n", \%o) };
                conn_log($dir, "close $n") unless $closed;
                POSIX::_exit(0);
            }
            close $c;
        }
    });

    close $server;

    return $dir;
}


sub session {
    my ($c, $dir, $conn, $o) = @_;

    my @ext = @{ $o->{ext} // [qw/ PIPELINING 8BITMIME SIZE DSN SMTPUTF8
                                   ENHANCEDSTATUSCODES /] };
    push @ext, 'CHUNKING' if $o->{chunking};

    my ($tls, $user, $tx, $msgno) = (0, undef, undef, 0);

    my $say = sub { print $c "$_[0]\r\n"; };

    if ($o->{implicit}) {
        require IO::Socket::SSL;
        IO::Socket::SSL->start_SSL($c, SSL_server => 1,
            SSL_cert_file => $o->{tls}[0], SSL_key_file => $o->{tls}[1])
            or return;
        $tls = 1;
    }

    $c->autoflush(1);
    $say->($o->{greeting} // "220 $o->{name} ESMTP peer");
    return if ($o->{greeting} // '220') !~ /^220/;

    while (defined(my $line = <$c>)) {
        $line =~ s/\r?\n\z//;

        if ($line =~ /^(EHLO|HELO)\s/i) {
            my @e = @ext;
            push @e, 'STARTTLS' if $o->{tls} && !$tls && !$o->{implicit};
            push @e, 'AUTH PLAIN LOGIN' if $o->{auth} && ($tls || !$o->{tls});
            my @l = ("$o->{name}", @e);
            $say->("250-$l[$_]") for 0 .. $#l - 1;
            $say->("250 $l[-1]");
            $tx = undef;

        } elsif ($line =~ /^STARTTLS$/i && $o->{tls} && !$tls) {
            $say->('220 2.0.0 go ahead');
            require IO::Socket::SSL;
            IO::Socket::SSL->start_SSL($c, SSL_server => 1,
                SSL_cert_file => $o->{tls}[0], SSL_key_file => $o->{tls}[1])
                or return;
            $tls = 1;

        } elsif ($line =~ /^AUTH PLAIN ?(\S*)$/i && $o->{auth}) {
            my $b = $1;
            if ($b eq '') { $say->('334 '); $b = <$c>; $b =~ s/\r?\n//; }
            my (undef, $u, $p) = split /\0/, decode_base64($b);
            if ($u eq $o->{auth}[0] && $p eq $o->{auth}[1]) {
                $user = $u; $say->('235 2.7.0 ok');
            } else { $say->('535 5.7.8 no'); }

        } elsif ($line =~ /^AUTH LOGIN$/i && $o->{auth}) {
            $say->('334 VXNlcm5hbWU6');
            my $u = <$c>; $u =~ s/\r?\n//;
            $say->('334 UGFzc3dvcmQ6');
            my $p = <$c>; $p =~ s/\r?\n//;
            if (decode_base64($u) eq $o->{auth}[0]
                && decode_base64($p) eq $o->{auth}[1])
            {
                $user = decode_base64($u); $say->('235 2.7.0 ok');
            } else { $say->('535 5.7.8 no'); }

        } elsif ($line =~ /^MAIL FROM:<([^>]*)>(.*)$/i) {
            if ($o->{auth} && !defined $user) {
                $say->('530 5.7.0 auth first');
                next;
            }
            $tx = { from => $1, params => $line, rcpts => [],
                    rcpt_lines => [], tls => $tls, auth => $user,
                    late => '' };
            $say->('250 2.1.0 ok');

        } elsif ($line =~ /^RCPT TO:<([^>]*)>/i) {
            my $r = $1;
            if (!$tx) { $say->('503 5.5.1 no MAIL'); next; }
            if ($r =~ /^defer/i) { $say->('451 4.3.0 try later'); next; }
            if ($r =~ /^once/i && !-e "$dir/once-$r") {
                open(my $m, '>', "$dir/once-$r"); close $m;
                $say->('451 4.3.0 not this time'); next;
            }
            if ($r =~ /^reject/i) { $say->("550 5.1.1 <$r> unknown"); next; }
            $tx->{late} = $1 if $r =~ /^(late[45]|dropdata)/i;
            push @{ $tx->{rcpts} }, $r;
            push @{ $tx->{rcpt_lines} }, $line;
            $say->('250 2.1.5 ok');

        } elsif ($line =~ /^DATA$/i) {
            if (!$tx || !@{ $tx->{rcpts} }) {
                $say->('554 5.5.1 no valid recipients'); next;
            }
            $say->('354 go ahead');
            my $data = '';
            while (defined(my $l = <$c>)) {
                last if $l eq ".\r\n";
                if ($tx->{late} =~ /^dropdata/i && length($data) > 10) {
                    return;
                }
                $l =~ s/^\.//;
                $data .= $l;
            }
            finish($c, $dir, $conn, ++$msgno, $tx, $data, $say);
            $tx = undef;

        } elsif ($line =~ /^BDAT (\d+)( LAST)?$/i) {
            my ($size, $last) = ($1, $2);
            my $chunk = '';
            while (length($chunk) < $size) {
                my $got = read($c, $chunk, $size - length($chunk),
                               length($chunk));
                return unless $got;
            }
            if (!$tx || !@{ $tx->{rcpts} }) {
                $say->('554 5.5.1 no valid recipients'); next;
            }
            $tx->{data} .= $chunk;
            return if $tx->{late} =~ /^dropdata/i;
            if ($last) {
                finish($c, $dir, $conn, ++$msgno, $tx, $tx->{data}, $say);
                $tx = undef;
            } else {
                $say->("250 2.0.0 $size octets");
            }

        } elsif ($line =~ /^RSET$/i) {
            $tx = undef;
            $say->('250 2.0.0 ok');

        } elsif ($line =~ /^NOOP$/i) {
            $say->('250 2.0.0 ok');

        } elsif ($line =~ /^QUIT$/i) {
            # counted as closed before the client can see the 221
            conn_log($dir, "close $conn");
            $say->('221 2.0.0 bye');
            return 1;

        } else {
            $say->('500 5.5.1 what');
        }
    }
}


sub finish {
    my ($c, $dir, $conn, $n, $tx, $data, $say) = @_;

    if ($tx->{late} =~ /^late4/i) { $say->('451 4.6.0 not now'); return; }
    if ($tx->{late} =~ /^late5/i) { $say->('554 5.6.0 never'); return; }

    my $file = sprintf('%s/%.6f-%d-%s-%d.eml', $dir, time(), $$, $conn, $n);
    open(my $fh, '>:raw', "$file.tmp") or die;
    print $fh "X-Peer-Mail: $tx->{params}\n";
    print $fh "X-Peer-Rcpt: $_\n" for @{ $tx->{rcpt_lines} };
    print $fh "X-Peer-TLS: $tx->{tls}\n";
    print $fh "X-Peer-Auth: " . ($tx->{auth} // '') . "\n";
    print $fh "X-Peer-Conn: $conn\n\n";
    print $fh $data;
    close $fh;
    rename("$file.tmp", $file);

    $say->('250 2.0.0 queued as peer' . $n);
}


sub conn_log {
    my ($dir, $what) = @_;
    open(my $fh, '>>', "$dir/conns.log") or return;
    printf $fh "%.6f %s\n", time(), $what;
    close $fh;
}


# (connections made, the most open at once)
sub connections {
    my ($dir) = @_;

    open(my $fh, '<', "$dir/conns.log") or return (0, 0);
    my @ev = sort { $a->[0] <=> $b->[0] }
             map { [ split / / ] } grep { /\S/ } <$fh>;
    close $fh;

    my ($n, $open, $max) = (0, 0, 0);

    for my $e (@ev) {
        if ($e->[1] eq 'open') {
            $n++;
            $open++;
            $max = $open if $open > $max;
        } else {
            $open--;
        }
    }

    return ($n, $max);
}


# the messages received so far, oldest first
sub messages {
    my ($dir) = @_;

    opendir(my $dh, $dir) or return ();
    my @f = sort grep { /\.eml$/ } readdir $dh;
    closedir $dh;

    my @m;

    for my $f (@f) {
        open(my $fh, '<:raw', "$dir/$f") or next;
        local $/;
        my $text = <$fh>;
        close $fh;

        my ($head, $data) = split /\n\n/, $text, 2;
        my %m = (file => "$dir/$f", data => $data, rcpts => [],
                 rcpt_lines => []);

        for my $l (split /\n/, $head) {
            if ($l =~ /^X-Peer-Mail: (.*)$/) {
                $m{params} = $1;
                ($m{from}) = $1 =~ /<([^>]*)>/;
            } elsif ($l =~ /^X-Peer-Rcpt: (.*)$/) {
                push @{ $m{rcpt_lines} }, $1;
                push @{ $m{rcpts} }, $1 =~ /<([^>]*)>/;
            } elsif ($l =~ /^X-Peer-TLS: (\d)$/) {
                $m{tls} = $1;
            } elsif ($l =~ /^X-Peer-Auth: (.*)$/) {
                $m{auth} = $1 eq '' ? undef : $1;
            } elsif ($l =~ /^X-Peer-Conn: (.*)$/) {
                $m{conn} = $1;
            }
        }

        push @m, \%m;
    }

    return @m;
}


# waits until the peer has n messages (or the timeout); returns them
sub wait_messages {
    my ($dir, $n, $timeout) = @_;

    my $deadline = time() + ($timeout // 10);
    my @m;

    while (1) {
        @m = messages($dir);
        last if @m >= $n || time() > $deadline;
        select(undef, undef, undef, 0.1);
    }

    return @m;
}

1;
