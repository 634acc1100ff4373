
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_LUA_H_INCLUDED_
#define _TN_LUA_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_resolver.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>


/*
 * The LuaJIT runtime of a worker (modules/lua): one VM per worker, made
 * in init_process; each script named by "lua_script PHASE FILE;" runs in
 * its own sandboxed environment (tn_lua_sandbox.c).  A phase call runs
 * the script's function in a new coroutine (tn_lua_call.c); the tern.*
 * functions that need I/O (tern.sleep, tern.dns.*) yield it to the event
 * loop and resume it when done (tn_lua_api.c).
 *
 * Adding a phase: a TN_LUA_PHASE_* value and its row in tn_lua_phases[]
 * (tn_lua_module.c), and a call site that pushes the arguments with
 * tn_lua_call_start() and reads the results in its done handler (see
 * tn_lua_login.c).
 */


#define TN_LUA_PHASE_LOGIN      0
#define TN_LUA_PHASE_MIME       1
#define TN_LUA_PHASE_MAX        2

/* instructions between two checks of the budget (the count hook) */
#define TN_LUA_HOOK_COUNT       1000

/* tern.log() text and tern.status() messages are cut to this */
#define TN_LUA_LOG_MAX          1024

/* tern.status() rows waiting for the thread pool, per worker */
#define TN_LUA_STATUS_QUEUE_MAX 64


typedef struct {
    tn_str_t                name;
    tn_str_t                file;       /* full path, NUL-terminated */
} tn_lua_script_conf_t;


typedef struct {
    tn_lua_script_conf_t    scripts[TN_LUA_PHASE_MAX];
    tn_str_t                package_path;     /* "" when not set */
    tn_msec_t               timeout;          /* running time of a call */
    tn_msec_t               wait_timeout;     /* the whole call */
    tn_uint_t               max_instructions;
    size_t                  memory_limit;
} tn_lua_main_conf_t;


typedef struct tn_lua_call_s  tn_lua_call_t;

/*
 * The end of a phase call, from the event loop.  rc: TN_OK (the script
 * returned: nret results are on top of call->co's stack, readable until
 * done returns) or TN_ERROR (no script, an error, the budget: already
 * logged, with the traceback; the phase takes its default action).
 */
typedef void (*tn_lua_done_pt)(tn_lua_call_t *call, tn_int_t rc, int nret);

/* pushes the phase function's arguments onto co; returns their count */
typedef int (*tn_lua_args_pt)(lua_State *co, void *data);


struct tn_lua_call_s {
    lua_State              *co;
    int                     ref;          /* the thread in the registry */
    tn_uint_t               phase;
    tn_log_t               *log;          /* the session's */

    /* the caller's; tn_lua_call_cancel() drops the call at once */
    void                   *data;
    tn_lua_done_pt          done;

    tn_event_t              resume;       /* posted: start or resume */
    tn_event_t              sleep;        /* tern.sleep() */
    tn_event_t              deadline;     /* wait_timeout */
    tn_resolver_ctx_t      *dns;          /* tern.dns.*() in flight */

    uint64_t                run_ns;       /* running time so far */
    uint64_t                resumed_ns;   /* when the last resume began */
    tn_uint_t               instructions;
    int                     nargs;        /* to pass to the next resume */

    tn_lua_call_t          *next;         /* the free list */

    unsigned                waiting:1;    /* a tern.* call yielded */
    unsigned                killed:1;     /* the budget ran out */
    unsigned                expired:1;    /* wait_timeout passed */

    /*
     * a thread-pool task the call waits for (tern.send_message): its ctx
     * starts with a tn_lua_call_t * that release sets to NULL
     */
    tn_thread_task_t       *task;
};


/* the worker's runtime */
typedef struct {
    lua_State              *L;
    tn_lua_main_conf_t     *conf;
    size_t                  used;         /* bytes the VM holds */
    tn_lua_call_t          *current;      /* the call running now */
    tn_lua_call_t          *free;
    int                     funcs[TN_LUA_PHASE_MAX];   /* registry refs */
    int                     phase_threads;             /* weak set ref */
    tn_uint_t               status_queued;
    tn_cycle_t             *cycle;
} tn_lua_vm_t;


extern tn_lua_vm_t   *tn_lua_vm;
extern tn_module_t    tn_lua_module;
extern tn_str_t       tn_lua_phase_names[TN_LUA_PHASE_MAX];


/* tn_lua_sandbox.c */
void *tn_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* the environment of a new script on top of L; TN_OK or TN_ERROR */
tn_int_t tn_lua_sandbox_env(lua_State *L, tn_lua_main_conf_t *lmcf);
/* seals what all scripts share (the string metatable), once per VM */
void tn_lua_sandbox_seal(lua_State *L);
/* luaL_loadfilex(L, file, "t") that also rejects a leading ESC */
int tn_lua_load_file(lua_State *L, const char *file);

/* tn_lua_api.c: pushes the read-only tern table */
void tn_lua_api_push(lua_State *L);
/* the call of L if a tern.* function may wait there, else a Lua error */
tn_lua_call_t *tn_lua_api_call(lua_State *L, const char *name);
const char *tn_lua_where(lua_State *L, u_char *buf, size_t len);

/* tn_lua_call.c */
void tn_lua_hook(lua_State *L, lua_Debug *ar);
uint64_t tn_lua_now_ns(void);
tn_lua_call_t *tn_lua_call_start(tn_uint_t phase, tn_log_t *log,
    tn_lua_args_pt args, void *data, tn_lua_done_pt done);
void tn_lua_call_cancel(tn_lua_call_t *call);
/* the call whose coroutine is L, or NULL (a script's own coroutine) */
tn_lua_call_t *tn_lua_call_of(lua_State *L);
/* a tern.* function yielded: resume later with nargs values on co */
void tn_lua_call_wakeup(tn_lua_call_t *call, int nargs);
/* whether the phase has a loaded script */
tn_uint_t tn_lua_phase_enabled(tn_uint_t phase);

/* tn_lua_send.c: tern.send_message{} */
int tn_lua_send_message(lua_State *L);

/* tn_lua_login.c */
void tn_lua_login_init(void);

/* tn_lua_mime_api.c: registers the mime phase's message check */
tn_int_t tn_lua_mime_register(tn_cycle_t *cycle, tn_lua_main_conf_t *lmcf);


#endif /* _TN_LUA_H_INCLUDED_ */
