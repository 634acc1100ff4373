
/*
 * Copyright (C) The Tern developers
 */


/*
 * The tern table: tern.log, tern.status, tern.sleep, tern.dns.a/mx/txt.
 * It and tern.dns are read-only proxies shared by every script (writes
 * raise an error, getmetatable() gives false).  tern.sleep and tern.dns.*
 * yield the phase coroutine to the event loop; they are refused in a
 * script's own coroutine and outside a phase call (the top level of a
 * script), where nothing would resume them.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_lua.h>


typedef struct {
    tn_str_t            db_path;
    time_t              time;
    char                level[8];
    char                message[TN_LUA_LOG_MAX + 1];
    char                source[256];
} tn_lua_status_task_t;


static int tn_lua_api_log(lua_State *L);
static int tn_lua_api_status(lua_State *L);
static int tn_lua_api_sleep(lua_State *L);
static int tn_lua_api_dns_a(lua_State *L);
static int tn_lua_api_dns_mx(lua_State *L);
static int tn_lua_api_dns_txt(lua_State *L);
static int tn_lua_api_dns(lua_State *L, tn_uint_t type);
static void tn_lua_api_dns_handler(tn_resolver_ctx_t *ctx);
static void tn_lua_api_sleep_handler(tn_event_t *ev);
static size_t tn_lua_api_text(lua_State *L, int first, u_char *buf,
    size_t len);
static void tn_lua_api_readonly(lua_State *L);
static int tn_lua_api_newindex(lua_State *L);
static void tn_lua_status_handler(void *data, tn_log_t *log);
static void tn_lua_status_done(tn_event_t *ev);


static const luaL_Reg  tn_lua_api_funcs[] = {
    { "log", tn_lua_api_log },
    { "status", tn_lua_api_status },
    { "sleep", tn_lua_api_sleep },
    { "send_message", tn_lua_send_message },
    { NULL, NULL }
};

static const luaL_Reg  tn_lua_api_dns_funcs[] = {
    { "a", tn_lua_api_dns_a },
    { "mx", tn_lua_api_dns_mx },
    { "txt", tn_lua_api_dns_txt },
    { NULL, NULL }
};


static const struct {
    const char         *name;
    tn_uint_t           level;
} tn_lua_api_levels[] = {
    { "error", TN_LOG_ERR },
    { "warn", TN_LOG_WARN },
    { "notice", TN_LOG_NOTICE },
    { "info", TN_LOG_INFO },
    { "debug", TN_LOG_DEBUG },
    { NULL, 0 }
};


static int  tn_lua_api_ref = LUA_NOREF;


void
tn_lua_api_push(lua_State *L)
{
    const luaL_Reg  *r;

    if (tn_lua_api_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, tn_lua_api_ref);
        return;
    }

    lua_newtable(L);

    for (r = tn_lua_api_funcs; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }

    lua_newtable(L);

    for (r = tn_lua_api_dns_funcs; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }

    tn_lua_api_readonly(L);
    lua_setfield(L, -2, "dns");

    tn_lua_api_readonly(L);

    lua_pushvalue(L, -1);
    tn_lua_api_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}


/* replaces the table on top with an empty read-only proxy of it */

static void
tn_lua_api_readonly(lua_State *L)
{
    lua_newtable(L);                 /* the proxy */
    lua_newtable(L);                 /* its metatable */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, tn_lua_api_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}


static int
tn_lua_api_newindex(lua_State *L)
{
    return luaL_error(L, "the tern table is read-only");
}


/* "file:line" of the Lua function that called the API */

const char *
tn_lua_where(lua_State *L, u_char *buf, size_t len)
{
    u_char     *p;
    lua_Debug   ar;

    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)
        && ar.currentline > 0)
    {
        p = tn_snprintf(buf, len - 1, "%s:%d", ar.short_src,
                        ar.currentline);

    } else {
        p = tn_cpymem(buf, "?", 1);
    }

    *p = '\0';

    return (const char *) buf;
}


/* the call of the phase coroutine L, or a Lua error */

