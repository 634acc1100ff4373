#!/usr/bin/perl

# The Lua login phase (issue 7) with conf/lua/login.lua, required by a
# test script from lua_package_path: IMAP LOGIN, POP3 USER/PASS and SMTP
# AUTH PLAIN log in under the translated name (and see that user's mail);
# a refusal fails the login, its message in the log, no password there;
# a script error and an infinite loop (also one inside pcall) fall back
# to the name given with a traceback in the log, the worker alive and
# serving another session meanwhile; tern.sleep and tern.dns.txt yield
# while another session goes on; the memory cap stops a table bomb;
# tern.log and tern.status (a row in tern.db); a reload with a changed
# script; "tern -t" names the file and line of a syntax error.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw/ encode_base64 /;
use Test::More;

use Tern::Test;
use Tern::Test::IMAP;
use Tern::Test::POP3;
use Tern::Test::SMTP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Tern::Test->new()->has('lua')->plan(59);

$t->dns({
    'login.example.test' => {
        TXT => [ 'jdoe@example.com' ],
        A => [ '127.0.0.9', '127.0.0.10' ],
        MX => [ '10 mx1.example.test', '5 mx0.example.test' ],
    },
});

my $ROOT = $Tern::Test::ROOT;

# the test script: special names exercise the runtime, every other name
# goes through the example (conf/lua/login.lua, found by require)

$t->write_file('login.lua', <<'EOF');
local example = require("login")

local tests = {}

tests["err@example.com"] = function(login)
    local t = nil
    return t.field
end

tests["loop@example.com"] = function(login)
    while true do end
end

tests["ploop@example.com"] = function(login)
    while true do
        pcall(function() while true do end end)
    end
end

tests["mem@example.com"] = function(login)
    local t = {}
    for i = 1, 1e9 do
        t[i] = ("x"):rep(1024 * 1024) .. i
    end
end

tests["sleep@example.com"] = function(login)
    tern.sleep(1)
    return "jdoe@example.com"
end

tests["longsleep@example.com"] = function(login)
    tern.sleep(3)
    tern.log("info", "longsleep woke up")
    return "jdoe@example.com"
end

tests["dns@example.com"] = function(login)
    local r, err = tern.dns.txt("login.example.test")
    if not r then
        return false, "dns: " .. err
    end
    return r[1]
end

tests["dnsall@example.com"] = function(login)
    local a, err = tern.dns.a("login.example.test")
    local mx, err2 = tern.dns.mx("login.example.test")
    if not a or not mx then
        return false, "lookup: " .. tostring(err) .. " " .. tostring(err2)
    end
    table.sort(a)
    local got = table.concat(a, ",") .. " " .. mx[1].preference .. " "
                .. mx[1].host .. " " .. mx[2].preference .. " " .. mx[2].host
    tern.log("info", "dns answers: ", got)
    if got ~= "127.0.0.10,127.0.0.9 5 mx0.example.test 10 mx1.example.test"
    then
        return false, "unexpected answers " .. got
    end
    return "jdoe@example.com"
end

tests["nxdns@example.com"] = function(login)
    local r, err = tern.dns.txt("nx.example.test")
    if r then
        return r[1]
    end
    return false, "no TXT: " .. tostring(err)
end

tests["status@example.com"] = function(login)
    tern.status("login from " .. login.ip .. " over " .. login.protocol,
                "warn")
    return "jdoe@example.com"
end

return function(login)
    tern.log("info", "login phase: ", login.protocol, " ", login.name,
             " from ", login.ip, " tls=", login.tls)

    local f = tests[login.name]
    if f then
        return f(login)
    end

    return example(login)
end
EOF

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<"EOF");
worker_shutdown_timeout 1s;
resolver 127.0.0.1:%%DNS_PORT%%;
resolver_timeout 2s;

mail {
    server_name mail.example.test;
    auth_failure_delay 0;
    pop3_auth_plaintext on;

    lua_script login %%TESTDIR%%/login.lua;
    lua_package_path $ROOT/conf/lua;
    lua_memory_limit 16m;

    server { listen 127.0.0.1:%%PORT_8143%%; protocol imap;
             imap_auth_plaintext on; }
    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
    server { listen 127.0.0.1:%%PORT_8026%%; protocol smtp;
             smtp_auth optional; smtp_auth_plaintext on; }
}
EOF

