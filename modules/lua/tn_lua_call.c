
/*
 * Copyright (C) The Tern developers
 */


/*
 * Phase calls.  A call is a coroutine of the worker's VM running the
 * phase's function; it is started and resumed from posted events and
 * timers, never from inside the caller, so the caller's done handler
 * always runs from the event loop.
 *
 * The budget: the count hook fires every TN_LUA_HOOK_COUNT instructions
 * (the JIT is off, so compiled code never skips it) and checks the
 * instructions and the running time (a monotonic clock, summed over the
 * resumes) of the current call.  When either is spent, the call is
 * killed: the hook then fires at every instruction and yields out of
 * the coroutine, which no pcall() can catch; where a yield cannot cross
 * a C function (a table.sort() comparator), the attempt raises an error
 * instead, and the next instruction in Lua yields.  The call's whole
 * life, waits included, is bounded by lua_wait_timeout (a timer).  A
 * long C function (a pattern match over a huge string) is not
 * interrupted by a hook; the memory cap bounds the strings it can get.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_lua.h>


static void tn_lua_call_resume_handler(tn_event_t *ev);
static void tn_lua_call_deadline_handler(tn_event_t *ev);
static void tn_lua_call_run(tn_lua_call_t *call);
static void tn_lua_call_fail(tn_lua_call_t *call, const char *what);
static void tn_lua_call_finish(tn_lua_call_t *call, tn_int_t rc, int nret);
static void tn_lua_call_release(tn_lua_call_t *call);
static void tn_lua_call_register(tn_lua_call_t *call, tn_uint_t on);


uint64_t
tn_lua_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


void
tn_lua_hook(lua_State *L, lua_Debug *ar)
{
    uint64_t        ns;
    tn_lua_vm_t    *vm;
    tn_lua_call_t  *call;

    vm = tn_lua_vm;
    call = vm ? vm->current : NULL;

    if (call == NULL) {
        return;
    }

    if (!call->killed) {
        call->instructions += TN_LUA_HOOK_COUNT;
        ns = tn_lua_now_ns() - call->resumed_ns + call->run_ns;

        if (call->instructions < vm->conf->max_instructions
            && ns < (uint64_t) vm->conf->timeout * 1000000)
        {
            return;
        }

        call->killed = 1;
        lua_sethook(L, tn_lua_hook, LUA_MASKCOUNT, 1);
    }

    /* a yield from a count hook: LuaJIT unwinds to lua_resume() */

    (void) lua_yield(L, 0);
}


tn_lua_call_t *
tn_lua_call_start(tn_uint_t phase, tn_log_t *log, tn_lua_args_pt args,
    void *data, tn_lua_done_pt done)
{
    lua_State      *L;
    tn_lua_vm_t    *vm;
    tn_lua_call_t  *call;

    vm = tn_lua_vm;

    if (!tn_lua_phase_enabled(phase)) {
        return NULL;
    }

    call = vm->free;

    if (call) {
        vm->free = call->next;

    } else {
        call = tn_alloc(sizeof(tn_lua_call_t), log);
        if (call == NULL) {
            return NULL;
        }
    }

    tn_memzero(call, sizeof(tn_lua_call_t));

    L = vm->L;

    /* the host's allocations are never capped: these cannot fail */

    call->co = lua_newthread(L);
    call->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    call->phase = phase;
    call->log = log;
    call->data = data;
    call->done = done;

    tn_lua_call_register(call, 1);

    lua_rawgeti(call->co, LUA_REGISTRYINDEX, vm->funcs[phase]);
    call->nargs = args(call->co, data);

    call->resume.handler = tn_lua_call_resume_handler;
    call->resume.data = call;
    call->resume.log = log;
    call->sleep.data = call;
    call->sleep.log = log;
    call->deadline.handler = tn_lua_call_deadline_handler;
    call->deadline.data = call;
    call->deadline.log = log;

    /* a waiting script never holds up a worker's graceful exit */
    call->sleep.cancelable = 1;
    call->deadline.cancelable = 1;

    tn_event_add_timer(&call->deadline, vm->conf->wait_timeout);
    tn_post_event(&call->resume, &tn_posted_events);

    return call;
}


/* the caller is gone (its session closed): drop the call at once */

void
tn_lua_call_cancel(tn_lua_call_t *call)
{
    call->data = NULL;
    tn_lua_call_release(call);
}


tn_lua_call_t *
tn_lua_call_of(lua_State *L)
{
    lua_State      *H;
    tn_lua_call_t  *call;

    if (tn_lua_vm == NULL) {
        return NULL;
    }

    H = tn_lua_vm->L;

    lua_rawgeti(H, LUA_REGISTRYINDEX, tn_lua_vm->phase_threads);
    lua_pushthread(L);
    lua_xmove(L, H, 1);
    lua_rawget(H, -2);
    call = lua_touserdata(H, -1);
    lua_pop(H, 2);

    return call;
}


void
tn_lua_call_wakeup(tn_lua_call_t *call, int nargs)
{
    call->waiting = 0;
    call->nargs = nargs;

    tn_post_event(&call->resume, &tn_posted_events);
}