tn_lua_call_t *
tn_lua_api_call(lua_State *L, const char *name)
{
    tn_lua_call_t  *call;

    call = tn_lua_call_of(L);

    if (call == NULL) {
        luaL_error(L, "%s() works only in a phase function, not in a "
                   "coroutine of the script or at its top level", name);
    }

    /* checked before any timer or query is armed for the wait */

    if (!lua_isyieldable(L)) {
        luaL_error(L, "%s() cannot wait inside a function called from C "
                   "(a table.sort() comparator, a metamethod, a gsub() "
                   "callback)", name);
    }

    return call;
}


/* the log context: the session of the current call, or the cycle's */

static tn_log_t *
tn_lua_api_log_of(lua_State *L)
{
    tn_lua_call_t  *call;

    call = tn_lua_vm->current;

    if (call && call->log) {
        return call->log;
    }

    return tn_lua_vm->cycle->log;
}


/* the values from first on, as text, escaped for the log */

static size_t
tn_lua_api_text(lua_State *L, int first, u_char *buf, size_t len)
{
    int          i, n;
    size_t       l;
    u_char      *p, *last;
    const char  *s;

    p = buf;
    last = buf + len;
    n = lua_gettop(L);

    for (i = first; i <= n; i++) {
        switch (lua_type(L, i)) {

        case LUA_TSTRING:
        case LUA_TNUMBER:
            s = lua_tolstring(L, i, &l);
            break;

        case LUA_TBOOLEAN:
            s = lua_toboolean(L, i) ? "true" : "false";
            l = tn_strlen(s);
            break;

        case LUA_TNIL:
            s = "nil";
            l = 3;
            break;

        default:
            s = lua_typename(L, lua_type(L, i));
            l = tn_strlen(s);
            break;
        }

        l = tn_min(l, (size_t) (last - p) / 4);
        p = tn_escape_log(p, (u_char *) s, l);
    }

    return p - buf;
}


static tn_uint_t
tn_lua_api_level(lua_State *L, int arg, const char *def)
{
    tn_uint_t    i;
    const char  *name;

    name = def ? luaL_optstring(L, arg, def) : luaL_checkstring(L, arg);

    for (i = 0; tn_lua_api_levels[i].name; i++) {
        if (tn_strcmp(name, tn_lua_api_levels[i].name) == 0) {
            return i;
        }
    }

    return luaL_argerror(L, arg, "level must be \"error\", \"warn\", "
                         "\"notice\", \"info\" or \"debug\"");
}


/* tern.log(level, ...): the values joined, in the session's context */

static int
tn_lua_api_log(lua_State *L)
{
    size_t      n;
    tn_uint_t   i;
    u_char      where[256], buf[4 * TN_LUA_LOG_MAX];

    i = tn_lua_api_level(L, 1, NULL);
    n = tn_lua_api_text(L, 2, buf, sizeof(buf));

    tn_log_error(tn_lua_api_levels[i].level, tn_lua_api_log_of(L), 0,
                 "lua: %s: %*s", tn_lua_where(L, where, sizeof(where)),
                 n, buf);

    return 0;
}


/*
 * tern.status(message[, level]): logged now, and a row of the status
 * table of tern.db, written by the thread pool.  Returns true, or false
 * when the row was not queued (too many waiting: it is still logged).
 */

