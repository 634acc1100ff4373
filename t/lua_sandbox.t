#!/usr/bin/perl

# The Lua sandbox (SECURITY-CHECKLIST 3.12): from a login script, every
# escape is tried (io, os.execute/getenv/exit, require of a file outside
# lua_package_path or through a symbolic link out of it, ffi, package,
# string.dump and ("").dump, loading bytecode, load/loadstring/dofile,
# getfenv/setfenv, debug, collectgarbage, rawget/rawset, newproxy, jit,
# the string metatable, the tern table); each must be an error the
# script sees or nil, and the worker goes on.  A coroutine.yield() of
# the phase itself, tern.sleep in a script's coroutine, a loop in a
# table.sort comparator and a loop in an xpcall handler stop the call,
# not the worker; changes to the string metatable or tern never reach
# the next session.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Tern::Test;
use Tern::Test::POP3;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my @probes = qw/
    io_open io_global os_execute os_getenv os_exit os_remove
    require_ffi require_outside require_dotdot require_symlink
    package_loaded_ffi ffi_global string_dump meta_dump loadstring_bc
    load_bc loadfile dofile getfenv0 setfenv1 debug_getregistry
    collectgarbage rawget_g rawset_tern newproxy jit string_mt
    string_mt_index tern_write tern_dns_write tern_setmetatable
    string_rep_bomb coroutine_running print module_env
/;

my $t = Tern::Test->new()->has('lua')->plan(2 * @probes + 27);

my $dir = $t->testdir();

mkdir "$dir/lib";
$t->write_file('lib/good.lua', "return { answer = 42 }\n");
$t->write_file('outside.lua', "return { secret = true }\n");
symlink "$dir/outside.lua", "$dir/lib/link.lua" or die "symlink: $!\n";
$t->write_file('secret.txt', "top secret\n");

$t->write_file('login.lua', <<'EOF2');
local probes = {}

probes.io_open = function() return io.open("/etc/passwd") end
probes.io_global = function() return _G.io end
probes.os_execute = function() return os.execute("touch /tmp/x") end
probes.os_getenv = function() return os.getenv("HOME") end
probes.os_exit = function() return os.exit(1) end
probes.os_remove = function() return os.remove("secret.txt") end
probes.require_ffi = function() return require("ffi") end
probes.require_outside = function() return require("outside") end
probes.require_dotdot = function() return require("../outside") end
probes.require_symlink = function() return require("link") end
probes.package_loaded_ffi = function() return package.loaded.ffi end
probes.ffi_global = function() return ffi.C end
probes.string_dump = function() return string.dump(print) end
probes.meta_dump = function() return ("").dump(function() end) end
probes.loadstring_bc = function()
    return loadstring("\27LJ\2\0")
end
probes.load_bc = function() return load(function() return "\27Lua" end) end
probes.loadfile = function() return loadfile("/etc/passwd") end
probes.dofile = function() return dofile("/etc/passwd") end
probes.getfenv0 = function() return getfenv(0) end
probes.setfenv1 = function() return setfenv(1, {}) end
probes.debug_getregistry = function() return debug.getregistry() end
probes.collectgarbage = function() return collectgarbage("count") end
probes.rawget_g = function() return rawget(_G, "os") end
probes.rawset_tern = function() return rawset(tern, "log", print) end
probes.newproxy = function() return newproxy(true) end
probes.jit = function() return jit.off() end
probes.string_mt = function()
    local mt = getmetatable("")
    mt.__index = { upper = function() return "pwned" end }
    return mt.__index
end
probes.string_mt_index = function()
    getmetatable("").__index.upper = function() return "pwned" end
    return true
end
probes.tern_write = function() tern.log = nil; return true end
probes.tern_dns_write = function() tern.dns.txt = nil; return true end
probes.tern_setmetatable = function()
    return setmetatable(tern, { __index = { log = error } })
end
probes.string_rep_bomb = function() return ("x"):rep(2^30) end
probes.coroutine_running = function() return coroutine.running() end
probes.print = function() return print("x") end
probes.module_env = function()
    -- a required module runs in this script's sandbox, not the host's
    local good = require("good")
    if good.answer ~= 42 then return nil end
    return _G.io or _G.os.execute
