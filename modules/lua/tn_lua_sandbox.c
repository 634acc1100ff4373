
/*
 * Copyright (C) The Tern developers
 */


/*
 * The sandbox (SECURITY-CHECKLIST 3.12).  Each script gets a new table
 * as its environment, built from an allowlist: a few base functions,
 * copies of string (without dump), table, math and coroutine (resume
 * and running wrapped), os.time/date/clock, a require() limited to
 * lua_package_path, and the read-only tern table.  Nothing else of the
 * VM is reachable: no io, os.execute, package, debug, ffi, jit, load*,
 * dofile, getfenv/setfenv, rawget/rawset, collectgarbage, newproxy.
 * The string metatable, the one table all scripts share, is sealed
 * (__metatable = false).  Chunks are only ever loaded as text (mode
 * "t"): LuaJIT does not verify bytecode.  Memory is capped per VM by
 * the allocator (lua_memory_limit) while a script runs.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_lua.h>


#define TN_LUA_REQUIRE_NAME_MAX  128


static int tn_lua_require(lua_State *L);
static int tn_lua_is_phase(lua_State *L);
static void tn_lua_copy_lib(lua_State *L, const char *lib,
    const char *const *names);


static const char *const  tn_lua_base_names[] = {
    "assert", "error", "ipairs", "next", "pairs", "pcall", "select",
    "tonumber", "tostring", "type", "unpack", "xpcall", "getmetatable",
    "setmetatable", "rawequal", NULL
};

static const char *const  tn_lua_string_names[] = {
    "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
    "match", "rep", "reverse", "sub", "upper", NULL
};

static const char *const  tn_lua_table_names[] = {
    "concat", "insert", "maxn", "remove", "sort", NULL
};

static const char *const  tn_lua_math_names[] = {
    "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "deg",
    "exp", "floor", "fmod", "frexp", "huge", "ldexp", "log", "log10",
    "max", "min", "modf", "pi", "pow", "rad", "random", "sin", "sinh",
    "sqrt", "tan", "tanh", NULL
};

static const char *const  tn_lua_os_names[] = {
    "time", "date", "clock", NULL
};

static const char *const  tn_lua_co_names[] = {
    "create", "status", "wrap", "yield", NULL
};


/*
 * resume() refuses a phase coroutine (another session's, or the
 * script's own): only the event loop resumes those.  running() does not
 * give one out.  In Lua, so that a yield inside the resumed coroutine
 * never meets a C boundary.
 */
static const char  tn_lua_co_wrap[] =
    "local resume, running, is_phase = ...\n"
    "return function(co, ...)\n"
    "    if is_phase(co) then\n"
    "        return false, 'cannot resume a phase coroutine'\n"
    "    end\n"
    "    return resume(co, ...)\n"
    "end, function()\n"
    "    local co = running()\n"
    "    if co == nil or is_phase(co) then return nil end\n"
    "    return co\n"
    "end\n";


/*
 * The VM's allocator.  The cap holds while a script runs (a phase call
 * or a script's top level): the host's own allocations between runs are
 * not refused, so that no allocation error is ever raised outside a
 * protected call (that would end the process).
 */

void *
tn_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    void         *p;
    tn_lua_vm_t  *vm = ud;

    if (nsize == 0) {
        if (ptr) {
            free(ptr);
            vm->used -= osize;
        }

        return NULL;
    }

    if (ptr == NULL) {
        osize = 0;
    }

    if (nsize > osize
        && vm->current != NULL
        && vm->used + (nsize - osize) > vm->conf->memory_limit)
    {
        return NULL;
    }

    p = realloc(ptr, nsize);

    if (p != NULL) {
        vm->used = vm->used - osize + nsize;
    }

    return p;
}


/* text only: mode "t" refuses a chunk that starts with ESC (bytecode) */

int
tn_lua_load_file(lua_State *L, const char *file)
{
    return luaL_loadfilex(L, file, "t");
}


void
tn_lua_sandbox_seal(lua_State *L)
{
    /* ("").dump would reach it through the metatable's __index */

    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);

    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
}


/* pushes a new environment table */