$t->run();
$t->add_domain('example.com');

my $PW = 'Lua-login-pw-6c1f0e';
my $PO = 'Other-pw-93d7b2';

$t->add_user('jdoe@example.com', $PW);
$t->add_user('other@example.com', $PO);
$t->add_user('mallory@example.com', $PW);     # the store would let her in
$t->add_user('err@example.com', $PW);
$t->add_user('loop@example.com', $PW);
$t->add_user('ploop@example.com', $PW);
$t->add_user('mem@example.com', $PW);

drop('jdoe@example.com', '1700000001.M1P1Q1.j', "Subject: for jdoe\n\nj\n");
drop('other@example.com', '1700000002.M1P1Q1.o', "Subject: for other\n\no\n");

my ($worker) = $t->workers();

###############################################################################

# IMAP LOGIN with a name the example translates by its table

my $i = imap();
my $r = $i->run('LOGIN "John.Doe@example.com" "' . $PW . '"');
like($r, qr/^a\d+ OK/m, 'imap: translated login');
$i->run('SELECT INBOX');
like(join('', $i->run('FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]')),
     qr/Subject: for jdoe/, 'imap: the mail of the translated user');
$i->run('LOGOUT');

# POP3 USER/PASS with an alias of the table

my ($st, $body) = pop3_retr('sales@example.com', $PW);
like($st, qr/^\+OK/, 'pop3: translated login');
like($body // '', qr/Subject: for jdoe/, 'pop3: the mail of jdoe');

# SMTP AUTH PLAIN, the upper-case form

my $s = smtp();
$s->send('EHLO client.test');
$s->read();
$s->send('AUTH PLAIN ' . plain('JOHN.DOE@EXAMPLE.COM', $PW));
like($s->read(), qr/^235 /, 'smtp auth: translated login');
$s->send('QUIT');
$s->read();

ok($t->wait_for_log(qr/lua: login name translated to "jdoe\@example.com"/),
   'translation logged');
ok($t->wait_for_log(qr/lua: \S*login.lua:\d+: login phase: imap John.Doe\@example.com from 127.0.0.1 tls=false/),
   'tern.log in the session context');

# a wrong password under a translated name still fails

($st) = pop3_retr('john.doe@example.com', 'wrong-pw-1');
like($st, qr/^-ERR \[AUTH\]/, 'translated name, wrong password');

###############################################################################

# a refusal: mallory's password is right, the script says no

($st) = pop3_retr('mallory@example.com', $PW);
like($st, qr/^-ERR \[AUTH\] Authentication failed/, 'pop3: refused login');

$i = imap();
$r = $i->run('LOGIN "Mallory@Example.com" "' . $PW . '"');
like($r, qr/^a\d+ NO/m, 'imap: refused login');
unlike($r, qr/account closed/, 'the message is not sent to the client');
$i->run('LOGOUT');

$s = smtp();
$s->send('EHLO client.test');
$s->read();
$s->send('AUTH PLAIN ' . plain('mallory@example.com', $PW));
like($s->read(), qr/^535 /, 'smtp auth: refused login');
$s->send('QUIT');
$s->read();

ok($t->wait_for_log(qr/lua: login of "mallory\@example.com" refused: blocked: account closed/),
   'the refusal message in the log');
ok($t->wait_for_log(qr/login failed: user="mallory\@example.com"/),
   'counted as a failed login');

###############################################################################

# a script error: traceback logged, the name given is used

($st, $body) = pop3_retr('err@example.com', $PW);
like($st, qr/^\+OK/, 'script error: the name given logs in');
ok($t->wait_for_log(qr/lua: login phase failed: .*login.lua:\d+: attempt to index local 't'/),
   'script error logged');
ok($t->wait_for_log(qr/stack traceback:/), 'with a traceback');

# an infinite loop while another session is open on the same worker

$i = imap();
$i->login('jdoe@example.com', $PW);
$i->run_ok('SELECT INBOX', 'imap session before the loop');

($st) = pop3_retr('loop@example.com', $PW);
like($st, qr/^\+OK/, 'loop stopped: the name given logs in');
ok($t->wait_for_log(qr/login phase failed: stopped by lua_(timeout|max_instructions)/),
   'the budget stopped the loop');

($st) = pop3_retr('ploop@example.com', $PW);
like($st, qr/^\+OK/, 'a loop inside pcall is stopped too');

$i->run_ok('NOOP', 'the other session is still served');
like(join('', $i->run('FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]')),
     qr/for jdoe/, 'and fetches');
is(($t->workers())[0], $worker, 'the same worker');

# the memory cap

($st) = pop3_retr('mem@example.com', $PW);
like($st, qr/^\+OK/, 'memory cap: the name given logs in');
ok($t->wait_for_log(qr/login phase failed: stopped by lua_memory_limit/),
   'the table bomb stopped');

($st) = pop3_retr('sales@example.com', $PW);
like($st, qr/^\+OK/, 'the VM serves logins after it');

###############################################################################

# tern.sleep: the login waits while the other session is served; the
# order of the replies shows it (the sleeping login answers last)

my $p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
$p->read();
$p->send('USER sleep@example.com');
$p->read();
$p->send("PASS $PW");

$i->run_ok('NOOP', 'served while a script sleeps');
ok(!$p->can_read(0), 'the sleeping login has not answered yet');
like($p->read(5) // '', qr/^\+OK/, 'tern.sleep: then translated');
$p->send('QUIT');
$p->read();

# tern.dns.txt, against the test DNS server

$p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
$p->read();
$p->send('USER dns@example.com');
$p->read();
$p->send("PASS $PW");
like($p->read(5) // '', qr/^\+OK/, 'tern.dns.txt: the name from the TXT');
$p->send('RETR 1');
($st, $body) = $p->read_multi();
like($body // '', qr/for jdoe/, 'logged in as jdoe');
$p->send('QUIT');
$p->read();

($st) = pop3_retr('dnsall@example.com', $PW);
like($st, qr/^\+OK/, 'tern.dns.a and tern.dns.mx');
ok($t->wait_for_log(qr/dns answers: 127.0.0.10,127.0.0.9 5 mx0.example.test 10 mx1.example.test/),
   'their answers');

($st) = pop3_retr('nxdns@example.com', $PW);
like($st, qr/^-ERR/, 'tern.dns.txt failure: refused by the script');
ok($t->wait_for_log(qr/refused: no TXT: \S+/), 'the DNS error in the log');

$i->run('LOGOUT');

# tern.status: logged, and a row in tern.db

($st) = pop3_retr('status@example.com', $PW);
like($st, qr/^\+OK/, 'tern.status: login goes on');
ok($t->wait_for_log(qr/\[warn\] .*lua: status \(warn\) from \S*login.lua:\d+: login from 127.0.0.1 over pop3/),
   'status logged');

my $dir0 = $t->testdir();
my $row = '';
for (1 .. 50) {
    $row = `sqlite3 $dir0/tern.db "SELECT level, message, source FROM status" 2>/dev/null`;
    last if $row =~ /login from/;
    select undef, undef, undef, 0.1;
}
like($row, qr/^warn\|login from 127.0.0.1 over pop3\|lua login \S*login.lua:\d+$/m,
     'status row in tern.db');

###############################################################################

# no password reached the log

my $log = $t->read_file('logs/error.log');
unlike($log, qr/\Q$PW\E/, 'no password in the log');
unlike($log, qr/wrong-pw-1/, 'no wrong password in the log');
unlike($log, qr/\[alert\]|\[crit\]/, 'no alert or crit');
is(($t->workers())[0], $worker, 'the worker never restarted');

###############################################################################

# a session closed while its script sleeps (the old worker closes it
# worker_shutdown_timeout after the reload): the call is dropped at once,
# its timer cancelled, and the script never wakes up

$p = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
$p->read();
$p->send('USER longsleep@example.com');
$p->read();
$p->send("PASS $PW");
ok($t->wait_for_log(qr/login phase: pop3 longsleep/), 'a script sleeps');

# a reload with a changed script: every name logs in as other

$t->write_file('login.lua', <<'EOF');
return function(login)
    return "other@example.com"
end
EOF

$t->reload();
ok(wait_count(qr/lua: login phase script ".*login.lua" loaded/, 2),
   'reloaded: the new worker loaded the script');

($st, $body) = pop3_retr('anyone@example.com', $PO);
like($st, qr/^\+OK/, 'after reload: the new script');
like($body // '', qr/for other/, 'the mail of other');

ok($p->eof(10), 'the sleeping session closed by the old worker');
ok($t->wait_for_log(qr/worker_shutdown_timeout passed/), 'at its shutdown');
ok(!$t->wait_for_log(qr/longsleep woke up/, 3),
   'the dropped call never ran on');
is(scalar $t->workers(), 1, 'the old worker exited');

# a reload with a broken script: refused, the running script stays

$t->allow_log(qr/\[emerg\] .*lua_script: .*login.lua:2: unexpected symbol/);
$t->write_file('login.lua', "return function(l)\n  return = 1\nend\n");
kill 'HUP', $t->master_pid();
ok($t->wait_for_log(qr/login.lua:2: unexpected symbol near '='/),
   'broken script on reload: logged with file:line');
ok($t->wait_for_log(qr/old one is kept/), 'the old configuration is kept');
($st) = pop3_retr('someone@example.com', $PO);
like($st, qr/^\+OK/, 'the running script still translates');

# "tern -t" with a syntax error: the script's file and line

my $dir = $t->testdir();
$t->write_file('bad.lua', "local x = 1\nreturn function(l)\n  x = = 2\nend\n");
my $conf = $t->read_file('tern.conf');
$conf =~ s{lua_script login \S+;}{lua_script login $dir/bad.lua;};
$t->write_file('bad.conf', $conf);

my $out = `$Tern::Test::BINARY -p $dir -c $dir/bad.conf -t 2>&1`;
isnt($? >> 8, 0, 'tern -t fails');
like($out, qr{bad\.lua:3: unexpected symbol near '='}, 'with file:line');
like($out, qr{in \Q$dir\E/bad\.conf:\d+}, 'and the directive');

$conf =~ s{lua_script login \S+;}{lua_script login $dir/missing.lua;};
$t->write_file('bad.conf', $conf);
$out = `$Tern::Test::BINARY -p $dir -c $dir/bad.conf -t 2>&1`;
like($out, qr{cannot open \Q$dir\E/missing\.lua}, 'a missing script');

$t->write_file('good.lua', "return function(l) end\n");
$conf =~ s{lua_script login \S+;}{lua_script login $dir/good.lua;};
$conf =~ s{lua_package_path \S+;}{lua_package_path $dir/nowhere;};
$t->write_file('bad.conf', $conf);
$out = `$Tern::Test::BINARY -p $dir -c $dir/bad.conf -t 2>&1`;
like($out, qr{lua_package_path "\Q$dir\E/nowhere" is not a directory},
     'a missing lua_package_path');

$t->stop();

###############################################################################

sub imap {
    my $c = Tern::Test::IMAP->new(PeerAddr => '127.0.0.1:' . port(8143));
    $c->read();
    return $c;
}

sub smtp {
    my $c = Tern::Test::SMTP->new(PeerAddr => '127.0.0.1:' . port(8026));
    $c->read();
    return $c;
}

# the log has n lines matching re (waits up to 10 s)

sub wait_count {
    my ($re, $n) = @_;
    for (1 .. 200) {
        my @m = $t->read_file('logs/error.log') =~ /$re/g;
        return 1 if @m >= $n;
        select undef, undef, undef, 0.05;
    }
    return 0;
}

sub plain { encode_base64("\0$_[0]\0$_[1]", '') }

# POP3 USER/PASS, then RETR 1 when logged in: (status, body)

sub pop3_retr {
    my ($user, $pass) = @_;
    my $c = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
    $c->read();
    $c->send("USER $user");
    $c->read();
    $c->send("PASS $pass");
    my $st = $c->read(10) // '';
    my $body;
    if ($st =~ /^\+OK/) {
        $c->send('RETR 1');
        (undef, $body) = $c->read_multi();
    }
    $c->send('QUIT');
    $c->read();
    return ($st, $body);
}

sub drop {
    my ($addr, $name, $content) = @_;
    my $dir = $t->maildir($addr);
    my ($uid, $gid) = (stat $dir)[4, 5];
    $t->write_file("$dir/tmp/$name", $content);
    chown $uid, $gid, "$dir/tmp/$name";
    chmod 0600, "$dir/tmp/$name";
    rename "$dir/tmp/$name", "$dir/new/$name" or die "rename: $!\n";
}

###############################################################################