end

local tests = {}

tests["probe@example.com"] = function(login)
    for name, f in pairs(probes) do
        local ok, v = pcall(f)
        if ok and v ~= nil and v ~= false then
            tern.log("error", "sandbox: ESCAPE ", name, " ", type(v))
        else
            tern.log("info", "sandbox: refused ", name, ": ", v)
        end
    end
    return "probe@example.com"
end

tests["check@example.com"] = function(login)
    -- what an earlier session tried must not show here
    if ("abc"):upper() ~= "ABC" or ("abc"):find("c") ~= 3
       or type(tern.log) ~= "function" or type(tern.dns.txt) ~= "function"
    then
        tern.log("error", "sandbox: TAMPERED")
    else
        tern.log("info", "sandbox: shared tables intact")
    end
    return "check@example.com"
end

tests["yield@example.com"] = function(login)
    coroutine.yield()
    return "check@example.com"
end

tests["cosleep@example.com"] = function(login)
    local co = coroutine.create(function() tern.sleep(0.1) end)
    local ok, err = coroutine.resume(co)
    tern.log("info", "sandbox: coroutine sleep ", ok, " ", err)
    return "check@example.com"
end

tests["sort@example.com"] = function(login)
    local t = { 5, 3, 1, 4, 2, 6, 9, 8, 7 }
    while true do
        pcall(table.sort, t, function(a, b) while true do end end)
    end
end

tests["xpcall@example.com"] = function(login)
    xpcall(function() error("x") end,
           function() while true do end end)
    while true do end
end

tests["sortsleep@example.com"] = function(login)
    local ok, err = pcall(table.sort, { 3, 2, 1 }, function(a, b)
        tern.sleep(0.1)
        return a < b
    end)
    tern.log("info", "sandbox: sort sleep ", ok, " ", err)
    tern.sleep(0.2)
    return "check@example.com"
end

tests["pingpong@example.com"] = function(login)
    local co = coroutine.wrap(function()
        while true do coroutine.yield() end
    end)
    repeat co() until false
end

-- hostile arguments to every binding: an error or nil, never a crash
tests["bindings@example.com"] = function(login)
    local calls = {
        function() return tern.sleep("abc") end,
        function() return tern.sleep(-1) end,
        function() return tern.sleep(0 / 0) end,
        function() return tern.sleep() end,
        function() return tern.dns.a(nil) end,
        function() return tern.dns.a({}) end,
        function() return tern.dns.txt(("a"):rep(300)) end,
        function() return tern.dns.mx("a\0b") end,
        function() return tern.dns.a("") end,
        function() return tern.status({}) end,
        function() return tern.status("x", "alert") end,
        function() return tern.log("emerg", "x") end,
        function() return tern.log() end,
        function() return tern.log(1, 2) end,
        function() return require(nil) end,
        function() return require(("a"):rep(1000)) end,
        function() return require("a..b") end,
        function() return coroutine.resume(nil) end,
    }
    local bad = 0
    for i, f in ipairs(calls) do
        local ok, v = pcall(f)
        if ok and v ~= nil then
            bad = bad + 1
            tern.log("error", "sandbox: binding ", i, " returned ", v)
        end
    end
    -- a table, a function, nil and huge values logged safely
    tern.log("info", "sandbox: values ", {}, tern.sleep, nil, 2^63, -0.0,
             ("\1\2\255"):rep(2000))
    tern.log("info", "sandbox: bindings done, bad=", bad)
    return "check@example.com"
end

tests["bigerr@example.com"] = function(login)
    error(("line\r\ninjected line "):rep(400))
end

return function(login)
    local f = tests[login.name]
    if f then
        return f(login)
    end
    return false, "unknown test name"
end
EOF2

$t->write_file_expand('tern.conf', Tern::Test::conf_base() . <<'EOF2');
mail {
    server_name mail.example.test;
    auth_failure_delay 0;
    pop3_auth_plaintext on;

    lua_script login login.lua;
    lua_package_path lib;
    lua_memory_limit 32m;

    server { listen 127.0.0.1:%%PORT_8110%%; protocol pop3; }
}
EOF2

