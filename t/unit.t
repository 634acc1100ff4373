#!/usr/bin/perl

# Copyright (c) 2026, The Tern developers
#
# Runs the C unit tests that "make unit" builds (t/unit/NAME.c into
# $TERN_UNIT_DIR/NAME, default objs/t/unit/NAME), one test here per
# binary.  A binary passes when it exits with 0, prints a valid TAP plan,
# and every test it reports passed (a "not ok" marked TODO is allowed).
# On failure its output is printed as diagnostics.  No binaries at all is a
# failure: a missing build must not look like a pass.

use strict;
use warnings;

use Test::More;
use TAP::Parser;
use File::Temp qw(tempfile);

my $dir = $ENV{TERN_UNIT_DIR} // 'objs/t/unit';
my $timeout = $ENV{TERN_UNIT_TIMEOUT} // 120;

my @bins = sort grep { -f $_ && -x _ } glob("$dir/*");

if (!@bins) {
    plan tests => 1;
    fail("unit test binaries in $dir");
    diag("no unit test binaries in $dir: run \"make unit\" first "
         . "(or set TERN_UNIT_DIR)");
    exit;
}

plan tests => scalar @bins;

for my $bin (@bins) {
    my ($name) = $bin =~ m{([^/]+)$};
    my ($out, $err, $status) = run($bin);

    # TAP::Parser cannot take an empty stream
    my $parser = TAP::Parser->new({ tap => length $out ? $out : "\n" });
    my @failed;

    while (my $result = $parser->next) {
        if ($result->is_test && !$result->is_ok) {
            push @failed, $result->as_string;
        }
    }

    my @problems;

    push @problems, describe_status($status) if $status != 0;
    push @problems, 'no TAP plan' if !$parser->plan;
    push @problems, 'planned ' . ($parser->tests_planned // 0)
        . ', ran ' . $parser->tests_run
        if $parser->plan && !$parser->skip_all
            && ($parser->tests_planned // -1) != $parser->tests_run;
    push @problems, @failed;

    if (!ok(!@problems, $name)) {
        diag("$bin: $_") for @problems;
        diag("--- stdout of $bin");
        diag($out) if length $out;
        diag("--- stderr of $bin");
        diag($err) if length $err;
    }
}


# run BIN: its stdout, its stderr and its wait status; killed after
# $timeout seconds

sub run {
    my ($bin) = @_;

    my ($efh, $efile) = tempfile('tern-unit-XXXXXX', TMPDIR => 1,
                                 UNLINK => 1);

    my $pid = open(my $ofh, '-|');
    die "fork: $!" if !defined $pid;

    if ($pid == 0) {
        # a group of its own, so that a timeout kills its children too
        setpgrp(0, 0);
        open(STDERR, '>&', $efh) or die "stderr: $!";
        open(STDIN, '<', '/dev/null') or die "stdin: $!";
        exec { $bin } $bin or die "exec $bin: $!";
    }

    my $out = '';
    my $status;

    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm($timeout);
        local $/;
        $out = <$ofh> // '';
        close($ofh);
        $status = $?;
        alarm(0);
    };

    my $timed_out = $@ eq "timeout\n";

    if ($timed_out) {
        kill 'KILL', -$pid;
        waitpid($pid, 0);
        $status = $?;
    }

    seek($efh, 0, 0);
    my $err = do { local $/; <$efh> } // '';
    close($efh);

    $err .= "\n(killed after $timeout seconds)" if $timed_out;

    return ($out, $err, $status);
}


sub describe_status {
    my ($status) = @_;

    return 'exited with ' . ($status >> 8) if ($status & 127) == 0;
    return 'killed by signal ' . ($status & 127)
        . (($status & 128) ? ' (core dumped)' : '');
}