static int
tn_lua_api_status(lua_State *L)
{
    size_t                 n;
    tn_uint_t              i;
    tn_lua_vm_t           *vm;
    const char            *msg;
    tn_store_conf_t       *scf;
    tn_thread_task_t      *task;
    tn_lua_status_task_t  *t;
    u_char                 where[256], buf[4 * TN_LUA_LOG_MAX];

    vm = tn_lua_vm;

    msg = luaL_checklstring(L, 1, &n);
    i = tn_lua_api_level(L, 2, "info");

    tn_lua_where(L, where, sizeof(where));

    lua_settop(L, 1);
    n = tn_lua_api_text(L, 1, buf, sizeof(buf));

    tn_log_error(tn_lua_api_levels[i].level, tn_lua_api_log_of(L), 0,
                 "lua: status (%s) from %s: %*s", tn_lua_api_levels[i].name,
                 where, n, buf);

    scf = tn_store_get_conf(vm->cycle);

    if (scf == NULL || vm->status_queued >= TN_LUA_STATUS_QUEUE_MAX) {
        lua_pushboolean(L, 0);
        return 1;
    }

    task = tn_thread_task_alloc(sizeof(tn_lua_status_task_t),
                                vm->cycle->log);
    if (task == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }

    t = task->ctx;
    t->db_path = scf->db_path;
    t->time = tn_time();
    tn_cpystrn((u_char *) t->level, (u_char *) tn_lua_api_levels[i].name,
               sizeof(t->level));

    msg = lua_tolstring(L, 1, &n);
    n = tn_min(n, (size_t) TN_LUA_LOG_MAX);
    tn_memcpy(t->message, msg, n);
    t->message[n] = '\0';

    tn_snprintf((u_char *) t->source, sizeof(t->source) - 1, "lua %V %s%Z",
                &tn_lua_phase_names[vm->current ? vm->current->phase : 0],
                where);

    task->handler = tn_lua_status_handler;
    task->event.handler = tn_lua_status_done;
    task->event.data = task;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_thread_task_free(task);
        lua_pushboolean(L, 0);
        return 1;
    }

    vm->status_queued++;

    lua_pushboolean(L, 1);
    return 1;
}


/* a pool thread */

static void
tn_lua_status_handler(void *data, tn_log_t *log)
{
    int                    rc, src;
    sqlite3_stmt          *stmt;
    tn_store_db_t         *db;
    tn_lua_status_task_t  *t = data;

    db = tn_store_db_get((char *) t->db_path.data, TN_STORE_DB_ACCOUNTS, 0,
                         &src, log);
    if (db == NULL) {
        return;
    }

    rc = tn_store_db_exec(db, "CREATE TABLE IF NOT EXISTS status ("
                          "id INTEGER PRIMARY KEY, time INTEGER NOT NULL, "
                          "level TEXT NOT NULL, message TEXT NOT NULL, "
                          "source TEXT NOT NULL)", log);
    if (rc != SQLITE_OK) {
        return;
    }

    stmt = tn_store_db_stmt(db, "INSERT INTO status (time, level, message, "
                            "source) VALUES (?1, ?2, ?3, ?4)", log);
    if (stmt == NULL) {
        return;
    }

    sqlite3_bind_int64(stmt, 1, t->time);
    sqlite3_bind_text(stmt, 2, t->level, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, t->message, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, t->source, -1, SQLITE_STATIC);

    rc = sqlite3_step(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "status row insert");
    }

    sqlite3_reset(stmt);
}


static void
tn_lua_status_done(tn_event_t *ev)
{
    tn_thread_task_t  *task = ev->data;

    if (tn_lua_vm) {
        tn_lua_vm->status_queued--;
    }

    tn_thread_task_free(task);
}


/* tern.sleep(seconds): a timer, then the script goes on */

static int
tn_lua_api_sleep(lua_State *L)
{
    double          secs;
    tn_msec_t       ms;
    tn_lua_call_t  *call;

    secs = luaL_checknumber(L, 1);
    call = tn_lua_api_call(L, "tern.sleep");

    if (!(secs >= 0)) {
        return luaL_argerror(L, 1, "a number of seconds, 0 or more");
    }

    /* the deadline comes first anyway */
    ms = (secs * 1000 < (double) tn_lua_vm->conf->wait_timeout)
         ? (tn_msec_t) (secs * 1000) : tn_lua_vm->conf->wait_timeout;

    call->waiting = 1;
    call->sleep.handler = tn_lua_api_sleep_handler;
    tn_event_add_timer(&call->sleep, ms);

    return lua_yield(L, 0);
}


