#!/usr/bin/perl

# Started as root with "user nobody", the workers run as nobody and what
# they store belongs to nobody; the admin commands run as root give their
# files to the same user.

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use Tern::Test;

###############################################################################

plan(skip_all => 'needs root') if $> != 0;

my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
plan(skip_all => 'no user nobody') unless defined $uid;

my $t = Tern::Test->new()->has(qw/smtp/)->plan(6);

my $group = getgrgid($gid);

$t->write_file_expand('tern.conf', Tern::Test::conf_base()
    . "user nobody $group;\n" . <<'EOF');
mail {
    server_name mx.example.test;
    server { listen 127.0.0.1:%%PORT_8025%%; protocol smtp; }
}
EOF

# the operator gives the prefix to the workers' user

chown($uid, $gid, $t->testdir()) or die "chown: $!";

$t->add_domain('example.test');
$t->add_user('u@example.test', 'secret');

is((stat($t->testdir() . '/tern.db'))[4], $uid, 'tern.db belongs to nobody');
is((stat($t->maildir('u@example.test')))[4], $uid,
    'Maildir belongs to nobody');

$t->run();

# the ports answer as soon as the master listens: wait for the workers

my @uids;
for (1 .. 50) {
    @uids = map { worker_uid($_) } $t->workers();
    last if @uids == 1 && $uids[0] == $uid;
    select undef, undef, undef, 0.1;
}
ok(@uids && !grep({ $_ != $uid } @uids), 'workers run as nobody');

my $out = `swaks --server 127.0.0.1:@{[ $t->port(8025) ]} --to u\@example.test \\
    --from a\@remote.test --body 'owned' 2>&1`;
like($out, qr/250 2\.0\.0 Ok: queued as/, 'delivered');

my @files = $t->maildir_files('u@example.test');
is(scalar @files, 1, 'one message stored');
is((stat($files[0]))[4], $uid, 'message file belongs to nobody');

$t->stop();

###############################################################################

sub worker_uid {
    my ($pid) = @_;

    open my $fh, '<', "/proc/$pid/status" or return -1;
    while (<$fh>) {
        return $1 if /^Uid:\s+(\d+)/;
    }
    return -1;
}

###############################################################################
