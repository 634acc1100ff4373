
/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of modules/lua/tn_lua_sandbox.c: the environment of a script
 * is an allowlist (each allowed name there, each dangerous one absent),
 * the shared tables are sealed, chunks load as text only, the allocator
 * caps a VM only while a script runs, and require() refuses names and
 * paths that leave lua_package_path.  Linked with libtern.a.
 */


#include <tn_config.h>
#include <tn_core.h>


#ifndef TN_MODULE_LUA

int
main(void)
{
    printf("1..0 # SKIP the lua module is not built\n");
    return 0;
}

#else

#include <tn_lua.h>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;


static void tn_test_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - ", cond ? "" : "not ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* an expression evaluated in the environment on top of L: its type */

static const char *
tn_test_type(lua_State *L, const char *expr)
{
    char         code[256];
    const char  *type;

    snprintf(code, sizeof(code), "return type(%s)", expr);

    if (luaL_loadstring(L, code) != 0) {
        return "syntax";
    }

    lua_pushvalue(L, -2);
    lua_setfenv(L, -2);

    if (lua_pcall(L, 0, 1, 0) != 0) {
        lua_pop(L, 1);
        return "error";
    }

    type = lua_tostring(L, -1);
    lua_pop(L, 1);

    return type;
}


/* runs code in the environment: 1 when it raises an error */

static int
tn_test_fails(lua_State *L, const char *code, const char *want)
{
    int          failed;
    const char  *msg;

    if (luaL_loadstring(L, code) != 0) {
        lua_pop(L, 1);
        return 0;
    }

    lua_pushvalue(L, -2);
    lua_setfenv(L, -2);

    failed = lua_pcall(L, 0, 0, 0) != 0;

    if (failed) {
        msg = lua_tostring(L, -1);

        if (want && (msg == NULL || strstr(msg, want) == NULL)) {
            printf("# %s: \"%s\"\n", code, msg ? msg : "(not a string)");
            failed = 0;
        }

        lua_pop(L, 1);
    }

    return failed;
}


static const struct {
    const char  *expr;
    const char  *type;
} tn_test_env[] = {
    { "assert", "function" }, { "error", "function" },
    { "ipairs", "function" }, { "next", "function" },
    { "pairs", "function" }, { "pcall", "function" },
    { "select", "function" }, { "tonumber", "function" },
    { "tostring", "function" }, { "type", "function" },
    { "unpack", "function" }, { "xpcall", "function" },
    { "setmetatable", "function" }, { "require", "function" },
    { "string.format", "function" }, { "table.concat", "function" },
    { "math.floor", "function" }, { "os.time", "function" },
    { "os.date", "function" }, { "os.clock", "function" },
    { "coroutine.resume", "function" }, { "tern.log", "function" },
    { "tern.dns.txt", "function" }, { "_G", "table" },

    { "io", "nil" }, { "os.execute", "nil" }, { "os.getenv", "nil" },
    { "os.exit", "nil" }, { "os.remove", "nil" }, { "os.rename", "nil" },
    { "os.tmpname", "nil" }, { "package", "nil" }, { "debug", "nil" },
    { "ffi", "nil" }, { "jit", "nil" }, { "load", "nil" },
    { "loadstring", "nil" }, { "loadfile", "nil" }, { "dofile", "nil" },
    { "getfenv", "nil" }, { "setfenv", "nil" }, { "rawget", "nil" },
    { "rawset", "nil" }, { "collectgarbage", "nil" },
    { "newproxy", "nil" }, { "print", "nil" }, { "module", "nil" },
    { "gcinfo", "nil" }, { "string.dump", "nil" }, { "(\"\").dump", "nil" },
    { "getmetatable(\"\")", "boolean" }, { "getmetatable(tern)", "boolean" },
    { NULL, NULL }
};