static void
tn_lua_api_sleep_handler(tn_event_t *ev)
{
    tn_lua_call_t  *call = ev->data;

    ev->timedout = 0;

    tn_lua_call_wakeup(call, 0);
}


static int
tn_lua_api_dns_a(lua_State *L)
{
    return tn_lua_api_dns(L, TN_RESOLVE_A);
}


static int
tn_lua_api_dns_mx(lua_State *L)
{
    return tn_lua_api_dns(L, TN_RESOLVE_MX);
}


static int
tn_lua_api_dns_txt(lua_State *L)
{
    return tn_lua_api_dns(L, TN_RESOLVE_TXT);
}


/*
 * tern.dns.*(name): a table of answers, or nil and an error.  The name
 * stays on the coroutine's stack while it waits, so ctx->name may point
 * into it.
 */

static int
tn_lua_api_dns(lua_State *L, tn_uint_t type)
{
    size_t              len;
    const char         *name;
    tn_resolver_t      *r;
    tn_lua_call_t      *call;
    tn_resolver_ctx_t  *ctx;

    name = luaL_checklstring(L, 1, &len);
    call = tn_lua_api_call(L, "tern.dns");

    lua_settop(L, 1);

    if (len == 0 || len > 253 || tn_strlen(name) != len) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid name");
        return 2;
    }

    r = tn_resolver_get(tn_lua_vm->cycle);
    if (r == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "no resolver is configured");
        return 2;
    }

    ctx = tn_resolve_start(r);
    if (ctx == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "resolver failure");
        return 2;
    }

    ctx->name.data = (u_char *) name;
    ctx->name.len = len;
    ctx->type = type;
    ctx->handler = tn_lua_api_dns_handler;
    ctx->data = call;

    if (tn_resolve_name(ctx) != TN_OK) {
        lua_pushnil(L);
        lua_pushstring(L, tn_resolver_strerror(ctx->state));
        tn_resolve_done(ctx);
        return 2;
    }

    call->dns = ctx;
    call->waiting = 1;

    return lua_yield(L, 0);
}


/* the answer: pushed onto the suspended coroutine as yield's results */

static void
tn_lua_api_dns_handler(tn_resolver_ctx_t *ctx)
{
    size_t          len;
    tn_uint_t       i;
    lua_State      *co;
    tn_lua_call_t  *call;
    u_char          text[TN_SOCKADDR_STRLEN];

    call = ctx->data;
    call->dns = NULL;
    co = call->co;

    /* no cap here: the host's allocations never fail a call */
    lua_checkstack(co, 4);

    if (ctx->state != TN_OK) {
        lua_pushnil(co);
        lua_pushstring(co, tn_resolver_strerror(ctx->state));
        tn_resolve_done(ctx);
        tn_lua_call_wakeup(call, 2);
        return;
    }

    lua_newtable(co);

    switch (ctx->type) {

    case TN_RESOLVE_A:
        for (i = 0; i < ctx->naddrs; i++) {
            len = tn_sock_ntop(ctx->addrs[i].sockaddr, ctx->addrs[i].socklen,
                               text, sizeof(text), 0);
            lua_pushlstring(co, (char *) text, len);
            lua_rawseti(co, -2, i + 1);
        }

        break;

    case TN_RESOLVE_MX:
        for (i = 0; i < ctx->nmx; i++) {
            lua_createtable(co, 0, 2);
            lua_pushinteger(co, ctx->mx[i].preference);
            lua_setfield(co, -2, "preference");
            lua_pushlstring(co, (char *) ctx->mx[i].host.data,
                            ctx->mx[i].host.len);
            lua_setfield(co, -2, "host");
            lua_rawseti(co, -2, i + 1);
        }

        break;

    default: /* TN_RESOLVE_TXT */
        for (i = 0; i < ctx->ntxt; i++) {
            lua_pushlstring(co, (char *) ctx->txt[i].data, ctx->txt[i].len);
            lua_rawseti(co, -2, i + 1);
        }

        break;
    }

    tn_resolve_done(ctx);
    tn_lua_call_wakeup(call, 1);
}