static void
tn_lua_call_resume_handler(tn_event_t *ev)
{
    tn_lua_call_run(ev->data);
}


static void
tn_lua_call_deadline_handler(tn_event_t *ev)
{
    tn_lua_call_t  *call = ev->data;

    ev->timedout = 0;
    call->expired = 1;

    tn_lua_call_fail(call, "lua_wait_timeout");
}


static void
tn_lua_call_run(tn_lua_call_t *call)
{
    int           rc, nargs;
    tn_lua_vm_t  *vm;

    vm = tn_lua_vm;
    nargs = call->nargs;
    call->nargs = 0;

    vm->current = call;
    call->resumed_ns = tn_lua_now_ns();

    rc = lua_resume(call->co, nargs);

    call->run_ns += tn_lua_now_ns() - call->resumed_ns;
    vm->current = NULL;

    if (call->killed) {
        lua_sethook(vm->L, tn_lua_hook, LUA_MASKCOUNT, TN_LUA_HOOK_COUNT);
        tn_lua_call_fail(call, call->instructions
                               >= vm->conf->max_instructions
                               ? "lua_max_instructions"
                               : "lua_timeout");
        return;
    }

    switch (rc) {

    case 0:
        tn_lua_call_finish(call, TN_OK, lua_gettop(call->co));
        return;

    case LUA_YIELD:
        if (call->waiting) {
            return;
        }

        tn_lua_call_fail(call, "coroutine.yield() outside a coroutine "
                         "of the script");
        return;

    case LUA_ERRMEM:
        tn_lua_call_fail(call, "lua_memory_limit");
        lua_gc(vm->L, LUA_GCCOLLECT, 0);
        return;

    default:
        tn_lua_call_fail(call, NULL);
        return;
    }
}


/*
 * Logs why the call stopped with the script's traceback, then ends it
 * with TN_ERROR.  what: the limit that stopped it, or NULL for an error
 * (its message on top of the coroutine's stack).
 */

static void
tn_lua_call_fail(tn_lua_call_t *call, const char *what)
{
    size_t        len;
    lua_State    *L;
    const char   *msg;
    tn_lua_vm_t  *vm;
    u_char        buf[4 * 2048];

    vm = tn_lua_vm;
    L = vm->L;

    if (what == NULL) {
        msg = lua_tostring(call->co, -1);
        if (msg == NULL) {
            msg = "(an error object that is not a string)";
        }

        lua_pushstring(L, msg);

    } else {
        lua_pushfstring(L, "stopped by %s", what);
    }

    /* stopped, failed or suspended: its stack tells where it was */

    msg = lua_tostring(L, -1);
    luaL_traceback(L, call->co, msg, 0);

    /* one log line: "\n\t" of the traceback become "; " */

    (void) luaL_gsub(L, lua_tostring(L, -1), "\n\t", "; ");
    (void) luaL_gsub(L, lua_tostring(L, -1), "\n", " ");
    msg = lua_tolstring(L, -1, &len);

    len = tn_min(len, sizeof(buf) / 4);
    len = tn_escape_log(buf, (u_char *) msg, len) - buf;

    tn_log_error(TN_LOG_ERR, call->log, 0, "lua: %V phase failed: %*s",
                 &tn_lua_phase_names[call->phase], len, buf);

    lua_pop(L, 4);

    tn_lua_call_finish(call, TN_ERROR, 0);
}


static void
tn_lua_call_finish(tn_lua_call_t *call, tn_int_t rc, int nret)
{
    if (call->data) {
        call->done(call, rc, nret);
    }

    tn_lua_call_release(call);
}


static void
tn_lua_call_release(tn_lua_call_t *call)
{
    tn_lua_vm_t  *vm;

    vm = tn_lua_vm;

    if (call->resume.posted) {
        tn_delete_posted_event(&call->resume);
    }

    if (call->sleep.timer_set) {
        tn_event_del_timer(&call->sleep);
    }

    if (call->deadline.timer_set) {
        tn_event_del_timer(&call->deadline);
    }

    if (call->dns) {
        tn_resolve_done(call->dns);
        call->dns = NULL;
    }

    if (call->task) {
        /* the pool thread may still run: its completion frees the task */
        *(tn_lua_call_t **) call->task->ctx = NULL;
        call->task = NULL;
    }

    tn_lua_call_register(call, 0);

    lua_settop(call->co, 0);
    luaL_unref(vm->L, LUA_REGISTRYINDEX, call->ref);

    call->co = NULL;
    call->next = vm->free;
    vm->free = call;
}


static void
tn_lua_call_register(tn_lua_call_t *call, tn_uint_t on)
{
    lua_State  *L;

    L = tn_lua_vm->L;

    lua_rawgeti(L, LUA_REGISTRYINDEX, tn_lua_vm->phase_threads);
    lua_rawgeti(L, LUA_REGISTRYINDEX, call->ref);

    if (on) {
        lua_pushlightuserdata(L, call);

    } else {
        lua_pushnil(L);
    }

    lua_rawset(L, -3);
    lua_pop(L, 1);
}