tn_int_t
tn_lua_sandbox_env(lua_State *L, tn_lua_main_conf_t *lmcf)
{
    int                 env;
    const char *const  *n;

    lua_newtable(L);
    env = lua_gettop(L);

    for (n = tn_lua_base_names; *n; n++) {
        lua_getglobal(L, *n);
        lua_setfield(L, env, *n);
    }

    lua_pushliteral(L, LUA_VERSION);
    lua_setfield(L, env, "_VERSION");

    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");

    tn_lua_copy_lib(L, "string", tn_lua_string_names);
    lua_setfield(L, env, "string");
    tn_lua_copy_lib(L, "table", tn_lua_table_names);
    lua_setfield(L, env, "table");
    tn_lua_copy_lib(L, "math", tn_lua_math_names);
    lua_setfield(L, env, "math");
    tn_lua_copy_lib(L, "os", tn_lua_os_names);
    lua_setfield(L, env, "os");

    tn_lua_copy_lib(L, "coroutine", tn_lua_co_names);

    if (luaL_loadbuffer(L, tn_lua_co_wrap, sizeof(tn_lua_co_wrap) - 1,
                        "=coroutine")
        != 0)
    {
        return TN_ERROR;
    }

    lua_getglobal(L, "coroutine");
    lua_getfield(L, -1, "resume");
    lua_getfield(L, -2, "running");
    lua_remove(L, -3);
    lua_pushcfunction(L, tn_lua_is_phase);
    lua_call(L, 3, 2);
    lua_setfield(L, -3, "running");
    lua_setfield(L, -2, "resume");
    lua_setfield(L, env, "coroutine");

    tn_lua_api_push(L);
    lua_setfield(L, env, "tern");

    /* require(name): upvalues the environment, its loaded table, dir */

    lua_pushvalue(L, env);
    lua_newtable(L);
    lua_pushlstring(L, (char *) lmcf->package_path.data,
                    lmcf->package_path.len);
    lua_pushcclosure(L, tn_lua_require, 3);
    lua_setfield(L, env, "require");

    return TN_OK;
}


static void
tn_lua_copy_lib(lua_State *L, const char *lib, const char *const *names)
{
    lua_newtable(L);
    lua_getglobal(L, lib);

    for ( /* void */ ; *names; names++) {
        lua_getfield(L, -1, *names);
        lua_setfield(L, -3, *names);
    }

    lua_pop(L, 1);
}


static int
tn_lua_is_phase(lua_State *L)
{
    lua_pushboolean(L, lua_type(L, 1) == LUA_TTHREAD
                       && tn_lua_call_of(lua_tothread(L, 1)) != NULL);
    return 1;
}


/*
 * require(name): NAME[.NAME]* of letters, digits and "_", found as
 * lua_package_path/NAME/NAME.lua (its real path must stay inside the
 * folder: no symbolic link out), loaded as text into the requiring
 * script's environment, run once; its result is kept per script.
 */

static int
tn_lua_require(lua_State *L)
{
    size_t       len, i;
    const char  *name, *dir;
    char         path[PATH_MAX], real[PATH_MAX], rdir[PATH_MAX];

    name = luaL_checklstring(L, 1, &len);
    dir = lua_tostring(L, lua_upvalueindex(3));

    lua_settop(L, 1);

    lua_pushvalue(L, 1);
    lua_rawget(L, lua_upvalueindex(2));
    if (!lua_isnil(L, -1)) {
        return 1;
    }

    lua_pop(L, 1);

    if (dir[0] == '\0') {
        return luaL_error(L, "module \"%s\" not found: require() needs "
                          "lua_package_path", name);
    }

    if (len == 0 || len > TN_LUA_REQUIRE_NAME_MAX || name[0] == '.'
        || name[len - 1] == '.')
    {
        return luaL_error(L, "invalid module name");
    }

    for (i = 0; i < len; i++) {
        if (!(isalnum((u_char) name[i]) || name[i] == '_'
              || (name[i] == '.' && name[i + 1] != '.')))
        {
            return luaL_error(L, "invalid module name");
        }
    }

    len = snprintf(path, sizeof(path), "%s/", dir);

    for (i = 0; name[i] && len < sizeof(path) - 5; i++, len++) {
        path[len] = (name[i] == '.') ? '/' : name[i];
    }

    tn_cpystrn((u_char *) path + len, (u_char *) ".lua", sizeof(path) - len);

    if (realpath(dir, rdir) == NULL || realpath(path, real) == NULL) {
        return luaL_error(L, "module \"%s\" not found in lua_package_path",
                          name);
    }

    len = tn_strlen(rdir);

    if (tn_strncmp(real, rdir, len) != 0 || real[len] != '/') {
        return luaL_error(L, "module \"%s\" is outside lua_package_path",
                          name);
    }

    if (tn_lua_load_file(L, real) != 0) {
        return lua_error(L);
    }

    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setfenv(L, -2);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);

    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }

    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, lua_upvalueindex(2));

    return 1;
}