int
main(void)
{
    int                  i, fd;
    lua_State           *L;
    tn_lua_vm_t          vm;
    tn_lua_call_t        call;
    tn_lua_main_conf_t   conf;
    size_t               used;
    char                 dir[] = "/tmp/tn-test-lua-XXXXXX", path[512];
    const char          *type;

    tn_memzero(&vm, sizeof(tn_lua_vm_t));
    tn_memzero(&conf, sizeof(tn_lua_main_conf_t));
    tn_memzero(&call, sizeof(tn_lua_call_t));

    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    conf.memory_limit = 4 * 1024 * 1024;
    conf.package_path.data = (u_char *) dir;
    conf.package_path.len = strlen(dir);
    vm.conf = &conf;

    L = lua_newstate(tn_lua_alloc, &vm);
    if (L == NULL) {
        printf("Bail out! lua_newstate() failed\n");
        return 1;
    }

    luaL_openlibs(L);
    tn_lua_sandbox_seal(L);

    if (tn_lua_sandbox_env(L, &conf) != TN_OK) {
        printf("Bail out! tn_lua_sandbox_env() failed\n");
        return 1;
    }

    /* the allowlist */

    for (i = 0; tn_test_env[i].expr; i++) {
        type = tn_test_type(L, tn_test_env[i].expr);
        tn_test_ok(strcmp(type, tn_test_env[i].type) == 0,
                   "%s is a %s (%s)", tn_test_env[i].expr,
                   tn_test_env[i].type, type);
    }

    /* sealed shared tables */

    tn_test_ok(tn_test_fails(L, "tern.log = nil", "read-only"),
               "tern is read-only");
    tn_test_ok(tn_test_fails(L, "tern.dns.a = nil", "read-only"),
               "tern.dns is read-only");
    tn_test_ok(tn_test_fails(L, "setmetatable(tern, {})", "protected"),
               "tern's metatable is protected");
    tn_test_ok(tn_test_fails(L, "getmetatable('').__index.upper = nil",
                             NULL),
               "the string metatable is out of reach");
    tn_test_ok(!tn_test_fails(L, "string.upper = nil", NULL)
               && strcmp(tn_test_type(L, "('x').upper"), "function") == 0,
               "a script's own string copy does not touch the methods");

    /* text only */

    snprintf(path, sizeof(path), "%s/bc.lua", dir);
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0600);
    (void) write(fd, "\033LJ\002\000\000", 6);
    close(fd);

    tn_test_ok(tn_lua_load_file(L, path) != 0, "a bytecode file is refused");
    tn_test_ok(strstr(lua_tostring(L, -1), "mode") != NULL,
               "by its mode (%s)", lua_tostring(L, -1));
    lua_pop(L, 1);

    snprintf(path, sizeof(path), "%s/mod.lua", dir);
    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0600);
    (void) write(fd, "return { v = 7, io = io }\n", 26);
    close(fd);

    tn_test_ok(tn_lua_load_file(L, path) == 0, "a text file loads");
    lua_pop(L, 1);

    /* require */

    tn_test_ok(!tn_test_fails(L, "assert(require('mod').v == 7)", NULL),
               "require of a module in the folder");
    tn_test_ok(!tn_test_fails(L, "assert(require('mod').io == nil)", NULL),
               "which runs in the sandbox");
    tn_test_ok(tn_test_fails(L, "require('../x')", "invalid module name"),
               "require('../x')");
    tn_test_ok(tn_test_fails(L, "require('a..b')", "invalid module name"),
               "require('a..b')");
    tn_test_ok(tn_test_fails(L, "require('.a')", "invalid module name"),
               "require('.a')");
    tn_test_ok(tn_test_fails(L, "require('a/b')", "invalid module name"),
               "require('a/b')");
    tn_test_ok(tn_test_fails(L, "require('ffi')", "not found"),
               "require('ffi')");

    snprintf(path, sizeof(path), "%s/link.lua", dir);
    (void) symlink("/etc/passwd", path);
    tn_test_ok(tn_test_fails(L, "require('link')", "outside"),
               "require of a link out of the folder");

    /* the allocator: capped only while a script runs */

    lua_gc(L, LUA_GCCOLLECT, 0);
    vm.current = &call;

    tn_test_ok(tn_test_fails(L, "local s = ('y'):rep(8 * 1024 * 1024)",
                             "not enough memory"),
               "a string over the cap fails while a script runs");

    used = vm.used;
    tn_test_ok(used <= conf.memory_limit, "the VM stays under the cap "
               "(%zu bytes)", used);

    vm.current = NULL;

    tn_test_ok(!tn_test_fails(L, "local s = ('z'):rep(8 * 1024 * 1024)",
                              NULL),
               "no cap outside a script run");

    used = vm.used;
    tn_test_ok(used > conf.memory_limit, "the host went past it (%zu "
               "bytes)", used);

    vm.current = NULL;
    lua_close(L);

    tn_test_ok(vm.used == 0, "every byte freed at close (%zu)", vm.used);

    unlink(path);
    snprintf(path, sizeof(path), "%s/mod.lua", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/bc.lua", dir);
    unlink(path);
    rmdir(dir);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}

#endif /* TN_MODULE_LUA */