$t->run();
$t->add_domain('example.com');

my $PW = 'Sandbox-pw-2b8e41';
$t->add_user("$_\@example.com", $PW)
    for qw/ probe check yield cosleep sort xpcall bigerr pingpong bindings
            sortsleep /;

my ($worker) = $t->workers();

###############################################################################

like(login('probe@example.com'), qr/^\+OK/, 'probe session logged in');

my $log = $t->read_file('logs/error.log');

for my $p (@probes) {
    like($log, qr/sandbox: refused \Q$p\E: /, "$p refused");
    unlike($log, qr/sandbox: ESCAPE \Q$p\E /, "$p did not escape");
}

like($log, qr/refused require_ffi: .*module \\x22ffi\\x22 not found/,
     'require "ffi": not in the folder');
like($log, qr/refused require_symlink: .*outside lua_package_path/,
     'a symbolic link out of the folder');
like($log, qr/refused string_rep_bomb: not enough memory/,
     'string bomb: the memory cap');
like($log, qr/refused tern_write: .*read-only/, 'tern is read-only');
ok(-e "$dir/secret.txt", 'the file is still there');

like(login('check@example.com'), qr/^\+OK/, 'next session');
ok($t->wait_for_log(qr/sandbox: shared tables intact/),
   'string metatable and tern unchanged for the next session');
unlike($t->read_file('logs/error.log'), qr/TAMPERED/, 'not tampered');

# calls that are stopped; the name given is used then

like(login('yield@example.com'), qr/^\+OK/, 'coroutine.yield: login goes on');
ok($t->wait_for_log(qr/stopped by coroutine.yield\(\) outside a coroutine/),
   'a yield of the phase itself stops the call');

like(login('cosleep@example.com'), qr/^\+OK/, 'tern.sleep in a coroutine');
ok($t->wait_for_log(qr/sandbox: coroutine sleep false .*works only in a phase function/),
   'is an error the script sees');

like(login('sort@example.com'), qr/^\+OK/, 'loop in a sort comparator');
like(login('xpcall@example.com'), qr/^\+OK/, 'loop in an xpcall handler');
ok(wait_count(qr/phase failed: stopped by lua_(timeout|max_instructions)/, 2),
   'both stopped by the budget');

like(login('sortsleep@example.com'), qr/^\+OK/, 'tern.sleep in a comparator');
ok($t->wait_for_log(qr/sandbox: sort sleep false .*cannot wait inside a function called from C/),
   'is an error the script sees, and it goes on');

like(login('pingpong@example.com'), qr/^\+OK/, 'coroutine ping-pong');
ok(wait_count(qr/phase failed: stopped by lua_(timeout|max_instructions)/, 3),
   'stopped by the budget');

like(login('bindings@example.com'), qr/^\+OK/, 'hostile binding arguments');
ok($t->wait_for_log(qr/sandbox: bindings done, bad=0/),
   'each an error or nil');
ok($t->wait_for_log(qr/sandbox: values tablefunctionnil9.22\d*e\+18-?0\\x01\\x02\\xFF/),
   'odd values logged by type');

like(login('bigerr@example.com'), qr/^\+OK/, 'a huge error message');
$log = $t->read_file('logs/error.log');
unlike($log, qr/^injected/m, 'no line injected into the log');
unlike($log, qr/\[alert\]/, 'no alert');

is(($t->workers())[0], $worker, 'the same worker all along');

$t->stop();

###############################################################################

sub login {
    my ($user) = @_;
    my $c = Tern::Test::POP3->new(PeerAddr => '127.0.0.1:' . port(8110));
    $c->read();
    $c->send("USER $user");
    $c->read();
    $c->send("PASS $PW");
    my $r = $c->read(10) // '';
    $c->send('QUIT');
    $c->read();
    return $r;
}

sub wait_count {
    my ($re, $n) = @_;
    for (1 .. 200) {
        my @m = $t->read_file('logs/error.log') =~ /$re/g;
        return 1 if @m >= $n;
        select undef, undef, undef, 0.05;
    }
    return 0;
}

###############################################################################
